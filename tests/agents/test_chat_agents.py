"""RecoChat-v0 agents: reading replies, legal moves, the rule agent beating random, the LLM
recommender's control flow on a scripted model, and a few turns on the embedded model."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers RecoChat-v0)
from recoworld.agents import Agent, agent_names, make_agent
from recoworld.agents.chat import (
    AttributeChatAgent,
    ChatMemory,
    LLMChatRecommender,
    RandomChatAgent,
    agent_llm_settings,
    read_reply,
)
from recoworld.llm import (
    CostCapExceeded,
    LLMSettings,
    LocalChatModel,
    MalformedOutputError,
    MeteredChatModel,
    ScriptedChatModel,
)
from recoworld.text import AttributeMatcher

LASTFM_STAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "lastfm_star"


def play(env, agent, episodes: int, first_seed: int = 0) -> list[dict]:
    """The final ``info`` of each seeded episode."""
    finals = []
    for episode in range(episodes):
        obs, info = env.reset(seed=first_seed + episode)
        agent.reset(seed=first_seed + episode)
        done = False
        while not done:
            action = agent.act(obs, info)
            assert env.action_space.contains(action)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        finals.append(info)
    return finals


def test_read_reply_understands_the_rule_user_and_plain_replies():
    matcher = AttributeMatcher(("jazz", "metal", "calm", "hip-hop"))
    assert read_reply("Hi! I'm looking for something with jazz.", matcher) == {0: True}
    assert read_reply("Yes, I'd like calm.", matcher) == {2: True}
    assert read_reply("No, I don't want metal.", matcher) == {1: False}
    assert read_reply("I already told you: No, I don't want metal.", matcher) == {1: False}
    assert read_reply("I love hip hop but I can't stand metal", matcher) == {3: True, 1: False}
    assert read_reply("Jazz is fine, not metal.", matcher) == {0: True, 1: False}
    assert read_reply("Sure!", matcher, asked=2) == {2: True}
    assert read_reply("No way.", matcher, asked=2) == {2: False}
    assert read_reply("Sorry, I don't follow.", matcher, asked=2) == {}
    assert read_reply("No, none of these is what I'm looking for.", matcher) == {}


def test_memory_keeps_candidates_consistent_with_the_conversation():
    env = gym.make("RecoChat-v0")
    catalog = env.unwrapped.catalog
    memory = ChatMemory(catalog)
    names = catalog.attribute_names
    dark, punk, jazz = (names.index(n) for n in ("dark", "punk", "jazz"))
    _, info = env.reset(seed=0, options={"target": 12, "opening_attribute": dark})
    memory.observe(info)
    memory.will_ask(jazz)
    _, _, _, _, info = env.step(env.unwrapped.make_action("Jazz?"))
    memory.observe(info)
    memory.will_ask(punk)
    _, _, _, _, info = env.step(env.unwrapped.make_action("Punk?"))
    memory.observe(info)
    _, _, _, _, info = env.step(env.unwrapped.make_action("These?", [3, 4]))
    memory.observe(info)
    assert list(memory.confirmed) == [dark, punk] and list(memory.denied) == [jazz]
    assert memory.rejected[[3, 4]].all()
    candidates = np.flatnonzero(memory.candidates())
    assert 12 in candidates and 3 not in candidates
    for item in candidates:
        attributes = set(catalog.attributes_of(int(item)))
        assert {"dark", "punk"} <= attributes and "jazz" not in attributes
    top = memory.ranked(memory.candidates(), 3)
    assert list(top) == sorted(candidates, key=lambda i: (-catalog.popularity[i], i))[:3]
    # Contradictory statements do not leave nothing to recommend.
    memory._record({names.index(n): True for n in ("jazz", "metal", "folk", "classical")})
    assert memory.candidates().any()


@pytest.mark.parametrize("name", sorted(set(agent_names("RecoChat-v0")) - {"llm"}))
def test_registry_builds_agents_that_play_legal_moves(name):
    env = gym.make("RecoChat-v0", n_items=300)
    agent = make_agent(name, env, seed=0)
    assert isinstance(agent, Agent) and agent.name == name
    finals = play(env, agent, 3)
    assert all(1 <= info["turn"] <= 15 for info in finals)
    with pytest.raises(ValueError, match="choose one of"):
        make_agent("max-entropy", env)


def test_attribute_agent_succeeds_clearly_more_often_than_random():
    # Measured over these 60 seeded episodes: attribute 1.00 (about 7 turns), random 0.07
    # (it mostly runs out the user's patience with random lists).
    env = gym.make("RecoChat-v0")
    attribute = play(env, AttributeChatAgent(env.unwrapped.catalog), 60)
    random = play(env, RandomChatAgent(env.unwrapped.catalog, seed=0), 60)
    attribute_rate = np.mean([info["accepted"] for info in attribute])
    random_rate = np.mean([info["accepted"] for info in random])
    assert attribute_rate >= 0.9
    assert random_rate <= 0.25
    assert attribute_rate - random_rate >= 0.6
    assert np.mean([info["turn"] for info in attribute]) < 10


def test_random_agent_is_reproducible_with_its_seed():
    env = gym.make("RecoChat-v0")

    def utterances(seed):
        agent = RandomChatAgent(env.unwrapped.catalog, seed=0)
        obs, info = env.reset(seed=1)
        agent.reset(seed=seed)
        return [agent.act(obs, info)["utterance"] for _ in range(10)]

    assert utterances(4) == utterances(4)
    assert utterances(4) != utterances(5)


def test_attribute_agent_on_lastfm_star():
    if not LASTFM_STAR.is_dir():
        pytest.skip(f"LastFM* data folder {LASTFM_STAR} is absent")
    env = gym.make("RecoChat-v0", dataset_path=LASTFM_STAR)
    assert env.unwrapped.catalog.n_attributes == 8438
    finals = play(env, make_agent("attribute", env), 20)
    # Measured: 0.96 over 50 episodes; the rule user names "tag:NNN" attributes.
    assert np.mean([info["accepted"] for info in finals]) >= 0.7


def decision(action="ask", attribute="jazz", items=(), utterance="Do you like jazz?") -> str:
    fields = {"action": action, "attribute": attribute, "items": list(items)}
    if attribute is None:
        del fields["attribute"]
    return json.dumps({**fields, "utterance": utterance})


def llm_agent(responses, on_error="raise", **kwargs):
    env = gym.make("RecoChat-v0", n_items=300, top_k=3)
    model = ScriptedChatModel(responses)
    agent = LLMChatRecommender(
        env.unwrapped.catalog,
        llm={"model": model, "on_error": on_error},
        top_k=3,
        utterance_max_length=500,
        seed=0,
        **kwargs,
    )
    obs, info = env.reset(seed=0)
    return env, agent, model, obs, info


def offered_names(messages) -> list[str]:
    """The attribute names the request's JSON schema offers."""
    prompt = messages[-1]["content"]
    schema = json.loads(prompt[prompt.index("{", prompt.index("JSON schema")) :])
    return schema["properties"]["attribute"]["enum"]


