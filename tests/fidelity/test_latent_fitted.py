"""The latent-fitted scene simulator: recovery of planted users, determinism, no leakage, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from recoworld.catalog import Catalog, Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity import Scenes, SceneSimulator, scenes
from recoworld.fidelity.latent_fitted import FEATURES, LatentFittedSimulator, _ages, fit_interests
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import (
    LatentUserState,
    item_utilities,
    sample_users,
    step_users,
)

PLANTED_TEMPERATURE = 1.0

Planted = tuple[Catalog, LatentUserState, Interactions, LatentFittedSimulator]
Small = tuple[Catalog, Interactions]


def planted_log(
    *, n_users: int = 60, n_items: int = 2000, history: int = 80, seed: int = 0
) -> tuple[Catalog, LatentUserState, Interactions]:
    """Users with three well-separated planted interests (distinct topics, small noise) who
    choose items one after another, without repeats, with probability
    ``softmax(latent utility / PLANTED_TEMPERATURE)`` over the whole catalog."""
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=n_items, embedding_dim=16), seed=seed)
    config = UserModelConfig(n_interests=3, interest_concentration=50.0)
    rng = np.random.default_rng(seed)
    state = sample_users(n_users, catalog, config, rng)
    centroids = catalog.topic_centroids.astype(np.float64)
    for user in range(n_users):
        topics = rng.choice(catalog.n_topics, size=3, replace=False)
        vectors = centroids[topics] + 0.03 * rng.standard_normal((3, centroids.shape[1]))
        state.interests[user] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    all_items = np.tile(np.arange(n_items), (n_users, 1))
    utility = item_utilities(state, catalog, all_items, config)
    # Gumbel top-k order = choosing one item after another without replacement.
    keys = utility / PLANTED_TEMPERATURE + rng.gumbel(size=utility.shape)
    chosen = np.argsort(-keys, axis=1)[:, :history]
    users = np.repeat(np.arange(n_users), history)
    log = Interactions(
        users,
        chosen.ravel(),
        np.full(users.size, np.nan, np.float32),
        np.tile(np.arange(history), n_users),
    )
    return catalog, state, log


@pytest.fixture(scope="module")
def planted() -> Planted:
    catalog, state, log = planted_log()
    simulator = LatentFittedSimulator(
        seed=0,
        n_interests=3,
        collaborative_dims=0,
        recency_half_life=None,
        fit_negatives=("uniform",),
        fit_scenes=3000,
        terms=("affinity", "quality"),
    ).fit(log, catalog)
    return catalog, state, log, simulator


def last_scenes(log: Interactions, catalog: Catalog, negatives: str = "uniform") -> Scenes:
    last = np.flatnonzero(log.timestamps == log.timestamps.max())
    return scenes(log, log.take(last), catalog, n_choices=5, negatives=negatives, seed=0)  # type: ignore[arg-type]


def test_recovers_planted_interests_and_temperature(planted: Planted) -> None:
    catalog, state, log, simulator = planted
    built = last_scenes(log, catalog)
    fitted = simulator.user_states(built)
    for scene, user in enumerate(built.users):
        cosine = fitted.interests[scene].astype(np.float64) @ state.interests[user].T
        rows, columns = linear_sum_assignment(-cosine)
        assert cosine[rows, columns].min() > 0.9, (user, cosine)
    choice = simulator.choice
    assert choice is not None
    assert choice.temperature == pytest.approx(PLANTED_TEMPERATURE, rel=0.2)
    assert choice.quality_weight == pytest.approx(1.0, rel=0.3)  # the planted quality_weight
    assert choice.weights[2:].tolist() == [0.0, 0.0, 0.0]  # terms left out weigh nothing


def test_fitted_users_beat_chance_on_planted_scenes(planted: Planted) -> None:
    catalog, _, log, simulator = planted
    built = last_scenes(log, catalog)
    p = simulator.predict(built)
    assert p.dtype == np.float64 and p.shape == (len(built), 5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p.argmax(axis=1) == built.answers).mean() > 0.4  # chance is 0.2


def test_fit_interests_by_hand() -> None:
    # Two sets: one with two clear directions (weights 3:1), one empty.
    vectors = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    weights = np.array([1.5, 1.5, 1.0])
    centres, shares = fit_interests(
        np.array([0, 3, 3]), vectors, weights, 2, np.random.default_rng(0)
    )
    first = np.argmax(shares[0])
    assert shares[0, first] == pytest.approx(0.75)
    assert centres[0, first] @ np.array([1.0, 0.05]) / np.linalg.norm([1.0, 0.05]) > 0.999
    assert centres[0, 1 - first].tolist() == pytest.approx([0.0, 1.0])
    assert centres[1].tolist() == [[0.0, 0.0], [0.0, 0.0]] and shares[1].tolist() == [0.0, 0.0]


@pytest.fixture(scope="module")
def small() -> Small:
    catalog, _, log = planted_log(n_users=20, n_items=300, history=30, seed=3)
    return catalog, log


def small_simulator(seed: int = 0, **kwargs: object) -> LatentFittedSimulator:
    return LatentFittedSimulator(seed=seed, fit_scenes=300, collaborative_dims=4, **kwargs)  # type: ignore[arg-type]


def test_protocol_determinism_and_rows(small: Small) -> None:
    catalog, log = small
    first = small_simulator().fit(log, catalog)
    assert isinstance(first, SceneSimulator) and first.name == "latent-fitted"
    built = last_scenes(log, catalog, "popularity")
    p = first.predict(built)
    assert p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(p, small_simulator().fit(log, catalog).predict(built))
    np.testing.assert_array_equal(p, first.predict(built))  # predicting twice changes nothing
    assert first.catalog.embedding_dim == catalog.embedding_dim + 4  # refined by the SVD
    assert set(FEATURES) == set(first.terms)


def test_empty_history_scenes(small: Small) -> None:
    catalog, log = small
    simulator = small_simulator().fit(log, catalog)
    first = np.flatnonzero(log.timestamps == 0)
    built = scenes(log, log.take(first), catalog, n_choices=4, negatives="uniform", seed=1)
    assert built.history_lengths.max() == 0
    p = simulator.predict(built)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    state = simulator.user_states(built)
    assert not state.interests.any() and not state.interest_bonus.any()
    # No interests: only the item terms remain, so scenes listing the same items agree.
    same = dataclasses.replace(built, choices=np.tile(built.choices[0], (len(built), 1)))
    np.testing.assert_allclose(simulator.predict(same), np.tile(p[0], (len(built), 1)))


def test_no_target_information_enters_a_prediction(small: Small) -> None:
    """A scene's prediction depends on its history and list only: changing what the user did
    at and after the target (the target itself, later rows) changes nothing."""
    catalog, log = small
    simulator = small_simulator().fit(log, catalog)
    built = last_scenes(log, catalog)
    p = simulator.predict(built)
    swapped = dataclasses.replace(
        built, answers=(built.answers + 1) % 5, target_rows=built.target_rows[::-1].copy()
    )
    np.testing.assert_array_equal(simulator.predict(swapped), p)
    # The same scenes rebuilt from a log whose rows at or after each target are different.
    cutoff = log.timestamps < log.timestamps.max()
    changed = Interactions(
        log.users,
        np.where(cutoff, log.items, (log.items + 7) % catalog.n_items),
        log.ratings,
        log.timestamps,
    )
    rebuilt = dataclasses.replace(
        built,
        history_items=scenes(
            changed, changed.take(np.flatnonzero(~cutoff)), catalog, n_choices=5, seed=0
        ).history_items,
    )
    np.testing.assert_array_equal(simulator.predict(rebuilt), p)


def test_predict_before_fit_and_bad_arguments(small: Small) -> None:
    catalog, log = small
    built = last_scenes(log, catalog)
    with pytest.raises(ValueError, match="call fit"):
        LatentFittedSimulator().predict(built)
    with pytest.raises(ValueError, match="call fit"):
        LatentFittedSimulator().user_states(built)
    bad: list[tuple[dict[str, object], str]] = [
        ({"seed": -1}, "seed"),
        ({"n_interests": 0}, "n_interests"),
        ({"collaborative_dims": -2}, "collaborative_dims"),
        ({"collaborative_share": 1.5}, "collaborative_share"),
        ({"recency_half_life": 0.0}, "recency_half_life"),
        ({"kmeans_iterations": -1}, "kmeans_iterations"),
        ({"kmeans_restarts": 0}, "kmeans_restarts"),
        ({"fit_scenes": 0}, "fit_scenes"),
        ({"fit_min_history": -1}, "fit_min_history"),
        ({"fit_negatives": "uniform"}, "fit_negatives"),
        ({"fit_negatives": ("nearby",)}, "fit_negatives"),
        ({"terms": ("quality",)}, "terms"),
        ({"terms": ("affinity", "mood")}, "terms"),
        ({"n_choices": 1}, "n_choices"),
        ({"config": {"affinity_scale": 2}}, "config"),
    ]
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            LatentFittedSimulator(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="history is empty"):
        LatentFittedSimulator().fit(log.take(np.zeros(len(log), dtype=bool)), catalog)
    with pytest.raises(ValueError, match="outside the catalog"):
        LatentFittedSimulator().fit(log, generate_catalog(SyntheticCatalogConfig(n_items=5)))
    with pytest.raises(ValueError, match="fit_min_history=1000"):
        LatentFittedSimulator(fit_min_history=1000).fit(log, catalog)
    fitted = small_simulator().fit(log, catalog)
    with pytest.raises(ValueError, match="outside the 300 items"):
        fitted.predict(dataclasses.replace(built, choices=built.choices + 1000))


def test_users_from_log_and_config_for_a_fitted_world(small: Small) -> None:
    catalog, log = small
    simulator = small_simulator().fit(log, catalog)
    state = simulator.users_from_log(log)
    assert state.n_users == log.n_users and state.interests.shape == (log.n_users, 1, 20)
    np.testing.assert_allclose(np.linalg.norm(state.interests, axis=2), 1.0, rtol=1e-5)
    # A user's state is what a scene whose history is that user's whole log gets.
    built = scenes(
        log, log.take(np.flatnonzero(log.timestamps == log.timestamps.max())), catalog, seed=0
    )
    within = simulator.user_states(built)
    assert np.all((within.interests[:, 0] * state.interests[built.users, 0]).sum(axis=1) > 0.9)
    config = simulator.user_model_config()
    choice = simulator.choice
    assert choice is not None and config.n_interests == 1
    assert config.affinity_scale == pytest.approx(max(choice.weights[0], 0.0))
    assert config.no_click_utility == UserModelConfig().no_click_utility
    utilities = item_utilities(state, simulator.catalog, np.zeros((log.n_users, 1), int), config)
    assert np.isfinite(utilities).all()
    # The latent model's turn runs on the fitted users (a fitted world's first step).
    slates = np.tile(np.arange(5), (log.n_users, 1))
    outcome = step_users(state, simulator.catalog, slates, config, np.random.default_rng(0))
    assert outcome.clicks.shape == (log.n_users, 5)
    with pytest.raises(ValueError, match="call fit"):
        LatentFittedSimulator().users_from_log(log)
    with pytest.raises(ValueError, match="call fit"):
        LatentFittedSimulator().user_model_config()


def test_recency_ages_by_hand() -> None:
    # Rows later in time count; ties share an age; a log without times has no recency.
    ages = _ages(np.array([0, 4, 4, 7]), np.array([1, 2, 2, 3, -1, -1, -1]))
    assert ages.tolist() == [3, 1, 1, 0, 0, 0, 0]


def test_a_negative_fitted_weight_is_set_to_zero_with_a_warning(small: Small) -> None:
    catalog, log = small
    simulator = small_simulator().fit(log, catalog)
    assert simulator.choice is not None
    weights = simulator.choice.weights.copy()
    weights[2] = -0.5  # a user who seeks what bored them: the latent model cannot say so
    simulator.choice = dataclasses.replace(simulator.choice, weights=weights)
    with pytest.warns(UserWarning, match=r"boredom_weight=-0\.5.* set to 0"):
        config = simulator.user_model_config()
    assert config.boredom_weight == 0.0


def test_a_scene_scores_the_same_in_any_batch(small: Small) -> None:
    """Several interests are fitted by k-means with random starts; a scene's starts depend on
    the scene, not on the other scenes predicted with it."""
    catalog, log = small
    simulator = small_simulator(n_interests=3, kmeans_restarts=2).fit(log, catalog)
    built = last_scenes(log, catalog)
    whole = simulator.predict(built)
    subset = np.array([5, 2, 11])
    np.testing.assert_array_equal(simulator.predict(built.take(subset)), whole[subset])
    np.testing.assert_array_equal(
        simulator.user_states(built.take(subset)).interests,
        simulator.user_states(built).interests[subset],
    )


def test_fit_interests_is_the_same_for_a_set_in_any_batch() -> None:
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((30, 5))
    weights = rng.random(30) + 0.1
    offsets = np.array([0, 10, 22, 30])
    keys = np.array([7, 8, 9])
    centres, shares = fit_interests(
        offsets, vectors, weights, 3, np.random.default_rng(1), set_keys=keys
    )
    alone, alone_shares = fit_interests(
        np.array([0, 12]), vectors[10:22], weights[10:22], 3, np.random.default_rng(1),
        set_keys=keys[1:2],
    )  # fmt: skip
    np.testing.assert_array_equal(alone[0], centres[1])
    np.testing.assert_array_equal(alone_shares[0], shares[1])
    with pytest.raises(ValueError, match="set_keys has shape"):
        fit_interests(offsets, vectors, weights, 3, np.random.default_rng(1), set_keys=keys[:2])
