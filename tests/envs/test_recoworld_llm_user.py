"""RecoWorld-v0 with the LLM user: modes, observation of instruction text, usage, replay."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401
from recoworld.llm import LLMSettings, LocalChatModel, ResponseCache, ScriptedChatModel
from recoworld.simulators import names_a_topic
from recoworld.text import HashingTextEncoder

_INSTRUCT = re.compile(r"less (.+?) and more (.+?)\. Name both")


def scripted_user(messages):
    """A deterministic stand-in for a chat model playing the user."""
    prompt = messages[-1]["content"]
    if "JSON schema" in prompt:
        return json.dumps({"clicks": [1, 2], "leave": False, "mindset": "I like the top two."})
    found = _INSTRUCT.search(prompt)
    if found:
        return f"Honestly, less {found.group(1)} and more {found.group(2)}!"
    return "Some of it was fun, some of it bored me."


def rollout(env, seed, steps=200):
    obs, info = env.reset(seed=seed)
    records = [(obs, info)]
    for turn in range(steps):
        obs, reward, terminated, truncated, info = env.step(np.arange(10) + 10 * (turn % 9))
        records.append((obs, info, reward))
        if terminated or truncated:
            break
    return records


def test_latent_mode_keeps_the_latent_trajectory_and_adds_mindset_and_llm_text():
    plain = rollout(gym.make("RecoWorld-v0"), seed=4)
    llm = rollout(
        gym.make("RecoWorld-v0", user_model="llm", llm=ScriptedChatModel(scripted_user)), 4
    )
    assert len(plain) == len(llm)
    for (_, a, *ra), (_, b, *rb) in zip(plain[1:], llm[1:], strict=True):
        np.testing.assert_array_equal(a["clicks"], b["clicks"])
        assert ra == rb
        assert (a["instruction"] is None) == (b["instruction"] is None)
        assert b["mindset"] == "Some of it was fun, some of it bored me."
        assert b["usage"]["calls"] >= 1
    spoken = [info for _, info, _ in llm[1:] if info["instruction"]]
    assert spoken, "the seed should produce at least one instruction"
    for info in spoken:
        assert info["instruction"].startswith("Honestly, less")
        assert info["instruction_voiced_by"] == "llm"
        assert info["usage"]["calls"] == 2  # the mindset and the instruction
    assert llm[0][1]["mindset"].startswith("I'm in the mood for")


def test_observation_carries_the_standing_instruction_text_not_its_structure():
    env = gym.make("RecoWorld-v0", user_model="llm", llm=ScriptedChatModel(scripted_user))
    assert "instruction" not in env.observation_space.spaces
    assert env.observation_space["instruction_text"].shape == (64,)
    records = rollout(env, seed=4)
    encoder = HashingTextEncoder()
    assert not records[0][0]["instruction_text"].any()
    standing = None
    for obs, info, _ in records[1:]:
        assert env.observation_space.contains(obs)
        if info["instruction"]:
            standing = info["instruction"]
        if standing:
            np.testing.assert_array_equal(obs["instruction_text"], encoder.encode([standing])[0])
    assert standing is not None


def test_text_encoder_is_pluggable_and_works_with_the_latent_user():
    class Lengths:
        dim = 2

        def encode(self, texts):
            return np.array([[min(len(t), 100) / 100, 0.0] for t in texts], np.float32)

    env = gym.make("RecoWorld-v0", text_encoder=Lengths())
    assert "instruction" in env.observation_space.spaces
    assert env.observation_space["instruction_text"].shape == (2,)
    records = rollout(env, seed=4)
    said = [obs["instruction_text"][0] for obs, info, _ in records[1:] if info["instruction"]]
    assert said and all(value > 0 for value in said)
    with pytest.raises(ValueError, match="text_encoder"):
        gym.make("RecoWorld-v0", text_encoder="bag-of-words")


@pytest.mark.parametrize("mode", ["hybrid", "llm"])
def test_llm_decisions_drive_the_latent_state(mode):
    env = gym.make(
        "RecoWorld-v0",
        user_model="llm",
        llm=ScriptedChatModel(scripted_user),
        decision_mode=mode,
    )
    env.reset(seed=2)
    _, reward, terminated, _, info = env.step(np.arange(10))
    assert info["llm_decision"] == {"clicks": info["slate"][:2].tolist(), "leave": False}
    assert info["mindset"] == "I like the top two."
    if mode == "llm":
        np.testing.assert_array_equal(info["clicks"], info["slate"][:2])
        assert not terminated
        # The plays count as plays: watch time, and a click reward each.
        assert info["watch_time"] > 0 and reward >= 2.0


def test_llm_mode_leaves_when_the_model_says_so():
    answer = json.dumps({"clicks": [], "leave": True, "mindset": "Nothing for me here."})
    env = gym.make(
        "RecoWorld-v0",
        user_model="llm",
        llm=ScriptedChatModel(lambda m: answer),
        decision_mode="llm",
    )
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(np.arange(10))
    assert terminated and not truncated and info["session_ended"]
    assert len(info["clicks"]) == 0


def test_failed_turns_are_recorded_or_raised_per_setting():
    from recoworld.llm import LLMError

    def broken(messages):
        raise LLMError("server went away")

    strict = gym.make("RecoWorld-v0", user_model="llm", llm=ScriptedChatModel(broken))
    strict.reset(seed=0)
    with pytest.raises(LLMError, match="server went away"):
        strict.step(np.arange(10))

    lenient = gym.make(
        "RecoWorld-v0",
        user_model="llm",
        llm={"model": ScriptedChatModel(broken), "on_error": "fallback"},
    )
    lenient.reset(seed=0)
    _, _, _, _, info = lenient.step(np.arange(10))
    assert info["llm_failed"] and info["mindset"].startswith("I'm in the mood for")


def test_same_seed_same_llm_run_and_the_cache_replays_it_for_free(tmp_path):
    def make(model):
        return gym.make(
            "RecoWorld-v0",
            user_model="llm",
            llm=LLMSettings(model, cache=ResponseCache(tmp_path / "cache.sqlite")),
        )

    first = rollout(make(ScriptedChatModel(scripted_user)), seed=6, steps=12)
    offline = ScriptedChatModel([])  # any call reaching it would fail: all must be cache hits
    second = rollout(make(offline), seed=6, steps=12)
    assert [i["mindset"] for _, i, _ in first[1:]] == [i["mindset"] for _, i, _ in second[1:]]
    assert [i["instruction"] for _, i, _ in first[1:]] == [
        i["instruction"] for _, i, _ in second[1:]
    ]
    assert sum(i["usage"]["calls"] for _, i, _ in second[1:]) == 0
    assert sum(i["usage"]["cache_hits"] for _, i, _ in second[1:]) == sum(
        i["usage"]["calls"] for _, i, _ in first[1:]
    )


def test_bad_llm_user_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="user_model='gpt'"):
        gym.make("RecoWorld-v0", user_model="gpt")
    with pytest.raises(ValueError, match="decision_mode='llm' needs user_model='llm'"):
        gym.make("RecoWorld-v0", decision_mode="llm")
    with pytest.raises(ValueError, match="decision_mode='oracle'"):
        gym.make(
            "RecoWorld-v0", user_model="llm", llm=ScriptedChatModel([]), decision_mode="oracle"
        )
    with pytest.raises(ValueError, match=r"llm has unknown keys \['k'\]"):
        gym.make("RecoWorld-v0", user_model="llm", llm={"model": ScriptedChatModel([]), "k": 1})
    with pytest.raises(ValueError, match=r"unknown RecoWorld-v0 argument 'llm_options' \(now llm="):
        gym.make("RecoWorld-v0", user_model="llm", llm_options={"max_tokens": 24})
    with pytest.raises(ValueError, match="llm=42"):
        gym.make("RecoWorld-v0", user_model="llm", llm=42)


def test_embedded_model_runs_the_llm_user_for_real():
    """A few turns on SmolLM2-135M in process: text comes back, instructions are checked."""
    env = gym.make(
        "RecoWorld-v0", user_model="llm", llm={"model": LocalChatModel(), "max_tokens": 24}
    )
    _, info = env.reset(seed=3)
    user = env.unwrapped.llm_user
    template = info["mindset"]
    for turn in range(3):
        _, _, terminated, truncated, info = env.step(np.arange(10) + 10 * turn)
        assert info["usage"]["calls"] >= 1 and info["usage"]["completion_tokens"] > 0
        # Each turn the model rewrote the mindset, or the turn is counted as failed.
        assert info["mindset"] != template or info["llm_failed"]
        if info["instruction_voiced_by"] == "llm":
            topics = info["instruction_topics"]
            instruction = env.unwrapped.core.instruction(0)
            assert names_a_topic(info["instruction"], instruction), topics
        if terminated or truncated:
            break
    assert user.turns == turn + 1
