"""The core of the LLM layer: messages, responses, usage, errors, the ``ChatModel`` protocol and
the structured-output machinery every backend shares.

Every LLM call in recoworld goes through a :class:`ChatModel`. A call takes chat messages and
returns a :class:`ChatResponse` with the text, the validated object when a schema was given, and the
:class:`Usage` the call cost. Backends subclass :class:`BaseChatModel` and implement only the raw
text generation; parsing, validation and the bounded re-ask loop live here, once.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

import jsonschema
from pydantic import TypeAdapter, ValidationError

from recoworld.validation import check_int, check_number

Role = Literal["system", "user", "assistant"]

Schema = type[Any] | Mapping[str, Any]
"""A pydantic model class (or another type pydantic's ``TypeAdapter`` takes), or a JSON schema."""

_ROLES = frozenset(("system", "user", "assistant"))


class Message(TypedDict):
    """One chat message, in the OpenAI shape that every provider accepts."""

    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    """What one or more calls cost. Adds with ``+`` so totals accumulate over a run.

    ``calls`` counts every request sent to a provider (retries and re-asks included), whether or
    not it was answered; ``failed_calls`` counts those of them that gave no usable answer (a
    provider error, or an answer rejected as malformed), so ``calls - failed_calls`` requests were
    used. A response served from the cache counts in ``cache_hits`` instead and costs nothing.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cache_hits: int = 0
    failed_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            latency_s=self.latency_s + other.latency_s,
            cache_hits=self.cache_hits + other.cache_hits,
            failed_calls=self.failed_calls + other.failed_calls,
        )

    def __sub__(self, other: Usage) -> Usage:
        """What was spent since ``other`` (an earlier total of the same meter)."""
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            calls=self.calls - other.calls,
            prompt_tokens=self.prompt_tokens - other.prompt_tokens,
            completion_tokens=self.completion_tokens - other.completion_tokens,
            cost_usd=self.cost_usd - other.cost_usd,
            latency_s=self.latency_s - other.latency_s,
            cache_hits=self.cache_hits - other.cache_hits,
            failed_calls=self.failed_calls - other.failed_calls,
        )

    def as_dict(self) -> dict[str, int | float]:
        """The usage as a plain dict, for ``info`` and evaluation reports."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "latency_s": self.latency_s,
            "cache_hits": self.cache_hits,
            "failed_calls": self.failed_calls,
        }


@dataclass(frozen=True)
class ChatResponse:
    """The answer to one ``complete`` call.

    ``parsed`` is the validated object (a pydantic model instance, or the JSON value for a JSON
    schema) when a schema was given, else ``None``. ``usage`` covers every attempt the call made,
    re-asks included. ``cached`` is true when the text came from the response cache.
    """

    text: str
    usage: Usage
    parsed: Any = None
    cached: bool = False


class LLMError(Exception):
    """Base class of every error the LLM layer raises.

    ``usage`` is what the failed call cost before it failed (requests sent, tokens, money), so
    that whoever catches the error can still count it: every request sent is accounted for.
    """

    usage: Usage = Usage()

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_error, (type(self), self.args, dict(self.__dict__))


