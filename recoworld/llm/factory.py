"""Build a chat model from what a user writes: ``"local"``, a litellm model string, or a model."""

from __future__ import annotations

import os
from pathlib import Path

from recoworld.llm.base import ChatModel
from recoworld.llm.cache import CachedChatModel, ResponseCache
from recoworld.llm.usage import MeteredChatModel, UsageMeter

LOCAL = "local"
"""The spec of the embedded offline default (SmolLM2-135M-Instruct in process)."""
HF_PREFIX = "hf:"
"""The prefix of a spec naming a Hugging Face model folder run with transformers."""


def hf_folder(spec: str) -> str:
    """The folder of an ``"hf:<folder>"`` spec, or ``ValueError`` when it names none."""
    folder = spec[len(HF_PREFIX) :].strip()
    if not folder:
        raise ValueError(f"llm={spec!r} names no folder: write 'hf:/path/to/model-folder'")
    return folder


def make_chat_model(
    spec: str | ChatModel,
    *,
    cache: bool | str | os.PathLike[str] | ResponseCache | None = None,
    cost_cap_usd: float | None = None,
    api_base: str | None = None,
    token_cap: int | None = None,
    input_cost_per_token: float | None = None,
    output_cost_per_token: float | None = None,
) -> ChatModel:
    """The chat model named by ``spec``, optionally cached and metered.

    Args:
        spec: ``"local"`` for the embedded model (:class:`~recoworld.llm.LocalChatModel`),
            ``"hf:<folder>"`` for a Hugging Face model folder run with transformers (the align
            extra; e.g. an ``llm-aligned`` checkpoint,
            :class:`~recoworld.llm.transformers_backend.TransformersChatModel`), any other
            string for a litellm model string (``"openai/gpt-4o-mini"``,
            ``"ollama/llama3.2"``, ``"openai/local"`` with ``api_base`` for ``recoworld llm
            serve``...), or a ready :class:`~recoworld.llm.ChatModel`, used as it is.
        cache: ``True`` for the persistent response cache at its default place (under the
            user's cache folder), a path for a cache file there, a :class:`ResponseCache`, or
            ``None``/``False`` for none. With a cache an LLM-backed run replays exactly.
        cost_cap_usd: Wrap the model in a :class:`~recoworld.llm.MeteredChatModel` whose meter
            raises :class:`~recoworld.llm.CostCapExceeded` once this much was spent. For a
            litellm model that litellm cannot price, give its prices or a ``token_cap`` too;
            for a ChatModel of your own, set ``price_known = True`` on it (its usage reports
            real costs) or give a ``token_cap`` (else ``ValueError``: the cap might never
            trigger).
        api_base: Server URL for a litellm model string (ignored otherwise).
        token_cap: Also meter the model, and stop with
            :class:`~recoworld.llm.TokenCapExceeded` once this many tokens (prompt +
            completion) were used.
        input_cost_per_token: US dollars per prompt token, for a litellm model string (with
            ``output_cost_per_token``): the price used instead of litellm's price list.
        output_cost_per_token: US dollars per completion token (with ``input_cost_per_token``).

    >>> from recoworld.llm import ScriptedChatModel
    >>> model = make_chat_model(ScriptedChatModel(["hi"]), cost_cap_usd=1.0)
    >>> type(model).__name__, model.complete([{"role": "user", "content": "?"}]).text
    ('MeteredChatModel', 'hi')
    """
    if isinstance(spec, str):
        if not spec:
            raise ValueError("llm='' is empty: use 'local' or a litellm model string")
        if spec == LOCAL:
            from recoworld.llm.local import LocalChatModel

            _no_prices(spec, input_cost_per_token, output_cost_per_token)
            model: ChatModel = LocalChatModel()
        elif spec.startswith(HF_PREFIX):
            from recoworld.llm.transformers_backend import TransformersChatModel

            _no_prices(spec, input_cost_per_token, output_cost_per_token)
            model = TransformersChatModel(hf_folder(spec))
        else:
            from recoworld.llm.litellm_backend import LiteLLMChatModel

            model = LiteLLMChatModel(
                spec,
                api_base=api_base,
                input_cost_per_token=input_cost_per_token,
                output_cost_per_token=output_cost_per_token,
            )
    elif isinstance(spec, ChatModel):
        _no_prices(spec, input_cost_per_token, output_cost_per_token)
        model = spec
    else:
        raise ValueError(f"llm={spec!r} must be 'local', a litellm model string or a ChatModel")
    if cache is True:
        model = CachedChatModel(model, ResponseCache())
    elif isinstance(cache, ResponseCache):
        model = CachedChatModel(model, cache)
    elif isinstance(cache, str | os.PathLike):
        model = CachedChatModel(model, ResponseCache(Path(cache)))
    elif cache not in (None, False):
        raise ValueError(f"cache={cache!r} must be True, False, None, a path or a ResponseCache")
    if cost_cap_usd is not None or token_cap is not None:
        model = MeteredChatModel(model, UsageMeter(cost_cap_usd=cost_cap_usd, token_cap=token_cap))
    return model


def _no_prices(spec: object, input_cost: float | None, output_cost: float | None) -> None:
    """Prices are for litellm model strings: refuse them elsewhere rather than ignore them."""
    if input_cost is not None or output_cost is not None:
        what = (
            "the embedded model (free)"
            if spec == LOCAL
            else "a local model folder (free)"
            if isinstance(spec, str)
            else "a ChatModel object"
        )
        raise ValueError(
            "input_cost_per_token/output_cost_per_token apply to litellm model strings, not to "
            f"{what}; a ChatModel reports its own cost"
        )
