"""Usage accounting and the cost cap that stops a run cleanly."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from recoworld.llm.base import (
    ChatModel,
    ChatResponse,
    CostCapExceeded,
    MalformedOutputError,
    Message,
    Schema,
    Usage,
)


class UsageMeter:
    """Accumulates :class:`Usage` over a run and enforces an optional cost cap (thread-safe).

    Args:
        cost_cap_usd: Spend, in US dollars, beyond which :meth:`check` raises
            :class:`CostCapExceeded`. ``None`` means no cap.

    >>> meter = UsageMeter(cost_cap_usd=0.01)
    >>> meter.record(Usage(calls=1, cost_usd=0.02))
    >>> meter.check()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recoworld.llm.base.CostCapExceeded: LLM cost cap of $0.0100 exceeded: $0.0200 spent over 1 ...
    """

    def __init__(self, cost_cap_usd: float | None = None) -> None:
        if cost_cap_usd is not None and not cost_cap_usd >= 0:
            raise ValueError(f"cost_cap_usd must be >= 0 or None, got {cost_cap_usd}")
        self.cost_cap_usd = cost_cap_usd
        self._total = Usage()
        self._lock = threading.Lock()

    @property
    def usage(self) -> Usage:
        """Everything recorded so far."""
        return self._total

    def as_dict(self) -> dict[str, int | float]:
        return self._total.as_dict()

    @property
    def exceeded(self) -> bool:
        return self.cost_cap_usd is not None and self._total.cost_usd > self.cost_cap_usd

    def record(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage

    def check(self) -> None:
        """Raise :class:`CostCapExceeded` if the spend is over the cap."""
        total = self._total
        if self.cost_cap_usd is not None and total.cost_usd > self.cost_cap_usd:
            raise CostCapExceeded(self.cost_cap_usd, total.cost_usd, total.calls)


class MeteredChatModel:
    """Wraps a chat model: records every call's usage in a meter, and refuses new calls once the
    meter's cap is exceeded.

    The call that crosses the cap completes and is returned, since its money is already spent;
    the next one raises :class:`CostCapExceeded` before contacting the provider. Concurrent async
    calls check the cap when they start, so a run may overshoot by at most the calls in flight.
    Calls that end in :class:`MalformedOutputError` are charged too.
    """

    def __init__(self, model: ChatModel, meter: UsageMeter) -> None:
        self.model = model
        self.meter = meter
        self.model_name = model.model_name

    @property
    def cache_params(self) -> dict[str, object]:
        return dict(getattr(self.model, "cache_params", {}))

    def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse:
        self.meter.check()
        try:
            response = self.model.complete(
                messages, schema=schema, temperature=temperature, max_tokens=max_tokens, seed=seed
            )
        except MalformedOutputError as error:
            self.meter.record(error.usage)
            raise
        self.meter.record(response.usage)
        return response

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse:
        self.meter.check()
        try:
            response = await self.model.acomplete(
                messages, schema=schema, temperature=temperature, max_tokens=max_tokens, seed=seed
            )
        except MalformedOutputError as error:
            self.meter.record(error.usage)
            raise
        self.meter.record(response.usage)
        return response
