"""ConvRec-v0 and its attribute graph: protocol rules on a hand-built micro world, rewards,
turn limit, bad input, determinism, data folders, and the Gymnasium/SB3 checkers."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import gymnasium as gym
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import recoworld
from recoworld.catalog import Catalog, load_scpr
from recoworld.envs.convrec import REWARD_FIELDS, ConvRecConfig
from recoworld.envs.convrec.env import (
    CANDIDATE_COUNT_BUCKETS,
    OUTCOMES,
    ConvRecEnv,
    candidate_count_bucket,
)
from recoworld.graph import AttributeGraph, attribute_entropy
from recoworld.testing import check_determinism, check_env_conformance

ROCK, JAZZ, LIVE, CALM, RARE = range(5)
ITEM_ATTRIBUTES = [
    [ROCK, LIVE],  # item 0
    [ROCK, CALM],  # item 1
    [ROCK, LIVE, CALM],  # item 2: the usual target
    [JAZZ, LIVE],  # item 3
    [JAZZ, CALM],  # item 4
    [RARE],  # item 5
]
POPULARITY = np.array([0.30, 0.25, 0.20, 0.12, 0.08, 0.05], np.float32)


def micro_catalog() -> Catalog:
    """Six items, five attributes; popularity falls with the item row."""
    n = len(ITEM_ATTRIBUTES)
    dense = np.zeros((n, 5), np.int8)
    for item, attributes in enumerate(ITEM_ATTRIBUTES):
        dense[item, attributes] = 1
    return Catalog(
        item_ids=np.arange(n),
        attribute_names=("rock", "jazz", "live", "calm", "rare"),
        item_attributes=sp.csr_array(dense),
        topic_names=("all",),
        item_topics=np.ones((n, 1), np.float32),
        embeddings=np.eye(n, dtype=np.float32),
        quality=np.full(n, 0.5, np.float32),
        popularity=POPULARITY,
        duration=np.full(n, 4.0, np.float32),
        titles=tuple(f"item {i}" for i in range(n)),
        descriptions=tuple(f"item {i}." for i in range(n)),
        name="micro-conv",
    )


def micro_env(**kwargs) -> ConvRecEnv:
    kwargs.setdefault("top_k", 2)
    return ConvRecEnv(catalog=micro_catalog(), interactions={7: [2], 8: [0, 4]}, **kwargs)


def start(env: ConvRecEnv, target: int = 2, opening: int = ROCK, user: int = 7):
    return env.reset(seed=0, options={"pair": (user, target), "opening_attribute": opening})


# ------------------------------------------------------------------------------ protocol


def test_opening_attribute_counts_as_accepted_and_filters_candidates():
    env = micro_env()
    obs, info = start(env)
    np.testing.assert_array_equal(info["candidates"], [0, 1, 2])
    np.testing.assert_array_equal(info["accepted_attributes"], [ROCK])
    # live and calm are held by candidates and unknown; jazz and rare by no candidate.
    np.testing.assert_array_equal(info["candidate_attributes"], [LIVE, CALM])
    np.testing.assert_array_equal(info["candidate_attribute_counts"], [2, 2])
    np.testing.assert_array_equal(info["action_mask"], [0, 0, 1, 1, 0, 1])
    assert info["turn"] == 0 and info["turns_left"] == 14 and info["outcome"] is None
    assert "target" not in info and info["accepted_item"] == -1
    history = obs["history"].reshape(15, len(OUTCOMES))
    assert history[0, OUTCOMES.index("ask_accepted")] == 1 and history.sum() == 1


def test_accepted_ask_restricts_candidates_and_rejected_ask_does_not():
    env = micro_env()
    start(env)
    _, reward, terminated, truncated, info = env.step(JAZZ)
    assert (reward, terminated, truncated) == (-0.1, False, False)
    assert info["outcome"] == "ask_rejected" and info["asked_attribute"] == JAZZ
    np.testing.assert_array_equal(info["candidates"], [0, 1, 2])  # rejections never filter
    np.testing.assert_array_equal(info["rejected_attributes"], [JAZZ])

    obs, reward, _, _, info = env.step(LIVE)
    assert reward == 0.01 and info["outcome"] == "ask_accepted"
    np.testing.assert_array_equal(info["candidates"], [0, 2])  # rock and live
    np.testing.assert_array_equal(info["accepted_attributes"], [ROCK, LIVE])
    np.testing.assert_array_equal(info["candidate_attributes"], [CALM])
    history = obs["history"].reshape(15, len(OUTCOMES))
    assert history[1, OUTCOMES.index("ask_rejected")] == 1
    assert history[2, OUTCOMES.index("ask_accepted")] == 1
    assert info["turn"] == 2


@pytest.mark.parametrize("attribute", [ROCK, JAZZ, RARE], ids=["known", "rejected", "no-cand"])
def test_useless_asks_are_rejected_asks(attribute):
    env = micro_env()
    start(env)
    env.step(JAZZ)  # JAZZ is now a known (rejected) attribute too
    _, reward, terminated, _, info = env.step(attribute)
    assert info["outcome"] == "ask_rejected" and reward == pytest.approx(-0.1)
    assert not terminated
    np.testing.assert_array_equal(info["candidates"], [0, 1, 2])
    np.testing.assert_array_equal(info["accepted_attributes"], [ROCK])


def test_successful_recommendation_ends_the_episode_with_rec_suc():
    env = micro_env()
    start(env)
    env.step(LIVE)  # candidates {0, 2}
    _, reward, terminated, truncated, info = env.step(env.recommend_action)
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["success"] and info["outcome"] == "rec_accepted"
    np.testing.assert_array_equal(info["recommended"], [0, 2])  # by popularity
    assert info["accepted_item"] == 2 and info["accepted_rank"] == 2
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.recommend_action)


def test_rejected_recommendation_removes_the_items_from_the_candidates():
    env = micro_env(top_k=1)
    start(env, opening=CALM)  # candidates {1, 2, 4}
    _, reward, terminated, _, info = env.step(env.recommend_action)
    assert reward == pytest.approx(-0.1) and not terminated
    assert info["outcome"] == "rec_rejected"
    np.testing.assert_array_equal(info["recommended"], [1])
    np.testing.assert_array_equal(info["candidates"], [2, 4])
    _, reward, terminated, _, info = env.step(env.recommend_action)
    assert reward == 1.0 and terminated and info["accepted_rank"] == 1 and info["turn"] == 2


def test_explicit_recommend_and_ask_follow_the_same_protocol():
    env = micro_env(top_k=3)
    start(env)
    _, reward, _, _, info = env.recommend([5, 0])
    assert reward == pytest.approx(-0.1) and info["outcome"] == "rec_rejected"
    np.testing.assert_array_equal(info["candidates"], [1, 2])
    _, reward, _, _, info = env.ask(CALM)
    assert reward == pytest.approx(0.01)
    np.testing.assert_array_equal(info["candidates"], [1, 2])
    _, reward, terminated, _, info = env.recommend(np.array([4, 2]))
    assert reward == 1.0 and terminated and info["accepted_rank"] == 2


def test_user_quits_after_turn_14_with_the_quit_penalty():
    env = micro_env()
    start(env)
    rewards = []
    for turn in range(1, 15):
        _, reward, terminated, truncated, info = env.step(JAZZ)
        rewards.append(reward)
        assert not terminated
        assert truncated == (turn == 14) and info["turn"] == turn
    assert rewards[:13] == [pytest.approx(-0.1)] * 13
    assert rewards[13] == pytest.approx(-0.1 - 0.3)
    assert info["outcome"] == "quit" and info["move_outcome"] == "ask_rejected"
    assert info["turns_left"] == 0 and not info["success"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(JAZZ)


def test_a_success_on_the_last_turn_is_not_a_quit():
    env = micro_env(top_k=1, max_turns=3)  # two agent turns
    start(env, opening=CALM)  # candidates {1, 2, 4}: item 1 first, then the target
    _, _, _, truncated, _ = env.step(env.recommend_action)
    assert not truncated
    _, reward, terminated, truncated, info = env.step(env.recommend_action)
    assert (reward, terminated, truncated) == (1.0, True, False) and info["turn"] == 2


def test_rewards_are_constructor_arguments():
    env = micro_env(
        top_k=1,
        max_turns=4,
        reward_rec_suc=2.0,
        reward_rec_fail=-1.0,
        reward_ask_suc=0.5,
        reward_ask_fail=-0.25,
        reward_quit=-3.0,
    )
    start(env)
    assert env.step(LIVE)[1] == 0.5
    assert env.step(JAZZ)[1] == -0.25
    assert env.step(env.recommend_action)[1] == -1.0 - 3.0  # item 0 rejected; the user quits
    start(env)
    env.step(LIVE)
    env.step(CALM)
    assert env.step(env.recommend_action)[1] == 2.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("reward_quit", math.nan), ("reward_rec_suc", math.inf), ("reward_ask_suc", "0.1")],
)
def test_rewards_must_be_finite_numbers(name, value):
    with pytest.raises(ValueError, match=name):
        micro_env(**{name: value})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_turns": 1}, "max_turns"),
        ({"top_k": 0}, "top_k"),
        ({"action_mode": "slate"}, "action_mode"),
        ({"item_scorer": 3}, "item_scorer"),
        ({"attribute_scorer": lambda *a: None}, "ask_or_recommend"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_constructor_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        micro_env(**kwargs)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_turns", 1, "max_turns=1 must be an integer in [2, 10000]"),
        ("max_turns", 10**9, "max_turns=1000000000 must be an integer in [2, 10000]"),
        ("entropy_features", 10**9, "entropy_features=1000000000 must be an integer in"),
        ("top_k", 2.0, "top_k=2.0 must be an integer in [1, 2147483647]"),
        ("n_items", 2**40, "n_items=1099511627776 must be an integer in [2, 2147483647]"),
        ("entropy_features", 0, "entropy_features=0"),
        ("n_items", 1, "n_items=1"),
        ("n_users", True, "n_users=True"),
        ("catalog_seed", -1, "catalog_seed=-1"),
        ("reward_ask_fail", "x", "reward_ask_fail='x' must be a finite number"),
        ("action_mode", "slate", "action_mode='slate' must be one of"),
        ("split_file", "", "split_file='' must be None or the name"),
    ],
)
def test_config_validates_each_field_once_naming_it(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ConvRecConfig(**{field: value})
    with pytest.raises(ValueError, match=re.escape(message)):
        gym.make("ConvRec-v0", **{field: value})


def test_config_and_keywords_build_the_same_env():
    config = ConvRecConfig(max_turns=5, top_k=3, reward_quit=-1, n_items=300, n_users=20)
    assert isinstance(config.reward_quit, float) and config.rewards["reward_quit"] == -1.0
    by_config = gym.make("ConvRec-v0", config=config).unwrapped
    by_keywords = gym.make(
        "ConvRec-v0", max_turns=5, top_k=3, reward_quit=-1, n_items=300, n_users=20
    ).unwrapped
    positional = ConvRecEnv(config)
    for env in (by_config, by_keywords, positional):
        assert env.config == config
        assert (env.max_turns, env.top_k, env.rewards) == (5, 3, config.rewards)
    np.testing.assert_array_equal(by_config.pairs, by_keywords.pairs)
    assert by_config.reset(seed=2)[1]["user"] == by_keywords.reset(seed=2)[1]["user"]
    assert ConvRecEnv().config == ConvRecConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.top_k = 4  # type: ignore[misc]


def test_unknown_keywords_and_config_with_keywords_are_refused():
    with pytest.raises(
        ValueError,
        match=r"unknown ConvRec-v0 argument 'max_turn' \(did you mean 'max_turns'\?\); valid",
    ):
        gym.make("ConvRec-v0", max_turn=5)
    with pytest.raises(ValueError, match=r"valid arguments: .*catalog, .*config, .*item_scorer"):
        micro_env(rewards={"reward_quit": 0.0})
    with pytest.raises(ValueError, match="max_turns=5 given both as keyword"):
        ConvRecEnv(config=ConvRecConfig(), max_turns=5)
    with pytest.raises(ValueError, match="must be a ConvRecConfig or None"):
        ConvRecEnv(config={"max_turns": 5})


def test_ask_or_recommend_mode_asks_the_max_entropy_attribute():
    env = micro_env(action_mode="ask_or_recommend", top_k=1)
    assert env.action_space == gym.spaces.Discrete(2)
    _, info = start(env)
    np.testing.assert_array_equal(info["action_mask"], [True, True])
    # live and calm both split {0, 1, 2} 2:1; the tie goes to the lower column, live.
    _, reward, _, _, info = env.step(0)
    assert info["asked_attribute"] == LIVE and reward == 0.01
    _, _, _, _, info = env.step(0)  # calm splits {0, 2} 1:1
    assert info["asked_attribute"] == CALM
    np.testing.assert_array_equal(info["candidates"], [2])
    np.testing.assert_array_equal(info["action_mask"], [False, True])
    _, reward, _, _, info = env.step(0)  # nothing left to ask: a rejected ask
    assert info["asked_attribute"] == -1 and info["outcome"] == "ask_rejected"
    assert reward == pytest.approx(-0.1)
    _, reward, terminated, _, _ = env.step(1)
    assert reward == 1.0 and terminated


def test_custom_scorers_rank_items_and_choose_attributes():
    def higher_rows_first(user, candidates, accepted):
        assert user == 7
        np.testing.assert_array_equal(accepted, [ROCK])
        return candidates.astype(float)

    env = micro_env(item_scorer=higher_rows_first)
    start(env)
    _, _, _, _, info = env.step(env.recommend_action)
    np.testing.assert_array_equal(info["recommended"], [2, 1])

    env = micro_env(
        action_mode="ask_or_recommend",
        attribute_scorer=lambda user, items, attributes: attributes.astype(float),
    )
    start(env)
    assert env.step(0)[4]["asked_attribute"] == CALM
    bad = micro_env(item_scorer=lambda user, items, accepted: np.ones(1))
    start(bad)
    with pytest.raises(ValueError, match="item_scorer"):
        bad.step(bad.recommend_action)


def test_observation_encodes_counts_turns_and_entropies():
    env = micro_env()
    obs, _ = start(env)
    np.testing.assert_array_equal(obs["candidate_count"], np.eye(8)[0])  # 3 candidates <= 10
    assert obs["context"][0] == 0.0
    assert obs["context"][1] == pytest.approx(math.log(4) / math.log(7))
    h = attribute_entropy(np.array([2]), 3)[0]  # live and calm: 2 of 3 candidates
    np.testing.assert_allclose(obs["entropy"][:3], [h, h, 0.0], rtol=1e-6)
    obs, *_ = env.step(LIVE)
    assert obs["context"][0] == pytest.approx(1 / 14)
    np.testing.assert_allclose(obs["entropy"][:2], [1.0, 0.0])  # calm splits {0, 2} 1:1
    for value in obs.values():
        assert value.dtype == np.float32
    assert env.observation_space.contains(obs)


def test_candidate_count_buckets_follow_the_documented_edges():
    assert CANDIDATE_COUNT_BUCKETS == (10, 50, 100, 200, 300, 500, 1000)
    for count, bucket in [(1, 0), (10, 0), (11, 1), (50, 1), (300, 4), (1000, 6), (1001, 7)]:
        assert candidate_count_bucket(count) == bucket, count


def test_render_shows_the_conversation():
    env = micro_env(render_mode="ansi")
    start(env)
    env.step(JAZZ)
    text = env.render()
    assert "rock" in text and "jazz" in text and "ask_rejected" in text


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (10, "action 10"),
        (6, "action 6"),
        (-1, "action -1"),
        (1.0, "action 1.0"),
        (True, "action True"),
        ("2", "action '2'"),
        (np.array([1]), "shape"),
        (np.array(2.0), "action array(2.)"),
    ],
)
def test_actions_outside_the_space_raise_naming_them(action, message):
    env = micro_env()
    start(env)
    with pytest.raises(ValueError, match=re.escape(message)):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = micro_env()
    start(env)
    assert env.step(np.int64(JAZZ))[4]["asked_attribute"] == JAZZ
    assert env.step(np.array(LIVE))[4]["asked_attribute"] == LIVE


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([7], "item id 7"),
        ([-2], "item id -2"),
        ([0, 0], "item id 0 is recommended twice"),
        ([], "1 to 2 item rows"),
        ([0, 1, 2], "1 to 2 item rows"),
        ([0.5], "integer item rows"),
    ],
)
def test_bad_recommendation_lists_raise_naming_the_id(items, message):
    env = micro_env()
    start(env)
    with pytest.raises(ValueError, match=re.escape(message)):
        env.recommend(items)


def test_bad_ask_and_reset_options_raise():
    env = micro_env()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    start(env)
    with pytest.raises(ValueError, match="attribute 5"):
        env.ask(5)
    with pytest.raises(ValueError, match="opening_attribute=1"):
        env.reset(options={"pair": (7, 2), "opening_attribute": JAZZ})
    with pytest.raises(ValueError, match="item 9"):
        env.reset(options={"pair": (7, 9)})
    with pytest.raises(ValueError, match=re.escape("['target']")):
        env.reset(options={"target": 2})


# ------------------------------------------------------------------------------ episodes


def test_episodes_are_the_interaction_pairs_and_reset_draws_among_them():
    env = micro_env()
    np.testing.assert_array_equal(env.pairs, [[7, 2], [8, 0], [8, 4]])
    seen = set()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        seen.add(info["user"])
        assert set(info["accepted_attributes"].tolist()) <= {ROCK, JAZZ, LIVE, CALM}
    assert seen == {7, 8}


def test_pairs_whose_target_has_no_attribute_are_left_out():
    catalog = micro_catalog()
    dense = catalog.item_attributes.toarray()
    dense[5] = 0
    bare = Catalog(**{**catalog.__dict__, "item_attributes": sp.csr_array(dense)})
    env = ConvRecEnv(catalog=bare, interactions={0: [5, 1]})
    np.testing.assert_array_equal(env.pairs, [[0, 1]])
    with pytest.raises(ValueError, match="no attributes"):
        env.reset(options={"pair": (0, 5)})
    with pytest.raises(ValueError, match="at least one attribute"):
        ConvRecEnv(catalog=bare, interactions={0: [5]})


def rollout(seed: int, **kwargs):
    env = gym.make("ConvRec-v0", **kwargs)
    env.action_space.seed(123)
    obs, info = env.reset(seed=seed)
    trace = [(obs, info["user"], info["candidates"])]
    rewards = []
    for _ in range(40):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((obs, info["user"], info["candidates"]))
        rewards.append(reward)
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs, info["user"], info["candidates"]))
    return trace, rewards


@pytest.mark.parametrize("mode", ["attribute", "ask_or_recommend"])
def test_same_seed_same_trajectory(mode):
    trace_a, rewards_a = rollout(3, action_mode=mode)
    trace_b, rewards_b = rollout(3, action_mode=mode)
    assert rewards_a == rewards_b
    for (obs_a, user_a, cand_a), (obs_b, user_b, cand_b) in zip(trace_a, trace_b, strict=True):
        assert user_a == user_b
        np.testing.assert_array_equal(cand_a, cand_b)
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
    trace_c, _ = rollout(4, action_mode=mode)
    assert [t[1] for t in trace_a] != [t[1] for t in trace_c]


# ------------------------------------------------------------------------------ conformance


@pytest.mark.parametrize("mode", ["attribute", "ask_or_recommend"])
def test_checkers_pass_in_both_action_modes(mode):
    """Gymnasium's and SB3's checkers and the env contracts, on the synthetic and micro worlds."""
    check_env_conformance("ConvRec-v0", steps=30, action_mode=mode)
    check_env_conformance(micro_env(action_mode=mode), steps=30)
    check_determinism(lambda: micro_env(action_mode=mode), seed=1, steps=30)


def test_convrec_is_registered():
    assert "ConvRec-v0" in recoworld.ENV_IDS
    assert "ConvRec-v0" in gym.registry


def test_sb3_dqn_trains_on_the_high_level_action():
    from stable_baselines3 import DQN

    from recoworld.agents.scpr.threads import one_torch_thread

    env = gym.make("ConvRec-v0", action_mode="ask_or_recommend")
    model = DQN("MultiInputPolicy", env, learning_starts=50, buffer_size=500, seed=0)
    with one_torch_thread():  # a tiny network: threads only slow it down on a busy machine
        model.learn(total_timesteps=200)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


def test_action_masks_method_matches_info():
    env = micro_env()
    _, info = start(env)
    np.testing.assert_array_equal(env.action_masks(), info["action_mask"])


# ------------------------------------------------------------------------------ data folders


def write_scpr_folder(root, n_items: int = 40, n_attributes: int = 40) -> None:
    """A small SCPR-format folder (load_scpr's default 32-dim embedding needs > 32 of each)."""
    rng = np.random.default_rng(0)
    items = {
        str(100 + i): {
            "feature_index": sorted({i % n_attributes, *rng.integers(0, 40, 3).tolist()})
        }
        for i in range(n_items)
    }
    users = {str(u): {"friends": [], "like": [u]} for u in range(5)}
    tags = {str(1000 + a): a for a in range(n_attributes)}
    train = {str(u): [100 + (3 * u + j) % n_items for j in range(6)] for u in range(5)}
    valid = {str(u): [100 + (7 * u + 1) % n_items, 100 + (7 * u + 2) % n_items] for u in range(5)}
    for name, data in {
        "item_dict.json": items,
        "user_dict.json": users,
        "original_tag_map.json": tags,
        "review_dict_train.json": train,
        "review_dict_valid.json": valid,
    }.items():
        (root / name).write_text(json.dumps(data), encoding="utf-8")


def test_dataset_path_loads_the_folder_and_split_file_picks_the_episodes(tmp_path):
    write_scpr_folder(tmp_path)
    dataset = load_scpr(tmp_path)
    env = ConvRecEnv(dataset_path=tmp_path)
    np.testing.assert_array_equal(env.pairs, dataset.pairs("valid"))
    assert env.graph.n_attributes == dataset.catalog.n_attributes
    assert env.graph.user_items.nnz == len(dataset.pairs("train"))
    env = ConvRecEnv(dataset_path=tmp_path, split_file="review_dict_train.json")
    np.testing.assert_array_equal(env.pairs, dataset.pairs("train"))
    (tmp_path / "review_dict_test.json").write_text(json.dumps({"3": [105]}), encoding="utf-8")
    env = ConvRecEnv(dataset_path=tmp_path, split_file="review_dict_test.json")
    np.testing.assert_array_equal(env.pairs, [[3, 5]])
    _, info = env.reset(seed=0)
    assert info["user"] == 3 and 5 in info["candidates"]


def test_missing_or_malformed_files_name_the_file_and_key(tmp_path):
    write_scpr_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"review_dict_test\.json"):
        ConvRecEnv(dataset_path=tmp_path, split_file="review_dict_test.json")
    (tmp_path / "review_dict_test.json").write_text(json.dumps({"3": [999]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"review_dict_test\.json.*999"):
        ConvRecEnv(dataset_path=tmp_path, split_file="review_dict_test.json")
    items = json.loads((tmp_path / "item_dict.json").read_text(encoding="utf-8"))
    broken = {**items, "107": {"features": [1]}}
    (tmp_path / "item_dict.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ValueError, match=r"item_dict\.json.*'107'.*'feature_index'"):
        ConvRecEnv(dataset_path=tmp_path)
    (tmp_path / "item_dict.json").write_text(json.dumps(items), encoding="utf-8")
    (tmp_path / "user_dict.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"user_dict\.json"):
        ConvRecEnv(dataset_path=tmp_path)


def test_world_arguments_must_be_consistent(tmp_path):
    with pytest.raises(ValueError, match="dataset_path"):
        ConvRecEnv(split_file="review_dict_valid.json")
    with pytest.raises(ValueError, match="not both"):
        ConvRecEnv(dataset_path=tmp_path, catalog=micro_catalog())
    with pytest.raises(ValueError, match="pass catalog too"):
        ConvRecEnv(interactions={0: [1]})
    with pytest.raises(ValueError, match=r"interactions\[0\] has item row 6"):
        ConvRecEnv(catalog=micro_catalog(), interactions={0: [6]})


# ------------------------------------------------------------------------------ the graph


def test_graph_arrays_match_the_catalog_and_filter_vectorized():
    catalog = micro_catalog()
    graph = AttributeGraph.from_catalog(catalog, {7: [2], 8: [0, 4]}, {7: [ROCK]})
    dense = catalog.item_attributes.toarray().astype(bool)
    np.testing.assert_array_equal(graph.item_attr.toarray(), dense)
    np.testing.assert_array_equal(graph.attr_items.toarray(), dense.T)
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random(graph.n_items) < 0.5
        np.testing.assert_array_equal(graph.attribute_counts(mask), dense[mask].sum(axis=0))
        attribute = int(rng.integers(5))
        np.testing.assert_array_equal(graph.restrict(mask, attribute), mask & dense[:, attribute])
    assert graph.has_attribute(2, CALM) and not graph.has_attribute(2, JAZZ)
    np.testing.assert_array_equal(graph.items_of_user(8), [0, 4])
    assert graph.items_of_user(99).size == 0


def test_graph_round_trips_through_networkx():
    graph = AttributeGraph.from_catalog(micro_catalog(), {7: [2], 8: [0, 4]}, {7: [ROCK]})
    nx_graph = graph.to_networkx()
    assert nx_graph.nodes[("item", 2)]["kind"] == "item"
    assert nx_graph.edges[("item", 2), ("attribute", CALM)]["relation"] == "belong_to"
    assert nx_graph.edges[("user", 7), ("item", 2)]["relation"] == "interact"
    assert nx_graph.edges[("user", 7), ("attribute", ROCK)]["relation"] == "like"
    back = AttributeGraph.from_networkx(nx_graph)
    for name in ("item_attr", "attr_items", "user_items", "user_attr"):
        assert (getattr(back, name) != getattr(graph, name)).nnz == 0, name
    np.testing.assert_array_equal(back.user_ids, [7, 8])


def test_hand_built_networkx_graphs_are_checked():
    graph = nx.Graph()
    graph.add_edge(("item", 0), ("attribute", 0))
    graph.add_edge(("item", 2), ("attribute", 0))
    with pytest.raises(ValueError, match="item 1"):
        AttributeGraph.from_networkx(graph)
    graph = nx.Graph()
    graph.add_edge(("item", 0), ("item", 1))
    graph.add_edge(("item", 0), ("attribute", 0))
    with pytest.raises(ValueError, match="joins kinds 'item' and 'item'"):
        AttributeGraph.from_networkx(graph)
    with pytest.raises(ValueError, match="'song'"):
        AttributeGraph.from_networkx(nx.Graph([(("song", 0), ("attribute", 0))]))


# ------------------------------------------------------------------------------ issue 9 probes


def test_action_space_contains_agrees_with_step_on_bools():
    # Gymnasium's Discrete counts Python's True as 1; step refuses it. Both now refuse it.
    env = micro_env()
    start(env)
    for action in (True, False, np.True_, np.array(True)):
        assert not env.action_space.contains(action), action
        with pytest.raises(ValueError, match="is not an integer"):
            env.step(action)
    assert env.action_space.contains(1) and env.action_space.contains(np.array(1))
    assert not env.action_space.contains(2**70)  # Gymnasium's raises OverflowError
    assert not env.action_space.contains(np.array(1, dtype=object))
    with pytest.raises(ValueError, match="is not an integer"):
        env.step(np.array(1, dtype=object))


_ACTIONS = st.one_of(
    st.integers(min_value=-3, max_value=9),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.sampled_from([np.True_, np.False_, None, "1", b"1", [1], (1,), 1.0, math.nan, math.inf]),
    st.floats(allow_nan=True),
    st.integers(min_value=-3, max_value=9).map(np.int64),
    st.integers(min_value=0, max_value=9).map(np.uint8),
    st.integers(min_value=-3, max_value=9).map(np.array),
    st.integers(min_value=0, max_value=9).map(lambda a: np.array([a])),
    st.integers(min_value=0, max_value=9).map(float).map(np.array),
    st.integers(min_value=0, max_value=9).map(np.float32),
)


_REWARD_OF = {
    "ask_accepted": "reward_ask_suc",
    "ask_rejected": "reward_ask_fail",
    "rec_accepted": "reward_rec_suc",
    "rec_rejected": "reward_rec_fail",
}


@settings(max_examples=60, deadline=None)
@given(action=_ACTIONS, mode=st.sampled_from(["attribute", "ask_or_recommend"]))
def test_probe_in_space_actions_are_moves_and_others_raise_leaving_the_env_unchanged(action, mode):
    env, twin = micro_env(action_mode=mode), micro_env(action_mode=mode)
    start(env)
    start(twin)
    if env.action_space.contains(action):
        _, reward, _, _, info = env.step(action)
        assert info["turn"] == 1 and info["move_outcome"] in OUTCOMES
        index = int(np.asarray(action))
        if index == env.recommend_action:
            assert 1 <= len(info["recommended"]) <= env.top_k and info["asked_attribute"] == -1
        else:
            assert len(info["recommended"]) == 0
            if mode == "attribute":
                assert info["asked_attribute"] == index
        assert reward == env.rewards[_REWARD_OF[info["move_outcome"]]]
        return
    with pytest.raises(ValueError, match=r"^action ") as error:
        env.step(action)
    assert "Discrete" in str(error.value) or "integer" in str(error.value)
    # Unchanged: the same next move gives the same turn as in an env that never saw it.
    after, expected = env.step(env.recommend_action), twin.step(twin.recommend_action)
    assert after[1:4] == expected[1:4]
    assert after[4]["turn"] == 1
    for key in ("candidates", "recommended", "accepted_attributes", "action_mask"):
        np.testing.assert_array_equal(after[4][key], expected[4][key])
    for key in after[0]:
        np.testing.assert_array_equal(after[0][key], expected[0][key])


_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=400),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.sampled_from([np.int64(3), np.float64(2.0), np.True_, [3], {"a": 1}, (2, 1), "attribute"]),
)
_FIELDS = [f.name for f in dataclasses.fields(ConvRecConfig)]


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(_FIELDS), value=_JUNK)
def test_probe_config_values_are_kept_valid_or_refused_naming_the_field(field, value):
    try:
        config = ConvRecConfig(**{field: value})
    except ValueError as error:
        assert str(error).startswith(f"{field}="), error
        return
    kept = getattr(config, field)
    if field in REWARD_FIELDS:
        assert type(kept) is float and math.isfinite(kept)
    elif field == "action_mode":
        assert kept in ("attribute", "ask_or_recommend")
    elif field == "split_file":
        assert kept is None or (isinstance(kept, str) and ".." not in kept.split("/"))
        return  # only with dataset_path
    else:
        assert type(kept) is int and kept >= 0
    env = micro_env(**{field: kept})
    _, info = env.reset(seed=0)
    assert info["turn"] == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dataset_path": 3}, "dataset_path=3"),
        ({"dataset_path": b"/tmp"}, "dataset_path=b'/tmp'"),
        ({"dataset_path": ""}, "dataset_path=''"),
        ({"interactions": {0: [1, [2]]}}, r"interactions\[0\]"),
        ({"interactions": {2**70: [1]}}, "user id 1180591620717411303424"),
        ({"interactions": {0: [True]}}, r"interactions\[0\]"),
    ],
)
def test_world_arguments_of_the_wrong_type_name_the_argument(kwargs, name):
    catalog = micro_catalog() if "interactions" in kwargs else None
    with pytest.raises(ValueError, match=name):
        ConvRecEnv(catalog=catalog, **kwargs)


