"""Failed language-model calls in the envs (issue 9, items 2 and 5).

Every request sent is counted in ``info["usage"]`` (failures also in ``failed_calls``) and in the
evaluation report, and a step that raises leaves the env as it was: retrying the same action
gives what a run where the call never failed gives, draws included.
"""

from __future__ import annotations

import copy
import json
import re

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401
from recoworld.evaluation import evaluate
from recoworld.llm import LLMError, ProviderError, ScriptedChatModel

_INSTRUCT = re.compile(r"less (.+?) and more (.+?)\. Name both")


def user_answer(messages, seed: int = 0) -> str:
    """A deterministic RecoWorld LLM user: answers depend on the prompt and the call's seed
    (so a retried step that drew other seeds would say other things)."""
    prompt = messages[-1]["content"]
    mood = f"Mood {seed % 7}."
    if "JSON schema" in prompt:
        clicks = [1 + seed % 2]
        mindset = f"The first ones are fine. {mood}"
        return json.dumps({"clicks": clicks, "leave": False, "mindset": mindset})
    found = _INSTRUCT.search(prompt)
    if found:
        return f"Less {found.group(1)} and more {found.group(2)}, please."
    return f"Some of it was fun. {mood}"


def ailo_answer(messages, seed: int = 0) -> str:
    prompt = messages[-1]["content"]
    recommends = "It recommends:" in prompt.split("Recommender:")[-1]
    return json.dumps(
        {
            "expectation": "a question about my taste",
            "reason": "not what I asked for" if recommends else "a fair question",
            "satisfaction": 2 if recommends else 4,
            "reply": ("Not those." if recommends else "Maybe, tell me more.") + f" ({seed % 7})",
            "leave": False,
        }
    )


class FailsOnce(ScriptedChatModel):
    """Answers ``answer(messages, seed)``, except that request number ``fail_at`` (0-based;
    None: never) raises a ProviderError (one request sent, no usable answer)."""

    def __init__(self, answer, fail_at: int | None) -> None:
        super().__init__(lambda messages: "", cost_per_token_usd=0.001)
        self.answer = answer
        self.fail_at = fail_at

    def _generate(self, messages, params, schema):
        if len(self.calls) == self.fail_at:
            self.calls.append(None)  # type: ignore[arg-type]  # the request was sent
            raise ProviderError(self.model_name, ConnectionError("connection reset"))
        self._responses = lambda m: self.answer(m, params.seed)
        return super()._generate(messages, params, schema)


def answered_seeds(model) -> list[int]:
    return [call.params.seed for call in model.calls if call is not None]


# ------------------------------------------------------------------ item 2: usage of failures


def test_failed_calls_show_in_the_single_env_usage():
    model = ScriptedChatModel(lambda m: "not json", cost_per_token_usd=0.001)
    env = gym.make(
        "RecoWorld-v0",
        user_model="llm",
        decision_mode="llm",
        llm={"model": model, "on_error": "fallback"},
    )
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.arange(10))
    assert info["llm_failed"]
    sent = len(model.calls)
    assert sent == 3  # the question and its two re-asks
    assert info["usage"]["calls"] == sent
    assert info["usage"]["failed_calls"] == sent
    tokens = info["usage"]["prompt_tokens"] + info["usage"]["completion_tokens"]
    assert tokens > 0
    assert info["usage"]["cost_usd"] == pytest.approx(0.001 * tokens)
    assert env.unwrapped.llm_user.usage.calls == sent


def test_failed_calls_show_in_the_vector_env_usage():
    model = ScriptedChatModel(lambda m: "not json", cost_per_token_usd=0.001)
    envs = gym.make_vec(
        "RecoWorld-v0",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        user_model="llm",
        decision_mode="llm",
        llm={"model": model, "on_error": "fallback"},
    )
    envs.reset(seed=0)
    _, _, _, _, infos = envs.step(np.tile(np.arange(10), (3, 1)))
    assert infos["llm_failed"].all()
    sent = len(model.calls)
    assert sent == 9
    assert infos["usage"]["calls"] == infos["usage"]["failed_calls"] == sent
    tokens = infos["usage"]["prompt_tokens"] + infos["usage"]["completion_tokens"]
    assert infos["usage"]["cost_usd"] == pytest.approx(0.001 * tokens)


