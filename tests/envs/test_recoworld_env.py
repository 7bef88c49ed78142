"""RecoWorld-v0 and its batched twin: conformance, determinism, bad input, semantics."""

from __future__ import annotations

import gymnasium as gym
import numba
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

from recoworld.agents import GreedyAgent, InstructionAwareGreedyAgent, ObservationLayout
from recoworld.envs import RecoWorldEnv


def rollout(seed: int, steps: int = 200, **kwargs):
    env = gym.make("RecoWorld-v0", **kwargs)
    actions = np.random.default_rng(123)
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    rewards = []
    episode = 0
    config = env.unwrapped.config
    for _ in range(steps):
        action = actions.permutation(config.num_candidates)[: config.slate_size]
        obs, reward, terminated, truncated, _ = env.step(action)
        trace.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
            trace.append(obs)
    return trace, np.array(rewards)


@pytest.mark.parametrize("kwargs", [{}, {"multi_session": True}], ids=["single", "multi"])
def test_same_seed_same_trajectory(kwargs):
    trace_a, rewards_a = rollout(5, **kwargs)
    trace_b, rewards_b = rollout(5, **kwargs)
    np.testing.assert_array_equal(rewards_a, rewards_b)
    assert len(trace_a) == len(trace_b)
    for a, b in zip(trace_a, trace_b, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    _, rewards_c = rollout(6, **kwargs)
    assert not np.array_equal(rewards_a, rewards_c)


def test_unseeded_resets_continue_the_seeded_stream():
    def episodes():
        env = gym.make("RecoWorld-v0")
        env.reset(seed=11)
        firsts = []
        for _ in range(3):
            obs, _ = env.reset()
            firsts.append(obs["candidates"])
        return firsts

    for a, b in zip(episodes(), episodes(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.arange(9), "shape"),
        (np.arange(11), "shape"),
        (np.arange(10, dtype=float), "non-integer"),
        (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 100]), "100"),
        (np.array([-1, 1, 2, 3, 4, 5, 6, 7, 8, 9]), "-1"),
        ([[0] * 10], "shape"),
    ],
)
def test_slate_action_outside_the_space_raises(action, message):
    env = gym.make("RecoWorld-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (np.full(100, np.nan), "NaN"),
        (np.full(100, 1.5), "1.5"),
        (np.full(100, -2.0), "-2"),
        (np.zeros(99), "shape"),
    ],
)
def test_score_action_outside_the_space_raises(scores, message):
    env = gym.make("RecoWorld-v0", action_type="scores")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(scores)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_candidates": -5}, "num_candidates"),
        ({"slate_size": 0}, "slate_size"),
        ({"num_candidates": 5, "slate_size": 10}, "slate_size"),
        ({"num_candidates": 5000}, "num_candidates"),
        ({"click_weight": float("nan")}, "click_weight"),
        ({"return_weight": float("inf")}, "return_weight"),
        ({"max_session_turns": 0}, "max_session_turns"),
        ({"return_horizon_days": 0.0}, "return_horizon_days"),
        ({"action_type": "ranking"}, "action_type"),
        ({"n_items": 1}, "n_items"),
        ({"multi_session": "yes"}, "multi_session"),
    ],
)
def test_bad_config_raises_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RecoWorldEnv(**kwargs)


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        RecoWorldEnv().step(np.arange(10))


def test_repeated_index_is_a_wasted_empty_slot():
    env = gym.make("RecoWorld-v0")
    _, info = env.reset(seed=0)
    candidates = info["candidates"]
    action = np.array([3, 3, 4, 5, 3, 6, 7, 8, 9, 10])
    _, _, _, _, info = env.step(action)
    assert info["wasted_slots"] == 2
    assert info["slate"][0] == candidates[3]
    assert info["slate"][1] == -1 and info["slate"][4] == -1
    assert info["slate"][2] == candidates[4]
    assert set(info["clicks"]) <= set(info["slate"][info["slate"] >= 0])


def test_scores_show_the_top_scored_candidates_best_first():
    env = gym.make("RecoWorld-v0", action_type="scores")
    _, info = env.reset(seed=0)
    scores = np.linspace(-1, 1, 100).astype(np.float32)
    _, _, _, _, info2 = env.step(scores)
    np.testing.assert_array_equal(info2["slate"], info["candidates"][99:89:-1])
    _, info = env.reset(seed=0)
    _, _, _, _, info2 = env.step(np.zeros(100, np.float32))  # ties: lower index first
    np.testing.assert_array_equal(info2["slate"], info["candidates"][:10])


