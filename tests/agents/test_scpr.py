"""SCPR: weighted entropy by hand, the replay buffer, DQN and SB3 smoke runs through the
synthetic ConvRec-v0, legal moves in both action modes, and checkpoint round trips."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

import recoworld  # noqa: F401  (registers ConvRec-v0)
from recoworld.agents import Agent, make_agent, make_env_and_agent
from recoworld.agents.scpr import (
    DQNConfig,
    DQNPolicy,
    ReplayBuffer,
    ReplaySamples,
    SB3Config,
    SB3Policy,
    SCPRAgent,
    WeightedEntropyScorer,
    flatten_observation,
    load_scpr_checkpoint,
    save_scpr_checkpoint,
    scpr_env_kwargs,
    train_scpr,
    train_scpr_dqn,
    train_scpr_sb3,
    weighted_entropy,
)
from recoworld.agents.scpr.fm import FMConfig, FMScorer, train_fm
from recoworld.catalog import Catalog
from recoworld.evaluation import evaluate
from recoworld.graph import AttributeGraph, attribute_entropy

SMALL_ENV = {"n_items": 300, "n_users": 30}
TINY_DQN = DQNConfig(
    total_steps=300, learning_starts=50, batch_size=16, buffer_size=500, target_update_interval=50
)


@pytest.fixture(scope="module")
def fm() -> FMScorer:
    core = gym.make("ConvRec-v0", **SMALL_ENV).unwrapped
    graph = core.graph
    interactions = {int(u): graph.items_of_user(int(u)).astype(np.int64) for u in graph.user_ids}
    return train_fm((core.catalog, interactions), FMConfig(embedding_dim=8, epochs=3), 0, False)


@pytest.fixture(scope="module")
def policy_kwargs(fm):
    return scpr_env_kwargs(SMALL_ENV, fm)


@pytest.fixture(scope="module")
def dqn(policy_kwargs) -> DQNPolicy:
    return train_scpr_dqn(policy_kwargs, TINY_DQN, seed=0, progress=False)


def _three_item_graph() -> AttributeGraph:
    """Items 0, 1, 2; attribute 0 on items 0 and 1, attribute 1 on item 2, attribute 2 on all."""
    import scipy.sparse as sp

    matrix = sp.csr_array(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1]], dtype=np.int8))
    catalog = Catalog(
        item_ids=np.arange(3),
        attribute_names=("a", "b", "c"),
        item_attributes=matrix,
        topic_names=("t",),
        item_topics=np.ones((3, 1), np.float32),
        embeddings=np.eye(3, dtype=np.float32),
        quality=np.full(3, 0.5, np.float32),
        popularity=np.full(3, 1 / 3, np.float32),
        duration=np.full(3, 4.0, np.float32),
        titles=("x", "y", "z"),
        descriptions=("x", "y", "z"),
        name="three",
    )
    return AttributeGraph.from_catalog(catalog)


def test_weighted_entropy_by_hand():
    graph = _three_item_graph()
    items = np.array([0, 1, 2])
    # Equal scores: the weighted entropy is the plain entropy of the counts (2, 1, 3 of 3).
    equal = weighted_entropy(graph, items, np.zeros(3), np.array([0, 1, 2]))
    np.testing.assert_allclose(equal, attribute_entropy(np.array([2, 1, 3]), 3))
    # Scores (0, 0, log 2): weights (1/2, 1/2, 2/3), so attribute 0 holds q = 1 / (5/3) = 0.6.
    weighted = weighted_entropy(graph, items, np.array([0.0, 0.0, np.log(2.0)]), np.array([0]))
    expected = -(0.6 * np.log2(0.6) + 0.4 * np.log2(0.4))
    assert weighted[0] == pytest.approx(expected)
    # Only the given candidates count: with items 0 and 1 attribute 0 splits nothing.
    assert weighted_entropy(graph, np.array([0, 1]), np.zeros(2), np.array([0]))[0] == 0.0


def test_replay_buffer_samples_typed_batches_and_wraps_around():
    buffer = ReplayBuffer(capacity=4, observation_dim=3)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(2, np.random.default_rng(0))
    for i in range(6):
        buffer.add(
            np.full(3, i, np.float32), i % 2, float(i), np.full(3, i + 1, np.float32), i == 5
        )
    assert len(buffer) == 4
    assert sorted(buffer.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0]
    batch = buffer.sample(8, np.random.default_rng(0))
    assert isinstance(batch, ReplaySamples)
    assert batch.observations.shape == (8, 3) and batch.next_observations.shape == (8, 3)
    assert batch.actions.shape == (8,) and batch.actions.dtype == torch.int64
    assert batch.rewards.shape == (8,) and batch.rewards.dtype == torch.float32
    assert batch.dones.shape == (8,)
    torch.testing.assert_close(batch.next_observations[:, 0], batch.observations[:, 0] + 1)
    torch.testing.assert_close(batch.rewards, batch.observations[:, 0])


def test_dqn_smoke_run_learns_and_is_seeded(policy_kwargs, dqn):
    log = dqn.training_log
    assert len(log["return"]) == len(log["success"]) > 0
    assert log["loss"] and all(np.isfinite(log["loss"]))
    again = train_scpr_dqn(policy_kwargs, TINY_DQN, seed=0, progress=False)
    for name, tensor in dqn.q_network.state_dict().items():
        assert torch.equal(tensor, again.q_network.state_dict()[name]), name
    obs, _ = gym.make("ConvRec-v0", **policy_kwargs).reset(seed=0)
    assert dqn.decide(flatten_observation(obs)) in (0, 1)


@pytest.mark.parametrize("mode", ["ask_or_recommend", "attribute"])
def test_scpr_agent_acts_legally(fm, dqn, mode):
    env = gym.make("ConvRec-v0", **SMALL_ENV, action_mode=mode)
    core = env.unwrapped
    agent = SCPRAgent(dqn, WeightedEntropyScorer(fm, core.graph))
    assert isinstance(agent, Agent) and agent.name == "scpr"
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    for _ in range(40):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        assert info["action_mask"][action]
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


def test_attribute_mode_asks_the_weighted_entropy_choice(fm):
    class AlwaysAsk:
        def decide(self, observation):
            return 0

    env = gym.make("ConvRec-v0", **SMALL_ENV)
    chooser = WeightedEntropyScorer(fm, env.unwrapped.graph)
    agent = SCPRAgent(AlwaysAsk(), chooser)
    obs, info = env.reset(seed=3)
    action = agent.act(obs, info)
    scores = chooser.scores(
        info["user"], info["candidates"], info["candidate_attributes"], info["accepted_attributes"]
    )
    assert action == info["candidate_attributes"][int(np.argmax(scores))]
    # The env's own weighted-entropy scorer, without the accepted attributes, agrees.
    np.testing.assert_allclose(
        chooser(info["user"], info["candidates"], info["candidate_attributes"]), scores
    )


def test_sb3_dqn_smoke_run_through_the_env(tmp_path, fm, policy_kwargs):
    policy = train_scpr_sb3(
        policy_kwargs, "dqn", SB3Config(total_timesteps=200), seed=0, progress=False
    )
    assert isinstance(policy, SB3Policy)
    env = gym.make("ConvRec-v0", **policy_kwargs)
    obs, _ = env.reset(seed=0)
    decision = policy.decide(flatten_observation(obs))
    assert decision in (0, 1)
    save_scpr_checkpoint(tmp_path / "sb3", fm, policy)
    _, loaded = load_scpr_checkpoint(tmp_path / "sb3")
    assert isinstance(loaded, SB3Policy) and loaded.algo == "dqn"
    assert loaded.decide(flatten_observation(obs)) == decision


def test_checkpoint_round_trip_and_factory(tmp_path, fm, dqn):
    folder = save_scpr_checkpoint(tmp_path / "scpr", fm, dqn)
    loaded_fm, loaded_policy = load_scpr_checkpoint(folder)
    assert isinstance(loaded_policy, DQNPolicy)
    observation = np.random.default_rng(0).random(dqn.q_network.observation_dim, np.float32)
    np.testing.assert_array_equal(loaded_policy.q_values(observation), dqn.q_values(observation))
    items = np.arange(50)
    np.testing.assert_array_equal(
        loaded_fm.score_items(2, items, np.array([1])), fm.score_items(2, items, np.array([1]))
    )
    with pytest.raises(FileNotFoundError):
        load_scpr_checkpoint(tmp_path / "missing")

    for mode in ("ask_or_recommend", "attribute"):
        report = evaluate(
            "scpr",
            "ConvRec-v0",
            5,
            agent_options={"checkpoint": folder},
            action_mode=mode,
            **SMALL_ENV,
        )
        assert report.config["agent"] == "scpr"
        assert 0.0 <= report.metrics["SR@15"] <= 1.0
    env, agent = make_env_and_agent(
        "ConvRec-v0",
        "scpr",
        agent_options={"checkpoint": folder},
        **SMALL_ENV,
        action_mode="ask_or_recommend",
    )
    assert isinstance(env.unwrapped.attribute_scorer, WeightedEntropyScorer)
    assert env.unwrapped.item_scorer.fm is agent.chooser.fm


def test_scpr_refuses_an_env_that_ranks_with_another_scorer(tmp_path, fm, dqn):
    """The live env is never patched: SCPR on an env without its FM is an error saying how to
    make the right env."""
    folder = save_scpr_checkpoint(tmp_path / "scpr", fm, dqn)
    env = gym.make("ConvRec-v0", **SMALL_ENV)
    scorer = env.unwrapped.item_scorer
    with pytest.raises(ValueError, match="make_env_and_agent"):
        make_agent("scpr", env, checkpoint=folder)
    with pytest.raises(ValueError, match="make_env_and_agent"):
        make_agent("scpr", env)  # refused at once: nothing is trained for an env it cannot use
    assert env.unwrapped.item_scorer is scorer


def test_factory_rejects_a_scorer_of_other_data(tmp_path, fm, dqn):
    folder = save_scpr_checkpoint(tmp_path / "scpr", fm, dqn)
    with pytest.raises(ValueError, match="trained on other data"):
        make_env_and_agent(
            "ConvRec-v0", "scpr", agent_options={"checkpoint": folder}, n_items=200, n_users=10
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [("total_steps", 0), ("gamma", 1.5), ("hidden_sizes", ()), ("learning_rate", 0.0)],
)
def test_bad_dqn_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"DQNConfig.{field}="):
        DQNConfig(**{field: value})


def test_policy_env_must_ask_or_recommend(policy_kwargs):
    with pytest.raises(ValueError, match="ask_or_recommend"):
        train_scpr_dqn({**SMALL_ENV, "action_mode": "attribute"}, TINY_DQN, progress=False)


def test_factory_without_checkpoint_trains_scorer_and_policy():
    env_kwargs = {**SMALL_ENV, "action_mode": "ask_or_recommend"}
    model = train_scpr(
        env_kwargs,
        seed=0,
        fm_config=FMConfig(embedding_dim=4, epochs=1),
        dqn_config=TINY_DQN,
        progress=False,
    )
    env, agent = make_env_and_agent(
        "ConvRec-v0", "scpr", seed=0, agent_options={"model": model}, **env_kwargs
    )
    assert isinstance(agent.policy, DQNPolicy) and agent.chooser is not None
    assert isinstance(env.unwrapped.attribute_scorer, WeightedEntropyScorer)
    obs, info = env.reset(seed=0)
    assert info["action_mask"][agent.act(obs, info)]


# ---------------------------------------------------------------------------- train_steps, save


def test_dqn_config_for_budget_scales_the_schedule_and_keeps_the_default():
    from recoworld.agents.scpr import DEFAULT_TRAIN_STEPS, dqn_config_for_budget

    assert DEFAULT_TRAIN_STEPS == DQNConfig().total_steps == 20_000
    assert dqn_config_for_budget(DEFAULT_TRAIN_STEPS) == DQNConfig()
    tiny = dqn_config_for_budget(40)
    assert (tiny.total_steps, tiny.learning_starts, tiny.target_update_interval) == (40, 2, 1)
    assert tiny.buffer_size == 40 and tiny.gamma == DQNConfig().gamma
    assert dqn_config_for_budget(1).total_steps == 1
    assert type(dqn_config_for_budget(np.int64(40)).total_steps) is int


def test_scpr_option_train_steps_sets_the_dqn_budget_and_save_keeps_the_model(tmp_path):
    folder = tmp_path / "trained"
    env, agent = make_env_and_agent(
        "ConvRec-v0",
        "scpr",
        seed=0,
        agent_options={"train_steps": 40, "save": str(folder)},
        **SMALL_ENV,
    )
    # 40 training turns: conversations of 1 to 14 turns each.
    assert 40 // 14 <= len(agent.policy.training_log["success"]) <= 40
    # The checkpoint in the folder is the model the agent plays.
    fm, policy = load_scpr_checkpoint(folder)
    observation = np.random.default_rng(0).random(policy.q_network.observation_dim, np.float32)
    np.testing.assert_array_equal(policy.q_values(observation), agent.policy.q_values(observation))
    items = np.arange(20)
    np.testing.assert_array_equal(
        fm.score_items(1, items, np.array([0])),
        agent.chooser.fm.score_items(1, items, np.array([0])),
    )
    report = evaluate("scpr", "ConvRec-v0", 2, agent_options={"checkpoint": folder}, **SMALL_ENV)
    assert report.config["agent"] == "scpr"
    assert env.unwrapped.item_scorer.fm is agent.chooser.fm


def test_scpr_train_steps_reaches_train_scpr(monkeypatch):
    from recoworld.agents.scpr import agent as scpr_agent

    seen = {}

    def fake_train(env_kwargs, seed=0, *, fm_config=None, dqn_config=None, progress=True):
        seen.update(total_steps=dqn_config.total_steps, progress=progress, seed=seed)
        raise RuntimeError("stop after the configuration")

    monkeypatch.setattr(scpr_agent, "train_scpr", fake_train)
    with pytest.raises(RuntimeError, match="stop after"):
        make_env_and_agent("ConvRec-v0", "scpr", seed=3, agent_options={"train_steps": 7})
    assert seen == {"total_steps": 7, "progress": True, "seed": 3}
    seen.clear()
    with pytest.raises(RuntimeError, match="stop after"):
        make_env_and_agent("ConvRec-v0", "scpr")
    assert seen["total_steps"] == 20_000  # the documented default


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"train_steps": 0}, "train_steps=0 must be an integer >= 1"),
        ({"train_steps": -5}, "train_steps=-5"),
        ({"train_steps": True}, "train_steps=True"),
        ({"train_steps": 2.5}, "train_steps=2.5"),
        ({"train_steps": "100"}, "train_steps='100'"),
        ({"save": 3}, "save=3 must be a folder path"),
        ({"save": ""}, "save='' must be a folder path"),
        ({"checkpoint": "x", "train_steps": 5}, "option train_steps applies only when"),
        ({"checkpoint": "x", "save": "y"}, "option save applies only when"),
        ({"train_steps": 1, "bogus": 1}, "has no option 'bogus'"),
    ],
)
def test_bad_scpr_options_are_refused_before_training(monkeypatch, options, message):
    from recoworld.agents.scpr import agent as scpr_agent

    def no_training(*args, **kwargs):
        raise AssertionError("trained despite a bad option")

    monkeypatch.setattr(scpr_agent, "train_scpr", no_training)
    with pytest.raises(ValueError, match=re.escape(message)):
        make_env_and_agent("ConvRec-v0", "scpr", agent_options=options, **SMALL_ENV)


def test_scpr_save_never_overwrites_and_is_checked_before_training(monkeypatch, tmp_path):
    from recoworld.agents.scpr import agent as scpr_agent

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the save folder is refused")

    monkeypatch.setattr(scpr_agent, "train_scpr", no_training)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    for path, what in ((full, "a folder that is not empty"), (a_file, "a file")):
        with pytest.raises(ValueError, match=f"save=.* is {what}; .*never overwrites"):
            make_env_and_agent("ConvRec-v0", "scpr", agent_options={"save": path}, **SMALL_ENV)
    assert (full / "keep.txt").read_text() == "mine" and a_file.read_text() == "mine"
    # An empty folder is fine; so is one that does not exist yet (both are trained into).
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "new"):
        with pytest.raises(AssertionError, match="trained although"):
            make_env_and_agent("ConvRec-v0", "scpr", agent_options={"save": path}, **SMALL_ENV)


def test_a_save_folder_filled_during_training_keeps_the_model_beside_it(
    monkeypatch, tmp_path, fm, dqn
):
    """The folder was new when checked, but filled while SCPR trained: the trained model goes to
    the first free sibling folder, with a warning naming it; nothing is overwritten or lost."""
    from recoworld.agents.scpr import agent as scpr_agent

    folder = tmp_path / "trained"
    (tmp_path / "trained-1").mkdir()
    (tmp_path / "trained-1" / "other.txt").write_text("theirs")

    def training_meanwhile_filled(*args, **kwargs):
        folder.mkdir()
        (folder / "keep.txt").write_text("mine")
        return fm, dqn

    monkeypatch.setattr(scpr_agent, "train_scpr", training_meanwhile_filled)
    with pytest.warns(UserWarning, match=r"saved to '.*trained-2' instead"):
        _, agent = make_env_and_agent(
            "ConvRec-v0", "scpr", agent_options={"train_steps": 5, "save": folder}, **SMALL_ENV
        )
    assert agent.policy is dqn
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert (folder / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "trained-1").iterdir()) == ["other.txt"]
    _, saved_policy = load_scpr_checkpoint(tmp_path / "trained-2")
    observation = np.random.default_rng(0).random(dqn.q_network.observation_dim, np.float32)
    np.testing.assert_array_equal(saved_policy.q_values(observation), dqn.q_values(observation))


def test_a_save_folder_still_new_or_empty_after_training_is_used_without_a_warning(
    monkeypatch, tmp_path, fm, dqn
):
    import warnings

    from recoworld.agents.scpr import agent as scpr_agent

    monkeypatch.setattr(scpr_agent, "train_scpr", lambda *args, **kwargs: (fm, dqn))
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "new" / "nested"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            make_env_and_agent("ConvRec-v0", "scpr", agent_options={"save": folder}, **SMALL_ENV)
        assert (folder / "scpr.json").is_file()
    assert not (tmp_path / "empty-1").exists()


def test_make_agent_checks_scpr_options_too(tmp_path, fm, dqn):
    folder = save_scpr_checkpoint(tmp_path / "scpr", fm, dqn)
    env = gym.make("ConvRec-v0", **scpr_env_kwargs(SMALL_ENV, fm))
    with pytest.raises(ValueError, match="option train_steps applies only when"):
        make_agent("scpr", env, checkpoint=folder, train_steps=5)