def test_failed_calls_show_in_the_recochat_usage():
    model = ScriptedChatModel(lambda m: "not json", cost_per_token_usd=0.001)
    env = gym.make(
        "RecoChat-v0", user="ailo", llm={"model": model, "on_error": "fallback"}, n_items=200
    )
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.unwrapped.make_action("Do you like jazz?"))
    assert info["llm_failed"]
    sent = len(model.calls)
    assert sent == 3
    assert info["usage"]["calls"] == info["usage"]["failed_calls"] == sent
    tokens = info["usage"]["prompt_tokens"] + info["usage"]["completion_tokens"]
    assert info["usage"]["cost_usd"] == pytest.approx(0.001 * tokens) and tokens > 0


def test_failed_calls_show_in_the_evaluation_report():
    model = ScriptedChatModel(lambda m: "not json", cost_per_token_usd=0.001)
    report = evaluate(
        "random",
        "RecoWorld-v0",
        episodes=1,
        seed=0,
        user_model="llm",
        decision_mode="llm",
        llm={"model": model, "on_error": "fallback"},
        max_session_turns=3,
    )
    sent = len(model.calls)
    assert sent > 0
    assert report.usage.calls == sent
    assert report.usage.as_dict()["failed_calls"] == sent
    assert report.usage.cost_usd == pytest.approx(
        0.001 * (report.usage.prompt_tokens + report.usage.completion_tokens)
    )


def test_a_raised_steps_calls_are_reported_by_the_next_step():
    model = FailsOnce(user_answer, fail_at=1)
    env = gym.make("RecoWorld-v0", user_model="llm", llm=model)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.arange(10))
    assert info["usage"]["calls"] == 1
    with pytest.raises(ProviderError):
        env.step(np.arange(10, 20))
    _, _, _, _, info = env.step(np.arange(10, 20))
    # The failed request was sent (and paid for): it is counted with the retry's.
    assert info["usage"]["failed_calls"] == 1
    assert info["usage"]["calls"] == len(model.calls) - 1


# ------------------------------------------------------------------ item 5: raise = no step


def recoworld_run(model, *, retry: bool, steps: int = 12, **kwargs):
    env = gym.make("RecoWorld-v0", user_model="llm", llm=model, **kwargs)
    obs, info = env.reset(seed=3)
    trace = [(obs, info["mindset"])]
    raised = 0
    for turn in range(steps):
        action = (np.arange(10) + 7 * turn) % 100
        try:
            out = env.step(action)
        except LLMError:
            assert retry
            raised += 1
            out = env.step(action)
        obs, reward, terminated, truncated, info = out
        trace.append(
            (
                obs,
                reward,
                terminated,
                truncated,
                info["clicks"].tolist(),
                info["mindset"],
                info["instruction"],
                info["turn"],
                info["llm_failed"],
            )
        )
        if terminated or truncated:
            break
    return trace, raised, env.unwrapped


