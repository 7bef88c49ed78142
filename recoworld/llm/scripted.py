"""A deterministic chat model for tests: answers come from a script, not from a language model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from recoworld.llm.base import (
    BaseChatModel,
    GenerationParams,
    LLMError,
    Message,
    Schema,
    Usage,
)


@dataclass(frozen=True)
class ScriptedCall:
    """One request the scripted model received (after the schema instruction was added)."""

    messages: list[Message]
    params: GenerationParams


def count_tokens(text: str) -> int:
    """Whitespace-separated words: a stand-in tokenizer that is the same on every machine."""
    return len(text.split())


class ScriptedChatModel(BaseChatModel):
    """Answers from a fixed list, or from a function of the messages.

    Each raw request (re-asks included) consumes one scripted answer. An entry that is an
    exception instance is raised instead of answered, to exercise error handling. Token counts are
    whitespace word counts, latency is 0 and cost is ``cost_per_token_usd`` per token, so every
    number is reproducible. Every request is recorded in ``calls``.

    Args:
        responses: The answers in order, or ``fn(messages) -> str``.
        model_name: The name used in cache keys and error messages.
        cost_per_token_usd: Price of one (prompt or completion) token, to test cost caps.
        max_parse_retries: Re-asks allowed after a malformed structured answer.

    >>> model = ScriptedChatModel(['{"item": 7}'])
    >>> model.complete([{"role": "user", "content": "pick"}], schema={"type": "object"}).parsed
    {'item': 7}
    """

    price_known = True
    """Its price is ``cost_per_token_usd`` (0 unless given)."""

    def __init__(
        self,
        responses: Sequence[str | BaseException] | Callable[[list[Message]], str],
        *,
        model_name: str = "scripted",
        cost_per_token_usd: float = 0.0,
        max_parse_retries: int = 2,
    ) -> None:
        if max_parse_retries < 0:
            raise ValueError(f"max_parse_retries must be >= 0, got {max_parse_retries}")
        if cost_per_token_usd < 0:
            raise ValueError(f"cost_per_token_usd must be >= 0, got {cost_per_token_usd}")
        if not callable(responses):
            for index, entry in enumerate(responses):
                if not isinstance(entry, str | BaseException):
                    raise ValueError(
                        f"responses[{index}] must be a str or an exception, "
                        f"got {type(entry).__name__}"
                    )
            responses = list(responses)
        self._responses = responses
        self.model_name = model_name
        self.cost_per_token_usd = cost_per_token_usd
        self.max_parse_retries = max_parse_retries
        self.calls: list[ScriptedCall] = []

    def _generate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        index = len(self.calls)
        self.calls.append(ScriptedCall([dict(m) for m in messages], params))  # type: ignore[misc]
        if callable(self._responses):
            answer: str | BaseException = self._responses(messages)
        elif index < len(self._responses):
            answer = self._responses[index]
        else:
            raise LLMError(
                f"scripted model {self.model_name!r} has no answer for request {index + 1} "
                f"(the script has {len(self._responses)})"
            )
        if isinstance(answer, BaseException):
            raise answer
        if not isinstance(answer, str):
            raise LLMError(f"scripted function returned {type(answer).__name__}, not str")
        prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
        completion_tokens = count_tokens(answer)
        usage = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=(prompt_tokens + completion_tokens) * self.cost_per_token_usd,
        )
        return answer, usage
