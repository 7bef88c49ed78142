"""The litellm backend end to end against a scripted OpenAI-compatible server on loopback
(``tests/fake_provider.py``): bounded retries, every request counted, typed errors for answers
that are not chat completions, a missing key that fails at once, and no API key in any error
text, chained exception or printed traceback (issue 9, items 6, 7, 17 and the provider probe)."""

from __future__ import annotations

import asyncio
import json
import traceback

import gymnasium as gym
import pytest
from fake_provider import FAKE_API_KEY, FakeProvider, Reply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recoworld  # noqa: F401  (registers the envs)
from recoworld.llm import (
    BadResponseError,
    CachedChatModel,
    LiteLLMChatModel,
    LLMError,
    MeteredChatModel,
    ProviderError,
    ResponseCache,
    UsageMeter,
)

ASK = [{"role": "user", "content": "Recommend one song."}]


def make_model(provider: FakeProvider, **kwargs: object) -> LiteLLMChatModel:
    options: dict = {"timeout": 5.0, "max_retries": 2, "backoff_s": 0.001, "max_backoff_s": 0.002}
    return LiteLLMChatModel("openai/fake", api_base=provider.url, **{**options, **kwargs})


def call(model: LiteLLMChatModel, mode: str, **kwargs: object):
    if mode == "async":
        return asyncio.run(model.acomplete(ASK, **kwargs))  # type: ignore[arg-type]
    return model.complete(ASK, **kwargs)  # type: ignore[arg-type]


