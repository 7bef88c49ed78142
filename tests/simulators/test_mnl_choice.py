"""The multinomial-logit choice model of the latent users (one click or none per slate)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoworld.catalog.synthetic import SyntheticCatalogConfig, generate_catalog
from recoworld.simulators import (
    UserModelConfig,
    item_utilities,
    sample_users,
    slate_choice_probabilities,
    step_users,
)

# No drift, boredom, familiarity or repeat penalties: every row of a batch of copies of one user
# faces the same utilities, so click frequencies estimate the choice probabilities.
STILL = dict(
    choice_model="mnl",
    seen_penalty=0.0,
    consumed_penalty=0.0,
    drift_rate=0.0,
    boredom_gain=0.0,
    familiarity_rate=0.0,
    novelty_weight=0.0,
)


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(SyntheticCatalogConfig(n_items=200), seed=3)


def test_probabilities_match_a_hand_worked_case():
    # exp(1), exp(0), empty, outside exp(log 2) = 2: total e + 1 + 2.
    p = slate_choice_probabilities(np.array([1.0, 0.0, -np.inf]), math.log(2.0))
    total = math.e + 1.0 + 2.0
    assert p == pytest.approx([math.e / total, 1.0 / total, 0.0, 2.0 / total])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-50, 50), st.just(-math.inf)), min_size=1, max_size=30),
    st.floats(-50, 50),
)
def test_probabilities_sum_to_one_and_empty_slots_get_none(utilities, outside):
    p = slate_choice_probabilities(np.array(utilities), outside)
    assert p.sum() == pytest.approx(1.0)
    assert (p >= 0).all()
    assert (p[:-1][np.isneginf(utilities)] == 0).all()


def test_click_frequencies_follow_the_probabilities(catalog):
    config = UserModelConfig(**STILL)
    rng = np.random.default_rng(0)
    n = 20_000
    users = sample_users(1, catalog, config, rng).take(np.zeros(n, dtype=np.int64))
    slate = np.array([5, 17, 40, -1, 99])
    expected = slate_choice_probabilities(
        item_utilities(users.take(np.arange(1)), catalog, slate[None], config)[0],
        config.no_click_utility,
    )
    outcome = step_users(users, catalog, np.tile(slate, (n, 1)), config, rng)
    assert outcome.clicks.sum(axis=1).max() == 1  # one click or none
    observed = np.r_[outcome.clicks.mean(axis=0), 1.0 - outcome.clicks.any(axis=1).mean()]
    # Binomial standard error at n = 20,000 is at most 0.0036.
    np.testing.assert_allclose(observed, expected, atol=0.015)
    assert outcome.examined[0].tolist() == [True, True, True, False, True]
    assert not outcome.clicks[:, 3].any()  # never the empty slot
    watched = outcome.watch_fraction[outcome.clicks]
    assert ((watched > 0) & (watched < 1)).all()
    assert (outcome.watch_fraction[~outcome.clicks] == 0).all()


def test_the_no_click_utility_sets_the_no_click_share(catalog):
    rng = np.random.default_rng(1)
    slate = np.tile(np.arange(25), (4000, 1))
    shares = []
    for outside in (2.0, 6.0, 10.0):
        config = UserModelConfig(**{**STILL, "no_click_utility": outside})
        users = sample_users(4000, catalog, config, rng)
        outcome = step_users(users, catalog, slate, config, rng)
        shares.append(1.0 - outcome.clicks.any(axis=1).mean())
    assert shares[0] < shares[1] < shares[2]


def test_a_forced_click_is_the_one_click_and_a_forced_skip_leaves_the_choice(catalog):
    # No-click utility 0: the drawn choice is almost always a click, so a forced click laid on
    # top of the draw would give two clicks.
    config = UserModelConfig(**{**STILL, "no_click_utility": 0.0})
    rng = np.random.default_rng(2)
    n = 20_000
    users = sample_users(1, catalog, config, rng).take(np.zeros(n, dtype=np.int64))
    slate = np.tile(np.array([1, 2, 3]), (n, 1))
    click = np.full((n, 3), -1, dtype=np.int8)
    click[:, 1] = 1
    outcome = step_users(users.copy(), catalog, slate, config, rng, click_override=click)
    assert outcome.clicks[:, 1].all()
    assert outcome.clicks.sum(axis=1).max() == 1

    # A forced skip takes slot 0 out: the others and no click share its probability.
    skip = np.full((n, 3), -1, dtype=np.int8)
    skip[:, 0] = 0
    utilities = item_utilities(users.take(np.arange(1)), catalog, slate[:1], config)[0]
    expected = slate_choice_probabilities(utilities[1:], config.no_click_utility)
    outcome = step_users(users.copy(), catalog, slate, config, rng, click_override=skip)
    assert not outcome.clicks[:, 0].any()
    observed = np.r_[outcome.clicks[:, 1:].mean(axis=0), 1.0 - outcome.clicks.any(axis=1).mean()]
    np.testing.assert_allclose(observed, expected, atol=0.015)


def test_forcing_two_clicks_of_one_slate_is_refused(catalog):
    config = UserModelConfig(**STILL)
    rng = np.random.default_rng(3)
    users = sample_users(4, catalog, config, rng)
    click = np.full((4, 3), -1, dtype=np.int8)
    click[2, [0, 2]] = 1
    with pytest.raises(ValueError, match="forces 2 clicks for user row 2"):
        step_users(users, catalog, np.tile([1, 2, 3], (4, 1)), config, rng, click_override=click)


def test_same_seed_same_choices(catalog):
    config = UserModelConfig(choice_model="mnl")
    slates = np.random.default_rng(9).integers(0, catalog.n_items, (30, 25))
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(4)
        users = sample_users(30, catalog, config, rng)
        runs.append([step_users(users, catalog, slates, config, rng).clicks for _ in range(5)])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cascade_stays_the_default_and_unknown_models_are_refused():
    assert UserModelConfig().choice_model == "cascade"
    with pytest.raises(ValueError, match="choice_model='logit'"):
        UserModelConfig(choice_model="logit")
    with pytest.raises(ValueError, match="choice_model"):
        UserModelConfig(choice_model=1)  # type: ignore[arg-type]
