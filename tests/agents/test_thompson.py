"""Thompson sampling on RecoWorld-v0: the exact conjugate update, sampling, feedback, the agents."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from recoworld.agents import (
    BayesGreedyAgent,
    ObservationLayout,
    ThompsonSamplingAgent,
    make_agent,
)
from recoworld.agents.thompson import BayesianLinearModel, CandidateFeatures
from recoworld.evaluation import evaluate


def small_env(**settings):
    return gym.make(
        "RecoWorld-v0", num_candidates=30, slate_size=5, max_session_turns=15, **settings
    )


def play(agent, env, seed, steps):
    """The slates ``agent`` shows over ``steps`` steps from ``env.reset(seed=seed)``."""
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    slates = []
    for _ in range(steps):
        action = agent.act(obs, info)
        slates.append(action.tolist())
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return slates


# --------------------------------------------------------------------------- the model


def test_posterior_of_one_observation_is_the_hand_worked_one():
    # Prior N(0, I), noise variance 1, one observation y = 1 at x = (1, 1):
    # precision [[2, 1], [1, 2]], covariance [[2, -1], [-1, 2]] / 3, mean (1, 1) / 3.
    model = BayesianLinearModel(np.zeros(2), prior_variance=1.0, noise_variance=1.0)
    model.update(np.array([[1.0, 1.0]]), np.array([1.0]))
    np.testing.assert_allclose(model.precision, [[2.0, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(model.covariance, np.array([[2.0, -1.0], [-1.0, 2.0]]) / 3)
    np.testing.assert_allclose(model.mean, [1 / 3, 1 / 3])
    # Keeping half of it: precision (P + I) / 2, weighted mean (1, 1) / 2, mean (1, 1) / 4.
    model.discount(0.5)
    np.testing.assert_allclose(model.precision, [[1.5, 0.5], [0.5, 1.5]])
    np.testing.assert_allclose(model.mean, [0.25, 0.25])


def test_weighted_batches_match_the_closed_form_in_any_order():
    rng = np.random.default_rng(0)
    prior_mean, v0, s2 = rng.normal(size=4), 0.5, 0.2
    x, y, a = rng.normal(size=(12, 4)), rng.random(12), rng.random(12)
    precision = np.eye(4) / v0 + x.T @ np.diag(a / s2) @ x
    mean = np.linalg.solve(precision, prior_mean / v0 + x.T @ (a * y) / s2)

    batch = BayesianLinearModel(prior_mean, prior_variance=v0, noise_variance=s2)
    batch.update(x, y, a)
    one_by_one = BayesianLinearModel(prior_mean, prior_variance=v0, noise_variance=s2)
    for i in reversed(range(12)):
        one_by_one.update(x[i : i + 1], y[i : i + 1], a[i : i + 1])
    for model in (batch, one_by_one):
        np.testing.assert_allclose(model.mean, mean, rtol=1e-10)
        np.testing.assert_allclose(model.covariance, np.linalg.inv(precision), rtol=1e-10)
    # A weight-0 observation changes nothing.
    batch.update(rng.normal(size=(1, 4)), np.array([1.0]), np.array([0.0]))
    np.testing.assert_allclose(batch.mean, mean, rtol=1e-10)


def test_samples_follow_the_posterior():
    rng = np.random.default_rng(1)
    model = BayesianLinearModel(np.zeros(3), prior_variance=1.0, noise_variance=0.5)
    model.update(rng.normal(size=(5, 3)), rng.random(5))
    draws = np.stack([model.sample(rng) for _ in range(8_000)])
    np.testing.assert_allclose(draws.mean(axis=0), model.mean, atol=0.02)
    np.testing.assert_allclose(np.cov(draws.T), model.covariance, atol=0.02)


@pytest.mark.parametrize("shrink", ["prior_variance", "noise_variance"])
def test_a_sample_tends_to_the_mean_as_the_variances_vanish(shrink):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 4)), rng.random(20)
    gaps = []
    for scale in (1.0, 1e-2, 1e-4, 1e-6):
        variances = {"prior_variance": 1.0, "noise_variance": 1.0, shrink: scale}
        model = BayesianLinearModel(np.ones(4), **variances)
        model.update(x, y)
        gaps.append(float(np.abs(model.sample(np.random.default_rng(3)) - model.mean).max()))
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[-1] < 1e-2 * gaps[0]


def test_ts_ranks_like_bayes_greedy_when_the_posterior_is_a_point():
    env = small_env(multi_session=True)
    layout = ObservationLayout.of(env)
    tight = {"prior_variance": 1e-12}
    ts = play(ThompsonSamplingAgent(layout, seed=0, **tight), env, 7, 40)
    mean = play(BayesGreedyAgent(layout, **tight), env, 7, 40)
    assert ts == mean
    # With the default, calibrated prior they part ways.
    assert play(ThompsonSamplingAgent(layout, seed=0), env, 7, 40) != mean


# ------------------------------------------------------------------------ the agents


def test_feedback_updates_the_model_with_examination_weights():
    env = small_env()
    layout = ObservationLayout.of(env)
    agent = ThompsonSamplingAgent(layout, seed=0, examine_decay=0.5)
    obs, info = env.reset(seed=1)
    agent.reset(seed=1)
    slate = agent.act(obs, info)
    shown = agent.features(obs)[slate]
    items = info["candidates"][slate]
    # Slot 1 clicked: slots 0 and 1 were examined; slots 2, 3, 4 count 1/2, 1/4, 1/8.
    feedback = {"slate": items, "clicks": items[[1]]}
    before = agent.model.precision.copy(), agent.model.weighted_mean.copy()
    agent.observe(feedback)
    weights = np.array([1.0, 1.0, 0.5, 0.25, 0.125]) / agent.noise_variance
    np.testing.assert_allclose(
        agent.model.precision, before[0] + shown.T @ (weights[:, None] * shown)
    )
    np.testing.assert_allclose(agent.model.weighted_mean, before[1] + weights[1] * shown[1])
    # The feedback is used once; a reset goes back to the prior.
    agent.observe(feedback)
    assert agent.model.weighted_mean[1] == pytest.approx(before[1][1] + weights[1] * shown[1, 1])
    agent.reset(seed=1)
    np.testing.assert_array_equal(agent.model.precision, before[0])
    # No click: the top slot was examined, the next ones count 1/2, 1/4, ...
    slate = agent.act(obs, info)
    shown = agent.features(obs)[slate]
    agent.observe({"slate": info["candidates"][slate], "clicks": np.array([], np.int64)})
    weights = 0.5 ** np.arange(5) / agent.noise_variance
    expected = before[0] + shown.T @ (weights[:, None] * shown)
    np.testing.assert_allclose(agent.model.precision, expected)
    np.testing.assert_allclose(agent.model.weighted_mean, before[1])


def test_ranks_available_candidates_first():
    env = small_env()
    layout = ObservationLayout.of(env)
    obs, info = env.reset(seed=2)
    available = np.zeros(30, bool)
    available[[3, 8, 11, 20, 27, 29]] = True
    obs = {**obs, "candidates": obs["candidates"].copy()}
    obs["candidates"][:, layout.available] = available
    for agent in (ThompsonSamplingAgent(layout, seed=0), BayesGreedyAgent(layout)):
        assert set(agent.act(obs, info)) <= set(np.flatnonzero(available))
    few = np.zeros(30, bool)
    few[[4, 9]] = True
    obs["candidates"][:, layout.available] = few
    slate = ThompsonSamplingAgent(layout, seed=0).act(obs, info)
    assert set(slate[:2]) == {4, 9} and len(set(slate.tolist())) == 5


def test_same_seed_same_slates_other_seed_other_slates():
    env = small_env(multi_session=True)
    first = play(make_agent("ts", env, seed=0), env, 5, 30)
    assert play(make_agent("ts", env, seed=0), env, 5, 30) == first
    other = make_agent("ts", env, seed=0)
    obs, info = env.reset(seed=5)
    other.reset(seed=6)  # the same user, another sampling stream
    slates = []
    for _ in range(len(first)):
        action = other.act(obs, info)
        slates.append(action.tolist())
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert slates != first


def test_plays_multi_session_episodes_through_the_registry():
    report = evaluate(
        "ts",
        "RecoWorld-v0",
        2,
        0,
        agent_options={"features": ["embedding", "topics", "affinity", "instruction"]},
        num_candidates=30,
        slate_size=5,
        max_session_turns=10,
        max_sessions=2,
        multi_session=True,
    )
    assert report.episodes_completed == 2
    assert report.metrics["wasted_slots"] == 0
    env = small_env(observation_mode="ids")
    agent = make_agent("bayes-greedy", env, seed=0)
    assert agent.name == "bayes-greedy"
    slates = play(agent, env, 0, 15)
    assert slates and all(len(set(s)) == 5 for s in slates)
    assert agent.model.precision[0, 0] > 1 / agent.prior_variance  # it learned from feedback


def test_features_name_their_columns():
    layout = ObservationLayout.of(small_env())
    features = CandidateFeatures(layout, ["quality", "embedding", "affinity"])
    d = layout.embedding_dim
    assert features.names == (
        "intercept",
        *(f"embedding[{i}]" for i in range(d)),
        "quality",
        "affinity",
    )
    np.testing.assert_array_equal(
        features.prior_mean("greedy")[-2:], [0.3, 1.0]
    )  # the greedy scorer's weights
    assert not features.prior_mean("zero").any()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("prior_variance", 0.0),
        ("noise_variance", -1.0),
        ("noise_variance", float("nan")),
        ("features", ["embedding", "colour"]),
        ("features", []),
        ("features", "embedding"),
        ("features", ["quality", "quality"]),
        ("prior_mean", "ones"),
        ("examine_decay", 1.5),
        ("discount", 0.0),
    ],
)
def test_invalid_options_are_named(option, value):
    env = small_env()
    with pytest.raises(ValueError, match=option):
        make_agent("ts", env, seed=0, **{option: value})


def test_unknown_option_and_missing_instruction_are_refused():
    with pytest.raises(ValueError, match="prior_var"):
        make_agent("ts", small_env(), seed=0, prior_var=1.0)
    env = small_env(structured_instruction=False)
    with pytest.raises(ValueError, match=r"features.*instruction"):
        make_agent("bayes-greedy", env, features=["embedding", "instruction"])
