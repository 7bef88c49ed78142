"""The AILO user: persona grounded in the latent user, structured turns, grounded acceptance,
fallback counting and typed errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recoworld.llm import (
    CostCapExceeded,
    LLMError,
    MalformedOutputError,
    ScriptedChatModel,
)
from recoworld.llm.prompts import load_prompt
from recoworld.simulators import UserModelConfig, item_utilities, sample_users, topic_preferences
from recoworld.simulators.ailo import (
    ACTIVITIES,
    LANGUAGE_STYLES,
    ORIENTATIONS,
    AILOAnswer,
    AILOUser,
    ailo_answer_model,
    sample_ailo_user,
)


def answer(**fields) -> str:
    values = {
        "expectation": "a question about what I like",
        "reason": "it asked about my taste",
        "satisfaction": 4,
        "reply": "Yes, I like that a lot.",
        "leave": False,
    }
    values.update(fields)
    return json.dumps(values)


def started_user(small_catalog, responses, **kwargs) -> tuple[AILOUser, object]:
    profile = sample_ailo_user(small_catalog, np.random.default_rng(5))
    user = AILOUser(ScriptedChatModel(responses), small_catalog, **kwargs)
    opening = int(small_catalog.item_attributes[[profile.target], :].indices[0])
    user.begin(profile, opening)
    return user, profile


def test_persona_interests_are_the_latent_users_strongest_topics(small_catalog):
    profile = sample_ailo_user(small_catalog, np.random.default_rng(11), n_interests=3)
    # The same draws by hand: the latent user comes first from the generator.
    rng = np.random.default_rng(11)
    latent = sample_users(1, small_catalog, UserModelConfig(), rng)
    preferences = topic_preferences(latent, small_catalog, UserModelConfig())[0]
    strongest = np.argsort(-preferences)[:3]
    assert profile.persona.interests == tuple(small_catalog.topic_names[t] for t in strongest)
    np.testing.assert_allclose(profile.topic_preferences, preferences)
    np.testing.assert_array_equal(profile.latent.interests, latent.interests)
    assert len(profile.persona.activities) == 2
    assert set(profile.persona.activities) <= set(ACTIVITIES)
    assert profile.persona.language_style in LANGUAGE_STYLES
    assert profile.persona.orientation in ORIENTATIONS


def test_target_is_among_the_items_of_highest_latent_utility(small_catalog):
    for seed in range(5):
        profile = sample_ailo_user(small_catalog, np.random.default_rng(seed), target_pool=10)
        items = np.arange(small_catalog.n_items)[None, :]
        utilities = item_utilities(profile.latent, small_catalog, items, UserModelConfig())[0]
        assert profile.target in np.argsort(-utilities)[:10]
        assert profile.target_utility == pytest.approx(utilities[profile.target])
        # High utility means the target sits near the user's interests: above the median item.
        assert profile.target_utility > np.median(utilities)


def test_sampling_is_seeded_and_eligible_restricts_the_target(small_catalog):
    first = sample_ailo_user(small_catalog, np.random.default_rng(3))
    again = sample_ailo_user(small_catalog, np.random.default_rng(3))
    assert (first.persona, first.target) == (again.persona, again.target)
    personas = {sample_ailo_user(small_catalog, np.random.default_rng(s)).persona for s in range(8)}
    assert len(personas) > 1
    eligible = np.zeros(small_catalog.n_items, dtype=bool)
    eligible[[7, 42]] = True
    restricted = sample_ailo_user(small_catalog, np.random.default_rng(3), eligible=eligible)
    assert restricted.target in (7, 42)
    fixed = sample_ailo_user(small_catalog, np.random.default_rng(3), target=99)
    assert fixed.target == 99 and fixed.persona == first.persona
    with pytest.raises(ValueError, match="eligible"):
        sample_ailo_user(small_catalog, np.random.default_rng(0), eligible=eligible[:5])
    with pytest.raises(ValueError, match="target_pool"):
        sample_ailo_user(small_catalog, np.random.default_rng(0), target_pool=0)
    with pytest.raises(ValueError, match="target=500"):
        sample_ailo_user(small_catalog, np.random.default_rng(0), target=500)


def test_a_structured_turn_is_parsed_and_its_usage_counted(small_catalog):
    user, profile = started_user(small_catalog, [answer(satisfaction=2, leave=True)])
    assert user.history[0][0] == "You" and "looking for something with" in user.history[0][1]
    reply = user.respond("Do you like  jazz?", [], np.random.default_rng(0))
    assert reply.reply == "Yes, I like that a lot."
    assert reply.expectation == "a question about what I like"
    assert (reply.satisfaction, reply.reason) == (2, "it asked about my taste")
    assert reply.left and not reply.accepted and not reply.failed
    assert reply.usage.calls == 1 and reply.usage.completion_tokens > 0
    assert user.usage == reply.usage and user.turns == 1
    prompt = user.model.calls[0].messages[-1]["content"]
    assert profile.persona.describe() in prompt
    assert 'Recommender: "Do you like jazz?"' in prompt
    for name in small_catalog.attributes_of(profile.target):
        assert name in prompt
    assert small_catalog.titles[profile.target] not in prompt
    assert '"maxLength": 160' in prompt  # the schema the model is asked to follow


def test_a_score_outside_one_to_five_is_refused_and_re_asked(small_catalog):
    user, _ = started_user(small_catalog, [answer(satisfaction=7), answer(satisfaction=5)])
    reply = user.respond("Hi", [], np.random.default_rng(0))
    assert reply.satisfaction == 5 and reply.usage.calls == 2
    with pytest.raises(ValueError):
        AILOAnswer.model_validate(json.loads(answer(satisfaction=0)))
    with pytest.raises(ValueError):
        ailo_answer_model(10).model_validate(json.loads(answer(reply="x" * 11)))


def test_acceptance_is_decided_by_the_target_not_by_the_model(small_catalog):
    grumpy = answer(satisfaction=1, reply="No, never.", leave=True)
    user, profile = started_user(small_catalog, [grumpy, answer(reply="I'll take it!")])
    other = (profile.target + 1) % small_catalog.n_items
    accepted = user.respond("Try these", [other, profile.target], np.random.default_rng(0))
    assert accepted.accepted and not accepted.left  # the model cannot refuse its own target
    prompt = user.model.calls[0].messages[-1]["content"]
    assert "Your item IS among them" in prompt
    rejected = user.respond("Try this", [other], np.random.default_rng(0))
    assert not rejected.accepted  # nor accept an item that is not its target
    assert "Your item is NOT among them" in user.model.calls[1].messages[-1]["content"]


def test_fallback_gives_a_templated_reply_and_counts_the_failed_turn(small_catalog):
    bad = "I am not JSON"
    user, profile = started_user(
        small_catalog, [bad, bad, bad, LLMError("provider down")], on_llm_error="fallback"
    )
    first = user.respond("Do you like jazz?", [], np.random.default_rng(0))
    assert first.failed and not first.accepted and not first.left
    assert first.satisfaction == 3 and "MalformedOutputError" in first.reason
    assert first.usage.calls == 3  # the three attempts are still charged
    second = user.respond("Here", [profile.target], np.random.default_rng(0))
    assert second.failed and second.accepted and second.satisfaction == 5
    assert small_catalog.titles[profile.target] in second.reply
    assert user.failed_turns == 2 and user.turns == 2


def test_raise_mode_raises_the_typed_error_with_the_raw_text(small_catalog):
    bad = '{"reply": "hello"}'
    user, _ = started_user(small_catalog, [bad, bad, bad])
    with pytest.raises(MalformedOutputError) as caught:
        user.respond("Do you like jazz?", [], np.random.default_rng(0))
    assert caught.value.raw_text == bad
    assert any("AILO user answered turn 1" in note for note in caught.value.__notes__)


@pytest.mark.parametrize("on_llm_error", ["raise", "fallback"])
def test_a_spent_cost_cap_always_propagates(small_catalog, on_llm_error):
    user, _ = started_user(
        small_catalog, [CostCapExceeded(1.0, 1.5, 10)], on_llm_error=on_llm_error
    )
    with pytest.raises(CostCapExceeded):
        user.respond("Hi", [], np.random.default_rng(0))


def test_bad_arguments_are_named(small_catalog):
    model = ScriptedChatModel([answer()])
    with pytest.raises(ValueError, match="v999"):
        AILOUser(model, small_catalog, prompt_version="v999")
    with pytest.raises(ValueError, match="on_llm_error"):
        AILOUser(model, small_catalog, on_llm_error="ignore")
    with pytest.raises(ValueError, match="ChatModel"):
        AILOUser("gpt", small_catalog)
    with pytest.raises(ValueError, match="max_chars"):
        AILOUser(model, small_catalog, max_chars=0)
    with pytest.raises(ValueError, match=r"temperature=2\.5 must be a finite number in"):
        AILOUser(model, small_catalog, temperature=2.5)
    with pytest.raises(ValueError, match="history_turns=-1 must be an integer >= 0"):
        AILOUser(model, small_catalog, history_turns=-1)
    # numpy integers count as the integers they hold, as everywhere in the library
    numpy_sized = AILOUser(model, small_catalog, max_tokens=np.int64(64), max_chars=np.int32(40))
    assert numpy_sized.max_tokens == 64 and type(numpy_sized.max_tokens) is int
    user = AILOUser(model, small_catalog)
    with pytest.raises(RuntimeError, match="before begin"):
        user.respond("Hi", [], np.random.default_rng(0))
    profile = sample_ailo_user(small_catalog, np.random.default_rng(0))
    missing = sorted(
        set(range(small_catalog.n_attributes))
        - set(small_catalog.item_attributes[[profile.target], :].indices.tolist())
    )[0]
    with pytest.raises(ValueError, match=f"opening_attribute={missing}"):
        user.begin(profile, missing)
    user.begin(profile, int(small_catalog.item_attributes[[profile.target], :].indices[0]))
    with pytest.raises(ValueError, match="item row 200"):
        user.respond("Hi", [200], np.random.default_rng(0))
    assert "{persona}" in load_prompt("ailo_user")
