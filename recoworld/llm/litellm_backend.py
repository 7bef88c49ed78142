"""Any hosted or served model through litellm, by model string.

litellm is imported when a :class:`LiteLLMChatModel` is built, never at ``import recoworld``, and
with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so that importing it does not fetch a price list from
the internet.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from recoworld.llm.base import (
    BaseChatModel,
    GenerationParams,
    Message,
    ProviderError,
    Schema,
    Usage,
    is_secret_param,
    json_schema_of,
    redact_secrets,
)

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset((408, 409, 429))


def _import_litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as error:  # pragma: no cover - litellm is a dependency
        raise ImportError("LiteLLMChatModel needs litellm: pip install litellm") from error
    # litellm prints a "Give Feedback / Get Help" banner on every exception otherwise.
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMChatModel(BaseChatModel):
    """A chat model served by any provider litellm supports, chosen by the model string.

    Examples of model strings: ``"openai/gpt-4o-mini"``, ``"ollama/llama3.2"``,
    ``"hosted_vllm/Qwen/Qwen2.5-7B-Instruct"`` (with ``api_base``). API keys are read by litellm
    from the provider's environment variable (``OPENAI_API_KEY``...) at call time; this class
    never takes, stores or logs one.

    Provider errors that may pass (timeouts, connection errors, HTTP 408/409/429/5xx) are retried
    up to ``max_retries`` times; others (bad request, authentication) fail at once. Either way
    the failure is raised as :class:`~recoworld.llm.base.ProviderError` naming the model and the
    cause. The wait before retry ``k`` is:

    - what the provider asked for, when the error's response carries a ``Retry-After`` header
      (seconds, or an HTTP date; ``retry-after-ms`` is read too), capped at ``max_backoff_s``;
    - otherwise "full jitter" exponential backoff: uniform in ``[0, b]`` with
      ``b = min(backoff_s * 2**(k - 1), max_backoff_s)``, so that many simulated users throttled
      at once do not all retry at the same instant. The draws come from a
      :class:`random.Random` of this object seeded with ``retry_seed``, never from global or OS
      randomness, so a run's waits are reproducible.

    Args:
        model: litellm model string, ``provider/model``.
        api_base: Base URL of the server, for self-hosted or local providers.
        timeout: Seconds one request may take.
        max_retries: Retries after a retryable provider error (0 = one attempt only).
        backoff_s: Upper bound of the wait before the first retry; doubles on each further
            retry.
        max_backoff_s: Longest wait between two retries (the cap of ``Retry-After`` too).
        retry_seed: Seed of the jitter generator.
        max_concurrency: Requests in flight at once from this object, over threads (sync path)
            and per event loop (async path).
        max_parse_retries: Re-asks after an answer that does not match the schema.
        native_json_schema: Also send the schema as ``response_format`` (for providers with
            native structured output). The answer is validated either way.
        drop_unsupported_params: Let litellm drop parameters the provider does not take (e.g.
            ``seed``) instead of failing.
        extra_params: Further litellm request parameters (``top_p``, ``stop``...). Credentials
            are refused here: they come only from the environment.
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        retry_seed: int = 0,
        max_concurrency: int = 8,
        max_parse_retries: int = 2,
        native_json_schema: bool = False,
        drop_unsupported_params: bool = True,
        extra_params: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty litellm model string, got {model!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ValueError(
                f"backoff_s and max_backoff_s must be >= 0, got {backoff_s}, {max_backoff_s}"
            )
        if isinstance(retry_seed, bool) or not hasattr(retry_seed, "__index__"):
            raise ValueError(f"retry_seed must be an int, got {retry_seed!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_parse_retries < 0:
            raise ValueError(f"max_parse_retries must be >= 0, got {max_parse_retries}")
        extra = dict(extra_params or {})
        secrets = sorted(name for name in extra if is_secret_param(name))
        if secrets:
            raise ValueError(
                f"extra_params may not carry credentials ({', '.join(secrets)}): set the "
                "provider's environment variable (e.g. OPENAI_API_KEY) instead"
            )
        reserved = sorted(
            set(extra)
            & {"model", "messages", "timeout", "temperature", "max_tokens", "seed", "api_base"}
        )
        if reserved:
            raise ValueError(
                f"extra_params may not set {', '.join(reserved)}: use the constructor argument "
                "or the complete() argument instead"
            )
        self._litellm = _import_litellm()
        self.model_name = model
        self.api_base = api_base
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.retry_seed = int(retry_seed)
        self._retry_rng = random.Random(self.retry_seed)
        self._retry_lock = threading.Lock()
        self.max_concurrency = max_concurrency
        self.max_parse_retries = max_parse_retries
        self.native_json_schema = native_json_schema
        self.drop_unsupported_params = drop_unsupported_params
        self.extra_params = extra
        self._thread_slots = threading.BoundedSemaphore(max_concurrency)
        self._loop_slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    @property
    def cache_params(self) -> dict[str, Any]:
        """The settings that shape answers, for the response-cache key (no credentials)."""
        return {
            "api_base": self.api_base,
            "native_json_schema": self.native_json_schema,
            **self.extra_params,
        }

    def __repr__(self) -> str:
        return f"LiteLLMChatModel({self.model_name!r}, api_base={self.api_base!r})"

    # --- request and response --------------------------------------------------------------

    def _request(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            **self.extra_params,
            "model": self.model_name,
            "messages": messages,
            "timeout": self.timeout,
            # Retries are ours (bounded, logged); the OpenAI client would add its own otherwise.
            "max_retries": 0,
            "num_retries": 0,
        }
        if self.api_base is not None:
            request["api_base"] = self.api_base
        if self.drop_unsupported_params:
            request["drop_params"] = True
        if params.temperature is not None:
            request["temperature"] = params.temperature
        if params.max_tokens is not None:
            request["max_tokens"] = params.max_tokens
        if params.seed is not None:
            request["seed"] = params.seed
        if schema is not None and self.native_json_schema:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": json_schema_of(schema)},
            }
        return request

    def _read(self, response: Any, latency_s: float) -> tuple[str, Usage]:
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        try:
            cost = float(self._litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # unknown model or provider: no price, not an error
            cost = 0.0
        return text, Usage(
            calls=1,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=cost,
            latency_s=latency_s,
        )

    def _retryable(self, error: BaseException) -> bool:
        exceptions = self._litellm.exceptions
        if isinstance(
            error,
            exceptions.Timeout
            | exceptions.APIConnectionError
            | exceptions.RateLimitError
            | exceptions.InternalServerError
            | exceptions.ServiceUnavailableError
            | exceptions.BadGatewayError,
        ):
            return True
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            return status >= 500 or status in _RETRYABLE_STATUS
        return type(error) is exceptions.APIError

    def _provider_error_types(self) -> tuple[type[BaseException], ...]:
        import openai  # installed with litellm, whose exceptions subclass openai's

        return (openai.OpenAIError, self._litellm.exceptions.APIError)

    def _backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt ``attempt`` (1-based): uniform in
        ``[0, min(backoff_s * 2**(attempt - 1), max_backoff_s)]``."""
        bound = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        with self._retry_lock:
            return self._retry_rng.uniform(0.0, bound)

    def _on_failure(self, error: BaseException, attempt: int) -> float | None:
        """Seconds to wait before retrying, or ``None`` to give up."""
        if attempt > self.max_retries or not self._retryable(error):
            return None
        asked = retry_after_s(error)
        if asked is not None:
            wait, why = min(asked, self.max_backoff_s), "as the provider's Retry-After asks"
        else:
            wait, why = self._backoff(attempt), "with jittered backoff"
        logger.warning(
            "LLM call to %s failed (attempt %d of %d), retrying in %.2fs (%s): %s",
            self.model_name,
            attempt,
            self.max_retries + 1,
            wait,
            why,
            redact_secrets(f"{type(error).__name__}: {error}"),
        )
        return wait

    # --- the calls ---------------------------------------------------------------------------

    def _generate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        request = self._request(messages, params, schema)
        errors = self._provider_error_types()
        attempt = 0
        while True:
            attempt += 1
            with self._thread_slots:
                start = time.perf_counter()
                try:
                    response = self._litellm.completion(**request)
                except errors as error:
                    failure: BaseException | None = error
                else:
                    failure = None
                latency = time.perf_counter() - start
            if failure is None:
                return self._read(response, latency)
            wait = self._on_failure(failure, attempt)
            if wait is None:
                raise ProviderError(self.model_name, failure, attempts=attempt) from failure
            time.sleep(wait)

    def _slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._loop_slots.get(loop)
        if slots is None:
            slots = self._loop_slots[loop] = asyncio.Semaphore(self.max_concurrency)
        return slots

    async def _agenerate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        request = self._request(messages, params, schema)
        errors = self._provider_error_types()
        slots = self._slots()
        attempt = 0
        while True:
            attempt += 1
            async with slots:
                start = time.perf_counter()
                try:
                    response = await self._litellm.acompletion(**request)
                except errors as error:
                    failure: BaseException | None = error
                else:
                    failure = None
                latency = time.perf_counter() - start
            if failure is None:
                return self._read(response, latency)
            wait = self._on_failure(failure, attempt)
            if wait is None:
                raise ProviderError(self.model_name, failure, attempts=attempt) from failure
            await asyncio.sleep(wait)


def retry_after_s(error: BaseException) -> float | None:
    """Seconds a provider asked to wait before the next request, from the error's headers.

    Looks at the headers litellm attaches to its exceptions (``litellm_response_headers``), then
    at the HTTP response's (``error.response.headers``), then at ``error.headers``; in each, reads
    ``retry-after-ms`` (milliseconds), then ``retry-after`` (seconds, or an HTTP date). Returns
    ``None`` when no header gives a finite, non-negative wait (a date in the past counts as 0).

    >>> class Throttled(Exception):
    ...     headers = {"Retry-After": "2.5"}
    >>> retry_after_s(Throttled()), retry_after_s(ValueError())
    (2.5, None)
    """
    response = getattr(error, "response", None)
    sources = (
        getattr(error, "litellm_response_headers", None),
        getattr(response, "headers", None) if response is not None else None,
        getattr(error, "headers", None),
    )
    for headers in sources:
        if headers is None or not hasattr(headers, "items"):
            continue
        try:
            values = {str(key).lower(): str(value) for key, value in headers.items()}
        except Exception:  # a headers object that cannot be read is as good as none
            continue
        wait = _parse_retry_after(values)
        if wait is not None:
            return wait
    return None


def _parse_retry_after(headers: Mapping[str, str]) -> float | None:
    milliseconds = _finite_non_negative(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_non_negative(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP date is in GMT all the same
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _finite_non_negative(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
