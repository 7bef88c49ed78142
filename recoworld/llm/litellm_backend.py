"""Any hosted or served model through litellm, by model string.

litellm is imported when a :class:`LiteLLMChatModel` is built, never at ``import recoworld``, and
with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so that importing it does not fetch a price list from
the internet.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import logging
import math
import os
import random
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from recoworld.llm.base import (
    BadResponseError,
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
from recoworld.validation import check_int, check_number

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset((408, 409, 429))

_BAD_RESPONSE_MARKERS = (
    "Received response - <APIResponse [200",
    "provider returned a response with no 'choices'",
    "'choices' that is not a list",
    "Empty or invalid response from LLM endpoint",
)
"""What litellm's error text says when the provider answered (200 OK) with a body that is not a
chat completion (litellm raises these as HTTP 500 errors)."""

_MISSING_KEY_MARKERS = ("Missing credentials", "api_key client option must be set")
"""What the OpenAI client says when no API key is set (litellm raises it as an HTTP 500)."""


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
    never takes, stores or logs one. A server that checks no key (``recoworld llm serve``) still
    needs the variable set for ``openai/...`` model strings: any value, e.g.
    ``OPENAI_API_KEY=unused``.

    Provider errors that may pass (timeouts, connection errors, HTTP 408/409/429/5xx) are retried
    up to ``max_retries`` times; others (bad request, authentication, a missing API key) fail at
    once. Either way the failure is raised as :class:`~recoworld.llm.base.ProviderError` naming
    the model and the cause (credentials masked; raised ``from None``, so the provider's own
    exception, which may echo the key, is not chained); a missing or refused key names the
    environment variable to set. An answer that is not a chat completion (a body that is not
    JSON, truncated, or without choices) raises :class:`~recoworld.llm.base.BadResponseError`
    with the raw body, at once. Every request sent counts in the usage, failed ones in
    ``failed_calls`` too. The wait before retry ``k`` is:

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
        extra_params: Further litellm request parameters (``top_p``, ``stop``,
            ``max_completion_tokens``...); they are part of the response-cache key. Credentials
            (:func:`~recoworld.llm.base.is_secret_param`: exact names such as ``api_key``, and
            any name ending in ``_key``, ``_token``, ``secret``, ``password``, ``credentials``,
            ``authorization``...) are refused here: they come only from the environment. The
            string values given here are masked out of error texts all the same.
        input_cost_per_token: US dollars per prompt token; with ``output_cost_per_token``, the
            price of every call instead of litellm's price list (``None``: litellm's price,
            if it knows the model; ``price_known`` says whether it does).
        output_cost_per_token: US dollars per completion token.
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
        input_cost_per_token: float | None = None,
        output_cost_per_token: float | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty litellm model string, got {model!r}")
        timeout = check_number("timeout", timeout, 0.0, low_open=True)
        max_retries = check_int("max_retries", max_retries, 0)
        backoff_s = check_number("backoff_s", backoff_s, 0.0)
        max_backoff_s = check_number("max_backoff_s", max_backoff_s, 0.0)
        if isinstance(retry_seed, bool) or not hasattr(retry_seed, "__index__"):
            raise ValueError(f"retry_seed must be an int, got {retry_seed!r}")
        max_concurrency = check_int("max_concurrency", max_concurrency, 1)
        max_parse_retries = check_int("max_parse_retries", max_parse_retries, 0)
        if api_base is not None and (not isinstance(api_base, str) or not api_base):
            raise ValueError(f"api_base={api_base!r} must be a non-empty URL string or None")
        if extra_params is not None and not isinstance(extra_params, Mapping):
            raise ValueError(f"extra_params={extra_params!r} must be a dict or None")
        extra = dict(extra_params or {})
        secrets = sorted(_credential_paths(extra))
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
        if (input_cost_per_token is None) != (output_cost_per_token is None):
            raise ValueError(
                "input_cost_per_token and output_cost_per_token go together: give both (got "
                f"{input_cost_per_token!r} and {output_cost_per_token!r})"
            )
        if input_cost_per_token is not None and output_cost_per_token is not None:
            input_cost_per_token = check_number("input_cost_per_token", input_cost_per_token, 0.0)
            output_cost_per_token = check_number(
                "output_cost_per_token", output_cost_per_token, 0.0
            )
        self._litellm = _import_litellm()
        self.model_name = model
        self.input_cost_per_token = input_cost_per_token
        self.output_cost_per_token = output_cost_per_token
        self.price_known: bool = input_cost_per_token is not None or _litellm_prices(
            self._litellm, model
        )
        """Whether calls are priced: prices were given, or litellm's (offline) price list has
        the model. A cost cap needs a price (or a token cap) to ever trigger."""
        self.api_base = api_base
        self._secrets = tuple(_string_values(extra)) + _userinfo(api_base)
        """Strings masked out of every error text and log line besides the environment's
        credentials: the values of ``extra_params`` and the user and password of ``api_base``."""
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
            "api_base": _without_userinfo(self.api_base),
            "native_json_schema": self.native_json_schema,
            **self.extra_params,
        }

    def __repr__(self) -> str:
        return (
            f"LiteLLMChatModel({self.model_name!r}, api_base={_without_userinfo(self.api_base)!r})"
        )

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

    def _read(
        self, response: Any, latency_s: float, failed: Usage, attempt: int
    ) -> tuple[str, Usage]:
        """The text and usage of a response; :class:`BadResponseError` if it has no choices."""
        usage = getattr(response, "usage", None)
        prompt_tokens = _count(getattr(usage, "prompt_tokens", 0))
        completion_tokens = _count(getattr(usage, "completion_tokens", 0))
        if self.input_cost_per_token is not None and self.output_cost_per_token is not None:
            cost = (
                prompt_tokens * self.input_cost_per_token
                + completion_tokens * self.output_cost_per_token
            )
        else:
            try:
                cost = float(self._litellm.completion_cost(completion_response=response) or 0.0)
            except Exception:  # unknown model or provider: no price (price_known says so)
                cost = 0.0
        call = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            latency_s=latency_s,
        )
        choices = getattr(response, "choices", None)
        if not choices:
            raise BadResponseError(
                self.model_name,
                _dump(response),
                "the answer has no choices",
                attempts=attempt,
                usage=failed + call + Usage(failed_calls=1),
                secrets=self._secrets,
            )
        message = getattr(choices[0], "message", None)
        return str(getattr(message, "content", None) or ""), call

    def _retryable(self, error: BaseException) -> bool:
        exceptions = self._litellm.exceptions
        if _is_bad_response(error) or _is_missing_key(error):
            return False
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

    def _give_up(self, error: BaseException, attempts: int, failed: Usage) -> ProviderError:
        """The error to raise for the last failure (credentials masked, no chained cause)."""
        if _is_bad_response(error):
            raw = _raw_body(error)
            return BadResponseError(
                self.model_name,
                str(error) if raw is None else raw,
                "the provider's answer is not a chat completion"
                + ("" if raw is None else f" ({_decode_problem(error)})"),
                attempts=attempts,
                usage=failed,
                secrets=self._secrets,
            )
        hint = None
        missing_key = _is_missing_key(error)
        refused_key = isinstance(error, self._litellm.exceptions.AuthenticationError)
        if missing_key or refused_key:
            names = " or ".join(self._key_variables()) or "the provider's API-key variable"
            if missing_key:
                hint = (
                    f"No API key is set: set {names} (a server that checks no key, such as "
                    "`recoworld llm serve`, takes any value, e.g. unused)"
                )
            else:
                hint = f"The provider refused the API key: check {names}"
        return ProviderError(
            self.model_name,
            error,
            attempts=attempts,
            usage=failed,
            hint=hint,
            secrets=self._secrets,
        )

    def _key_variables(self) -> list[str]:
        """The environment variables litellm reads the key of this model from."""
        try:
            found = self._litellm.validate_environment(model=self.model_name)
            names = [str(name) for name in found.get("missing_keys") or []]
            if not names:  # the key is set (and was refused): name the provider's variable
                provider = self._litellm.get_llm_provider(self.model_name)[1]
                names = [f"{str(provider).upper()}_API_KEY"]
        except Exception:  # litellm does not know the provider: say nothing wrong
            return []
        return [name for name in names if "KEY" in name or "TOKEN" in name]

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
            redact_secrets(f"{type(error).__name__}: {error}", self._secrets),
        )
        return wait

    # --- the calls ---------------------------------------------------------------------------

    def _generate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        request = self._request(messages, params, schema)
        errors = self._provider_error_types()
        attempt = 0
        failed = Usage()  # the attempts that failed before this one: sent, so counted
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
                text, usage = self._read(response, latency, failed, attempt)
                return text, failed + usage
            failed = failed + _failed_attempt(failure, latency)
            wait = self._on_failure(failure, attempt)
            if wait is None:
                # from None: the provider's exception may echo the key; ProviderError keeps a
                # redacted description of it instead.
                raise self._give_up(failure, attempt, failed) from None
            failure = None
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
        failed = Usage()  # the attempts that failed before this one: sent, so counted
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
                text, usage = self._read(response, latency, failed, attempt)
                return text, failed + usage
            failed = failed + _failed_attempt(failure, latency)
            wait = self._on_failure(failure, attempt)
            if wait is None:
                # from None: the provider's exception may echo the key; ProviderError keeps a
                # redacted description of it instead.
                raise self._give_up(failure, attempt, failed) from None
            failure = None
            await asyncio.sleep(wait)


_SCHEMA_PARAMS = frozenset(("response_format", "tools", "functions"))
"""Request parameters that hold JSON schemas, whose property names are content, not
credentials."""


def _credential_paths(params: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Where credential-named keys sit in ``params`` (nested dicts too, e.g. ``extra_body``),
    schemas excepted."""
    for name, value in params.items():
        path = f"{prefix}{name}"
        if is_secret_param(str(name)):
            yield path
        elif isinstance(value, Mapping) and str(name) not in _SCHEMA_PARAMS:
            yield from _credential_paths(value, f"{path}.")


