"""The LLM voice of reflective instructions: checked against the structure, with a fallback."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from recoworld.llm import LLMError, ScriptedChatModel
from recoworld.simulators import LLMVoice, ReflectiveInstruction, TemplateVoice, names_a_topic

INSTRUCTION = ReflectiveInstruction(("jazz",), ("metal",), (0,), (2,))


def test_names_a_topic_matches_whole_words_in_any_case():
    assert names_a_topic("Less METAL please", INSTRUCTION)
    assert names_a_topic("I want jazz.", INSTRUCTION)
    assert not names_a_topic("The music app, in this case, the music itself.", INSTRUCTION)
    assert not names_a_topic("jazzy tunes", INSTRUCTION)


def test_a_sentence_naming_the_topics_is_used_and_its_usage_counted():
    model = ScriptedChatModel(["  Less metal,\n more jazz for me. "])
    voice = LLMVoice(model)
    text = voice.render(INSTRUCTION, np.random.default_rng(0))
    assert text == "Less metal, more jazz for me."
    assert voice.last_voiced_by == "llm"
    assert (voice.renders, voice.fallbacks, voice.failures) == (1, 0, 0)
    assert voice.usage.calls == 1 and voice.usage.completion_tokens == 6
    prompt = model.calls[0].messages[-1]["content"]
    assert "jazz" in prompt and "metal" in prompt


def test_a_sentence_missing_the_topics_falls_back_to_the_template():
    voice = LLMVoice(ScriptedChatModel(["The music app, in this case, the music itself."]))
    text = voice.render(INSTRUCTION, np.random.default_rng(0))
    assert voice.last_voiced_by == "fallback"
    assert voice.fallbacks == 1
    assert names_a_topic(text, INSTRUCTION)
    assert text in {t.format(more="jazz", less="metal") for t in TemplateVoice().templates}


def test_a_failed_call_falls_back_and_is_counted():
    voice = LLMVoice(ScriptedChatModel([LLMError("provider down")]))
    text = voice.render(INSTRUCTION, np.random.default_rng(0))
    assert voice.failures == 1 and voice.last_voiced_by == "fallback"
    assert names_a_topic(text, INSTRUCTION)


def test_unknown_prompt_version_and_bad_model_are_refused():
    with pytest.raises(ValueError, match="v999"):
        LLMVoice(ScriptedChatModel(["x"]), prompt_version="v999")
    with pytest.raises(ValueError, match="ChatModel"):
        LLMVoice("gpt")


def test_env_reports_the_voice_and_its_usage_per_step():
    model = ScriptedChatModel(lambda messages: "Please, less rock and more folk and jazz.")
    env = gym.make("RecoWorld-v0", voice=LLMVoice(model))
    env.reset(seed=0)
    calls_reported = 0
    for _ in range(200):
        _, _, terminated, truncated, info = env.step(np.arange(10))
        calls_reported += info["usage"]["calls"]
        if info["instruction"] is not None:
            assert info["instruction_voiced_by"] in {"llm", "fallback"}
            assert info["usage"]["calls"] == 1
        else:
            assert info["instruction_voiced_by"] is None and info["usage"]["calls"] == 0
        if terminated or truncated:
            env.reset()
    assert calls_reported == len(model.calls) > 0


@pytest.mark.llm
def test_embedded_model_voices_or_falls_back():
    from recoworld.llm import LocalChatModel

    voice = LLMVoice(LocalChatModel(), max_tokens=32)
    rng = np.random.default_rng(0)
    texts = [voice.render(INSTRUCTION, rng) for _ in range(3)]
    assert all(names_a_topic(text, INSTRUCTION) for text in texts)
    assert voice.usage.calls == 3 and voice.usage.completion_tokens > 0
    assert voice.renders == 3 and voice.fallbacks + voice.failures <= 3