def test_llm_recommender_asks_the_attribute_the_model_chose():
    def second_offered(messages):
        name = offered_names(messages)[1]
        return decision(attribute=name, utterance=f"Is {name} your thing?")

    env, agent, model, obs, info = llm_agent(second_offered)
    names = agent.catalog.attribute_names
    action = agent.act(obs, info)
    offered = offered_names(model.calls[0].messages)
    assert env.action_space.contains(action)
    assert action["utterance"] == f"Is {offered[1]} your thing?"
    assert not action["items"].any()
    assert agent.memory.pending == names.index(offered[1])
    opening = names[next(iter(agent.memory.confirmed))]
    assert opening in info["reply"] and opening not in offered
    prompt = model.calls[0].messages[-1]["content"]
    assert "Conversation so far:\nUser: Hi! I'm looking for something with" in prompt
    assert agent.usage.calls == 1 and agent.utterance_fallbacks == 0
    _, _, _, _, info = env.step(action)
    agent.act(obs, info)  # reads the yes/no answer into memory
    assert names.index(offered[1]) in {**agent.memory.confirmed, **agent.memory.denied}


def test_llm_recommender_grounds_an_utterance_that_names_another_attribute():
    _, agent, model, obs, info = llm_agent(
        lambda messages: decision(
            attribute=offered_names(messages)[0],
            utterance=f"What do you feel like? Maybe {offered_names(messages)[1]}?",
        )
    )
    action = agent.act(obs, info)
    chosen = offered_names(model.calls[0].messages)[0]
    assert action["utterance"] == f"Do you like {chosen}?"
    assert agent.utterance_fallbacks == 1


def test_llm_recommender_recommends_its_picks_first_then_the_shortlist():
    _, agent, model, obs, info = llm_agent(
        lambda messages: decision(
            action="recommend",
            attribute=offered_names(messages)[0],
            items=[4, 2, 4],
            utterance="Try these ones!",
        ),
        shortlist_size=5,
    )
    action = agent.act(obs, info)
    shortlist = agent.memory.ranked(agent.memory.candidates(), 5)  # after reading the opening
    assert action["utterance"] == "Try these ones!"
    np.testing.assert_array_equal(action["items"], shortlist[[3, 1, 0]] + 1)
    prompt = model.calls[0].messages[-1]["content"]
    assert f"1. {agent.catalog.descriptions[shortlist[0]]}" in prompt