def _failed_attempt(error: BaseException, latency_s: float) -> Usage:
    """What a failed attempt counts: a request sent and failed, unless the client refused to
    send it for want of an API key (then nothing was sent: no call)."""
    if _is_missing_key(error):
        return Usage(latency_s=latency_s)
    return Usage(calls=1, failed_calls=1, latency_s=latency_s)


def _string_values(value: Any) -> Iterator[str]:
    """Every string in ``value`` (nested dicts, lists and tuples too), schemas excepted (their
    ``"object"``, ``"string"``... are no secrets, and masking them would garble errors)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            if str(name) not in _SCHEMA_PARAMS:
                yield from _string_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _string_values(item)


def _userinfo(url: str | None) -> tuple[str, ...]:
    """The user name and password in ``url`` (``https://user:secret@host/v1``), if any."""
    if url is None:
        return ()
    try:
        parts = urllib.parse.urlsplit(url)
        found = (parts.username, parts.password)
    except ValueError:
        return ()
    return tuple(urllib.parse.unquote(part) for part in found if part) + tuple(
        part for part in found if part
    )


def _without_userinfo(url: str | None) -> str | None:
    """``url`` without its user name and password (for cache keys and reprs)."""
    if url is None:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _litellm_prices(litellm: ModuleType, model: str) -> bool:
    """Whether litellm's (offline) price list has ``model``."""
    try:
        info = litellm.get_model_info(model)
    except Exception:  # "This model isn't mapped yet"
        return False
    return info.get("input_cost_per_token") is not None


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _dump(response: Any) -> str:
    """A response object as JSON text (what litellm parsed of the body)."""
    try:
        return str(response.model_dump_json())
    except Exception:
        return repr(response)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then its cause or context, and so on."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _is_bad_response(error: BaseException) -> bool:
    """Whether the provider answered (200 OK) with a body that is not a chat completion: litellm
    says so, or the body failed to decode while no HTTP error status was involved."""
    if any(marker in str(error) for marker in _BAD_RESPONSE_MARKERS):
        return True
    links = list(_chain(error))
    undecodable = any(isinstance(link, json.JSONDecodeError | UnicodeDecodeError) for link in links)
    return undecodable and not any(type(link).__name__ == "HTTPStatusError" for link in links)


def _is_missing_key(error: BaseException) -> bool:
    return any(marker in str(error) for marker in _MISSING_KEY_MARKERS)


def _raw_body(error: BaseException) -> str | None:
    """The body that failed to parse, when litellm's error chain still holds it."""
    for link in _chain(error):
        if isinstance(link, json.JSONDecodeError):
            return link.doc
        if isinstance(link, UnicodeDecodeError) and isinstance(link.object, bytes):
            return link.object.decode("utf-8", errors="replace")
    return None


def _decode_problem(error: BaseException) -> str:
    for link in _chain(error):
        if isinstance(link, json.JSONDecodeError | UnicodeDecodeError):
            return f"{type(link).__name__}: {link}"
    return "unparsable"


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
