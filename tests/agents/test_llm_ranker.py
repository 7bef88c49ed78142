"""The LLM ranker: what it asks the model (schemas with enums, seeds), how it ranks from the
answer, the trace, fallbacks and errors, determinism and cache replay, all with a scripted model;
then a few turns with the embedded model for real."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers RecoWorld-v0)
from recoworld.agents import GreedyAgent, ObservationLayout, top_slate
from recoworld.agents.instruction_text import TextInstructionGreedyAgent, parse_instruction
from recoworld.agents.llm_ranker import LLMRankerAgent, RankerStep
from recoworld.llm import (
    CachedChatModel,
    ChatResponse,
    LLMError,
    LLMSettings,
    LocalChatModel,
    MalformedOutputError,
    MeteredChatModel,
    ResponseCache,
    ScriptedChatModel,
    Usage,
)

SAID = re.compile(r'The user said: "(.*)"')


def schema_of(call) -> dict[str, Any]:
    """The JSON schema the agent sent (the layer appends it to the last user message)."""
    return json.loads(call.messages[-1]["content"].rsplit("\n", 1)[1])


def keyword_reader(topic_names: Sequence[str], order: Sequence[int] | None = None):
    """A scripted model that reads instructions with the keyword parser (and, for re-ranking
    requests, answers ``order``)."""

    def answer(messages):
        said = SAID.search(messages[-1]["content"])
        if said is None:
            return json.dumps({"reasoning": "scripted order", "positions": list(order or [0])})
        more, less = parse_instruction(said.group(1), topic_names).names(topic_names)
        return json.dumps({"reasoning": "keywords", "more_of": more, "less_of": less})

    return answer


def play(env, agent, seeds, record=None):
    """Episodes on ``seeds``; mean return. ``record(obs, info, action)`` sees every decision."""
    returns = []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        agent.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = agent.act(obs, info)
            if record is not None:
                record(obs, info, action)
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


@pytest.fixture
def env():
    return gym.make("RecoWorld-v0")


def first_turn(env, seed=0):
    obs, info = env.reset(seed=seed)
    return obs, {**info, "session": 0, "turn": 3}


def test_reads_each_instruction_once_with_an_enum_schema_and_follows_it(env):
    names = env.unwrapped.catalog.topic_names
    model = ScriptedChatModel(keyword_reader(names))
    agent = LLMRankerAgent(env, llm=model)
    reference = TextInstructionGreedyAgent(env)
    decisions = []
    play(env, reference, range(6), lambda obs, info, action: decisions.append(action))
    mine = []
    play(env, agent, range(6), lambda obs, info, action: mine.append(action))
    # A model that reads as the keyword parser does makes the same slates as the parser's agent.
    assert len(mine) == len(decisions)
    for a, b in zip(mine, decisions, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(model.calls) == reference.heard >= 3  # one call per instruction heard
    schema = schema_of(model.calls[0])
    assert schema["$defs"]["topic"]["enum"] == list(names)
    for key in ("more_of", "less_of"):
        assert schema["properties"][key]["items"] == {"$ref": "#/$defs/topic"}
    assert list(agent.read_schema["properties"]) == ["reasoning", "more_of", "less_of"]
    assert agent.usage.calls == len(model.calls) and agent.fallbacks == 0


def test_ranks_by_greedy_score_plus_weighted_topic_mass(env):
    obs, info = first_turn(env)
    names = env.unwrapped.catalog.topic_names
    layout = ObservationLayout.of(env)
    model = ScriptedChatModel(
        ['{"reasoning": "r", "more_of": ["jazz", "soul"], "less_of": ["metal"]}']
    )
    agent = LLMRankerAgent(env, llm=model, more_weight=2.0, less_weight=0.5)
    slate = agent.act(obs, {**info, "instruction": "whatever the user said"})
    topics = obs["candidates"][:, layout.topics]
    expected = (
        GreedyAgent(layout).scores(obs)
        + 2.0 * (topics[:, names.index("jazz")] + topics[:, names.index("soul")])
        - 0.5 * topics[:, names.index("metal")]
    )
    available = obs["candidates"][:, layout.available]
    np.testing.assert_array_equal(slate, top_slate(expected, available, layout.slate_size))
    assert not np.array_equal(slate, GreedyAgent(layout).act(obs, info))


def test_trace_records_every_turn(env):
    obs, info = first_turn(env)
    model = ScriptedChatModel(
        ['{"reasoning": "asks for jazz, not metal", "more_of": ["jazz"], "less_of": ["metal"]}']
    )
    agent = LLMRankerAgent(env, llm=model)
    agent.act(obs, info)
    slate = agent.act(obs, {**info, "turn": 4, "instruction": "Less metal, more jazz."})
    agent.act(obs, {**info, "turn": 5})
    agent.act(obs, {**info, "session": 1, "turn": 0})
    assert [step.turn for step in agent.trace] == [3, 4, 5, 0]
    assert all(isinstance(step, RankerStep) for step in agent.trace)
    before, heard, standing, next_session = agent.trace
    assert before.instruction is None and before.reasoning is None and before.more_of == ()
    assert "no standing instruction" in before.why and before.usage == Usage()
    assert heard.new_instruction and heard.instruction == "Less metal, more jazz."
    assert heard.reasoning == "asks for jazz, not metal"
    assert (heard.more_of, heard.less_of) == (("jazz",), ("metal",))
    assert heard.slate == tuple(slate.tolist())
    assert heard.items == tuple(info["candidates"][slate].tolist())
    assert "jazz" in heard.why and "metal" in heard.why and heard.usage.calls == 1
    assert not standing.new_instruction and standing.more_of == ("jazz",)
    assert standing.usage.calls == 0  # the standing instruction is not read again
    assert next_session.instruction is None and next_session.more_of == ()
    agent.reset(seed=1)
    assert agent.trace == [] and agent.usage.calls == 1  # usage is kept over the agent's life


def test_a_topic_in_both_lists_is_dropped(env):
    obs, info = first_turn(env)
    model = ScriptedChatModel(['{"reasoning": "", "more_of": ["jazz"], "less_of": ["jazz"]}'])
    agent = LLMRankerAgent(env, llm=model)
    slate = agent.act(obs, {**info, "instruction": "jazz?"})
    np.testing.assert_array_equal(slate, GreedyAgent(ObservationLayout.of(env)).act(obs, info))
    assert agent.trace[-1].more_of == () and "both" in agent.trace[-1].why


MALFORMED = '{"reasoning": "r", "more_of": ["opera"], "less_of": []}'


def test_malformed_reading_falls_back_to_greedy_and_is_counted(env):
    obs, info = first_turn(env)
    model = ScriptedChatModel([MALFORMED] * 3, max_parse_retries=2)
    agent = LLMRankerAgent(env, llm={"model": model, "on_error": "fallback"})
    slate = agent.act(obs, {**info, "instruction": "Less metal, more jazz."})
    np.testing.assert_array_equal(slate, GreedyAgent(ObservationLayout.of(env)).act(obs, info))
    assert agent.fallbacks == 1 and agent.usage.calls == 3  # the re-asks are paid for
    step = agent.trace[-1]
    assert "opera" in step.fallback and "malformed" in step.why
    assert step.instruction == "Less metal, more jazz." and step.more_of == ()
    agent.act(obs, {**info, "turn": 4})  # the failure is not retried every turn
    assert len(model.calls) == 3 and agent.trace[-1].fallback is None


def test_malformed_reading_raises_with_on_error_raise(env):
    obs, info = first_turn(env)
    model = ScriptedChatModel([MALFORMED] * 2, max_parse_retries=1)
    agent = LLMRankerAgent(env, llm={"model": model, "on_error": "raise"})
    with pytest.raises(MalformedOutputError, match="opera") as caught:
        agent.act(obs, {**info, "instruction": "Less metal, more jazz."})
    assert caught.value.raw_text == MALFORMED and agent.usage.calls == 2


def test_other_llm_errors_propagate_even_with_fallback(env):
    obs, info = first_turn(env)
    agent = LLMRankerAgent(env, llm=ScriptedChatModel([LLMError("provider down")]))
    with pytest.raises(LLMError, match="provider down"):
        agent.act(obs, {**info, "instruction": "Less metal, more jazz."})
    assert agent.fallbacks == 0


class UncheckedModel:
    """A ChatModel that does not validate: it hands back whatever JSON it was given."""

    model_name = "unchecked"

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def complete(self, messages, *, schema=None, temperature=None, max_tokens=None, seed=None):
        return ChatResponse(json.dumps(self.answer), Usage(calls=1), parsed=self.answer)

    async def acomplete(self, messages, **kwargs):
        return self.complete(messages, **kwargs)


def test_the_agent_validates_answers_itself(env):
    obs, info = first_turn(env)
    bad = UncheckedModel({"reasoning": "r", "more_of": ["opera"], "less_of": []})
    agent = LLMRankerAgent(env, llm={"model": bad, "on_error": "raise"})
    with pytest.raises(MalformedOutputError, match="opera"):
        agent.act(obs, {**info, "instruction": "More opera."})
    lenient = LLMRankerAgent(env, llm=bad)
    lenient.act(obs, {**info, "instruction": "More opera."})
    assert lenient.fallbacks == 1 and lenient.usage.calls == 1


def test_rerank_reorders_the_shortlist_from_titles(env):
    obs, info = first_turn(env)
    layout = ObservationLayout.of(env)
    titles = env.unwrapped.catalog.titles
    model = ScriptedChatModel(['{"reasoning": "fresh first", "positions": [3, 0]}'] * 3)
    agent = LLMRankerAgent(env, llm=model, rerank_top=4)
    slate = agent.act(obs, info)
    greedy = GreedyAgent(layout).act(obs, info)
    np.testing.assert_array_equal(slate[:4], greedy[[3, 0, 1, 2]])
    np.testing.assert_array_equal(slate[4:], greedy[4:])
    prompt = model.calls[0].messages[-1]["content"]
    for position, candidate in enumerate(greedy[:4]):
        assert f"{position}: {titles[info['candidates'][candidate]]}" in prompt
    positions = schema_of(model.calls[0])["properties"]["positions"]
    assert positions["items"]["enum"] == [0, 1, 2, 3] and positions["uniqueItems"] is True
    step = agent.trace[-1]
    assert step.rerank_reasoning == "fresh first" and "[3, 0]" in step.why
    assert step.fallback is None and agent.fallbacks == 0
    # What the user clicked this session goes into the prompt; a new session starts afresh.
    clicked = int(info["candidates"][greedy[0]])
    assert titles[clicked] not in prompt.split("Shortlist")[0]
    agent.act(obs, {**info, "turn": 4, "clicks": np.array([clicked])})
    assert f'recently clicked: "{titles[clicked]}"' in model.calls[1].messages[-1]["content"]
    agent.act(obs, {**info, "session": 1, "turn": 0, "clicks": np.array([clicked])})
    assert "recently clicked" not in model.calls[2].messages[-1]["content"]


@pytest.mark.parametrize("answer", ["[1, 1]", "[4]", "[]"], ids=["repeated", "outside", "empty"])
def test_invalid_rerank_positions_fall_back_or_raise(env, answer):
    obs, info = first_turn(env)
    text = f'{{"reasoning": "r", "positions": {answer}}}'
    greedy = GreedyAgent(ObservationLayout.of(env)).act(obs, info)
    lenient = LLMRankerAgent(
        env, llm=ScriptedChatModel([text] * 2, max_parse_retries=0), rerank_top=4
    )
    np.testing.assert_array_equal(lenient.act(obs, info), greedy)
    np.testing.assert_array_equal(lenient.act(obs, {**info, "turn": 4}), greedy)
    assert lenient.fallbacks == 2 and lenient.trace[-1].fallback.startswith("re-rank")
    strict = LLMRankerAgent(
        env,
        llm={"model": ScriptedChatModel([text], max_parse_retries=0), "on_error": "raise"},
        rerank_top=4,
    )
    with pytest.raises(MalformedOutputError):
        strict.act(obs, info)


def test_seeded_runs_repeat_and_replay_from_the_cache(env, tmp_path):
    names = env.unwrapped.catalog.topic_names

    def run(model, seed):
        agent = LLMRankerAgent(env, llm=model, rerank_top=3, seed=99)
        obs, info = env.reset(seed=seed)
        agent.reset(seed=seed)
        for _ in range(12):
            obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
            if terminated or truncated:
                break
        return agent

    first, second, other = (ScriptedChatModel(keyword_reader(names, [1, 0])) for _ in range(3))
    a, b = run(first, 4), run(second, 4)
    run(other, 5)
    seeds = [call.params.seed for call in first.calls]
    assert len(seeds) >= 12 and len(set(seeds)) == len(seeds)
    assert seeds == [call.params.seed for call in second.calls] and a.trace == b.trace
    assert seeds[:3] != [call.params.seed for call in other.calls][:3]  # reset seed matters
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        recorded = run(CachedChatModel(ScriptedChatModel(keyword_reader(names, [1, 0])), cache), 4)
        silent = ScriptedChatModel([])  # raises if the cache misses
        replayed = run(CachedChatModel(silent, cache), 4)
    assert replayed.usage.cache_hits == recorded.usage.calls == len(seeds)
    assert [s.slate for s in replayed.trace] == [s.slate for s in recorded.trace]
    assert [s.slate for s in recorded.trace] == [s.slate for s in a.trace]
    assert silent.calls == []


def test_rejects_bad_input(env):
    model = ScriptedChatModel([])
    with pytest.raises(ValueError, match="ConvRec"):
        LLMRankerAgent(gym.make("ConvRec-v0"), llm=model)
    with pytest.raises(ValueError, match="'scores'"):
        LLMRankerAgent(gym.make("RecoWorld-v0", action_type="scores"), llm=model)
    with pytest.raises(ValueError, match="llm=42"):
        LLMRankerAgent(env, llm=42)
    cases = {
        "llm.on_error='ignore'": {"llm": {"model": model, "on_error": "ignore"}},
        "rerank_top=1 ": {"rerank_top": 1},
        "rerank_top=101": {"rerank_top": 101},
        "rerank_top=True": {"rerank_top": True},
        "more_weight=-1": {"more_weight": -1},
        "less_weight=nan": {"less_weight": float("nan")},
        "quality_weight=inf": {"quality_weight": float("inf")},
        "llm.max_tokens=0": {"llm": {"model": model, "max_tokens": 0}},
        "llm.temperature=-0.5": {"llm": {"model": model, "temperature": -0.5}},
        "max_listed_topics=0": {"max_listed_topics": 0},
        "seed='1'": {"seed": "1"},
    }
    for message, kwargs in cases.items():
        with pytest.raises(ValueError, match=re.escape(message.strip())):
            LLMRankerAgent(env, **{"llm": model, **kwargs})


def test_llm_settings_choose_the_model_and_its_calls(env):
    model = ScriptedChatModel([])
    agent = LLMRankerAgent(env, llm=model)
    assert agent.model is model and agent.llm == LLMSettings(model)
    assert (agent.temperature, agent.max_tokens, agent.on_error) == (0.0, 160, "fallback")
    tuned = LLMRankerAgent(env, llm=LLMSettings(model, temperature=0.5, max_tokens=32))
    # Unset fields keep the agent's defaults, whatever form llm= takes.
    assert (tuned.temperature, tuned.max_tokens, tuned.on_error) == (0.5, 32, "fallback")
    strict = LLMRankerAgent(env, llm=LLMSettings(model, on_error="raise"))
    assert strict.on_error == "raise"
    # Built through make_chat_model: its own cost meter, even over the same ChatModel.
    settings = LLMSettings(model, cost_cap_usd=1.0)
    first, second = LLMRankerAgent(env, llm=settings), LLMRankerAgent(env, llm=settings)
    assert isinstance(first.model, MeteredChatModel) and first.model.model is model
    assert first.model is not second.model and first.model.meter is not second.model.meter
    assert isinstance(LLMRankerAgent(env).model, LocalChatModel)  # default "local"


# ----------------------------------------------------------------- the embedded model, for real


def greedy_seed_with_early_instruction(env, within: int) -> tuple[int, int]:
    """A seed whose user speaks within ``within`` turns of greedy ranking (the ranker ranks
    greedily until then) and stays, and the turn it speaks on."""
    greedy = GreedyAgent(ObservationLayout.of(env))
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        for turn in range(1, within + 1):
            obs, _, terminated, truncated, info = env.step(greedy.act(obs, info))
            if terminated or truncated:
                break
            if info["instruction"] is not None:
                return seed, turn
    raise AssertionError(f"no user in 200 seeds spoke within {within} greedy turns")


@pytest.mark.llm
def test_embedded_model_reads_an_instruction_and_reranks(env):
    names = set(env.unwrapped.catalog.topic_names)
    seed, spoken_on = greedy_seed_with_early_instruction(env, within=3)
    start = time.perf_counter()
    # No model given: the agent uses the embedded local model, as make_agent would.
    agent = LLMRankerAgent(
        env, llm={"max_tokens": 64}, seed=seed, max_reasoning_chars=40, max_listed_topics=2
    )
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    for _ in range(spoken_on):
        action = agent.act(obs, info)
        assert env.action_space.contains(action) and len(set(action.tolist())) == len(action)
        obs, _, _, _, info = env.step(action)
    assert info["instruction"] is not None
    assert env.action_space.contains(agent.act(obs, info))
    step = agent.trace[-1]
    assert len(agent.trace) == spoken_on + 1 and step.new_instruction
    assert step.instruction == info["instruction"] and step.usage.calls >= 1
    if step.fallback is None:
        assert isinstance(step.reasoning, str) and len(step.reasoning) <= 40
        assert set(step.more_of) <= names and set(step.less_of) <= names
    else:
        assert agent.fallbacks == 1
    read_time = time.perf_counter() - start

    reranker = LLMRankerAgent(
        env, llm={"model": agent.model, "max_tokens": 48}, rerank_top=4, max_reasoning_chars=24
    )
    obs, info = env.reset(seed=seed + 1)
    reranker.reset(seed=seed + 1)
    greedy = GreedyAgent(ObservationLayout.of(env))
    for _ in range(2):
        action = reranker.act(obs, info)
        assert env.action_space.contains(action) and len(set(action.tolist())) == len(action)
        if reranker.trace[-1].instruction is None:
            assert set(action[:4].tolist()) == set(greedy.act(obs, info)[:4].tolist())
        obs, _, _, _, info = env.step(action)
    assert len(reranker.trace) == 2
    for step in reranker.trace:
        assert step.rerank_reasoning is not None or step.fallback.startswith("re-rank")
    assert reranker.usage.calls >= 2 and reranker.usage.completion_tokens > 0
    print(f"embedded model: read {read_time:.1f}s, re-rank turns {reranker.usage.latency_s:.1f}s")