@pytest.mark.parametrize(
    "split_file", ["../outside.json", "sub/../../outside.json", "/etc/hostname", "."]
)
def test_split_file_must_stay_inside_the_data_folder(tmp_path, split_file):
    data = tmp_path / "data"
    data.mkdir()
    write_scpr_folder(data)
    # A readable interaction file right outside the folder: it used to be read.
    (tmp_path / "outside.json").write_text(json.dumps({"3": [105]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"split_file=.*inside the dataset_path folder"):
        ConvRecConfig(split_file=split_file)
    with pytest.raises(ValueError, match=r"split_file=.*inside the dataset_path folder"):
        gym.make("ConvRec-v0", dataset_path=data, split_file=split_file)


def test_split_file_may_name_a_file_in_a_subfolder(tmp_path):
    write_scpr_folder(tmp_path)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.json").write_text(json.dumps({"3": [105]}), encoding="utf-8")
    env = ConvRecEnv(dataset_path=tmp_path, split_file="splits/test.json")
    np.testing.assert_array_equal(env.pairs, [[3, 5]])


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("user_dict.json", lambda d: d["0"].update(like=[10**8]), r"user '0' 'like'.*100000000"),
        ("item_dict.json", lambda d: d["100"].update(feature_index=[10**8]), r"item '100'"),
        ("original_tag_map.json", lambda d: d.update({"999": 10**8}), r"raw tag '999'"),
    ],
)
def test_out_of_range_attribute_ids_are_refused_before_allocating(tmp_path, file, change, message):
    write_scpr_folder(tmp_path)
    data = json.loads((tmp_path / file).read_text(encoding="utf-8"))
    change(data)
    (tmp_path / file).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(file) + ": " + message):
        ConvRecEnv(dataset_path=tmp_path)
