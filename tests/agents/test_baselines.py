"""Baseline agents: legal actions in both observation modes, seeding, availability first."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from recoworld.agents import (
    Agent,
    ObservationLayout,
    agent_entry,
    agent_names,
    make_agent,
    top_slate,
)

# Every RecoWorld-v0 agent that needs no saved model (ppo / maskable-ppo need a checkpoint).
SELF_CONTAINED = [
    name for name in agent_names("RecoWorld-v0") if not agent_entry("RecoWorld-v0", name).required
]


@pytest.mark.parametrize("name", SELF_CONTAINED)
@pytest.mark.parametrize("mode", ["features", "ids"])
def test_every_agent_plays_legal_slates(name, mode):
    env = gym.make("RecoWorld-v0", observation_mode=mode)
    agent = make_agent(name, env, seed=0)
    assert isinstance(agent, Agent)
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    for _ in range(15):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        assert len(set(action.tolist())) == len(action)  # never wastes a slot
        # A baseline shows available candidates while there are enough of them.
        assert info["action_mask"][action].all()
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


def test_agents_act_the_same_in_both_observation_modes():
    envs = {mode: gym.make("RecoWorld-v0", observation_mode=mode) for mode in ("features", "ids")}
    agents = {mode: make_agent("instruction-greedy", env) for mode, env in envs.items()}
    state = {mode: env.reset(seed=4) for mode, env in envs.items()}
    for _ in range(20):
        actions = {mode: agents[mode].act(*state[mode]) for mode in envs}
        np.testing.assert_array_equal(actions["features"], actions["ids"])
        steps = {mode: envs[mode].step(actions[mode]) for mode in envs}
        state = {mode: (step[0], step[4]) for mode, step in steps.items()}
        if steps["features"][2] or steps["features"][3]:
            break


def test_random_agent_is_reproducible_with_its_seed():
    env = gym.make("RecoWorld-v0")
    obs, info = env.reset(seed=0)
    a, b = make_agent("random", env, seed=3), make_agent("random", env, seed=3)
    np.testing.assert_array_equal(a.act(obs, info), b.act(obs, info))
    b.reset(seed=4)
    assert not np.array_equal(a.act(obs, info), b.act(obs, info))


def test_top_slate_prefers_available_candidates():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    available = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(top_slate(scores, available, 3), [1, 3, 4])
    # Too few available: the best unavailable ones fill the rest.
    np.testing.assert_array_equal(top_slate(scores, available, 4), [1, 3, 4, 0])


def test_unknown_agent_name():
    env = gym.make("RecoWorld-v0")
    with pytest.raises(ValueError, match="nope"):
        make_agent("nope", env)


def test_ids_observation_needs_the_feature_table():
    layout = ObservationLayout(16, 12, 10)
    with pytest.raises(ValueError, match="item_features"):
        layout.candidates({"candidate_ids": np.arange(5), "available": np.ones(5, np.int8)})