def test_mask_marks_items_shown_this_session_and_matches_the_observation():
    env = gym.make("RecoWorld-v0", n_items=120, num_candidates=100)
    obs, info = env.reset(seed=1)
    assert info["action_mask"].all()
    shown: set[int] = set()
    for _ in range(5):
        obs, _, terminated, truncated, info = env.step(np.arange(10))
        if terminated or truncated:
            break
        shown.update(int(i) for i in info["slate"])
        unavailable = {
            int(c) for c, ok in zip(info["candidates"], info["action_mask"], strict=True) if not ok
        }
        assert unavailable == shown & {int(c) for c in info["candidates"]}
        np.testing.assert_array_equal(obs["candidates"][:, -1], info["action_mask"])


def test_reflective_instruction_names_its_topics_and_is_encoded():
    env = gym.make("RecoWorld-v0")
    topics = env.unwrapped.catalog.topic_names
    obs, _ = env.reset(seed=0)
    for _ in range(2000):
        obs, _, terminated, truncated, info = env.step(np.arange(10))
        if info["instruction"] is not None:
            more = info["instruction_topics"]["more_of"][0]
            less = info["instruction_topics"]["less_of"][0]
            assert more in info["instruction"] and less in info["instruction"]
            t = len(topics)
            assert obs["instruction"][topics.index(more)] == 1.0
            assert obs["instruction"][t + topics.index(less)] == 1.0
            assert obs["instruction"].sum() == 2.0
            return
        if terminated or truncated:
            obs, _ = env.reset()
    pytest.fail("no reflective instruction in 2000 steps")


def test_single_session_episode_ends_when_the_user_leaves():
    env = gym.make("RecoWorld-v0")
    env.reset(seed=0)
    for _ in range(100):
        _, _, terminated, truncated, info = env.step(np.arange(10))
        if terminated or truncated:
            assert info["session_ended"]
            assert info["return_gap_days"] > 0
            assert terminated != truncated
            return
        assert not info["session_ended"] and info["return_gap_days"] is None
    pytest.fail("single session did not end within 100 turns")


def test_multi_session_episode_spans_sessions_over_days():
    env = gym.make("RecoWorld-v0", multi_session=True, max_sessions=3)
    layout = ObservationLayout.of(env)
    agent = InstructionAwareGreedyAgent(layout)
    obs, info = env.reset(seed=2)
    sessions_ended = 0
    last_day = 0.0
    while True:
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
        if info["session_ended"]:
            sessions_ended += 1
            assert info["day"] >= last_day
            last_day = info["day"]
        if terminated or truncated:
            break
    assert terminated == info["churned"]
    assert truncated == (not info["churned"])
    assert sessions_ended == info["session"] + 1 if terminated else sessions_ended == 3


def test_vector_env_with_one_user_matches_the_single_env():
    single = gym.make("RecoWorld-v0")
    vector = gym.make_vec("RecoWorld-v0", num_envs=1, vectorization_mode="vector_entry_point")
    obs_s, _ = single.reset(seed=9)
    obs_v, _ = vector.reset(seed=9)
    rng = np.random.default_rng(0)
    for _ in range(30):
        for key in obs_s:
            np.testing.assert_array_equal(obs_s[key], obs_v[key][0])
        action = rng.permutation(100)[:10]
        obs_s, r_s, te_s, tr_s, _ = single.step(action)
        obs_v, r_v, te_v, tr_v, _ = vector.step(action[None])
        assert r_s == pytest.approx(r_v[0])
        assert (te_s, tr_s) == (te_v[0], tr_v[0])
        if te_s or tr_s:
            break


def test_vector_env_autoresets_on_the_next_step():
    envs = gym.make_vec("RecoWorld-v0", num_envs=64, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    done_before = np.zeros(64, bool)
    for _ in range(60):
        _, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
        assert np.all(rewards[done_before] == 0.0)
        assert not np.any(infos["session_ended"][done_before])
        done_before = terminations | truncations
        assert infos["action_mask"].shape == (64, 100)
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros((3, 10), np.int64))


