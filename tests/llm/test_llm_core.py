"""The LLM layer with the scripted model: parsing, validation, re-asks, errors, cache, usage."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from recoworld.llm import (
    CachedChatModel,
    ChatModel,
    CostCapExceeded,
    LLMError,
    MalformedOutputError,
    MeteredChatModel,
    ProviderError,
    ResponseCache,
    ScriptedChatModel,
    Usage,
    UsageMeter,
    cache_key,
    default_cache_path,
    extract_json,
    validate,
)

ASK = [{"role": "user", "content": "Recommend one item for me"}]


class Pick(BaseModel):
    item_id: int = Field(ge=0)
    reason: str


PICK_SCHEMA = {
    "type": "object",
    "properties": {"item_id": {"type": "integer", "minimum": 0}, "reason": {"type": "string"}},
    "required": ["item_id", "reason"],
}


# --- parsing and validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"item_id": 4, "reason": "fresh"}',
        '  {"item_id": 4, "reason": "fresh"}\n',
        'Sure!\n```json\n{"item_id": 4, "reason": "fresh"}\n```\nEnjoy.',
        '```\n{"item_id": 4, "reason": "fresh"}\n```',
        'I would pick {"item_id": 4, "reason": "fresh"} for you.',
        'Options [a] and {b}; my answer: {"item_id": 4, "reason": "fresh"}',
    ],
)
def test_extract_json_accepts_plain_fenced_and_embedded(text):
    assert extract_json(text) == {"item_id": 4, "reason": "fresh"}


def test_extract_json_falls_back_to_an_array_and_refuses_prose():
    assert extract_json("ranked: [3, 1, 2]") == [3, 1, 2]
    with pytest.raises(ValueError, match="no JSON value"):
        extract_json("I like item four.")


def test_validate_with_pydantic_and_json_schema():
    assert validate({"item_id": 4, "reason": "x"}, Pick) == Pick(item_id=4, reason="x")
    assert validate({"item_id": 4, "reason": "x"}, PICK_SCHEMA) == {"item_id": 4, "reason": "x"}
    with pytest.raises(ValueError, match="item_id"):
        validate({"item_id": -1, "reason": "x"}, Pick)
    with pytest.raises(ValueError, match=r"at item_id: -1 is less than the minimum of 0"):
        validate({"item_id": -1, "reason": "x"}, PICK_SCHEMA)
    with pytest.raises(ValueError, match="'reason' is a required property"):
        validate({"item_id": 1}, PICK_SCHEMA)


@pytest.mark.parametrize("schema", [Pick, PICK_SCHEMA], ids=["pydantic", "json_schema"])
def test_complete_returns_the_validated_object(schema):
    model = ScriptedChatModel(['```json\n{"item_id": 4, "reason": "fresh"}\n```'])
    response = model.complete(ASK, schema=schema)
    expected = (
        Pick(item_id=4, reason="fresh") if schema is Pick else {"item_id": 4, "reason": "fresh"}
    )
    assert response.parsed == expected
    prompt = model.calls[0].messages[-1]["content"]
    assert prompt.startswith("Recommend one item for me")
    assert '"item_id"' in prompt  # the schema was shown to the model


def test_plain_completion_has_no_parsed_object_and_whitespace_token_counts():
    model = ScriptedChatModel(["try item seven"], cost_per_token_usd=0.5)
    response = model.complete(ASK, temperature=0.2, max_tokens=20, seed=1)
    assert response.text == "try item seven"
    assert response.parsed is None
    assert response.usage == Usage(calls=1, prompt_tokens=5, completion_tokens=3, cost_usd=4.0)
    assert model.calls[0].params.temperature == 0.2
    assert model.calls[0].params.seed == 1


def test_malformed_answer_is_reasked_with_the_error_then_succeeds():
    model = ScriptedChatModel(
        ["item four", '{"item_id": -4, "reason": "x"}', '{"item_id": 4, "reason": "x"}'],
        max_parse_retries=2,
    )
    response = model.complete(ASK, schema=Pick)
    assert response.parsed == Pick(item_id=4, reason="x")
    assert response.usage.calls == 3
    assert len(model.calls) == 3
    second, third = model.calls[1].messages, model.calls[2].messages
    assert second[-2] == {"role": "assistant", "content": "item four"}
    assert "no JSON value found" in second[-1]["content"]
    assert (
        "item_id" in third[-1]["content"] and "greater than or equal to 0" in third[-1]["content"]
    )


def test_malformed_answer_beyond_the_bound_raises_with_the_raw_text():
    model = ScriptedChatModel(["no idea", "still no idea"], max_parse_retries=1)
    with pytest.raises(MalformedOutputError) as caught:
        model.complete(ASK, schema=PICK_SCHEMA)
    error = caught.value
    assert isinstance(error, LLMError)
    assert error.raw_text == "still no idea"
    assert error.errors == ["no JSON value found in the answer"]
    assert error.attempts == 2
    assert error.usage.calls == 2
    assert "still no idea" in str(error) and "'scripted'" in str(error)


def test_zero_parse_retries_raise_on_the_first_bad_answer():
    model = ScriptedChatModel(
        ['{"item_id": "four"}', '{"item_id": 4, "reason": "x"}'], max_parse_retries=0
    )
    with pytest.raises(MalformedOutputError) as caught:
        model.complete(ASK, schema=Pick)
    assert caught.value.raw_text == '{"item_id": "four"}'
    assert len(model.calls) == 1


def test_scripted_model_is_a_chat_model_and_runs_async():
    model = ScriptedChatModel(lambda messages: f"echo {messages[-1]['content']}")
    assert isinstance(model, ChatModel)
    response = asyncio.run(model.acomplete([{"role": "user", "content": "hi"}]))
    assert response.text == "echo hi"


def test_scripted_model_raises_scripted_errors_and_reports_an_exhausted_script():
    model = ScriptedChatModel(["one", ProviderError("scripted", TimeoutError("slow"))])
    model.complete(ASK)
    with pytest.raises(ProviderError, match="TimeoutError: slow"):
        model.complete(ASK)
    with pytest.raises(LLMError, match="no answer for request 3"):
        model.complete(ASK)


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "must not be empty"),
        ("hello", "list of"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\]\['role'\]"),
        ([{"role": "user", "content": "x"}, {"role": "user", "content": 3}], r"messages\[1\]"),
    ],
)
def test_bad_messages_are_refused_with_the_position(messages, match):
    with pytest.raises(ValueError, match=match):
        ScriptedChatModel(["x"]).complete(messages)


# --- usage and the cost cap -----------------------------------------------------------------


def test_usage_adds_field_by_field():
    total = Usage(1, 10, 5, 0.25, 0.5, 0) + Usage(0, 0, 0, 0.0, 0.0, 1) + Usage(2, 1, 1, 0.5, 1.0)
    assert total == Usage(
        calls=3, prompt_tokens=11, completion_tokens=6, cost_usd=0.75, latency_s=1.5, cache_hits=1
    )
    assert set(total.as_dict()) == {
        "calls",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_s",
        "cache_hits",
        "failed_calls",
    }


def test_cost_cap_stops_the_run_with_a_clear_message():
    # Each call: 5 prompt + 1 completion tokens at $0.01 = $0.06.
    model = ScriptedChatModel(["ok"] * 5, cost_per_token_usd=0.01)
    meter = UsageMeter(cost_cap_usd=0.10)
    metered = MeteredChatModel(model, meter)
    metered.complete(ASK)
    metered.complete(ASK)  # crosses the cap; already paid for, so it is returned
    with pytest.raises(CostCapExceeded) as caught:
        metered.complete(ASK)
    message = str(caught.value)
    assert "cost cap of $0.1000 exceeded" in message
    assert "$0.1200 spent over 2 call(s)" in message
    assert caught.value.cap_usd == 0.10
    assert len(model.calls) == 2  # the refused call never reached the model
    assert meter.usage.calls == 2 and meter.exceeded


def test_meter_charges_failed_structured_calls():
    meter = UsageMeter()
    metered = MeteredChatModel(ScriptedChatModel(["bad", "worse"], max_parse_retries=1), meter)
    with pytest.raises(MalformedOutputError):
        metered.complete(ASK, schema=Pick)
    assert meter.usage.calls == 2


def test_meter_rejects_a_negative_cap():
    with pytest.raises(ValueError, match="cost_cap_usd"):
        UsageMeter(cost_cap_usd=-1.0)


# --- the response cache ---------------------------------------------------------------------


def test_cache_hit_replays_identically_and_counts_a_hit(tmp_path: Path):
    inner = ScriptedChatModel(
        ['{"item_id": 4, "reason": "x"}', "second answer"], cost_per_token_usd=0.01
    )
    meter = UsageMeter()
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = MeteredChatModel(CachedChatModel(inner, cache), meter)
        first = model.complete(ASK, schema=Pick, seed=7)
        again = model.complete(ASK, schema=Pick, seed=7)
        assert len(cache) == 1
    assert len(inner.calls) == 1
    assert not first.cached and again.cached
    assert again.text == first.text and again.parsed == first.parsed == Pick(item_id=4, reason="x")
    assert again.usage == Usage(cache_hits=1)
    assert meter.usage.calls == 1 and meter.usage.cache_hits == 1
    assert meter.usage.cost_usd == first.usage.cost_usd


def test_cache_key_depends_on_messages_and_parameters(tmp_path: Path):
    inner = ScriptedChatModel(["a", "b", "c", "d"])
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = CachedChatModel(inner, cache)
        texts = [
            model.complete(ASK, seed=1).text,
            model.complete(ASK, seed=2).text,
            model.complete(ASK, seed=1, temperature=0.5).text,
            model.complete([{"role": "user", "content": "other"}], seed=1).text,
            model.complete(ASK, seed=1).text,
        ]
    assert texts == ["a", "b", "c", "d", "a"]


def test_cache_survives_reopening_the_file(tmp_path: Path):
    path = tmp_path / "nested" / "llm_cache.sqlite"
    with ResponseCache(path) as cache:
        first = CachedChatModel(ScriptedChatModel(["jazz tonight"]), cache).complete(ASK)
    with ResponseCache(path) as cache:
        replay = CachedChatModel(ScriptedChatModel([]), cache).complete(ASK)
    assert replay.text == first.text == "jazz tonight"
    assert replay.cached


def test_malformed_answers_are_not_cached(tmp_path: Path):
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = CachedChatModel(ScriptedChatModel(["bad"], max_parse_retries=0), cache)
        with pytest.raises(MalformedOutputError):
            model.complete(ASK, schema=Pick)
        assert len(cache) == 0


def test_async_cache_path(tmp_path: Path):
    inner = ScriptedChatModel(["once"])
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        model = CachedChatModel(inner, cache)
        first = asyncio.run(model.acomplete(ASK))
        second = asyncio.run(model.acomplete(ASK))
    assert first.text == second.text == "once" and second.cached


def test_cache_keys_and_file_exclude_credentials(tmp_path: Path):
    secret = "sk-never-store-me-1234567"
    assert cache_key("m", ASK, {"api_key": secret, "top_p": 0.9}) == cache_key(
        "m", ASK, {"top_p": 0.9}
    )
    assert cache_key("m", ASK, {"top_p": 0.9}) != cache_key("m", ASK, {"top_p": 0.8})
    inner = ScriptedChatModel(["fine"])
    inner.cache_params = {"api_key": secret, "Authorization": secret, "nested": {"tokens": 3}}
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        CachedChatModel(inner, cache).complete(ASK)
    assert secret.encode() not in path.read_bytes()
    with sqlite3.connect(path) as connection:
        (request,) = connection.execute("SELECT request FROM responses").fetchone()
    # Credentials are top-level request parameters named exactly; nested keys are content.
    assert "api_key" not in request and "Authorization" not in request
    assert json.loads(request)["params"]["nested"] == {"tokens": 3}


def test_default_cache_path_follows_xdg(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "recoworld" / "llm_cache.sqlite"


# --- errors cross process boundaries (review of issue 9) ------------------------------------


def _errors_to_pickle():
    from pathlib import Path

    from recoworld.llm import BadResponseError, CacheFileError, TokenCapExceeded
    from recoworld.llm.base import ProviderFailure
    from recoworld.llm.local import LocalModelUnavailable

    spent = Usage(calls=3, prompt_tokens=10, completion_tokens=5, cost_usd=0.25, failed_calls=2)
    return [
        ProviderError(
            "openai/x", ConnectionError("reset by peer"), attempts=3, usage=spent, hint="retry"
        ),
        BadResponseError("openai/x", '{"choices": []}', "the answer has no choices", usage=spent),
        MalformedOutputError(
            "not json", ["no JSON value found"], model="m", attempts=2, usage=spent
        ),
        CostCapExceeded(1.0, 1.5, 7),
        TokenCapExceeded(100, 150, 4, cap_usd=2.0, spent_usd=0.5),
        CacheFileError(Path("/tmp/c.sqlite"), "is locked", "retry"),
        ProviderFailure("Timeout", "took too long", 504),
        LocalModelUnavailable("install it"),
        LLMError("plain"),
    ]


@pytest.mark.parametrize("error", _errors_to_pickle(), ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_message_and_fields(error: BaseException) -> None:
    """Review of issue 9: ``pickle.loads(pickle.dumps(e))`` raised TypeError (the errors' own
    ``__init__`` does not take the message), so an error from a worker process was lost."""
    import copy
    import pickle

    for copied in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(copied) is type(error)
        assert str(copied) == str(error) and copied.args == error.args
        assert vars(copied).keys() == vars(error).keys()
        for name, value in vars(error).items():
            if isinstance(value, BaseException):
                assert type(getattr(copied, name)) is type(value)
                assert str(getattr(copied, name)) == str(value)
            else:
                assert getattr(copied, name) == value, name
    if isinstance(error, LLMError):
        assert pickle.loads(pickle.dumps(error)).usage == error.usage


def test_a_provider_error_keeps_its_status_after_pickling() -> None:
    import pickle

    from recoworld.llm.base import ProviderFailure

    error = ProviderError("m", ProviderFailure("RateLimitError", "slow down", 429), attempts=2)
    copied = pickle.loads(pickle.dumps(error))
    assert copied.status_code == 429 and copied.attempts == 2 and copied.model == "m"
    assert copied.usage == Usage(calls=2, failed_calls=2)