def assert_same_trace(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_equal(a, b)


@pytest.mark.parametrize("decision_mode", ["latent", "llm"])
@pytest.mark.parametrize("fail_at", [0, 3, 6])
def test_a_step_that_raises_leaves_the_single_env_as_it_was(decision_mode, fail_at):
    clean_model = FailsOnce(user_answer, None)
    clean, _, clean_env = recoworld_run(clean_model, retry=False, decision_mode=decision_mode)
    flaky_model = FailsOnce(user_answer, fail_at)
    flaky, raised, flaky_env = recoworld_run(flaky_model, retry=True, decision_mode=decision_mode)
    assert raised == 1
    assert_same_trace(clean, flaky)
    # The same requests with the same seeds: the generators were restored too.
    assert answered_seeds(flaky_model) == answered_seeds(clean_model)
    assert flaky_env.llm_user.turns == clean_env.llm_user.turns
    assert flaky_env.llm_user.failed_turns == 0
    # The failed request is counted (sent and paid for); the answered ones alike.
    assert flaky_env.llm_user.usage.calls == clean_env.llm_user.usage.calls + 1
    assert flaky_env.llm_user.usage.failed_calls == 1


def test_a_failed_instruction_call_leaves_the_single_env_as_it_was():
    """The instruction is voiced after the latent step: that step is undone as well."""
    clean_model = FailsOnce(user_answer, None)
    clean, _, _ = recoworld_run(clean_model, retry=False, steps=40)
    instructs = [
        index
        for index, call in enumerate(clean_model.calls)
        if "Name both" in call.messages[-1]["content"]
    ]
    assert instructs, "the seed should produce an instruction"
    flaky_model = FailsOnce(user_answer, instructs[0])
    flaky, raised, _ = recoworld_run(flaky_model, retry=True, steps=40)
    assert raised == 1
    assert_same_trace(clean, flaky)
    # The retry asks the step's mindset again (same seed), then the instruction.
    seeds, failed = answered_seeds(clean_model), instructs[0]
    assert answered_seeds(flaky_model) == [*seeds[:failed], seeds[failed - 1], *seeds[failed:]]


def vector_run(model, *, retry: bool, steps: int = 6, num_envs: int = 3, **kwargs):
    """The trace of a vector run; with ``copy=False`` among ``kwargs`` the env reuses its
    observation buffers, so the trace holds copies, and a failed step must put back the
    observation the caller holds (the buffers of the previous step)."""
    envs = gym.make_vec(
        "RecoWorld-v0",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        user_model="llm",
        llm=model,
        max_session_turns=3,
        **kwargs,
    )
    obs, infos = envs.reset(seed=1)
    trace = [(copy.deepcopy(obs), list(infos["mindset"]))]
    raised = 0
    rng = np.random.default_rng(0)
    for _ in range(steps):
        actions = np.stack([rng.permutation(100)[:10] for _ in range(num_envs)])
        held = copy.deepcopy(obs)
        try:
            out = envs.step(actions)
        except LLMError:
            assert retry
            raised += 1
            np.testing.assert_equal(obs, held)  # the caller's observation is as it was
            out = envs.step(actions)
        if kwargs.get("copy") is False:  # the same arrays, written again
            assert all(out[0][key] is obs[key] for key in ("context", "candidates", "history"))
        obs, rewards, terminations, truncations, infos = out
        trace.append(
            (
                copy.deepcopy(obs),
                rewards,
                terminations,
                truncations,
                infos["click_counts"],
                list(infos["mindset"]),
                list(infos["instruction"]),
            )
        )
    return trace, raised


@pytest.mark.parametrize("decision_mode", ["latent", "llm"])
@pytest.mark.parametrize("fail_at", [1, 7])
def test_a_step_that_raises_leaves_the_vector_env_as_it_was(decision_mode, fail_at):
    clean, _ = vector_run(FailsOnce(user_answer, None), retry=False, decision_mode=decision_mode)
    flaky, raised = vector_run(
        FailsOnce(user_answer, fail_at), retry=True, decision_mode=decision_mode
    )
    assert raised == 1
    assert_same_trace(clean, flaky)


@pytest.mark.parametrize("decision_mode", ["latent", "llm"])
@pytest.mark.parametrize("fail_at", [0, 4, 9])
def test_a_step_that_raises_leaves_the_vector_env_with_reused_buffers_as_it_was(
    decision_mode, fail_at
):
    """``copy=False``: every step writes into the same observation arrays, which the caller
    holds; a failed step puts them back, and the retry reproduces the clean run."""
    clean_model = FailsOnce(user_answer, None)
    clean, _ = vector_run(clean_model, retry=False, decision_mode=decision_mode, copy=False)
    assert len(clean_model.calls) > fail_at
    flaky, raised = vector_run(
        FailsOnce(user_answer, fail_at), retry=True, decision_mode=decision_mode, copy=False
    )
    assert raised == 1
    assert_same_trace(clean, flaky)
    # copy=True gives the same run.
    copied, _ = vector_run(FailsOnce(user_answer, None), retry=False, decision_mode=decision_mode)
    assert_same_trace(clean, copied)


def recochat_run(model, *, retry: bool):
    env = gym.make("RecoChat-v0", user="ailo", llm=model, n_items=200, top_k=2).unwrapped
    obs, info = env.reset(seed=7)
    trace = [(obs, info["reply"])]
    raised = 0
    for text, items in [("Jazz?", []), ("These?", [1, 2]), ("Calm?", []), ("Punk?", [])]:
        action = env.make_action(text, items)
        try:
            out = env.step(action)
        except LLMError:
            assert retry
            raised += 1
            out = env.step(action)
        obs, reward, terminated, truncated, info = out
        trace.append(
            (obs, reward, terminated, truncated, info["reply"], info["turn"], info["failed_turns"])
        )
    return trace, raised, env


@pytest.mark.parametrize("fail_at", [0, 2])
def test_a_step_that_raises_leaves_recochat_as_it_was(fail_at):
    clean_model = FailsOnce(ailo_answer, None)
    clean, _, clean_env = recochat_run(clean_model, retry=False)
    flaky_model = FailsOnce(ailo_answer, fail_at)
    flaky, raised, flaky_env = recochat_run(flaky_model, retry=True)
    assert raised == 1
    assert_same_trace(clean, flaky)
    assert answered_seeds(flaky_model) == answered_seeds(clean_model)
    assert flaky_env.ailo_user.history == clean_env.ailo_user.history
    assert flaky_env.render_mode is None and flaky_env._transcript == clean_env._transcript