def error_texts(error: BaseException) -> list[str]:
    """Everything a user could see of an error: message, repr, cause, chain, traceback."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for name in ("cause", "__cause__", "__context__", "raw_body", "hint"):
        texts.append(repr(getattr(error, name, None)))
        texts.append(str(getattr(error, name, None)))
    return texts


# --- answers that are not chat completions (item 6) ---------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_empty_choices_is_a_typed_error_with_the_body(fake_provider, mode):
    fake_provider.script = [Reply.empty_choices()]
    with pytest.raises(BadResponseError) as caught:
        call(make_model(fake_provider), mode)
    error = caught.value
    assert isinstance(error, ProviderError) and isinstance(error, LLMError)
    assert error.model == "openai/fake" and "'openai/fake'" in str(error)
    assert json.loads(error.raw_body)["choices"] == []
    assert "no choices" in str(error)
    assert len(fake_provider.requests) == 1  # not retried
    assert (error.usage.calls, error.usage.failed_calls) == (1, 1)
    assert error.usage.prompt_tokens == 11  # the provider reported usage: it is kept


BODIES = {
    "garbage": Reply.garbage(b"<html>502 Bad Gateway</html>"),
    "binary": Reply.garbage(b"\x00\xff\xfe not text"),
    "truncated": Reply.truncated(),
    "empty": Reply.garbage(b""),
    "not json": Reply.garbage("upstream connect error or disconnect/reset before headers"),
}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", sorted(BODIES))
def test_unparsable_body_is_a_typed_error_with_the_raw_body(fake_provider, mode, kind):
    reply = BODIES[kind]
    fake_provider.script = [reply]
    with pytest.raises(BadResponseError) as caught:
        call(make_model(fake_provider, max_retries=3), mode)
    error = caught.value
    if kind == "binary":  # the client guessed an encoding for it: the decoded text is kept
        assert error.raw_body and "raw body" in str(error)
    else:
        sent = reply.body if isinstance(reply.body, str) else reply.body.decode()
        assert error.raw_body == sent  # in full on the attribute
        assert sent[:20] in str(error)  # its start in the message
    assert "'openai/fake'" in str(error)
    assert len(fake_provider.requests) == 1
    assert (error.usage.calls, error.usage.failed_calls) == (1, 1)


def test_a_bad_body_after_retries_counts_every_request(fake_provider):
    fake_provider.script = [Reply.error(503, retry_after="0"), Reply.truncated()]
    with pytest.raises(BadResponseError) as caught:
        make_model(fake_provider).complete(ASK)
    assert caught.value.attempts == 2
    assert (caught.value.usage.calls, caught.value.usage.failed_calls) == (2, 2)


def test_a_bad_answer_is_charged_by_the_meter(fake_provider):
    fake_provider.script = [Reply.empty_choices()]
    meter = UsageMeter()
    with pytest.raises(BadResponseError):
        MeteredChatModel(make_model(fake_provider), meter).complete(ASK)
    assert (meter.usage.calls, meter.usage.failed_calls) == (1, 1)


# --- the API key never leaks (item 7) -------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_echoed_key_is_not_in_the_error_its_chain_or_traceback(fake_provider, mode):
    fake_provider.script = [Reply.unauthorized_echo()]
    with pytest.raises(ProviderError) as caught:
        call(make_model(fake_provider), mode)
    error = caught.value
    assert fake_provider.headers[0]["authorization"] == f"Bearer {FAKE_API_KEY}"  # echoed back
    assert error.__cause__ is None and error.__context__ is None
    for text in error_texts(error):
        assert FAKE_API_KEY not in text
    assert error.status_code == 401 and "AuthenticationError" in str(error)
    assert "OPENAI_API_KEY" in str(error)  # says which variable holds the refused key
    assert len(fake_provider.requests) == 1  # a refused key is not retried


def test_no_key_through_the_wrappers_either(fake_provider, tmp_path):
    fake_provider.script = [Reply.unauthorized_echo()]
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = MeteredChatModel(CachedChatModel(make_model(fake_provider), cache), UsageMeter())
        with pytest.raises(ProviderError) as caught:
            model.complete(ASK)
    for text in error_texts(caught.value):
        assert FAKE_API_KEY not in text


def test_provider_error_keeps_a_redacted_description_of_the_cause(fake_provider):
    fake_provider.default = Reply.error(500, retry_after="0")
    with pytest.raises(ProviderError) as caught:
        make_model(fake_provider, max_retries=1).complete(ASK)
    cause = caught.value.cause
    assert cause.type_name == "InternalServerError" and cause.status_code == 500
    assert "fake provider error 500" in cause.message


# --- a missing key (item 17) ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_missing_key_fails_at_once_naming_the_variable(fake_provider, monkeypatch, mode):
    monkeypatch.delenv("OPENAI_API_KEY")
    model = make_model(fake_provider, max_retries=3, backoff_s=5.0, max_backoff_s=5.0)
    with pytest.raises(ProviderError) as caught:
        call(model, mode)
    message = str(caught.value)
    assert caught.value.attempts == 1  # not retried (a retry would wait up to 5 s)
    assert "OPENAI_API_KEY" in message and "No API key is set" in message
    assert fake_provider.requests == []  # the client refused before sending


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_missing_key_counts_no_call(fake_provider, monkeypatch, mode):
    """Review of issue 9: a request the client refused to send for want of a key counted as
    one call and one failed call; nothing was sent, so nothing is counted (nor charged)."""
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ProviderError) as caught:
        call(make_model(fake_provider, max_retries=3), mode)
    usage = caught.value.usage
    assert (usage.calls, usage.failed_calls, usage.cost_usd) == (0, 0, 0.0)
    assert fake_provider.requests == []
    meter = UsageMeter()
    metered = MeteredChatModel(make_model(fake_provider), meter)
    with pytest.raises(ProviderError):
        call(metered, mode)
    assert (meter.usage.calls, meter.usage.failed_calls) == (0, 0)


# --- retries are bounded and every request is counted ---------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_server_down_for_good_counts_every_attempt(fake_provider, mode):
    fake_provider.default = Reply.error(500)
    with pytest.raises(ProviderError) as caught:
        call(make_model(fake_provider, max_retries=3), mode)
    usage = caught.value.usage
    assert caught.value.attempts == 4 == len(fake_provider.requests)
    assert usage.calls == usage.failed_calls == 4
    for text in error_texts(caught.value):
        assert FAKE_API_KEY not in text


def test_retry_after_then_an_answer_counts_the_throttled_request(fake_provider):
    fake_provider.script = [Reply.error(429, retry_after="0.01"), Reply.answer("ok", **{})]
    response = make_model(fake_provider).complete(ASK)
    assert response.text == "ok"
    assert (response.usage.calls, response.usage.failed_calls) == (2, 1)
    assert response.usage.prompt_tokens == 11 and response.usage.completion_tokens == 4


def test_slow_answers_time_out_within_the_bound(fake_provider):
    fake_provider.default = Reply.slow(0.6)
    with pytest.raises(ProviderError, match="Timeout") as caught:
        make_model(fake_provider, timeout=0.1, max_retries=1).complete(ASK)
    assert caught.value.usage.calls == caught.value.usage.failed_calls == 2


REPLIES = st.sampled_from(
    [
        Reply.answer("fine"),
        Reply.error(500, retry_after="0"),
        Reply.error(503),
        Reply.error(429, retry_after="0"),
        Reply.error(400),
        Reply.unauthorized_echo(),
        Reply.empty_choices(),
        Reply.truncated(),
        Reply.garbage(),
    ]
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(REPLIES, min_size=1, max_size=4), max_retries=st.integers(0, 3))
def test_probe_any_script_is_counted_bounded_and_never_leaks(fake_provider, script, max_retries):
    """Whatever the server answers: at most max_retries + 1 requests, each counted in the usage
    (failed ones in failed_calls too), an answer or an LLMError, and never the key in a text."""
    fake_provider.requests.clear()
    fake_provider.script = list(script)
    fake_provider.default = Reply.answer("fine")
    model = make_model(fake_provider, max_retries=max_retries)
    try:
        response = model.complete(ASK)
    except LLMError as error:
        sent = len(fake_provider.requests)
        assert error.usage.calls == error.usage.failed_calls == sent
        for text in error_texts(error):
            assert FAKE_API_KEY not in text
    else:
        sent = len(fake_provider.requests)
        assert response.text == "fine"
        assert response.usage.calls == sent and response.usage.failed_calls == sent - 1
    assert 1 <= sent <= max_retries + 1


# --- through an environment -----------------------------------------------------------------


@pytest.mark.parametrize("reply", [Reply.error(500, retry_after="0"), Reply.empty_choices()])
def test_env_with_fallback_counts_failed_calls_of_a_broken_server(fake_provider, reply):
    fake_provider.default = reply
    env = gym.make(
        "RecoWorld-v0",
        user_model="llm",
        decision_mode="llm",
        llm={"model": "openai/fake", "api_base": fake_provider.url, "on_error": "fallback"},
        n_items=60,
        num_candidates=20,
        slate_size=5,
    )
    try:
        env.reset(seed=0)
        *_, info = env.step(env.action_space.sample())
    finally:
        env.close()
    usage = info["usage"]
    assert usage["calls"] > 0
    assert usage["calls"] == usage["failed_calls"] == len(fake_provider.requests)
