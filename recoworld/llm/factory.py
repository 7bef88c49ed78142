"""Build a chat model from what a user writes: ``"local"``, a litellm model string, or a model."""

from __future__ import annotations

import os
from pathlib import Path

from recoworld.llm.base import ChatModel
from recoworld.llm.cache import CachedChatModel, ResponseCache
from recoworld.llm.usage import MeteredChatModel, UsageMeter

LOCAL = "local"
"""The spec of the embedded offline default (SmolLM2-135M-Instruct in process)."""


def make_chat_model(
    spec: str | ChatModel,
    *,
    cache: bool | str | os.PathLike[str] | ResponseCache | None = None,
    cost_cap_usd: float | None = None,
    api_base: str | None = None,
) -> ChatModel:
    """The chat model named by ``spec``, optionally cached and metered.

    Args:
        spec: ``"local"`` for the embedded model (:class:`~recoworld.llm.LocalChatModel`), any
            other string for a litellm model string (``"openai/gpt-4o-mini"``,
            ``"ollama/llama3.2"``, ``"openai/local"`` with ``api_base`` for ``recoworld llm
            serve``...), or a ready :class:`~recoworld.llm.ChatModel`, used as it is.
        cache: ``True`` for the persistent response cache at its default place (under the
            user's cache folder), a path for a cache file there, a :class:`ResponseCache`, or
            ``None``/``False`` for none. With a cache an LLM-backed run replays exactly.
        cost_cap_usd: Wrap the model in a :class:`~recoworld.llm.MeteredChatModel` whose meter
            raises :class:`~recoworld.llm.CostCapExceeded` once this much was spent.
        api_base: Server URL for a litellm model string (ignored otherwise).

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

            model: ChatModel = LocalChatModel()
        else:
            from recoworld.llm.litellm_backend import LiteLLMChatModel

            model = LiteLLMChatModel(spec, api_base=api_base)
    elif isinstance(spec, ChatModel):
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
    if cost_cap_usd is not None:
        model = MeteredChatModel(model, UsageMeter(cost_cap_usd=cost_cap_usd))
    return model
