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
    _rebuild_error,
    check_messages,
    is_secret_param,
    json_schema_of,
    parse_and_validate,
)
from recoworld.llm.usage import price_known
from recoworld.validation import check_bool, check_number

logger = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/recoworld/llm_cache.sqlite``, or ``~/.cache/recoworld/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recoworld" / "llm_cache.sqlite"


_SCHEMA_PARAMS = frozenset(("schema", "response_format", "tools", "functions"))
"""Parameters that hold JSON schemas, whose property names are content, not credentials."""


def _without_credentials(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request parameters less the credentials (:func:`~recoworld.llm.base.is_secret_param`),
    in nested dicts too (``extra_body``...), except inside schemas: a schema property named
    ``"api_key"`` or ``"tokens"`` is content, and so is ``max_tokens``."""
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if is_secret_param(str(name)):
            continue
        if isinstance(value, Mapping) and str(name) not in _SCHEMA_PARAMS:
            value = _without_credentials(value)
        kept[str(name)] = value
    return kept


def canonical_request(model: str, messages: Sequence[Message], params: Mapping[str, Any]) -> str:
    """The canonical JSON of a request: sorted keys, no whitespace, credential parameters
    (:func:`~recoworld.llm.base.is_secret_param`) removed; every other parameter counts."""
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

    def __reduce__(self) -> tuple[Any, ...]:  # picklable: message and path survive
        return _rebuild_error, (type(self), self.args, dict(self.__dict__))


_BAD_FILE_FIX = "delete it (it holds only replayable answers) or choose another path for the cache"


def _is_read_only_error(error: sqlite3.Error) -> bool:
    """Whether sqlite failed for want of write access (to the file, or to its folder for the
    journal files): then the cache may still be read."""
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
        return True
    message = str(error)
    return "readonly" in message or "read-only" in message or "unable to open" in message


class ResponseCache:
    """Response texts in one sqlite file, safe to share between threads and processes.

    The file is opened in WAL journal mode with a busy timeout, so several runs (processes) can
    read and write one cache at once: a writer waits up to ``busy_timeout_s`` for another's
    write to finish instead of failing with "database is locked".

    A cache that cannot be written (the file or its folder is read-only: a shared cache, a
    copy on read-only media) is opened read-only instead, with one warning: its answers are
    replayed, and new answers are not stored (each :meth:`put` raises :class:`CacheFileError`,
    which :class:`CachedChatModel` counts in ``failed_puts``). ``read_only=True`` asks for that
    from the start. A WAL file in a read-only folder cannot be opened with sqlite's ``mode=ro``
    (sqlite needs to create its ``-shm`` file beside it); it is then opened ``immutable``, which
    assumes nobody writes the file meanwhile (true where nobody can).

    :meth:`close`, unless another connection still has the file open (then the last one to
    close does it), folds the write-ahead log into the file and switches it back to sqlite's
    default (rollback) journal, so a closed cache is one self-contained file that can be copied
    anywhere and opened read-only; the next writer switches it to WAL again. (A checkpoint
    alone is not enough: a file left in WAL mode needs its ``-shm`` file, or a writable folder,
    to be opened read-only.)

    Args:
        path: The sqlite file; its folder is created. Defaults to :func:`default_cache_path`.
        busy_timeout_s: How long a read or write waits for another process's lock (> 0).
        read_only: Open the file read-only (it must exist): replay its answers, store none.

    Raises:
        CacheFileError: the path is a folder, or the file is not a (healthy) sqlite database,
            or it cannot be created (or, read-only, does not exist); the message names the file
            and says what to do.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout_s: float = 30.0,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.busy_timeout_s = check_number("busy_timeout_s", busy_timeout_s, 0.0, low_open=True)
        self.read_only = check_bool("read_only", read_only)
        """Whether the file is open read-only (asked for, or because it cannot be written)."""
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise CacheFileError(self.path, "is a folder, not a file", "choose a file path")
        if read_only:
            self._connection = self._open_read_only()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            if not self.path.is_file():
                raise CacheFileError(
                    self.path,
                    f"its folder cannot be created ({error.strerror or error})",
                    "choose another path for the cache",
                ) from None
        try:
            self._connection = self._open_writable()
        except sqlite3.Error as error:
            if not (_is_read_only_error(error) and self.path.is_file()):
                raise self._error(error) from None
            try:
                self._connection = self._open_read_only()
            except CacheFileError:
                raise self._error(error) from None
            self.read_only = True
            logger.warning(
                "response cache file %r cannot be written (%s): opened read-only, so its "
                "answers are replayed but new answers are not stored; make the file and its "
                "folder writable, or choose another path for the cache, to store them",
                str(self.path),
                error,
            )

    def _open_writable(self) -> sqlite3.Connection:
        """The file opened for reading and writing, in WAL mode, with the table created."""
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, check_same_thread=False
        )
        try:
            # WAL: readers never wait for a writer, and writers of several processes take
            # turns (within the busy timeout). synchronous=NORMAL is WAL's safe setting: a
            # crash cannot damage the file, at worst it loses the last answers stored.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            with connection:
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS responses ("
                    " key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,"
                    " text TEXT NOT NULL, usage TEXT NOT NULL)"
                )
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _open_read_only(self) -> sqlite3.Connection:
        """The file opened read-only: ``mode=ro``, or ``immutable=1`` for a WAL file in a
        folder where sqlite cannot create the WAL's ``-shm`` file."""
        if not self.path.is_file():
            raise CacheFileError(
                self.path,
                "does not exist, so it cannot be opened read-only",
                "check the path, or open it writable (read_only=False) to create it",
            )
        uri = self.path.resolve().as_uri() + "?mode=ro"  # percent-encoded: "?" or "#" stay
        first: sqlite3.Error | None = None
        for options in ("", "&immutable=1"):
            try:
                connection = sqlite3.connect(
                    uri + options, uri=True, timeout=self.busy_timeout_s, check_same_thread=False
                )
            except sqlite3.Error as error:
                first = first or error
                continue
            try:
                connection.execute("SELECT key, text, usage FROM responses LIMIT 1").fetchall()
            except sqlite3.Error as error:
                connection.close()
                first = first or error
                if not _is_read_only_error(error):
                    break  # not a usable cache: immutable would not help
                continue
            return connection
        assert first is not None
        raise self._error(first)

    def _error(self, error: sqlite3.Error) -> CacheFileError:
        """The sqlite error as a :class:`CacheFileError` naming the file and the fix."""
        message = str(error)
        if "locked" in message or "busy" in message:
            fix = (
                "another process held it longer than the busy timeout; retry, raise "
                "busy_timeout_s, or give each run its own cache file"
            )
        elif "readonly" in message or "read-only" in message or "unable to open" in message:
            fix = "make it (and its folder) writable or choose another path for the cache"
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
        self._check_writable()
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
        self._check_writable()
        try:
            with self._lock, self._connection:
                self._connection.execute("DELETE FROM responses")
        except sqlite3.Error as error:
            raise self._error(error) from None

    def _check_writable(self) -> None:
        if self.read_only:
            raise CacheFileError(
                self.path,
                "is open read-only, so no new answer is stored",
                "make the file and its folder writable, or choose another path for the cache",
            )

    def close(self) -> None:
        """Close the file. Unless another connection still has it open, its write-ahead log
        is folded in and it goes back to the rollback journal: one self-contained file, which
        can be copied and opened read-only anywhere (the next writer switches it to WAL)."""
        with self._lock:
            if not self.read_only:
                try:
                    # No waiting: another process that has it open keeps WAL, and the last
                    # one to close switches it back.
                    self._connection.execute("PRAGMA busy_timeout=0")
                    self._connection.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass
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
    ``failed_puts``, and the run goes on without caching that answer. With a cache opened
    read-only, only the first such failure is a warning (the cache warned when it was opened);
    the others are logged at debug level, and all are counted.

    ``price_known`` is the wrapped model's (see :func:`recoworld.llm.usage.price_known`), so a
    cost cap over the cache judges the model that is paid.
    """

    def __init__(self, model: ChatModel, cache: ResponseCache) -> None:
        self.model = model
        self.cache = cache
        self.model_name = model.model_name
        self.failed_puts = 0
        """Answers that could not be stored in the cache file (each logged as a warning)."""

    @property
    def price_known(self) -> bool | None:
        """Whether the wrapped model prices its calls (``None``: it does not say)."""
        return price_known(self.model)

    def _store(self, key: str, request: str, response: ChatResponse) -> None:
        try:
            self.cache.put(key, self.model_name, request, response.text, response.usage)
        except CacheFileError as error:
            self.failed_puts += 1
            quiet = self.failed_puts > 1 and getattr(self.cache, "read_only", False)
            logger.log(
                logging.DEBUG if quiet else logging.WARNING,
                "answer of %s not cached: %s",
                self.model_name,
                error,
            )

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
