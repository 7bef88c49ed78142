"""Usage accounting and the cost cap that stops a run cleanly."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from recoworld.llm.base import (
    ChatModel,
    ChatResponse,
    CostCapExceeded,
    LLMError,
    Message,
    Schema,
    TokenCapExceeded,
    Usage,
)
from recoworld.validation import check_int, check_number


class UsageMeter:
    """Accumulates :class:`Usage` over a run and enforces an optional cost cap and token cap
    (thread-safe).

    Args:
        cost_cap_usd: Spend, in US dollars, beyond which :meth:`check` raises
            :class:`CostCapExceeded`. ``None`` means no cap. The spend is what the backend
            reports: a model whose price is unknown reports $0, so pair such a model with
            prices (``input_cost_per_token``/``output_cost_per_token``) or a ``token_cap``.
        token_cap: Tokens (prompt + completion, every request) beyond which :meth:`check`
            raises :class:`TokenCapExceeded` (a :class:`CostCapExceeded`). ``None`` means no
            cap. Works whether or not a price is known.

    >>> meter = UsageMeter(cost_cap_usd=0.01)
    >>> meter.record(Usage(calls=1, cost_usd=0.02))
    >>> meter.check()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recoworld.llm.base.CostCapExceeded: LLM cost cap of $0.0100 exceeded: $0.0200 spent over 1 ...
    """

    def __init__(self, cost_cap_usd: float | None = None, token_cap: int | None = None) -> None:
        if cost_cap_usd is not None:
            cost_cap_usd = check_number("cost_cap_usd", cost_cap_usd, 0.0)
        if token_cap is not None:
            token_cap = check_int("token_cap", token_cap, 0)
        self.cost_cap_usd = cost_cap_usd
        self.token_cap = token_cap
        self._total = Usage()
        self._lock = threading.Lock()

    @property
    def usage(self) -> Usage:
        """Everything recorded so far."""
        return self._total

    def as_dict(self) -> dict[str, int | float]:
        return self._total.as_dict()

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens recorded so far."""
        return self._total.prompt_tokens + self._total.completion_tokens

    @property
    def exceeded(self) -> bool:
        """Whether a cap is spent (the next :meth:`check` raises)."""
        over_cost = self.cost_cap_usd is not None and self._total.cost_usd > self.cost_cap_usd
        over_tokens = self.token_cap is not None and self.tokens > self.token_cap
        return over_cost or over_tokens

    def record(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage

    def check(self) -> None:
        """Raise :class:`CostCapExceeded` if the spend is over the cost cap, or
        :class:`TokenCapExceeded` if the tokens used are over the token cap."""
        total = self._total
        if self.cost_cap_usd is not None and total.cost_usd > self.cost_cap_usd:
            raise CostCapExceeded(self.cost_cap_usd, total.cost_usd, total.calls)
        tokens = total.prompt_tokens + total.completion_tokens
        if self.token_cap is not None and tokens > self.token_cap:
            raise TokenCapExceeded(
                self.token_cap,
                tokens,
                total.calls,
                cap_usd=self.cost_cap_usd,
                spent_usd=total.cost_usd,
            )


def price_known(model: object) -> bool | None:
    """Whether ``model`` prices its calls: ``True`` or ``False`` as the model (or the model a
    wrapper such as :class:`CachedChatModel` wraps, via ``.model``) says with its
    ``price_known`` attribute, ``None`` when it does not say (a user's own ChatModel)."""
    seen: set[int] = set()
    current: object = model
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        known = getattr(current, "price_known", None)
        if isinstance(known, bool):
            return known
        current = getattr(current, "model", None)
    return None


class MeteredChatModel:
    """Wraps a chat model: records every call's usage in a meter, and refuses new calls once the
    meter's cap is exceeded.

    The call that crosses the cap completes and is returned, since its money is already spent;
    the next one raises :class:`CostCapExceeded` before contacting the provider. Concurrent async
    calls check the cap when they start, so a run may overshoot by at most the calls in flight.
    Calls that end in an error (:class:`MalformedOutputError`, :class:`ProviderError`...) are
    charged too, with what the error's ``usage`` says they cost.

    ``price_known`` is the wrapped model's, so wrappers of wrappers still say it.

    Raises:
        ValueError: the meter has a cost cap but no token cap, and the model does not say
            that it prices its calls, so the cap might never trigger: its ``price_known`` is
            false (a litellm model without a known price and without
            ``input_cost_per_token``/``output_cost_per_token``) or missing (a user's own
            ChatModel: set ``price_known = True`` on it if its usage reports real costs).
            The models of this library say it: the embedded local model is free (its price is
            known: 0), so a cost cap on it is allowed but never stops a run; a token cap does.
    """

    def __init__(self, model: ChatModel, meter: UsageMeter) -> None:
        known = price_known(model)
        if meter.cost_cap_usd is not None and meter.token_cap is None and known is not True:
            if known is False:
                raise ValueError(
                    f"cost_cap_usd={meter.cost_cap_usd} cannot be enforced for model "
                    f"{model.model_name!r}: litellm has no price for it, so its calls would "
                    "count as $0 and the cap would never stop the run. Give its prices "
                    "(input_cost_per_token= and output_cost_per_token=, US dollars per token, "
                    "in llm={...} / LLMSettings or LiteLLMChatModel), or a token cap (token_cap=)"
                )
            raise ValueError(
                f"cost_cap_usd={meter.cost_cap_usd} cannot be enforced for model "
                f"{getattr(model, 'model_name', '?')!r} ({type(model).__name__}): the model "
                "does not say whether the usage it reports carries real costs (it has no "
                "price_known attribute), so its calls might count as $0 and the cap never stop "
                f"the run. Set price_known = True on {type(model).__name__} if its usage "
                "reports real costs (cost_usd), or give a token cap (token_cap=)"
            )
        self.model = model
        self.meter = meter
        self.model_name = model.model_name

    @property
    def cache_params(self) -> dict[str, object]:
        return dict(getattr(self.model, "cache_params", {}))

    @property
    def price_known(self) -> bool | None:
        """Whether the wrapped model prices its calls (``None``: it does not say)."""
        return price_known(self.model)

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
        except LLMError as error:
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
        except LLMError as error:
            self.meter.record(error.usage)
            raise
        self.meter.record(response.usage)
        return response
