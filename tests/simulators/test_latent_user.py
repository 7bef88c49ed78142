"""Hand-worked numbers for the latent user model's choice, transition and retention functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import micro_catalog, micro_user

from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
from recoworld.simulators import (
    LatentUserState,
    UserModelConfig,
    begin_session,
    boredom_after,
    cascade_review,
    click_probability,
    draw_return_gap,
    familiarity_after,
    item_utilities,
    patience_after,
    return_hazard,
    sample_users,
    step_users,
    topic_preferences,
    watch_fraction,
)
from recoworld.simulators.latent import (
    ItemArrays,
    Overrides,
    TurnDraws,
    TurnOutcome,
    kernel_params,
    pairwise_sum,
    resample_users,
    turn_kernel,
)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_click_probability_is_logistic_against_the_no_click_option():
    assert click_probability(0.0) == pytest.approx(0.5)
    assert click_probability(math.log(3.0)) == pytest.approx(0.75)
    assert click_probability(-math.log(3.0)) == pytest.approx(0.25)


def test_watch_fraction():
    assert watch_fraction(1.0, 0.0, 1.0, 0.5) == pytest.approx(sigmoid(1.0))
    assert watch_fraction(1.0, 2.0, 1.0, 0.5) == pytest.approx(sigmoid(2.0))
    assert watch_fraction(3.0, 0.0, 0.0, 0.5) == pytest.approx(0.5)


def test_boredom_rises_with_consumption_and_decays():
    assert boredom_after(1.0, 2.0, 0.8, 0.15) == pytest.approx(0.8 + 0.3)
    assert boredom_after(1.0, 0.0, 0.8, 0.15) == pytest.approx(0.8)


def test_familiarity_approaches_one():
    assert familiarity_after(0.5, 1.0, math.log(2.0)) == pytest.approx(0.75)
    assert familiarity_after(0.5, 0.0, 1.0) == pytest.approx(0.5)


def test_patience_update():
    # 0.5 - fatigue 0.08 - empty-turn penalty 0.1
    assert patience_after(0.5, 0.0, 0.08, 0.1, 0.06) == pytest.approx(0.32)
    # 0.5 - 0.08 + 0.06 * 2 watched items
    assert patience_after(0.5, 2.0, 0.08, 0.1, 0.06) == pytest.approx(0.54)
    assert patience_after(0.99, 5.0, 0.08, 0.1, 0.06) == 1.0
    assert patience_after(0.05, 0.0, 0.08, 0.1, 0.06) == 0.0


def review(utility, uniforms, normals=None, config=None):
    config = config or UserModelConfig()
    utility = np.asarray(utility, np.float64)
    s = len(utility)
    examined = np.empty(s, np.bool_)
    clicks = np.empty(s, np.bool_)
    watch = np.empty(s)
    normals = np.zeros(s) if normals is None else np.asarray(normals, np.float64)
    cascade_review(
        utility, np.asarray(uniforms, np.float64), normals, kernel_params(config), examined,
        clicks, watch,
    )  # fmt: skip
    return examined, clicks, watch


def test_cascade_review_by_hand():
    # no_click_utility 3.5: margins 1.5, (empty), 0.0
    utility = [5.0, -np.inf, 3.5]
    # slot 0: 0.1 < sigmoid(1.5) -> click; 0.5 < continue_after_click 0.6 -> go on
    # slot 1: empty, no click; 0.2 < continue_after_skip 0.85 -> go on
    # slot 2: 0.7 > sigmoid(0) = 0.5 -> skip; 0.9 > 0.85 -> stop (nothing after anyway)
    uniforms = [[0.1, 0.5], [0.0, 0.2], [0.7, 0.9]]
    examined, clicks, watch = review(utility, uniforms, normals=[1.0, 0.0, 0.0])
    assert examined.tolist() == [True, True, True]
    assert clicks.tolist() == [True, False, False]
    assert watch[0] == pytest.approx(sigmoid(1.5 + 0.5 * 1.0))
    assert watch[1:].tolist() == [0.0, 0.0]


def test_cascade_stops_when_the_user_does_not_go_on():
    # Click at slot 0, then 0.7 > continue_after_click 0.6: the rest is never examined.
    examined, clicks, _ = review([9.0, 9.0, 9.0], [[0.0, 0.7], [0.0, 0.0], [0.0, 0.0]])
    assert examined.tolist() == [True, False, False]
    assert clicks.tolist() == [True, False, False]


def test_empty_slot_is_never_clicked():
    examined, clicks, _ = review([-np.inf], [[0.0, 0.0]])
    assert examined.tolist() == [True]
    assert clicks.tolist() == [False]


def test_item_utility_by_hand():
    catalog, user, config = micro_catalog(), micro_user(), UserModelConfig()
    utility = item_utilities(user, catalog, np.array([[0, 1, -1]]), config)[0]
    # item 0: 6 * cos 1 + 1 * (0.5 - 0.5) - 2 * boredom 0.5 + 2 * appetite 0.2 * (1 - 0) = 5.4
    assert utility[0] == pytest.approx(5.4, abs=1e-5)
    # item 1: 6 * 0 + 1 * (1.0 - 0.5) - 0 + 0.4 = 0.9
    assert utility[1] == pytest.approx(0.9, abs=1e-5)
    assert utility[2] == -np.inf
    user.seen_bits[0, 0] |= 2  # item 1 already shown this session
    user.consumed_bits[0, 0] |= 1  # item 0 already consumed
    utility = item_utilities(user, catalog, np.array([[0, 1]]), config)[0]
    assert utility[0] == pytest.approx(5.4 - 3.0, abs=1e-5)
    assert utility[1] == pytest.approx(0.9 - 1.0, abs=1e-5)


class ForcedDraws:
    """A stand-in generator whose uniforms are all 0 and normals all 0 (click everything)."""

    def random(self, size):
        return np.zeros(size)

    def standard_normal(self, size):
        return np.zeros(size)


def test_one_turn_transition_by_hand():
    catalog = micro_catalog()
    user = micro_user(patience=1.0)
    # Watch fraction exactly 0.5 (sharpness 0), a click on every examined item, and the user
    # stops after one click (continue_after_click 0).
    config = UserModelConfig(watch_sharpness=0.0, continue_after_click=0.0, leave_prob=0.0)
    user.interests[0, 0] = np.array([0.6, 0.8], np.float32)
    outcome = step_users(user, catalog, np.array([[0, 1]]), config, ForcedDraws())
    assert outcome.clicks.tolist() == [[True, False]]
    assert outcome.examined.tolist() == [[True, False]]
    assert outcome.watch_fraction[0, 0] == pytest.approx(0.5)
    # drift: v + 0.05 * 0.5 * (e0 - v), renormalised
    v = np.array([0.6, 0.8]) + 0.025 * (np.array([1.0, 0.0]) - np.array([0.6, 0.8]))
    np.testing.assert_allclose(user.interests[0, 0], v / np.linalg.norm(v), rtol=1e-5)
    # boredom of topic 0: 0.8 * 0.5 + 0.15 * 0.5; topic 1 untouched
    np.testing.assert_allclose(user.boredom[0], [0.8 * 0.5 + 0.075, 0.0], rtol=1e-6)
    np.testing.assert_allclose(user.familiarity[0], [1 - math.exp(-0.2 * 0.5), 0.0], rtol=1e-6)
    # patience: 1.0 - 0.08 + 0.06 * 0.5
    assert user.patience[0] == pytest.approx(0.95)
    assert user.session_turns[0] == 1
    # item 0 is now seen and consumed; item 1 was never shown (not examined doesn't matter:
    # it was on the slate, so it counts as shown this session)
    assert user.consumed_bits[0, 0] == 1
    assert user.seen_bits[0, 0] == 3


def test_leaving_and_reflective_instruction():
    catalog = micro_catalog()
    config = UserModelConfig(leave_prob=0.0)
    # Nothing clicked (empty slate): patience 0.5 -> 0.32, under the 0.35 threshold.
    user = micro_user(patience=0.5)
    outcome = step_users(user, catalog, np.array([[-1]]), config, ForcedDraws())
    assert not outcome.left[0]
    assert outcome.instructed[0]
    # The user's interest points at topic 0, so it wants more of topic 0 ("red") and names the
    # other topic as the one to see less of.
    assert outcome.more_of[0] == int(topic_preferences(user, catalog, config)[0].argmax()) == 0
    assert outcome.less_of[0] == 1
    # Another empty turn: 0.32 -> 0.14, still present, but within the cooldown: no instruction.
    outcome = step_users(user, catalog, np.array([[-1]]), config, ForcedDraws())
    assert not outcome.instructed[0] and not outcome.left[0]
    outcome = step_users(user, catalog, np.array([[-1]]), config, ForcedDraws())
    assert outcome.left[0]  # 0.14 -> 0: patience exhausted


def test_return_hazard_and_gap():
    config = UserModelConfig()
    assert return_hazard(np.array([1.0]), config)[0] == pytest.approx(0.15)
    assert return_hazard(np.array([2.0]), config)[0] == pytest.approx(0.15 * math.exp(2.5))
    state = sample_users(20_000, micro_catalog(), config, np.random.default_rng(0))
    state.session_turns[:] = 2
    state.session_satisfaction[:] = 2.0  # mean satisfaction 1.0 -> hazard 0.15 / day
    gap, churned = draw_return_gap(state, np.arange(20_000), config, np.random.default_rng(1))
    assert gap.mean() == pytest.approx(1 / 0.15, rel=0.05)  # exponential with mean 1 / hazard
    assert churned.mean() == pytest.approx(math.exp(-0.15 * 14.0), abs=0.01)
    assert np.array_equal(churned, gap > 14.0)


def test_happier_sessions_return_sooner():
    config = UserModelConfig()
    state = sample_users(5_000, micro_catalog(), config, np.random.default_rng(0))
    state.session_turns[:] = 10
    rows = np.arange(5_000)
    state.session_satisfaction[:] = 2.0
    unhappy, _ = draw_return_gap(state, rows, config, np.random.default_rng(2))
    state.session_satisfaction[:] = 15.0
    happy, _ = draw_return_gap(state, rows, config, np.random.default_rng(2))
    assert happy.mean() < unhappy.mean()


def test_begin_session_decays_and_resets():
    config = UserModelConfig()
    user = micro_user(patience=0.1)
    user.seen_bits[:] = 3
    user.consumed_bits[:] = 1
    user.session_turns[:] = 7
    begin_session(user, np.array([0]), np.array([2.0]), config)
    np.testing.assert_allclose(user.boredom[0], [0.5 * math.exp(-2.0), 0.0], rtol=1e-6)
    assert user.patience[0] == pytest.approx(1.0)
    assert user.session_turns[0] == 0
    assert user.seen_bits[0, 0] == 0
    assert user.consumed_bits[0, 0] == 1  # consumed items are remembered across sessions


def test_sample_users_is_seeded_and_compact(small_catalog):
    config = UserModelConfig()
    a = sample_users(50, small_catalog, config, np.random.default_rng(7))
    b = sample_users(50, small_catalog, config, np.random.default_rng(7))
    c = sample_users(50, small_catalog, config, np.random.default_rng(8))
    np.testing.assert_array_equal(a.interests, b.interests)
    assert not np.array_equal(a.interests, c.interests)
    assert a.interests.shape == (50, config.n_interests, small_catalog.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(a.interests, axis=-1), 1.0, rtol=1e-5)
    assert np.all((a.patience >= config.patience_low) & (a.patience <= config.patience_high))
    assert a.nbytes_per_user() <= 2048


def test_batch_of_users_equals_users_one_at_a_time(small_catalog):
    """The batched kernel gives each user exactly what a batch of one would."""
    config = UserModelConfig()
    batch = sample_users(3, small_catalog, config, np.random.default_rng(0))
    items = np.array([[0, 5, 9], [1, 2, -1], [7, 7, 3]])
    draws = np.random.default_rng(1)
    uniforms, normals, leave = draws.random((3, 3, 2)), draws.random((3, 3)), draws.random(3)

    class Replay:
        def __init__(self, rows):
            self.rows = rows

        def random(self, size):
            return (
                uniforms[self.rows] if np.ndim(size) == 1 and len(size) == 3 else leave[self.rows]
            )

        def standard_normal(self, size):
            return normals[self.rows]

    singles = [batch.take(np.array([i])) for i in range(3)]
    together = step_users(batch, small_catalog, items, config, Replay(slice(None)))
    for i, single in enumerate(singles):
        alone = step_users(single, small_catalog, items[i : i + 1], config, Replay(slice(i, i + 1)))
        np.testing.assert_array_equal(alone.clicks[0], together.clicks[i])
        np.testing.assert_allclose(single.interests[0], batch.interests[i])
        np.testing.assert_allclose(single.patience[0], batch.patience[i])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_interests", 0),
        ("n_interests", 2.5),
        ("affinity_scale", -1.0),
        ("affinity_scale", float("nan")),
        ("continue_after_click", 1.5),
        ("return_rate", 0.0),
        ("churn_days", -3.0),
        ("instruction_cooldown", -1),
    ],
)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        UserModelConfig(**{field: value})


def test_config_patience_range():
    with pytest.raises(ValueError, match="patience_low"):
        UserModelConfig(patience_low=0.9, patience_high=0.5)


def numpy_sample_users(n_users, catalog, config, rng):
    """The population draw written with plain NumPy (what ``sample_users`` computes)."""
    k, d, t = config.n_interests, catalog.embedding_dim, catalog.n_topics
    topics = np.searchsorted(catalog.topic_share_cdf, rng.random((n_users, k)), side="right")
    noise = rng.standard_normal((n_users, k, d)) * (config.interest_spread / np.sqrt(d))
    interests = catalog.topic_centroids[np.minimum(topics, t - 1)] + noise
    interests /= np.linalg.norm(interests, axis=-1, keepdims=True)
    gammas = rng.standard_gamma(config.interest_concentration, size=(n_users, k))
    weights = gammas / np.maximum(gammas.sum(axis=1, keepdims=True), 1e-300)
    bonus = config.interest_weight_scale * np.log(k * np.maximum(weights, 1e-6))
    novelty = rng.beta(config.novelty_propensity_a, config.novelty_propensity_b, size=n_users)
    patience = rng.uniform(config.patience_low, config.patience_high, size=n_users)
    return interests, bonus, novelty, patience


@pytest.mark.parametrize(
    ("embedding_dim", "n_interests"), [(16, 3), (5, 1), (200, 4)]
)  # 200 > 128: NumPy's pairwise summation splits the norm's sum in two
def test_sample_users_equals_the_numpy_formulation_bit_for_bit(embedding_dim, n_interests):
    catalog = generate_catalog(
        SyntheticCatalogConfig(n_items=60, embedding_dim=embedding_dim), seed=1
    )
    config = UserModelConfig(n_interests=n_interests, interest_concentration=0.3)
    users = sample_users(300, catalog, config, np.random.default_rng(5))
    interests, bonus, novelty, patience = numpy_sample_users(
        300, catalog, config, np.random.default_rng(5)
    )
    np.testing.assert_array_equal(users.interests, interests.astype(np.float32))
    np.testing.assert_array_equal(users.interest_bonus, bonus.astype(np.float32))
    np.testing.assert_array_equal(users.novelty_propensity, novelty.astype(np.float32))
    np.testing.assert_array_equal(users.patience, patience.astype(np.float32))


def test_resample_users_equals_putting_sampled_users(small_catalog):
    config = UserModelConfig()
    state = sample_users(8, small_catalog, config, np.random.default_rng(0))
    step_users(state, small_catalog, np.arange(24).reshape(8, 3), config, np.random.default_rng(1))
    expected = state.copy()
    rows = np.array([1, 4, 6])
    expected.put(rows, sample_users(3, small_catalog, config, np.random.default_rng(2)))
    resample_users(state, rows, small_catalog, config, np.random.default_rng(2))
    for name in LatentUserState.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(state, name), getattr(expected, name), name)
    everyone = sample_users(8, small_catalog, config, np.random.default_rng(3))
    resample_users(state, slice(None), small_catalog, config, np.random.default_rng(3))
    for name in LatentUserState.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(state, name), getattr(everyone, name), name)


def test_turn_kernel_takes_named_tuples_of_the_state_arrays(small_catalog):
    """The compiled turn reads and writes the state's own arrays through the named tuples."""
    config = UserModelConfig()
    state = sample_users(4, small_catalog, config, np.random.default_rng(0))
    twin = state.copy()
    items = np.array([[3, 1, -1], [0, 5, 9], [7, 7, 2], [4, 8, 6]])
    draws = np.random.default_rng(1)
    uniforms, normals, leave = (
        draws.random((4, 3, 2)),
        draws.standard_normal((4, 3)),
        draws.random(4),
    )
    arrays = state.arrays()
    assert all(
        np.shares_memory(getattr(state, name), getattr(arrays, name)) for name in arrays._fields
    )
    outcome = TurnOutcome.empty(4, 3)
    no_override = Overrides(np.full((4, 3), -1, np.int8), np.full(4, -1, np.int8))
    turn_kernel(
        items, TurnDraws(uniforms.reshape(4, 6), normals, leave), arrays,
        ItemArrays.of(small_catalog), kernel_params(config), no_override, outcome,
    )  # fmt: skip

    class Replay:
        def random(self, size):
            return uniforms if np.ndim(size) == 1 and len(size) == 3 else leave

        def standard_normal(self, size):
            return normals

    expected = step_users(twin, small_catalog, items, config, Replay())
    for got, want in zip(outcome, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    for name in LatentUserState.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(state, name), getattr(twin, name), name)


@pytest.mark.parametrize("n", [1, 7, 8, 10, 16, 23, 128, 129, 300, 1031])
def test_pairwise_sum_adds_in_numpys_order(n):
    values = np.random.default_rng(n).random((50, n)) * 40.0
    values[values < 12.0] = 0.0
    expected = values.sum(axis=1)
    got = np.array([pairwise_sum(values, row, n) for row in range(50)])
    np.testing.assert_array_equal(got, expected)  # equal to the last bit, not approximately
