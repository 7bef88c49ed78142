"""The one door to language models.

Every LLM call in recoworld goes through a :class:`ChatModel`: messages in; text, or an object
validated against a pydantic model or a JSON schema, out; with the :class:`Usage` it cost.

- :class:`LiteLLMChatModel`: any provider by model string (``openai/...``, ``ollama/...``,
  ``hosted_vllm/...``), with timeouts, bounded retries and an async path with a concurrency limit.
- :class:`CachedChatModel` over a :class:`ResponseCache`: a persistent sqlite cache, so an
  LLM-backed run replays exactly and for free.
- :class:`MeteredChatModel` over a :class:`UsageMeter`: usage totals, a cost cap and a token cap.
- :class:`ScriptedChatModel`: deterministic answers for tests.
- :class:`LocalChatModel`: the embedded offline default, SmolLM2-135M-Instruct run in process by
  llama-cpp-python (the ``llm`` extra); ``recoworld llm serve`` serves it over HTTP.

:func:`make_chat_model` builds one from a spec (``"local"`` or a litellm model string) with an
optional cache and cost cap. Wrappers compose, e.g.
``MeteredChatModel(CachedChatModel(LiteLLMChatModel(...), cache), meter)``.
"""

from recoworld.llm.base import (
    BadResponseError,
    BaseChatModel,
    ChatModel,
    ChatResponse,
    CostCapExceeded,
    GenerationParams,
    LLMError,
    MalformedOutputError,
    Message,
    ProviderError,
    ProviderFailure,
    Schema,
    TokenCapExceeded,
    Usage,
    extract_json,
    validate,
)
from recoworld.llm.cache import (
    CachedChatModel,
    CacheFileError,
    ResponseCache,
    cache_key,
    default_cache_path,
)
from recoworld.llm.factory import make_chat_model
from recoworld.llm.litellm_backend import LiteLLMChatModel
from recoworld.llm.local import LocalChatModel, LocalModelUnavailable, embedded_model_path
from recoworld.llm.scripted import ScriptedCall, ScriptedChatModel
from recoworld.llm.settings import LLMSettings, LLMSpec
from recoworld.llm.usage import MeteredChatModel, UsageMeter, price_known

__all__ = [
    "BadResponseError",
    "BaseChatModel",
    "CacheFileError",
    "CachedChatModel",
    "ChatModel",
    "ChatResponse",
    "CostCapExceeded",
    "GenerationParams",
    "LLMError",
    "LLMSettings",
    "LLMSpec",
    "LiteLLMChatModel",
    "LocalChatModel",
    "LocalModelUnavailable",
    "MalformedOutputError",
    "Message",
    "MeteredChatModel",
    "ProviderError",
    "ProviderFailure",
    "ResponseCache",
    "Schema",
    "ScriptedCall",
    "ScriptedChatModel",
    "TokenCapExceeded",
    "Usage",
    "UsageMeter",
    "cache_key",
    "default_cache_path",
    "embedded_model_path",
    "extract_json",
    "make_chat_model",
    "price_known",
    "validate",
]