def test_instruction_carries_information():
    """The instruction-aware greedy beats the same agent with the instruction hidden."""
    env = gym.make("RecoWorld-v0")
    layout = ObservationLayout.of(env)
    agents = {
        "with": InstructionAwareGreedyAgent(layout),
        "hidden": GreedyAgent(layout, use_instruction=False),
    }
    returns = {name: [] for name in agents}
    for name, agent in agents.items():
        for episode in range(60):
            obs, info = env.reset(seed=1000 + episode)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
                total += reward
                done = terminated or truncated
            returns[name].append(total)
    gain = np.array(returns["with"]) - np.array(returns["hidden"])
    half_width = 1.96 * gain.std(ddof=1) / np.sqrt(len(gain))
    assert gain.mean() - half_width > 0, (gain.mean(), half_width)


def test_render_ansi_lists_the_slate():
    env = gym.make("RecoWorld-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step(np.arange(10))
    text = env.render()
    assert "patience" in text and "1." in text


def test_recoworld_runs_on_a_loaded_scpr_catalog():
    """The env takes any Catalog: here LastFM* read from the shared data folder."""
    from pathlib import Path

    from recoworld.catalog import load_scpr

    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "lastfm_star"
    if not path.is_dir():
        pytest.skip(f"LastFM* data folder {path} is absent")
    catalog = load_scpr(path).catalog
    env = gym.make("RecoWorld-v0", catalog=catalog)
    gym_check_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    features = catalog.embedding_dim + catalog.n_topics + 4
    assert obs["candidates"].shape == (100, features)
    agent = InstructionAwareGreedyAgent(ObservationLayout.of(env))
    for _ in range(20):
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
        assert set(info["clicks"]) <= set(info["slate"])
        if terminated or truncated:
            break


@pytest.mark.parametrize("mode", ["features", "ids"])
def test_vector_env_without_copies_gives_the_same_observations(mode):
    make = {"num_envs": 32, "vectorization_mode": "vector_entry_point", "observation_mode": mode}
    fresh = gym.make_vec("RecoWorld-v0", **make)
    reused = gym.make_vec("RecoWorld-v0", copy=False, **make)
    obs_f, _ = fresh.reset(seed=3)
    obs_r, _ = reused.reset(seed=3)
    rng = np.random.default_rng(0)
    previous = None
    for _ in range(40):
        for key in obs_f:
            np.testing.assert_array_equal(obs_f[key], obs_r[key])
        if previous is not None:
            assert all(np.shares_memory(previous[key], obs_r[key]) for key in obs_r)
        previous = obs_r
        actions = np.argsort(rng.random((32, 100)), axis=1)[:, :10]
        obs_f, r_f, *_ = fresh.step(actions)
        obs_r, r_r, *_ = reused.step(actions)
        np.testing.assert_array_equal(r_f, r_r)


@pytest.mark.parametrize("mode", ["features", "ids"])
@pytest.mark.parametrize("multi_session", [False, True])
def test_parallel_engine_step_matches_the_serial_kernel(mode, multi_session):
    """A big batch stepped on numba's threads gives the serial kernel's arrays, bit for bit."""
    make = {
        "num_envs": 600,
        "vectorization_mode": "vector_entry_point",
        "observation_mode": mode,
        "multi_session": multi_session,
        "max_session_turns": 8,
    }
    serial = gym.make_vec("RecoWorld-v0", **make)
    threaded = gym.make_vec("RecoWorld-v0", **make)
    serial.unwrapped.core.parallel_min_users = 10**9
    threaded.unwrapped.core.parallel_min_users = 1
    obs_s, info_s = serial.reset(seed=11)
    obs_t, info_t = threaded.reset(seed=11)
    rng = np.random.default_rng(5)
    for _ in range(30):
        actions = np.argsort(rng.random((600, 100)), axis=1)[:, :10]
        *out_s, info_s = serial.step(actions)
        *out_t, info_t = threaded.step(actions)
        obs_s, obs_t = out_s[0], out_t[0]
        assert obs_s.keys() == obs_t.keys() and info_s.keys() == info_t.keys()
        for key in obs_s:
            np.testing.assert_array_equal(obs_s[key], obs_t[key], key)
        for key in info_s:
            np.testing.assert_array_equal(info_s[key], info_t[key], key)
        for got_s, got_t in zip(out_s[1:], out_t[1:], strict=True):
            np.testing.assert_array_equal(got_s, got_t)
    assert serial.unwrapped.core._engine_step_parallel is None
    if numba.get_num_threads() > 1:
        assert threaded.unwrapped.core._engine_step_parallel is not None
