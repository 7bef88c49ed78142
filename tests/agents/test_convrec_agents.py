"""ConvRec-v0 agents: legal moves in both action modes, seeding, the rules of each baseline,
Max Entropy beating random, and a few conversations on the real LastFM* folder."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers ConvRec-v0)
from recoworld.agents import Agent, agent_names, make_env_and_agent
from recoworld.agents.convrec import AbsGreedyAgent, ConvRandomAgent, MaxEntropyAgent
from recoworld.evaluation import evaluate

LASTFM_STAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "lastfm_star"

MAX_TEST_TRAIN_STEPS = 2_000
"""The largest DQN budget a test here may give SCPR (the library's default is 20,000 turns)."""


@pytest.fixture(autouse=True)
def _scpr_trains_with_tiny_budgets(monkeypatch):
    """Fail a test that would train SCPR's DQN with more than :data:`MAX_TEST_TRAIN_STEPS`
    turns, such as building agent ``scpr`` without ``train_steps``, ``model`` or
    ``checkpoint``: the README's test command once took 44 minutes because of two of them."""
    try:
        from recoworld.agents.scpr import DQNConfig, agent
    except ImportError:  # no torch: nothing can train
        return
    train = agent.train_scpr_dqn

    def guarded(env_kwargs, config=None, *args, **kwargs):
        steps = (config or DQNConfig()).total_steps
        if steps > MAX_TEST_TRAIN_STEPS:
            raise AssertionError(
                f"this test trains SCPR's DQN for {steps} turns; give agent 'scpr' the option "
                f"train_steps (at most {MAX_TEST_TRAIN_STEPS}), a model or a checkpoint"
            )
        return train(env_kwargs, config, *args, **kwargs)

    monkeypatch.setattr(agent, "train_scpr_dqn", guarded)


@pytest.fixture(scope="module")
def tiny_scpr():
    """SCPR trained with a tiny budget on the default synthetic world (the registry's ``model``
    option; without it the agent trains with its full default budget)."""
    from recoworld.agents.scpr import DQNConfig, FMConfig, train_scpr

    dqn = DQNConfig(total_steps=200, learning_starts=50, batch_size=16, buffer_size=300)
    return train_scpr({}, 0, fm_config=FMConfig(epochs=1), dqn_config=dqn, progress=False)


@pytest.mark.parametrize("name", agent_names("ConvRec-v0"))
@pytest.mark.parametrize("mode", ["attribute", "ask_or_recommend"])
def test_every_agent_plays_useful_legal_moves(name, mode, request):
    options = {"model": request.getfixturevalue("tiny_scpr")} if name == "scpr" else {}
    env, agent = make_env_and_agent(
        "ConvRec-v0", name, seed=0, agent_options=options, action_mode=mode
    )
    assert isinstance(agent, Agent)
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    for _ in range(40):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        assert info["action_mask"][action]
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


def test_abs_greedy_always_recommends():
    env = gym.make("ConvRec-v0")
    obs, info = env.reset(seed=1)
    agent = AbsGreedyAgent()
    for _ in range(5):
        assert agent.act(obs, info) == env.unwrapped.recommend_action
        obs, _, terminated, _, info = env.step(agent.act(obs, info))
        if terminated:
            break


def test_random_agent_is_reproducible_with_its_seed():
    env = gym.make("ConvRec-v0")
    obs, info = env.reset(seed=0)

    def moves(seed):
        agent = ConvRandomAgent(seed=seed)
        return [agent.act(obs, info) for _ in range(30)]

    assert moves(3) == moves(3)
    assert moves(3) != moves(4)
    actions = set(moves(3))
    assert env.unwrapped.recommend_action in actions and len(actions) > 2


def fake_info(n_candidates: int, attributes, counts, turns_left: int = 10) -> dict:
    mask = np.zeros(6, bool)
    mask[list(attributes)] = True
    mask[5] = True
    return {
        "candidates": range(n_candidates),
        "candidate_attributes": np.asarray(attributes, np.int64),
        "candidate_attribute_counts": np.asarray(counts, np.int64),
        "turns_left": turns_left,
        "action_mask": mask,
    }


def test_max_entropy_asks_the_attribute_that_best_splits_the_candidates():
    agent = MaxEntropyAgent(seed=0)
    # 1,000,000 candidates: it recommends with probability 10 / 1e6, so it asks. Attribute 3 is
    # held by 400,000 of them (p = 0.4, closest to a half), attribute 1 by 100, attribute 4 by
    # all (entropy 0).
    info = fake_info(1_000_000, [1, 3, 4], [100, 400_000, 1_000_000])
    assert [agent.act(None, info) for _ in range(20)] == [3] * 20
    tie = fake_info(1_000_000, [2, 3], [250_000, 750_000])  # equal entropy: lower column
    assert agent.act(None, tie) == 2


def test_max_entropy_recommends_when_one_list_covers_the_candidates_or_nothing_splits():
    agent = MaxEntropyAgent(seed=0)
    assert agent.act(None, fake_info(10, [1, 3], [5, 5])) == 5
    assert agent.act(None, fake_info(1_000_000, [1], [1_000_000])) == 5
    assert agent.act(None, fake_info(1_000_000, [], [])) == 5


def test_max_entropy_recommends_with_probability_ten_over_candidates():
    agent = MaxEntropyAgent(seed=0)
    info = fake_info(40, [1], [20])  # recommend with probability 10 / 40
    share = np.mean([agent.act(None, info) == 5 for _ in range(4000)])
    assert share == pytest.approx(0.25, abs=0.03)


def test_agents_reject_bad_arguments():
    with pytest.raises(ValueError, match="action_mode"):
        MaxEntropyAgent(action_mode="slate")
    with pytest.raises(ValueError, match="recommend_size"):
        MaxEntropyAgent(recommend_size=0)
    with pytest.raises(ValueError, match="recommend_prob"):
        ConvRandomAgent(recommend_prob=1.5)


def test_max_entropy_beats_random_on_sr15():
    # Paired: episode i meets the same user, target and opening attribute for both agents.
    # Seeded, 300 conversations on the synthetic default: measured 0.717 vs 0.633.
    episodes = 300
    max_entropy = evaluate("max-entropy", "ConvRec-v0", episodes, seed=0)
    random = evaluate("random", "ConvRec-v0", episodes, seed=0)
    margin = max_entropy.metrics["SR@15"] - random.metrics["SR@15"]
    assert margin >= 0.05, (max_entropy.metrics, random.metrics)
    greedy = evaluate("abs-greedy", "ConvRec-v0", 50, seed=0)
    assert 0.0 < greedy.metrics["SR@15"] < 1.0


def test_max_entropy_on_lastfm_star_valid_pairs():
    if not LASTFM_STAR.is_dir():
        pytest.skip(f"LastFM* data folder {LASTFM_STAR} is absent")
    env = gym.make("ConvRec-v0", dataset_path=LASTFM_STAR, split_file="review_dict_valid.json")
    pairs = env.unwrapped.pairs
    assert pairs.shape == (11_891, 2)  # every LastFM* item has an attribute: no pair dropped
    assert env.action_space.n == 8438 + 1
    report = evaluate(
        "max-entropy",
        "ConvRec-v0",
        20,
        seed=0,
        reset_options=[{"pair": tuple(p)} for p in pairs[::500]],
        dataset_path=LASTFM_STAR,
    )
    assert report.config["episodes"] == 20
    assert 0.0 < report.metrics["SR@15"] <= 1.0
    assert 1.0 <= report.metrics["AT"] <= 15.0
