"""The RecoWorld LLM user: decisions by mode, bounds, mindset, instructions and failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recoworld.llm import (
    CostCapExceeded,
    LLMError,
    MalformedOutputError,
    MeteredChatModel,
    ScriptedChatModel,
    UsageMeter,
)
from recoworld.simulators import (
    LLMUser,
    ReflectiveInstruction,
    TemplateVoice,
    TurnView,
    UserModelConfig,
    names_a_topic,
    sample_users,
    step_users,
    template_mindset,
)

INSTRUCTION = ReflectiveInstruction(("jazz",), ("metal",), (0,), (2,))
VIEW = TurnView(
    items=("Blue Jazz #1: jazz, calm", "", "Loud Metal #2: metal", "Folk Song #3: folk"),
    click_probability=np.array([0.5, 0.0, 0.05, 0.95]),
    patience=0.2,
    instruction_threshold=0.3,
)


def decision(clicks, leave=False, mindset="Calm jazz suits me."):
    return json.dumps({"clicks": clicks, "leave": leave, "mindset": mindset})


def test_latent_mode_asks_nothing_when_deciding():
    model = ScriptedChatModel([])
    user = LLMUser(model)
    result = user.decide(VIEW, np.random.default_rng(0), "fallback")
    assert (result.click_override == -1).all() and result.leave_override == -1
    assert model.calls == []


def test_llm_mode_takes_the_models_clicks_and_leaving_and_limits_positions_by_schema():
    model = ScriptedChatModel([decision([3, 1], leave=True)])
    user = LLMUser(model, decision_mode="llm")
    result = user.decide(VIEW, np.random.default_rng(0), "fallback")
    assert result.click_override.tolist() == [1, 0, 1, 0]
    assert result.leave_override == 1
    assert result.wanted_clicks == (0, 2) and result.wants_to_leave
    assert user.mindset == "Calm jazz suits me."
    prompt = model.calls[0].messages[-1]["content"]
    assert "2. (empty slot)" in prompt and "Loud Metal #2" in prompt
    # The empty slot (position 2) is not a legal choice in the schema shown to the model.
    assert '"enum": [1, 3, 4]' in prompt


def test_a_position_outside_the_schema_is_re_asked_then_raised_with_the_raw_text():
    model = ScriptedChatModel([decision([2])] * 3)
    user = LLMUser(model, decision_mode="llm")
    with pytest.raises(MalformedOutputError) as caught:
        user.decide(VIEW, np.random.default_rng(0), "fallback")
    assert '"clicks": [2]' in caught.value.raw_text
    assert "turn 1" in "".join(caught.value.__notes__)


def test_hybrid_mode_forces_clicks_outside_the_latent_bounds():
    # The model wants items 1 and 3 (probabilities 0.5 and 0.05) and not 4 (0.95).
    model = ScriptedChatModel([decision([1, 3], leave=True)])
    user = LLMUser(model, decision_mode="hybrid", hybrid_click_bounds=(0.1, 0.9))
    result = user.decide(VIEW, np.random.default_rng(0), "fallback")
    assert result.click_override.tolist() == [1, 0, 0, 1]
    # Patience 0.2 is under the threshold 0.3: the user may leave.
    assert result.leave_override == 1


def test_hybrid_mode_keeps_an_engaged_user_from_leaving_on_the_models_word():
    engaged = TurnView(VIEW.items, VIEW.click_probability, patience=0.9, instruction_threshold=0.3)
    user = LLMUser(ScriptedChatModel([decision([], leave=True)]), decision_mode="hybrid")
    result = user.decide(engaged, np.random.default_rng(0), "fallback")
    assert result.leave_override == -1  # the latent model decides


def test_reflect_rewrites_the_mindset_from_the_outcome():
    model = ScriptedChatModel(['  "The jazz was lovely;\n metal bores me."  '])
    user = LLMUser(model)
    user.begin("I'm in the mood for jazz.")
    examined = np.array([True, True, True, False])
    clicks = np.array([True, False, False, False])
    watched = np.array([0.8, 0.0, 0.0, 0.0])
    user.reflect(VIEW, examined, clicks, watched, np.random.default_rng(0), "fallback")
    assert user.mindset == "The jazz was lovely; metal bores me."
    prompt = model.calls[0].messages[-1]["content"]
    assert "I'm in the mood for jazz." in prompt
    assert "Blue Jazz #1: jazz, calm -> you played it and stayed for 80%" in prompt
    assert "Loud Metal #2: metal -> you skipped it" in prompt
    assert "Folk Song #3: folk -> you stopped before reaching it" in prompt
    assert user.usage.calls == 1 and user.turns == 1 and user.failed_turns == 0


def test_empty_reflection_is_a_counted_failed_turn_with_the_template_mindset():
    user = LLMUser(ScriptedChatModel(["   "]))
    off = np.zeros(4, bool)
    user.reflect(VIEW, off, off, np.zeros(4), np.random.default_rng(0), "template mood")
    assert user.mindset == "template mood" and user.failed_turns == 1 and user.last_failed


def test_failed_calls_raise_with_context_or_are_recorded_as_failed_turns():
    raising = LLMUser(ScriptedChatModel([LLMError("provider down")]), decision_mode="llm")
    with pytest.raises(LLMError, match="provider down") as caught:
        raising.decide(VIEW, np.random.default_rng(0), "fallback")
    assert "decided its clicks" in "".join(caught.value.__notes__)

    lenient = LLMUser(
        ScriptedChatModel([LLMError("provider down")]),
        decision_mode="llm",
        on_llm_error="fallback",
    )
    result = lenient.decide(VIEW, np.random.default_rng(0), "template mood")
    assert result.failed and (result.click_override == -1).all()
    assert lenient.failed_turns == 1 and lenient.mindset == "template mood"


def test_a_spent_cost_cap_propagates_even_in_fallback_mode():
    meter = UsageMeter(cost_cap_usd=0.0001)
    model = MeteredChatModel(ScriptedChatModel(["x " * 50] * 5, cost_per_token_usd=0.01), meter)
    user = LLMUser(model, on_llm_error="fallback")
    off = np.zeros(4, bool)
    user.reflect(VIEW, off, off, np.zeros(4), np.random.default_rng(0), "m")
    with pytest.raises(CostCapExceeded):
        user.reflect(VIEW, off, off, np.zeros(4), np.random.default_rng(0), "m")
    with pytest.raises(CostCapExceeded):
        user.instruct(INSTRUCTION, np.random.default_rng(0))


def test_instruction_is_checked_against_its_structure():
    good = LLMUser(ScriptedChatModel(["Less metal and more jazz, please."]))
    good.begin("bored")
    assert good.instruct(INSTRUCTION, np.random.default_rng(0)) == (
        "Less metal and more jazz, please."
    )
    assert good.last_voiced_by == "llm" and good.instruction_fallbacks == 0

    bad = LLMUser(ScriptedChatModel(["The music app, in this case, the music itself."]))
    text = bad.instruct(INSTRUCTION, np.random.default_rng(0))
    assert bad.last_voiced_by == "fallback" and bad.instruction_fallbacks == 1
    assert names_a_topic(text, INSTRUCTION)
    assert text in {t.format(more="jazz", less="metal") for t in TemplateVoice().templates}


def reflect_once(answer, **kwargs):
    model = ScriptedChatModel(answer if callable(answer) else [answer])
    user = LLMUser(model, **kwargs)
    user.begin("I'm in the mood for jazz.")
    off = np.zeros(4, bool)
    user.reflect(VIEW, off, off, np.zeros(4), np.random.default_rng(0), "template mood.")
    return user, model


def test_a_mindset_cut_by_the_token_budget_keeps_its_whole_sentences():
    """Issue 9, item 18: mindsets were cut mid-sentence."""
    user, _ = reflect_once("The calm jazz was lovely. The metal was far too loud and I kept")
    assert user.mindset == "The calm jazz was lovely."
    assert user.failed_turns == 0
    # A long answer keeps whole sentences within the bound, never a part of one.
    long = " ".join(f"Sentence number {i} is about the jazz I heard." for i in range(40))
    user, _ = reflect_once(long)
    assert len(user.mindset) <= 400 and user.mindset.endswith("heard.")
    assert long.startswith(user.mindset)
    # A short answer without a full stop was not cut: it is kept, as a sentence.
    user, _ = reflect_once("Calm jazz suits me")
    assert user.mindset == "Calm jazz suits me."


def test_a_mindset_with_no_whole_sentence_is_a_failed_turn():
    words = " ".join(["and then the jazz went on"] * 8)  # 48 words, no sentence end
    user, _ = reflect_once(words, max_tokens=64)
    assert user.mindset == "template mood." and user.failed_turns == 1 and user.last_failed
    assert user.usage.calls == 1 and user.usage.failed_calls == 1


def test_an_answer_that_echoes_the_prompt_is_rejected():
    """Issue 9, item 18: a mindset once repeated the prompt instead of answering it."""
    user, _ = reflect_once(lambda messages: messages[-1]["content"])
    assert user.mindset == "template mood." and user.failed_turns == 1
    assert user.usage.failed_calls == 1
    user, _ = reflect_once('Your mindset so far: "I\'m in the mood for jazz." Fine.')
    assert user.mindset == "template mood."
    user, _ = reflect_once("1. Blue Jazz #1: jazz, calm -> you stopped before reaching it.")
    assert user.mindset == "template mood."
    # The instruction prompt names the topics, so its echo would pass the topic check.
    echo = LLMUser(ScriptedChatModel(lambda messages: messages[-1]["content"]))
    echo.begin("bored")
    text = echo.instruct(INSTRUCTION, np.random.default_rng(0))
    assert echo.last_voiced_by == "fallback" and echo.instruction_fallbacks == 1
    assert text in {t.format(more="jazz", less="metal") for t in TemplateVoice().templates}
    assert echo.usage.failed_calls == 1
    # A decision whose mindset repeats the prompt is a malformed answer: a failed turn.
    prompt_echo = "You are a person using a music recommendation app. Your mindset so far"
    decider = LLMUser(ScriptedChatModel([decision([1], mindset=prompt_echo)]), decision_mode="llm")
    result = decider.decide(VIEW, np.random.default_rng(0), "template mood.")
    assert result.failed and (result.click_override == -1).all()
    assert decider.mindset == "template mood." and decider.failed_turns == 1


def test_natural_mindsets_that_share_words_with_the_prompt_are_kept():
    for answer in (
        "I still want to use the app a little longer.",
        "I'm close to giving up on the app.",
        "Blue Jazz #1 was calm and lovely, I played it twice.",
    ):
        user, _ = reflect_once(answer)
        assert user.mindset == answer and user.failed_turns == 0


def test_bad_settings_are_refused_by_name():
    model = ScriptedChatModel([])
    with pytest.raises(ValueError, match="decision_mode='chaos'"):
        LLMUser(model, decision_mode="chaos")
    with pytest.raises(ValueError, match="on_llm_error='ignore'"):
        LLMUser(model, on_llm_error="ignore")
    with pytest.raises(ValueError, match="hybrid_click_bounds"):
        LLMUser(model, hybrid_click_bounds=(0.9, 0.1))
    with pytest.raises(ValueError, match=r"hybrid_click_bounds=0\.5 must be"):
        LLMUser(model, hybrid_click_bounds=0.5)  # was "cannot unpack"
    with pytest.raises(ValueError, match="ChatModel"):
        LLMUser("gpt-4")
    with pytest.raises(ValueError, match="instruction_max_tokens=0 must be an integer >= 1"):
        LLMUser(model, instruction_max_tokens=0)
    with pytest.raises(ValueError, match="temperature=-1 must be a finite number"):
        LLMUser(model, temperature=-1)
    assert LLMUser(model, max_tokens=np.int64(32)).max_tokens == 32  # numpy ints accepted


def test_template_mindset_names_liked_and_disliked_topics_and_mood():
    text = template_mindset(np.array([0.2, -1.0, 0.9]), ("jazz", "metal", "folk"), 0.1, 0.3)
    assert text == "I'm in the mood for folk and jazz, not metal; I'm losing patience."


def test_overrides_decide_clicks_and_leaving_and_the_state_follows(small_catalog):
    config = UserModelConfig()
    state = sample_users(2, small_catalog, config, np.random.default_rng(0))
    twin = state.copy()
    items = np.tile(np.arange(5), (2, 1))
    click = np.array([[1, 0, 0, 0, 1], [-1, -1, -1, -1, -1]], np.int8)
    leave = np.array([1, -1], np.int8)
    out = step_users(
        state, small_catalog, items, config, np.random.default_rng(1),
        click_override=click, leave_override=leave,
    )  # fmt: skip
    plain = step_users(twin, small_catalog, items, config, np.random.default_rng(1))
    assert out.clicks[0].tolist() == [True, False, False, False, True]
    assert out.examined[0].all() and out.left[0]
    assert (out.watch_fraction[0, [0, 4]] > 0).all()
    # Consumed items are marked in the latent state.
    assert state.consumed_bits[0].any()
    # The user left to the latent model is stepped exactly as without overrides.
    np.testing.assert_array_equal(out.clicks[1], plain.clicks[1])
    assert out.left[1] == plain.left[1]
    np.testing.assert_allclose(state.patience[1], twin.patience[1])


def test_bad_overrides_are_refused_by_name(small_catalog):
    config = UserModelConfig()
    state = sample_users(1, small_catalog, config, np.random.default_rng(0))
    items = np.arange(3)[None, :]
    with pytest.raises(ValueError, match="click_override entry 2"):
        step_users(
            state, small_catalog, items, config, np.random.default_rng(0),
            click_override=np.array([[0, 2, 1]]),
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"leave_override has shape \(2,\)"):
        step_users(
            state, small_catalog, items, config, np.random.default_rng(0),
            leave_override=np.array([0, 1]),
        )  # fmt: skip