def test_llm_recommender_offers_only_recommend_when_nothing_is_left_to_ask():
    def answer(messages):
        if '"enum": ["ask", "recommend"]' in messages[-1]["content"]:
            name = offered_names(messages)[0]
            return decision(attribute=name, utterance=f"{name}?")
        return decision(action="recommend", attribute=None, items=[1], utterance="This one.")

    env, agent, model, obs, info = llm_agent(answer)
    obs, _, _, _, info = env.step(agent.act(obs, info))
    agent.memory.asked.update(range(agent.catalog.n_attributes))
    action = agent.act(obs, info)
    prompt = model.calls[1].messages[-1]["content"]
    assert '"enum": ["recommend"]' in prompt and '"attribute"' not in prompt
    assert action["utterance"] == "This one." and action["items"][0] > 0


def test_llm_recommender_errors_raise_or_fall_back_to_the_rule_decision():
    bad = "not json"
    _, agent, _, obs, info = llm_agent([bad, bad, bad])
    with pytest.raises(MalformedOutputError) as caught:
        agent.act(obs, info)
    assert caught.value.raw_text == bad
    assert any("chat recommender decided turn 1" in n for n in caught.value.__notes__)

    _, agent, _, obs, info = llm_agent([bad, bad, bad], on_error="fallback")
    action = agent.act(obs, info)
    rule = AttributeChatAgent(agent.catalog, top_k=3)
    assert action["utterance"] == rule.act(obs, info)["utterance"]
    assert agent.failed_turns == 1 and agent.usage.calls == 3

    _, agent, _, obs, info = llm_agent([CostCapExceeded(0.1, 0.2, 3)], on_error="fallback")
    with pytest.raises(CostCapExceeded):
        agent.act(obs, info)


def test_llm_agent_takes_llm_settings_and_rejects_bad_values():
    env = gym.make("RecoChat-v0", n_items=200)
    catalog = env.unwrapped.catalog
    model = ScriptedChatModel(lambda messages: "{}")
    agent = LLMChatRecommender(catalog, llm=model)
    assert agent.model is model  # a ready ChatModel is used as it is
    assert (agent.temperature, agent.max_tokens, agent.on_error) == (0.0, 128, "raise")
    tuned = LLMChatRecommender(
        catalog, llm=LLMSettings(model, temperature=0.3, max_tokens=64, on_error="fallback")
    )
    assert (tuned.temperature, tuned.max_tokens, tuned.on_error) == (0.3, 64, "fallback")
    capped = LLMChatRecommender(catalog, llm={"model": model, "cost_cap_usd": 0.5})
    assert isinstance(capped.model, MeteredChatModel) and capped.model.model is model
    assert isinstance(LLMChatRecommender(catalog).model, LocalChatModel)  # default "local"
    with pytest.raises(ValueError, match="llm=42"):
        LLMChatRecommender(catalog, llm=42)
    with pytest.raises(ValueError, match=re.escape("llm.temperature=3")):
        LLMChatRecommender(catalog, llm={"model": model, "temperature": 3})
    with pytest.raises(ValueError, match=re.escape("llm.on_error='ignore'")):
        LLMChatRecommender(catalog, llm={"model": model, "on_error": "ignore"})
    with pytest.raises(ValueError, match="unknown keys \\['temprature'\\]"):
        LLMChatRecommender(catalog, llm={"model": model, "temprature": 0.1})
    with pytest.raises(ValueError, match="shortlist_size=0"):
        LLMChatRecommender(catalog, llm=model, shortlist_size=0)
    with pytest.raises(ValueError, match="top_k=0"):
        LLMChatRecommender(catalog, llm=model, top_k=0)
    assert LLMChatRecommender(catalog, llm=model, top_k=np.int64(3)).top_k == 3


