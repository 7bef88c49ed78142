"""Every request sent is counted: failed ones too, in ``calls`` and in ``failed_calls``."""

from __future__ import annotations

import pytest

from recoworld.llm import (
    LLMError,
    MalformedOutputError,
    MeteredChatModel,
    ProviderError,
    ScriptedChatModel,
    Usage,
    UsageMeter,
)

MESSAGES = [{"role": "user", "content": "pick one"}]
SCHEMA = {"type": "object", "properties": {"item": {"type": "integer"}}, "required": ["item"]}


def test_rejected_answers_count_as_failed_requests() -> None:
    model = ScriptedChatModel(["no json here", '{"item": 3}'], cost_per_token_usd=0.001)
    response = model.complete(MESSAGES, schema=SCHEMA)
    assert response.parsed == {"item": 3}
    assert response.usage.calls == len(model.calls) == 2
    assert response.usage.failed_calls == 1


def test_malformed_error_carries_every_request() -> None:
    model = ScriptedChatModel(lambda messages: "not json", cost_per_token_usd=0.001)
    meter = UsageMeter()
    with pytest.raises(MalformedOutputError) as caught:
        MeteredChatModel(model, meter).complete(MESSAGES, schema=SCHEMA)
    assert caught.value.usage.calls == len(model.calls) == 3
    assert caught.value.usage.failed_calls == 3
    assert caught.value.usage.cost_usd > 0
    assert meter.usage == caught.value.usage


def test_provider_error_after_a_reask_keeps_the_reask() -> None:
    failure = ProviderError("scripted", ConnectionError("down"), attempts=1)
    model = ScriptedChatModel(["not json", failure], cost_per_token_usd=0.001)
    meter = UsageMeter()
    with pytest.raises(ProviderError) as caught:
        MeteredChatModel(model, meter).complete(MESSAGES, schema=SCHEMA)
    # the rejected answer and the failed request were both sent
    assert caught.value.usage.calls == 2
    assert caught.value.usage.failed_calls == 2
    assert caught.value.usage.cost_usd > 0  # the first, answered request was paid for
    assert meter.usage == caught.value.usage


def test_usage_adds_and_subtracts_failed_calls() -> None:
    total = Usage(calls=3, failed_calls=2) + Usage(calls=1, failed_calls=1)
    assert (total.calls, total.failed_calls) == (4, 3)
    assert (total - Usage(calls=1, failed_calls=1)).failed_calls == 2
    assert total.as_dict()["failed_calls"] == 3
    assert isinstance(LLMError("x").usage, Usage)
