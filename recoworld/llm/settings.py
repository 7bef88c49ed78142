"""One settings type for every language-model user in the library: envs, simulated users, agents.

Every component that talks to a model takes ``llm=`` as an :class:`LLMSettings`, or as the
shorthand it stands for (a model string, a :class:`~recoworld.llm.ChatModel`, or a dict of the
fields), and builds its model with :meth:`LLMSettings.build`, which goes through
:func:`~recoworld.llm.make_chat_model`: one place where caches, cost caps and API bases are
applied. Each component builds its *own* model, so the simulated user and the recommender agent
never share a usage meter or a cost cap unless the caller passes them the same
:class:`~recoworld.llm.ChatModel` on purpose.

>>> from recoworld.llm import ScriptedChatModel
>>> settings = LLMSettings.of({"model": "openai/gpt-4o-mini", "temperature": 0.2})
>>> settings.model, settings.temperature, settings.on_error_or("raise")
('openai/gpt-4o-mini', 0.2, 'raise')
>>> LLMSettings.of("local").model
'local'
>>> LLMSettings.of({"temprature": 0.2})
Traceback (most recent call last):
...
ValueError: llm has unknown keys ['temprature']; allowed: ['model', 'cache', 'cost_cap_usd', \
'temperature', 'max_tokens', 'on_error', 'api_base', 'token_cap', 'input_cost_per_token', \
'output_cost_per_token']
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recoworld.llm.base import ChatModel
from recoworld.llm.cache import ResponseCache
from recoworld.llm.factory import HF_PREFIX, hf_folder, make_chat_model
from recoworld.validation import ON_ERROR, check_choice, check_int, check_number

__all__ = ["LLMSettings", "LLMSpec"]


@dataclass(frozen=True)
class LLMSettings:
    """Which language model a component uses and how (validated on construction).

    ``temperature``, ``max_tokens`` and ``on_error`` of ``None`` mean the component's own
    documented default (a simulated user samples at 0.7, a recommender decodes greedily at 0.0,
    the LLM ranker falls back to its greedy ranking, ...): read them with :meth:`temperature_or`,
    :meth:`max_tokens_or` and :meth:`on_error_or`.
    """

    model: str | ChatModel = "local"
    """``"local"`` (the embedded SmolLM2-135M-Instruct), ``"hf:<folder>"`` (a Hugging Face
    model folder run with transformers, e.g. an ``llm-aligned`` checkpoint), a litellm model
    string (``"openai/gpt-4o-mini"``, ``"ollama/llama3.2"``...), or a ready ChatModel used as
    it is."""
    cache: bool | str | os.PathLike[str] | ResponseCache | None = None
    """Response cache: ``True`` (the default file), a path, a ResponseCache, or None."""
    cost_cap_usd: float | None = None
    """Stop with :class:`~recoworld.llm.CostCapExceeded` once this much was spent."""
    temperature: float | None = None
    """Sampling temperature in ``[0, 2]``, or None for the component's default."""
    max_tokens: int | None = None
    """Completion budget per call (>= 1), or None for the component's default."""
    on_error: str | None = None
    """``"raise"`` a failed call's error, ``"fallback"`` to the component's non-LLM path, or
    None for the component's default (read with :meth:`on_error_or`)."""
    api_base: str | None = None
    """Server URL for a litellm model string (e.g. ``recoworld llm serve``)."""
    token_cap: int | None = None
    """Stop with :class:`~recoworld.llm.TokenCapExceeded` (a ``CostCapExceeded``) once this many
    tokens (prompt + completion, every request) were used; works with or without a price."""
    input_cost_per_token: float | None = None
    """US dollars per prompt token of a litellm model string, instead of litellm's price list
    (with ``output_cost_per_token``). A ``cost_cap_usd`` on a model litellm cannot price needs
    these or a ``token_cap``: the cap could never trigger otherwise (``ValueError`` on build).
    A ChatModel of your own needs ``price_known = True`` (or a ``token_cap``) likewise."""
    output_cost_per_token: float | None = None
    """US dollars per completion token (with ``input_cost_per_token``)."""

    def __post_init__(self) -> None:
        model = self.model
        if isinstance(model, str):
            if not model:
                raise ValueError("llm.model='' is empty: use 'local' or a litellm model string")
            if model.startswith(HF_PREFIX):
                hf_folder(model)
        elif not isinstance(model, ChatModel):
            raise ValueError(
                f"llm.model={model!r} must be 'local', a litellm model string or a ChatModel"
            )
        if self.cache not in (None, True, False) and not isinstance(
            self.cache, str | os.PathLike | ResponseCache
        ):
            raise ValueError(
                f"llm.cache={self.cache!r} must be True, False, None, a path or a ResponseCache"
            )
        if self.cost_cap_usd is not None:
            check_number("llm.cost_cap_usd", self.cost_cap_usd, 0.0)
        if self.temperature is not None:
            check_number("llm.temperature", self.temperature, 0.0, 2.0)
        if self.max_tokens is not None:
            check_int("llm.max_tokens", self.max_tokens, 1)
        if self.on_error is not None:
            check_choice("llm.on_error", self.on_error, ON_ERROR)
        if self.api_base is not None and (not isinstance(self.api_base, str) or not self.api_base):
            raise ValueError(f"llm.api_base={self.api_base!r} must be a non-empty URL string")
        if self.token_cap is not None:
            check_int("llm.token_cap", self.token_cap, 0)
        for name in ("input_cost_per_token", "output_cost_per_token"):
            if getattr(self, name) is not None:
                check_number(f"llm.{name}", getattr(self, name), 0.0)
        if (self.input_cost_per_token is None) != (self.output_cost_per_token is None):
            raise ValueError(
                "llm.input_cost_per_token and llm.output_cost_per_token go together: give both "
                f"(got {self.input_cost_per_token!r} and {self.output_cost_per_token!r})"
            )
        if self.input_cost_per_token is not None and not (
            isinstance(model, str) and model != "local" and not model.startswith(HF_PREFIX)
        ):
            raise ValueError(
                "llm.input_cost_per_token/output_cost_per_token apply to a litellm model "
                f"string, not to llm.model={model!r} (a ChatModel reports its own cost; the "
                "embedded model is free)"
            )

    @classmethod
    def of(cls, value: LLMSpec | None, **defaults: Any) -> LLMSettings:
        """Settings from what a user passes as ``llm=``: settings (returned as they are), a
        model string or ChatModel (``model=`` of the defaults), a dict of fields, or ``None``
        (the defaults). ``defaults`` are field values used where ``value`` says nothing.

        Raises:
            ValueError: an unknown key, or a field value out of range (named).
        """
        if isinstance(value, LLMSettings):
            return value
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(defaults) - set(fields))
        if unknown:
            raise ValueError(f"llm defaults have unknown keys {unknown}; allowed: {fields}")
        if value is None:
            return cls(**defaults)
        if isinstance(value, str | ChatModel):
            return cls(**{**defaults, "model": value})
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(fields))
            if unknown:
                raise ValueError(f"llm has unknown keys {unknown}; allowed: {fields}")
            return cls(**{**defaults, **value})
        raise ValueError(
            f"llm={value!r} must be LLMSettings, 'local', a litellm model string, a ChatModel "
            "or a dict of LLMSettings fields"
        )

    def build(self) -> ChatModel:
        """A fresh chat model for these settings (its own cache wrapper and cost meter)."""
        return make_chat_model(
            self.model,
            cache=self.cache,
            cost_cap_usd=self.cost_cap_usd,
            api_base=self.api_base,
            token_cap=self.token_cap,
            input_cost_per_token=self.input_cost_per_token,
            output_cost_per_token=self.output_cost_per_token,
        )

    def temperature_or(self, default: float) -> float:
        """The temperature, or the component's ``default`` when unset."""
        return default if self.temperature is None else float(self.temperature)

    def on_error_or(self, default: str) -> str:
        """What to do on a failed call, or the component's ``default`` when unset."""
        return default if self.on_error is None else self.on_error

    def max_tokens_or(self, default: int) -> int:
        """The completion budget, or the component's ``default`` when unset."""
        return default if self.max_tokens is None else int(self.max_tokens)

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-safe data (a ChatModel or cache object becomes a short tag)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ChatModel):
                value = f"<{type(value).__name__} {getattr(value, 'model_name', '')}>".replace(
                    " >", ">"
                )
            elif isinstance(value, ResponseCache | os.PathLike):
                value = str(getattr(value, "path", value))
            out[f.name] = value
        return out


LLMSpec = LLMSettings | str | ChatModel | Mapping[str, Any]
"""What ``llm=`` accepts anywhere in the library."""