def _rebuild_error(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    """An exception of class ``cls`` with the given ``args`` (its message) and attributes,
    without calling its ``__init__``: how the errors of this layer are unpickled, so they cross
    process boundaries (multiprocessing, concurrent.futures) with their message and fields."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ProviderFailure(Exception):
    """A provider exception as text, with credentials masked: what :class:`ProviderError` keeps
    as ``cause`` instead of the original exception, whose message (an echoed ``Authorization``
    header, a URL with a key) may hold the API key.

    ``type_name`` is the original exception's class name, ``message`` its redacted text and
    ``status_code`` its HTTP status, if it had one.
    """

    def __init__(self, type_name: str, message: str, status_code: int | None = None) -> None:
        self.type_name = type_name
        self.message = message
        self.status_code = status_code
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_error, (type(self), self.args, dict(self.__dict__))

    @classmethod
    def of(cls, error: BaseException, secrets: Sequence[str] = ()) -> ProviderFailure:
        """The redacted description of ``error`` (returned as it is if already one)."""
        if isinstance(error, ProviderFailure):
            return error
        status = getattr(error, "status_code", None)
        return cls(
            type(error).__name__,
            redact_secrets(str(error), secrets),
            status if isinstance(status, int) and not isinstance(status, bool) else None,
        )


class ProviderError(LLMError):
    """The provider failed (network, timeout, HTTP error) after the bounded retries.

    Carries the model string, the number of attempts and the last failure as ``cause``: a
    :class:`ProviderFailure` (type name, redacted message, HTTP status), never the provider's
    exception itself, so no credential it echoed survives in the message, in ``cause``, or in
    the chain (backends raise it ``from None``: ``__cause__`` and ``__context__`` are empty).
    ``hint``, when given, says what to do (e.g. which environment variable to set).
    """

    def __init__(
        self,
        model: str,
        cause: BaseException,
        *,
        attempts: int = 1,
        usage: Usage | None = None,
        hint: str | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.cause = ProviderFailure.of(cause, secrets)
        self.attempts = attempts
        self.hint = hint
        self.usage = usage if usage is not None else Usage(calls=attempts, failed_calls=attempts)
        plural = "attempt" if attempts == 1 else "attempts"
        message = f"LLM call to model {model!r} failed after {attempts} {plural}: {self.cause}"
        super().__init__(message if hint is None else f"{message}. {hint}")

    @property
    def status_code(self) -> int | None:
        """The HTTP status of the last failure, if it had one."""
        return self.cause.status_code


class BadResponseError(ProviderError):
    """The provider answered, but not with a usable chat completion: a body that is not JSON,
    a truncated one, or one with no choices (``"choices": []``).

    ``raw_body`` is the body as received (credentials masked, otherwise complete); the message
    shows its start. Such an answer is not retried (a server that answers this way is
    misconfigured, and a retry may be paid for); it counts as a failed request.
    """

    def __init__(
        self,
        model: str,
        raw_body: str,
        problem: str,
        *,
        attempts: int = 1,
        usage: Usage | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.raw_body = redact_secrets(raw_body, secrets)
        self.problem = problem
        preview = self.raw_body if len(self.raw_body) <= 300 else self.raw_body[:300] + "..."
        super().__init__(
            model,
            ProviderFailure(type(self).__name__, f"{problem}; raw body: {preview!r}"),
            attempts=attempts,
            usage=usage,
        )


class MalformedOutputError(LLMError):
    """The model's answer could not be parsed or validated, even after the bounded re-asks.

    ``raw_text`` is the last answer exactly as the model gave it; ``errors`` lists what was wrong
    with it; ``usage`` is what all the attempts cost, so a meter can still charge them.
    """

    def __init__(
        self,
        raw_text: str,
        errors: Sequence[str],
        *,
        model: str = "",
        attempts: int = 1,
        usage: Usage | None = None,
    ) -> None:
        self.raw_text = raw_text
        self.errors = list(errors)
        self.model = model
        self.attempts = attempts
        self.usage = usage if usage is not None else Usage()
        preview = raw_text if len(raw_text) <= 200 else raw_text[:200] + "..."
        super().__init__(
            f"model {model!r} gave malformed output after {attempts} attempt(s): "
            f"{'; '.join(self.errors)}; raw text: {preview!r}"
        )


class CostCapExceeded(LLMError):
    """The run has spent more than its cost cap; no further calls are made."""

    cap_usd: float | None

    def __init__(self, cap_usd: float, spent_usd: float, calls: int) -> None:
        self.cap_usd = cap_usd
        self.spent_usd = spent_usd
        self.calls = calls
        super().__init__(
            f"LLM cost cap of ${cap_usd:.4f} exceeded: ${spent_usd:.4f} spent over {calls} "
            "call(s). Stopping before the next call; raise cost_cap_usd or replay from the "
            "response cache to continue."
        )


class TokenCapExceeded(CostCapExceeded):
    """The run has used more tokens (prompt + completion) than its token cap; no further calls
    are made. A :class:`CostCapExceeded`, so whatever stops a run on a spent cost cap stops it
    here too (``cap_usd`` is ``None`` when only the token cap was set)."""

    def __init__(
        self,
        token_cap: int,
        tokens: int,
        calls: int,
        *,
        cap_usd: float | None = None,
        spent_usd: float = 0.0,
    ) -> None:
        self.token_cap = token_cap
        self.tokens = tokens
        self.cap_usd = cap_usd
        self.spent_usd = spent_usd
        self.calls = calls
        LLMError.__init__(
            self,
            f"LLM token cap of {token_cap} tokens exceeded: {tokens} tokens (prompt + "
            f"completion) used over {calls} call(s). Stopping before the next call; raise "
            "token_cap or replay from the response cache to continue.",
        )


@runtime_checkable
class ChatModel(Protocol):
    """What the library needs from a language model.

    ``model_name`` identifies the model (it is part of the response-cache key). ``complete`` sends
    the messages and returns a :class:`ChatResponse`; with ``schema`` the answer is parsed as JSON
    and validated, and ``response.parsed`` holds the result. ``acomplete`` is the same call for
    asyncio, so many simulated users can wait on the model at once.
    """

    model_name: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse: ...

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse: ...


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters of one call; ``None`` leaves the backend's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


class BaseChatModel(ABC):
    """Shared ``complete``/``acomplete`` for backends: validation of the messages, the schema
    prompt, JSON parsing, validation and the bounded re-ask loop.

    A backend implements ``_generate`` (and ``_agenerate`` if it has a native async path): one raw
    request returning the text and its :class:`Usage`. ``schema`` is passed to them only as a hint
    for providers with native structured output; the answer is validated here regardless.
    """

    model_name: str
    max_parse_retries: int = 2

    @abstractmethod
    def _generate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]: ...

    async def _agenerate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        return self._generate(messages, params, schema)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse:
        params = GenerationParams(temperature, max_tokens, seed)
        conversation = prepare_messages(messages, schema)
        usage = Usage()
        for _ in range(self.max_parse_retries + 1):
            try:
                text, call_usage = self._generate(conversation, params, schema)
            except LLMError as error:
                error.usage = usage + error.usage  # the re-asks before it were sent too
                raise
            usage = usage + call_usage
            if schema is None:
                return ChatResponse(text=text, usage=usage)
            parsed, errors = parse_and_validate(text, schema)
            if not errors:
                return ChatResponse(text=text, usage=usage, parsed=parsed)
            usage = usage + Usage(failed_calls=call_usage.calls)
            conversation = _reask(conversation, text, errors)
        raise MalformedOutputError(
            text, errors, model=self.model_name, attempts=self.max_parse_retries + 1, usage=usage
        )

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse:
        params = GenerationParams(temperature, max_tokens, seed)
        conversation = prepare_messages(messages, schema)
        usage = Usage()
        for _ in range(self.max_parse_retries + 1):
            try:
                text, call_usage = await self._agenerate(conversation, params, schema)
            except LLMError as error:
                error.usage = usage + error.usage  # the re-asks before it were sent too
                raise
            usage = usage + call_usage
            if schema is None:
                return ChatResponse(text=text, usage=usage)
            parsed, errors = parse_and_validate(text, schema)
            if not errors:
                return ChatResponse(text=text, usage=usage, parsed=parsed)
            usage = usage + Usage(failed_calls=call_usage.calls)
            conversation = _reask(conversation, text, errors)
        raise MalformedOutputError(
            text, errors, model=self.model_name, attempts=self.max_parse_retries + 1, usage=usage
        )


# --- settings -------------------------------------------------------------------------------


def check_min_int(name: str, value: Any, low: int) -> int:
    """``value`` as an ``int`` if it is an integer ``>= low`` (Python or numpy, not a bool),
    else ``ValueError`` naming it (:func:`recoworld.validation.check_int`)."""
    return check_int(name, value, low=low)


def check_temperature(value: Any, name: str = "temperature") -> float:
    """A sampling temperature in ``[0, 2]`` as a ``float``, else ``ValueError`` naming it
    (:func:`recoworld.validation.check_number`)."""
    return check_number(name, value, 0.0, 2.0)


# --- messages -------------------------------------------------------------------------------


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Copy the messages as plain ``{"role", "content"}`` dicts, or raise ``ValueError`` naming
    the first bad one."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise ValueError(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise ValueError("messages must not be empty")
    checked: list[Message] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ValueError(f"messages[{index}] must be a dict, got {type(message).__name__}")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise ValueError(
                f"messages[{index}]['role'] must be one of {sorted(_ROLES)}, got {role!r}"
            )
        if not isinstance(content, str):
            raise ValueError(
                f"messages[{index}]['content'] must be a str, got {type(content).__name__}"
            )
        checked.append({"role": role, "content": content})
    return checked


def prepare_messages(messages: Sequence[Message], schema: Schema | None) -> list[Message]:
    """The checked messages, with the JSON-output instruction added when a schema is given.

    The instruction joins the last user message (chat templates of small local models handle one
    user turn more reliably than two in a row), or becomes a new user message.
    """
    checked = check_messages(messages)
    if schema is None:
        return checked
    instruction = (
        "Answer with only a JSON value that matches this JSON schema, with no other text:\n"
        + json.dumps(json_schema_of(schema), sort_keys=True)
    )
    last = checked[-1]
    if last["role"] == "user":
        checked[-1] = {"role": "user", "content": f"{last['content']}\n\n{instruction}"}
    else:
        checked.append({"role": "user", "content": instruction})
    return checked


def _reask(conversation: list[Message], text: str, errors: Sequence[str]) -> list[Message]:
    feedback = (
        "Your answer could not be used: "
        + "; ".join(errors)
        + "\nReply again with only the corrected JSON value."
    )
    return [
        *conversation,
        {"role": "assistant", "content": text},
        {"role": "user", "content": feedback},
    ]


# --- structured output ----------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """Parse the JSON value in a model's answer.

    Accepts, in this order: the whole text as JSON; the first fenced block (```` ```json ````);
    the first JSON object embedded in prose; the first JSON array. Raises ``ValueError`` when
    none is found, since guessing would hide a broken prompt.

    >>> extract_json('Sure! ```json\\n{"item": 3}\\n```')
    {'item': 3}
    >>> extract_json('I pick {"item": 3} because it is new.')
    {'item': 3}
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    for match in _FENCE.finditer(text):
        try:
            return json.loads(match.group(1).strip())
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for opener in "{[":
        start = text.find(opener)
        while start != -1:
            try:
                value, _ = decoder.raw_decode(text, start)
                return value
            except json.JSONDecodeError:
                start = text.find(opener, start + 1)
    raise ValueError("no JSON value found in the answer")


def json_schema_of(schema: Schema) -> dict[str, Any]:
    """The JSON schema dict of a schema given as a dict or as a type (e.g. a pydantic model)."""
    if isinstance(schema, Mapping):
        return dict(schema)
    return TypeAdapter(schema).json_schema()


def validate(value: Any, schema: Schema) -> Any:
    """Validate a JSON value; return the pydantic object (type schema) or the value (dict schema).

    Raises ``ValueError`` whose message lists every violation.
    """
    if isinstance(schema, Mapping):
        validator_class = jsonschema.validators.validator_for(schema)
        validator = validator_class(schema)
        problems = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if problems:
            raise ValueError(
                "; ".join(
                    f"at {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
                    for e in problems
                )
            )
        return value
    try:
        return TypeAdapter(schema).validate_python(value)
    except ValidationError as error:
        raise ValueError(
            "; ".join(
                f"at {'/'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in error.errors()
            )
        ) from error


def parse_and_validate(text: str, schema: Schema) -> tuple[Any, list[str]]:
    """``(parsed, [])`` when the text holds a valid value, else ``(None, errors)``."""
    try:
        value = extract_json(text)
    except ValueError as error:
        return None, [str(error)]
    try:
        return validate(value, schema), []
    except ValueError as error:
        return None, [str(error)]


# --- secrets --------------------------------------------------------------------------------

SECRET_PARAM_NAMES = frozenset(
    (
        "api_key",
        "api_token",
        "access_token",
        "auth_token",
        "bearer_token",
        "token",
        "password",
        "client_secret",
        "authorization",
        "azure_ad_token",
        "azure_ad_token_provider",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
        "extra_headers",
        "headers",
    )
)
"""Request parameters that carry credentials, named exactly (case-insensitive): never cached,
logged or accepted as options. Names ending like a credential count too
(:data:`SECRET_PARAM_SUFFIXES`); every other parameter (``max_tokens``,
``max_completion_tokens``, ``top_p``, a schema's ``"tokens"`` property...) is an ordinary
setting and part of the response-cache key."""

SECRET_PARAM_SUFFIXES = (
    "_key",
    "apikey",
    "_token",
    "secret",
    "password",
    "passwd",
    "credential",
    "credentials",
    "authorization",
)
"""Endings (case-insensitive) that make any parameter name a credential, for provider arguments
not named in :data:`SECRET_PARAM_NAMES` (``aws_web_identity_token``, ``azure_password``,
``vertex_credentials``, ``watsonx_api_key``, ``client_secret``...). ``_token`` is singular on
purpose: ``max_tokens`` and ``max_completion_tokens`` end in ``tokens`` and are settings."""

NOT_SECRET_PARAM_NAMES = frozenset(("prompt_cache_key",))
"""Settings whose names end like a credential but carry none (OpenAI's ``prompt_cache_key`` is
a routing hint)."""

_SECRET_ENV_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
"""Environment variables whose values are masked out of error texts (``OPENAI_API_KEY``,
``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``...): masking too much there is harmless,
unlike in cache keys."""

_BEARER = re.compile(r"(\bBearer\s+)[^\s\"',;]+", re.IGNORECASE)


def is_secret_param(name: str) -> bool:
    """Whether a request parameter carries a credential: one of :data:`SECRET_PARAM_NAMES`, or
    a name ending in one of :data:`SECRET_PARAM_SUFFIXES` (case-insensitive).

    >>> is_secret_param("api_key"), is_secret_param("AZURE_PASSWORD"), is_secret_param("max_tokens")
    (True, True, False)
    """
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    if lowered in SECRET_PARAM_NAMES:
        return True
    return lowered not in NOT_SECRET_PARAM_NAMES and lowered.endswith(SECRET_PARAM_SUFFIXES)


def redact_secrets(text: str, extra_secrets: Sequence[str] = ()) -> str:
    """Mask credentials wherever they appear in ``text``: the values of credential-like
    environment variables (``*_API_KEY``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``...), the
    strings in ``extra_secrets``, and whatever follows ``Bearer `` (an echoed ``Authorization``
    header)."""
    secrets = [
        value
        for name, value in os.environ.items()
        if len(value) >= 6 and _SECRET_ENV_NAME.search(name)
    ]
    secrets.extend(secret for secret in extra_secrets if len(secret) >= 6)
    for secret in sorted(secrets, key=len, reverse=True):  # a longer secret may hold a shorter
        if secret in text:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)
