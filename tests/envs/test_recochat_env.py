"""RecoChat-v0: spaces, the rule user's protocol in words, rewards, episode ends, bad actions,
determinism, and the AILO user behind a scripted model."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import numpy as np
import pytest

import recoworld
from recoworld.envs.recochat import RecoChatConfig
from recoworld.envs.recochat.env import (
    FEATURES,
    RECOCHAT_CHARSET,
    AttributeMatcher,
    RecoChatEnv,
    clean_utterance,
    item_slots,
)
from recoworld.llm import (
    CostCapExceeded,
    LLMError,
    LLMSettings,
    MeteredChatModel,
    ScriptedChatModel,
    Usage,
)
from recoworld.text import HashingTextEncoder

TARGET = 12  # with the default synthetic catalog: attributes punk and dark


def make(**kwargs) -> RecoChatEnv:
    return gym.make("RecoChat-v0", **kwargs).unwrapped


def start(env: RecoChatEnv, target: int = TARGET, opening: str = "dark") -> dict:
    column = env.catalog.attribute_names.index(opening)
    _, info = env.reset(seed=0, options={"target": target, "opening_attribute": column})
    return info


def say(env: RecoChatEnv, text: str, items=()):
    return env.step(env.make_action(text, items))


def ailo_answer(messages) -> str:
    """A deterministic scripted AILO user: unhappy with recommendations, pleased by questions."""
    prompt = messages[-1]["content"]
    recommends = "It recommends:" in prompt.split("Recommender:")[-1]
    return json.dumps(
        {
            "expectation": "a question about my taste",
            "reason": "not what I asked for" if recommends else "a fair question",
            "satisfaction": 2 if recommends else 4,
            "reply": "Not those." if recommends else "Maybe, tell me more.",
            "leave": False,
        }
    )


def test_registered_and_spaces_as_documented():
    assert "RecoChat-v0" in recoworld.ENV_IDS
    env = make(top_k=3, n_items=200, utterance_max_length=80)
    action_space = env.action_space
    assert isinstance(action_space, gym.spaces.Dict)
    assert isinstance(action_space["utterance"], gym.spaces.Text)
    assert action_space["utterance"].max_length == 80
    assert action_space["utterance"].min_length == 0
    assert set(action_space["utterance"].character_set) == set(RECOCHAT_CHARSET)
    np.testing.assert_array_equal(action_space["items"].nvec, [201, 201, 201])
    assert env.observation_space["reply"].shape == (64,)
    assert env.observation_space["features"].shape == (len(FEATURES),)
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    assert info["reply"].startswith("Hi! I'm looking for something with ")
    assert info["utterance"] == "" and info["satisfaction"] == 3 and info["turn"] == 0
    assert not info["accepted"] and info["recommended"].size == 0
    assert info["usage"] == {
        "calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "latency_s": 0.0,
        "cache_hits": 0,
        "failed_calls": 0,
    }
    np.testing.assert_array_equal(obs["features"], [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(
        obs["reply"], HashingTextEncoder(dim=64).encode([info["reply"]])[0], atol=1e-7
    )


def test_text_encoder_is_pluggable():
    env = make(text_encoder=HashingTextEncoder(dim=8, ngrams=1))
    obs, _ = env.reset(seed=0)
    assert env.observation_space["reply"].shape == (8,) and obs["reply"].shape == (8,)
    with pytest.raises(ValueError, match="text_encoder"):
        make(text_encoder="words")


def test_rule_user_answers_named_attributes_in_templates():
    env = make()
    info = start(env)
    assert info["reply"] == "Hi! I'm looking for something with dark."
    obs, reward, _, _, info = say(env, "Do you like PUNK music?")
    assert info["reply"] == "Yes, I'd like punk."
    assert (info["satisfaction"], reward) == (4, pytest.approx(0.1 * 0.5 - 0.05))
    assert env.catalog.attribute_names[info["mentioned_attributes"][0]] == "punk"
    _, reward, _, _, info = say(env, "What about jazz?")
    assert info["reply"] == "No, I don't want jazz."
    assert (info["satisfaction"], reward) == (3, pytest.approx(-0.05))
    # One new attribute per turn, the first one not answered before.
    _, _, _, _, info = say(env, "Punk and calm, or upbeat?")
    assert info["reply"] == "No, I don't want calm."
    _, reward, _, _, info = say(env, "So, jazz?")
    assert info["reply"] == "I already told you: No, I don't want jazz."
    assert (info["satisfaction"], reward) == (1, pytest.approx(-0.1 - 0.05))
    _, _, _, _, info = say(env, "Hello there")
    assert info["reply"].startswith("Sorry, I don't follow.") and info["satisfaction"] == 1
    assert info["turn"] == 5 and info["turns_left"] == 10
    np.testing.assert_allclose(obs["features"], [1 / 15, 0.75, 0.75, 0.0])


def test_recommending_the_target_succeeds_and_ends_the_episode():
    env = make()
    start(env)
    items = [5, TARGET, 7]
    obs, reward, terminated, truncated, info = say(env, "Maybe punk? How about these?", items)
    assert terminated and not truncated
    assert info["accepted"] and info["success"] and not info["left"]
    assert info["reply"] == f"Yes! {env.catalog.titles[TARGET]} is exactly what I was looking for."
    assert info["satisfaction"] == 5
    assert reward == pytest.approx(1.0 + 0.1 - 0.05)
    np.testing.assert_array_equal(info["recommended"], items)
    np.testing.assert_allclose(obs["features"], [1 / 15, 1.0, 1.0, 1.0])
    with pytest.raises(RuntimeError, match="ended"):
        say(env, "More?")


def test_rejected_recommendations_cost_patience_until_the_user_leaves():
    env = make(patience=2)
    start(env)
    # A recommendation turn is answered as one: the attribute names in it are not questions.
    _, reward, terminated, _, info = say(env, "Do you like punk? Try these", [1, 2])
    assert info["reply"] == "No, none of these is what I'm looking for."
    assert not terminated and info["satisfaction"] == 2
    assert reward == pytest.approx(0.1 * -0.5 - 0.05)
    _, reward, terminated, truncated, info = say(env, "Then these", [3])
    assert terminated and not truncated and info["left"] and not info["accepted"]
    assert info["reply"].endswith("That's enough for me, bye.")
    assert reward == pytest.approx(0.1 * -0.5 - 0.05 - 0.3)


def test_turn_budget_truncates():
    env = make(max_turns=3)
    start(env)
    for turn in range(1, 4):
        _, _, terminated, truncated, info = say(env, "Do you like jazz?")
        assert not terminated and truncated == (turn == 3)
    assert info["turns_left"] == 0
    with pytest.raises(RuntimeError, match="reset"):
        say(env, "Hi")


def test_reward_weights_are_arguments():
    env = make(reward_success=2.0, reward_satisfaction=0.0, reward_turn=-1.0, reward_leave=-5.0)
    start(env)
    _, reward, _, _, _ = say(env, "How about it?", [TARGET])
    assert reward == pytest.approx(1.0)
    with pytest.raises(ValueError, match="reward_turn"):
        make(reward_turn=float("nan"))


def test_repeated_items_are_wasted_slots():
    env = make(top_k=3)
    start(env)
    _, _, _, _, info = env.step({"utterance": "", "items": np.array([5, 5, 0])})
    np.testing.assert_array_equal(info["recommended"], [4])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("hello", "not a dict"),
        ({"utterance": "hi"}, "missing \\['items'\\]"),
        ({"utterance": "hi", "items": np.zeros(10, np.int64), "mood": 1}, "unknown \\['mood'\\]"),
        ({"utterance": 3, "items": np.zeros(10, np.int64)}, "utterance'\\]=3"),
        ({"utterance": "café", "items": np.zeros(10, np.int64)}, "'é'"),
        ({"utterance": "x" * 501, "items": np.zeros(10, np.int64)}, "501 characters"),
        ({"utterance": "hi", "items": np.zeros(3, np.int64)}, "shape \\(3,\\)"),
        ({"utterance": "hi", "items": np.full(10, 0.5)}, "integers"),
        ({"utterance": "hi", "items": ["1"] * 10}, "integers"),
        ({"utterance": "hi", "items": np.full(10, 1001)}, "slot value 1001"),
        ({"utterance": "hi", "items": np.full(10, -1)}, "slot value -1"),
    ],
)
def test_actions_outside_the_space_raise_naming_the_value(action, message):
    env = make()
    env.reset(seed=0)
    assert not env.action_space.contains(action)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_every_sampled_action_is_a_legal_move():
    env = make(n_items=100, top_k=4)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(60):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert 1 <= info["satisfaction"] <= 5
        if terminated or truncated:
            env.reset()


def test_bad_arguments_and_options_are_named():
    with pytest.raises(ValueError, match="user='llm'"):
        make(user="llm")
    with pytest.raises(ValueError, match="needs llm="):
        make(user="ailo")
    with pytest.raises(ValueError, match="only with user='ailo'"):
        make(llm="local")
    with pytest.raises(ValueError, match="top_k=0"):
        make(top_k=0)
    with pytest.raises(ValueError, match=re.escape("llm.on_error='ignore'")):
        make(user="ailo", llm={"model": ScriptedChatModel(ailo_answer), "on_error": "ignore"})
    env = make()
    with pytest.raises(ValueError, match="'mood'"):
        env.reset(options={"mood": 1})
    with pytest.raises(ValueError, match="options\\['target'\\]=5000"):
        env.reset(options={"target": 5000})
    with pytest.raises(ValueError, match="opening_attribute=0 is not an attribute"):
        env.reset(options={"target": TARGET, "opening_attribute": 0})
    with pytest.raises(ValueError, match="item row 1000"):
        env.make_action("hi", [1000])


def test_settings_come_as_a_config_or_as_keywords():
    config = RecoChatConfig(max_turns=5, top_k=3, n_items=200, reward_turn=-0.1)
    from_config = make(config=config)
    from_keywords = make(max_turns=5, top_k=3, n_items=200, reward_turn=-0.1)
    assert from_config.config == from_keywords.config == config
    assert RecoChatEnv(config).config is config
    for env in (from_config, from_keywords):
        assert (env.max_turns, env.top_k, env.catalog.n_items) == (5, 3, 200)
        assert env.rewards["reward_turn"] == -0.1
    assert make().config == RecoChatConfig()
    # numpy scalars are the numbers they hold, stored as Python numbers
    numpy_config = RecoChatConfig(max_turns=np.int64(4), reward_leave=np.float32(-1))
    assert type(numpy_config.max_turns) is int and type(numpy_config.reward_leave) is float


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_turn": 5}, "argument 'max_turn' \\(did you mean 'max_turns'\\?\\)"),
        ({"colour": "red"}, "argument 'colour'; valid arguments: .*max_turns"),
        ({"llm_temperature": 0.2}, "argument 'llm_temperature' \\(now llm=.*'temperature'"),
        ({"on_llm_error": "fallback"}, "argument 'on_llm_error' \\(now llm=.*'on_error'"),
        ({"config": RecoChatConfig(), "max_turns": 5}, "max_turns=5 given both"),
        ({"config": {"max_turns": 5}}, "config=\\{'max_turns': 5\\} must be a RecoChatConfig"),
        ({"max_turns": 0}, "max_turns=0 must be an integer in \\[1, 2147483647\\]"),
        ({"max_turns": 2.0}, "max_turns=2.0 must be an integer"),
        ({"n_items": 1}, "n_items=1 must be an integer in \\[2, 2147483647\\]"),
        ({"catalog_seed": -1}, "catalog_seed=-1 must be an integer >= 0"),
        ({"patience": True}, "patience=True must be an integer"),
        ({"reward_success": "1"}, "reward_success='1' must be a finite number"),
        ({"reward_leave": float("inf")}, "reward_leave=inf must be a finite number"),
        ({"user": "llm"}, "user='llm' must be one of \\('rule', 'ailo'\\)"),
        ({"llm_max_chars": 0}, "llm_max_chars=0"),
        ({"dataset_path": 3}, "dataset_path=3 must be a path"),
        ({"render_mode": "human"}, "render_mode='human'"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_the_ailo_user_builds_its_model_from_llm_settings():
    model = ScriptedChatModel(ailo_answer)
    env = make(user="ailo", llm=model, n_items=200)
    assert env.llm is model and env.llm_settings == LLMSettings(model)
    assert (env.ailo_user.temperature, env.ailo_user.max_tokens) == (0.7, 256)
    assert env.ailo_user.on_llm_error == "raise"
    tuned = make(
        user="ailo",
        llm={"model": model, "temperature": 0.2, "max_tokens": 64, "on_error": "fallback"},
        llm_max_chars=40,
        n_items=200,
    )
    assert (tuned.ailo_user.temperature, tuned.ailo_user.max_tokens) == (0.2, 64)
    assert tuned.ailo_user.on_llm_error == "fallback"
    assert (
        tuned.ailo_user.answer_model.model_json_schema()["properties"]["reply"]["maxLength"] == 40
    )
    # The model is built through make_chat_model, so a cost cap applies (and stops the run).
    capped = make(user="ailo", llm=LLMSettings(model, cost_cap_usd=0.0), n_items=200, top_k=3)
    assert isinstance(capped.llm, MeteredChatModel) and capped.llm.model is model
    capped.llm.meter.record(Usage(calls=1, cost_usd=0.01))  # already spent
    capped.reset(seed=0)
    with pytest.raises(CostCapExceeded):
        say(capped, "Jazz?")
    with pytest.raises(ValueError, match="llm=42"):
        make(user="ailo", llm=42)
    with pytest.raises(ValueError, match=re.escape("llm.max_tokens=0")):
        make(user="ailo", llm={"model": model, "max_tokens": 0})


def test_same_seed_same_actions_same_trajectory():
    def rollout(seed):
        env = make(n_items=300)
        env.action_space.seed(seed)
        obs, info = env.reset(seed=seed)
        trace = [(obs["reply"].tobytes(), info["reply"])]
        for step in range(12):
            action = env.action_space.sample()
            if step % 3 == 0:
                name = env.catalog.attribute_names[step % env.catalog.n_attributes]
                action = env.make_action(f"Do you like {name}?")
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append((obs["features"].tobytes(), info["reply"], reward, terminated))
            if terminated or truncated:
                obs, info = env.reset()
                trace.append(info["reply"])
        return trace

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


def test_ailo_user_behind_a_scripted_model():
    model = ScriptedChatModel(ailo_answer)
    env = make(user="ailo", llm=model, n_items=200, top_k=3)
    assert env.llm is model
    _, info = env.reset(seed=0)
    target = env.ailo_user.profile.target
    assert env.persona is env.ailo_user.profile.persona
    assert info["reply"].startswith("Hi! I'm looking for something with ")
    assert info["user"] == -1 and info["usage"]["calls"] == 0
    _, reward, terminated, _, info = say(env, "Do you like jazz?")
    assert info["reply"] == "Maybe, tell me more."
    assert info["expectation"] == "a question about my taste"
    assert (info["satisfaction"], info["satisfaction_reason"]) == (4, "a fair question")
    assert info["usage"]["calls"] == 1 and info["usage"]["prompt_tokens"] > 0
    assert not terminated and reward == pytest.approx(0.1 * 0.5 - 0.05)
    # The scripted model is unhappy with every list, but its target is accepted anyway.
    other = (target + 1) % 200
    _, reward, terminated, _, info = say(env, "How about these?", [other, target])
    assert info["accepted"] and terminated and info["satisfaction"] == 2
    assert reward == pytest.approx(1.0 - 0.05 - 0.05)
    assert "Your item IS among them" in model.calls[-1].messages[-1]["content"]


def test_ailo_trajectories_repeat_with_a_deterministic_model():
    def rollout():
        env = make(user="ailo", llm=ScriptedChatModel(ailo_answer), n_items=200, top_k=2)
        _, info = env.reset(seed=7)
        seeds = []
        replies = [info["reply"], env.persona, env.ailo_user.profile.target]
        for text, items in [("Jazz?", []), ("These?", [1, 2]), ("Calm?", [])]:
            _, reward, _, _, info = say(env, text, items)
            replies.append((info["reply"], reward))
        seeds = [call.params.seed for call in env.llm.calls]
        return replies, seeds

    assert rollout() == rollout()


def test_ailo_fallback_is_counted_in_info():
    model = ScriptedChatModel([LLMError("down"), LLMError("still down")])
    env = make(user="ailo", llm={"model": model, "on_error": "fallback"}, n_items=200)
    env.reset(seed=0)
    _, _, terminated, _, info = say(env, "Jazz?")
    assert info["llm_failed"] and info["failed_turns"] == 1 and not terminated
    assert info["reply"].startswith("Hmm, that's not it.") and info["satisfaction"] == 3
    _, _, _, _, info = say(env, "Calm?")
    assert info["failed_turns"] == 2
    raising = make(user="ailo", llm=ScriptedChatModel([LLMError("down")]), n_items=200)
    raising.reset(seed=0)
    with pytest.raises(LLMError, match="down"):
        say(raising, "Jazz?")


def test_render_ansi_is_the_transcript():
    env = make(render_mode="ansi")
    start(env)
    say(env, "Do you like punk?")
    assert env.render().splitlines() == [
        "user: Hi! I'm looking for something with dark.",
        "turn 1 agent: Do you like punk?",
        "turn 1 user (4/5): Yes, I'd like punk.",
    ]


def test_helpers():
    assert clean_utterance("Tab\there \u2018quoted\u2019 na\u00efve \U0001f600!", 20) == (
        "Tab here 'quoted' na"
    )
    with pytest.raises(ValueError, match="max_length"):
        clean_utterance("x", -1)
    np.testing.assert_array_equal(item_slots([], 2, 5), [0, 0])
    with pytest.raises(ValueError, match="at most top_k=1"):
        item_slots([1, 2], 1, 5)
    matcher = AttributeMatcher(("k-pop", "pop", "tag:73", "tag:7"))
    assert matcher.find("K-Pop or pop? tag:7, tag 73") == [0, 1, 3, 2]
    assert matcher.find("popular") == []


@pytest.mark.parametrize("split_file", ["../x.json", "/etc/passwd", "a/../../x.json", ""])
def test_split_file_outside_the_data_folder_is_refused_by_name(split_file: str) -> None:
    with pytest.raises(ValueError, match="split_file="):
        gym.make("RecoChat-v0", split_file=split_file)