def test_agent_and_user_never_share_a_model_unless_asked():
    user_model = ScriptedChatModel(
        lambda messages: json.dumps(
            {
                "expectation": "a question",
                "reason": "fine",
                "satisfaction": 4,
                "reply": "Maybe.",
                "leave": False,
            }
        )
    )
    settings = LLMSettings(user_model, cost_cap_usd=1.0)
    env = gym.make("RecoChat-v0", user="ailo", llm=settings, n_items=200, top_k=3)
    user = env.unwrapped.llm
    # The registry's agent never reuses the user's model, meter or cost cap.
    agent = make_agent("llm", env, seed=0)
    assert isinstance(agent, LLMChatRecommender) and agent.model is not user
    assert isinstance(agent.model, LocalChatModel)  # a model object is not reused: embedded
    # Built from the same settings, each side gets its own meter and cost cap.
    mine = LLMChatRecommender(env.unwrapped.catalog, llm=settings, top_k=3)
    assert isinstance(mine.model, MeteredChatModel) and isinstance(user, MeteredChatModel)
    assert mine.model is not user and mine.model.meter is not user.meter

    # Separate models, separate usage: a scripted agent and the user each count their calls.
    def ask_first_offered(messages):
        name = offered_names(messages)[0]
        return decision(attribute=name, utterance=f"Do you like {name}?")

    agent_model = ScriptedChatModel(ask_first_offered)
    separate = LLMChatRecommender(env.unwrapped.catalog, llm=agent_model, top_k=3, seed=0)
    obs, info = env.reset(seed=0)
    separate.reset(seed=0)
    for _ in range(2):
        obs, _, _, _, info = env.step(separate.act(obs, info))
        assert info["usage"]["calls"] == 1
    assert len(agent_model.calls) == separate.usage.calls == 2
    assert len(user_model.calls) == user.meter.usage.calls == 2
    assert env.unwrapped.ailo_user.usage.calls == 2
    # Sharing is explicit: the same ChatModel object passed to both.
    shared = LLMChatRecommender(env.unwrapped.catalog, llm=user, top_k=3)
    assert shared.model is user


def test_registry_llm_agent_follows_the_users_model_string_on_its_own_model():
    env = gym.make(
        "RecoChat-v0",
        user="ailo",
        llm={"model": "openai/gpt-4o-mini", "temperature": 0.9, "cost_cap_usd": 2.0},
        n_items=200,
    )
    settings = agent_llm_settings(env)
    assert (settings.model, settings.cost_cap_usd) == ("openai/gpt-4o-mini", 2.0)
    assert settings.temperature is None  # the agent's own default (0.0), not the user's 0.9
    agent = make_agent("llm", env, seed=0)
    assert agent.temperature == 0.0 and agent.model is not env.unwrapped.llm
    assert agent.model.meter is not env.unwrapped.llm.meter
    assert agent_llm_settings(gym.make("RecoChat-v0")).model == "local"


def test_registry_llm_agent_keeps_the_users_token_cap_and_prices():
    """The agent's settings carry every field of the user's but temperature, max_tokens and
    on_error: a cost cap on an unpriced model stays enforceable through its token cap/prices."""
    capped = {"model": "openai/fake", "token_cap": 1000, "cost_cap_usd": 1.0}
    env = gym.make("RecoChat-v0", user="ailo", llm=capped, n_items=200)
    settings = agent_llm_settings(env)
    assert (settings.token_cap, settings.cost_cap_usd) == (1000, 1.0)
    model = settings.build()  # an unpriced cost cap with a token cap: no ValueError
    assert isinstance(model, MeteredChatModel) and model.meter is not env.unwrapped.llm.meter
    priced = {
        "model": "openai/fake",
        "cost_cap_usd": 1.0,
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
        "temperature": 0.9,
        "max_tokens": 50,
        "on_error": "raise",
    }
    settings = agent_llm_settings(gym.make("RecoChat-v0", user="ailo", llm=priced, n_items=200))
    assert (settings.input_cost_per_token, settings.output_cost_per_token) == (1e-6, 2e-6)
    assert (settings.temperature, settings.max_tokens, settings.on_error) == (None, None, None)
    settings.build()


@pytest.mark.llm
@pytest.mark.slow
def test_embedded_model_plays_both_sides_for_a_few_turns():
    """RecoChat-v0 with the AILO user on llm="local", driven by the LLM recommender on the
    same embedded model (SmolLM2-135M): schema-valid turns, usage reported. Kept small (short
    prompts, few tokens) so two turns take well under a minute on two cores."""
    env = gym.make(
        "RecoChat-v0",
        user="ailo",
        llm={"model": "local", "max_tokens": 96},
        n_items=100,
        top_k=2,
        llm_max_chars=24,
    )
    # The agent shares the user's embedded model on purpose (one model in memory).
    agent = LLMChatRecommender(
        env.unwrapped.catalog,
        llm={"model": env.unwrapped.llm, "max_tokens": 64},
        top_k=2,
        shortlist_size=2,
        max_attribute_options=4,
        history_turns=2,
        max_utterance_chars=48,
        seed=0,
    )
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    start = time.perf_counter()
    for _ in range(2):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        obs, _, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert info["reply"] and 1 <= info["satisfaction"] <= 5
        assert info["usage"]["calls"] >= 1 and info["usage"]["completion_tokens"] > 0
        assert info["usage"]["latency_s"] > 0 and info["usage"]["cost_usd"] == 0.0
        assert not info["llm_failed"]
        if terminated or truncated:
            obs, info = env.reset()
    assert agent.usage.calls >= 2 and agent.failed_turns == 0
    assert time.perf_counter() - start < 300  # a hang, not a speed assertion
