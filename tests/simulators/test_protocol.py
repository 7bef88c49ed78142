"""The batched user-model protocol: the latent model implements it, step for step the same as the
functions it wraps, and a third-party model can plug in."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
from recoworld.simulators import (
    LatentUserModel,
    UserModel,
    UserModelConfig,
    sample_users,
    step_users,
)


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(SyntheticCatalogConfig(n_items=300), seed=1)


def test_latent_model_is_the_latent_functions_behind_the_protocol(catalog):
    model = LatentUserModel(catalog)
    assert isinstance(model, UserModel)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    via_model = model.sample(4, rng_a)
    direct = sample_users(4, catalog, UserModelConfig(), rng_b)
    np.testing.assert_array_equal(via_model.interests, direct.interests)
    slates = np.tile(np.arange(8), (4, 1))
    for _ in range(5):
        a = model.step(via_model, slates, rng_a)
        b = step_users(direct, catalog, slates, UserModelConfig(), rng_b)
        np.testing.assert_array_equal(a.clicks, b.clicks)
        np.testing.assert_array_equal(a.left, b.left)
        slates = (slates + 8) % catalog.n_items
    np.testing.assert_array_equal(via_model.patience, direct.patience)


def test_sessions_end_with_a_gap_and_the_next_one_restores_patience(catalog):
    model = LatentUserModel(catalog)
    rng = np.random.default_rng(0)
    users = model.sample(6, rng)
    slates = np.tile(np.arange(10), (6, 1))
    for _ in range(4):
        model.step(users, slates, rng, leave_override=np.zeros(6, np.int8))
    rows = np.arange(6)
    gap, churned = model.end_session(users, rows, rng)
    assert gap.shape == (6,) and churned.dtype == bool and np.all(gap > 0)
    model.begin_session(users, rows, gap)
    np.testing.assert_array_equal(users.patience, users.base_patience)
    assert np.all(users.session_turns == 0)


def test_overrides_decide_for_the_model(catalog):
    model = LatentUserModel(catalog)
    rng = np.random.default_rng(2)
    users = model.sample(3, rng)
    forced = np.zeros((3, 5), np.int8)
    forced[:, 0] = 1
    outcome = model.step(
        users, np.tile(np.arange(5), (3, 1)), rng, click_override=forced,
        leave_override=np.ones(3, np.int8),
    )  # fmt: skip
    np.testing.assert_array_equal(outcome.clicks, forced.astype(bool))
    assert outcome.left.all()


def test_bad_construction_is_named():
    with pytest.raises(ValueError, match="catalog="):
        LatentUserModel("catalog")  # type: ignore[arg-type]


class CoinFlipUsers:
    """A third-party batched model: each user clicks the first slot with probability 1/2."""

    def sample(self, n_users, rng):
        return {"n": n_users}

    def step(self, state, items, rng, *, click_override=None, leave_override=None):
        clicks = np.zeros(items.shape, bool)
        clicks[:, 0] = rng.random(items.shape[0]) < 0.5
        return clicks

    def end_session(self, state, rows, rng):
        return np.ones(len(rows)), np.zeros(len(rows), bool)

    def begin_session(self, state, rows, gap_days):
        return None


def test_a_third_party_model_satisfies_the_protocol():
    assert isinstance(CoinFlipUsers(), UserModel)
    assert not isinstance(object(), UserModel)
