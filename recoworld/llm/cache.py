"""A persistent response cache, so an LLM-backed run replays exactly and for free.

Responses are stored in one sqlite file, keyed by the SHA-256 of the canonical JSON of the model
name, the messages and the parameters (secrets removed). A second run with the same seeds sends
the same requests, so every answer comes back from the file: same text, zero cost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from recoworld.llm.base import (
    ChatModel,
    ChatResponse,
    MalformedOutputError,
    Message,
    Schema,
    Usage,
    check_messages,
    is_secret_param,
    json_schema_of,
    parse_and_validate,
)

logger = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/recoworld/llm_cache.sqlite``, or ``~/.cache/recoworld/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recoworld" / "llm_cache.sqlite"


def _without_credentials(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request parameters less the credentials (top level only: a key named ``"tokens"``
    inside a schema, or ``max_tokens``, is content, not a credential)."""
    return {str(k): v for k, v in params.items() if not is_secret_param(str(k))}


def canonical_request(model: str, messages: Sequence[Message], params: Mapping[str, Any]) -> str:
    """The canonical JSON of a request: sorted keys, no whitespace, credential parameters
    (:data:`~recoworld.llm.base.SECRET_PARAM_NAMES`) removed; every other parameter counts."""
    request = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": _without_credentials(params),
    }
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(model: str, messages: Sequence[Message], params: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of :func:`canonical_request`.

    >>> msgs = [{"role": "user", "content": "hi"}]
    >>> cache_key("m", msgs, {"api_key": "sk-1"}) == cache_key("m", msgs, {})
    True
    """
    return hashlib.sha256(canonical_request(model, messages, params).encode()).hexdigest()


_USAGE_FIELDS = frozenset(field.name for field in fields(Usage))


@dataclass(frozen=True)
class CacheEntry:
    text: str
    usage: Usage
    """What the original call cost (what the hit saved)."""


class CacheFileError(OSError):
    """The response-cache file cannot be used (not a sqlite database, damaged, a folder, not
    writable, or locked by another process for longer than the busy timeout). The message names
    the file and the fix; ``path`` is the file."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path = path
        super().__init__(f"response cache file {str(path)!r}: {problem}; {fix}")


_BAD_FILE_FIX = "delete it (it holds only replayable answers) or choose another path for the cache"


class ResponseCache:
    """Response texts in one sqlite file, safe to share between threads and processes.

    The file is opened in WAL journal mode with a busy timeout, so several runs (processes) can
    read and write one cache at once: a writer waits up to ``busy_timeout_s`` for another's
    write to finish instead of failing with "database is locked".

    Args:
        path: The sqlite file; its folder is created. Defaults to :func:`default_cache_path`.
        busy_timeout_s: How long a read or write waits for another process's lock.

    Raises:
        CacheFileError: the path is a folder, or the file is not a (healthy) sqlite database,
            or it cannot be created; the message names the file and says what to do.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, busy_timeout_s: float = 30.0
    ) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        if not busy_timeout_s > 0:
            raise ValueError(f"busy_timeout_s={busy_timeout_s!r} must be > 0 seconds")
        if self.path.is_dir():
            raise CacheFileError(self.path, "is a folder, not a file", "choose a file path")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheFileError(
                self.path,
                f"its folder cannot be created ({error.strerror or error})",
                "choose another path for the cache",
            ) from None
        self._lock = threading.Lock()
        try:
            self._connection = sqlite3.connect(
                self.path, timeout=busy_timeout_s, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise CacheFileError(
                self.path, f"cannot be opened ({error})", "choose another path for the cache"
            ) from None
        try:
            # WAL: readers never wait for a writer, and writers of several processes take
            # turns (within the busy timeout). synchronous=NORMAL is WAL's safe setting: a
            # crash cannot damage the file, at worst it loses the last answers stored.
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            with self._connection:
                self._connection.execute(
                    "CREATE TABLE IF NOT EXISTS responses ("
                    " key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,"
                    " text TEXT NOT NULL, usage TEXT NOT NULL)"
                )
        except sqlite3.Error as error:
            self._connection.close()
            raise self._error(error) from None

    def _error(self, error: sqlite3.Error) -> CacheFileError:
        """The sqlite error as a :class:`CacheFileError` naming the file and the fix."""
        message = str(error)
        if "locked" in message or "busy" in message:
            fix = (
                "another process held it longer than the busy timeout; retry, raise "
                "busy_timeout_s, or give each run its own cache file"
            )
        elif "readonly" in message or "read-only" in message or "unable to open" in message:
            fix = "make it writable or choose another path for the cache"
        else:
            fix = _BAD_FILE_FIX
            message = f"is not a usable response cache ({message})"
        return CacheFileError(self.path, message, fix)

    def get(self, key: str) -> CacheEntry | None:
        """The stored answer for ``key``, or ``None``.

        Raises:
            CacheFileError: the file is damaged or locked beyond the busy timeout.
        """
        try:
            with self._lock:
                row = self._connection.execute(
                    "SELECT text, usage FROM responses WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as error:
            raise self._error(error) from None
        if row is None:
            return None
        try:
            stored = json.loads(row[1])
            usage = Usage(**{name: stored[name] for name in stored if name in _USAGE_FIELDS})
            return CacheEntry(text=str(row[0]), usage=usage)
        except (TypeError, ValueError) as error:
            raise CacheFileError(
                self.path, f"holds a damaged entry ({error})", _BAD_FILE_FIX
            ) from None

    def put(self, key: str, model: str, request: str, text: str, usage: Usage) -> None:
        """Store an answer; ``request`` is the canonical (secret-free) request, kept for audits.

        Raises:
            CacheFileError: the file is damaged, read-only or locked beyond the busy timeout.
        """
        try:
            with self._lock, self._connection:
                self._connection.execute(
                    "INSERT OR REPLACE INTO responses (key, model, request, text, usage)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, model, request, text, json.dumps(asdict(usage))),
                )
        except sqlite3.Error as error:
            raise self._error(error) from None

    def __len__(self) -> int:
        try:
            with self._lock:
                row = self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()
                count = int(row[0])
        except sqlite3.Error as error:
            raise self._error(error) from None
        return count

    def clear(self) -> None:
        try:
            with self._lock, self._connection:
                self._connection.execute("DELETE FROM responses")
        except sqlite3.Error as error:
            raise self._error(error) from None

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CachedChatModel:
    """Wraps a chat model so that each distinct request is sent once and then replayed.

    The key covers the model name, the messages, temperature, max_tokens, seed, the schema and
    the backend's own ``cache_params`` (if it has that attribute), never credentials. A hit returns
    the stored text with ``cached=True`` and usage ``Usage(cache_hits=1)``: no calls, tokens or
    cost. With a schema, the stored text is validated again, so ``parsed`` is rebuilt exactly;
    only answers that validated are stored.

    An answer that cannot be stored (the file became read-only, damaged, or stayed locked) is
    still returned, since it was paid for: the failure is logged as a warning and counted in
    ``failed_puts``, and the run goes on without caching that answer.
    """

    def __init__(self, model: ChatModel, cache: ResponseCache) -> None:
        self.model = model
        self.cache = cache
        self.model_name = model.model_name
        self.failed_puts = 0
        """Answers that could not be stored in the cache file (each logged as a warning)."""

    def _store(self, key: str, request: str, response: ChatResponse) -> None:
        try:
            self.cache.put(key, self.model_name, request, response.text, response.usage)
        except CacheFileError as error:
            self.failed_puts += 1
            logger.warning("answer of %s not cached: %s", self.model_name, error)

    @property
    def cache_params(self) -> dict[str, Any]:
        return dict(getattr(self.model, "cache_params", {}))

    def _key(
        self,
        messages: Sequence[Message],
        schema: Schema | None,
        temperature: float | None,
        max_tokens: int | None,
        seed: int | None,
    ) -> tuple[str, str]:
        params = {
            **self.cache_params,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "schema": json_schema_of(schema) if schema is not None else None,
        }
        request = canonical_request(self.model_name, check_messages(messages), params)
        return hashlib.sha256(request.encode()).hexdigest(), request

    def _replay(self, entry: CacheEntry, schema: Schema | None) -> ChatResponse:
        parsed = None
        if schema is not None:
            parsed, errors = parse_and_validate(entry.text, schema)
            if errors:
                raise MalformedOutputError(entry.text, errors, model=self.model_name)
        return ChatResponse(text=entry.text, usage=Usage(cache_hits=1), parsed=parsed, cached=True)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResponse:
        key, request = self._key(messages, schema, temperature, max_tokens, seed)
        entry = self.cache.get(key)
        if entry is not None:
            return self._replay(entry, schema)
        response = self.model.complete(
            messages, schema=schema, temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        self._store(key, request, response)
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
        key, request = self._key(messages, schema, temperature, max_tokens, seed)
        entry = self.cache.get(key)
        if entry is not None:
            return self._replay(entry, schema)
        response = await self.model.acomplete(
            messages, schema=schema, temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        self._store(key, request, response)
        return response
