"""A persistent response cache, so an LLM-backed run replays exactly and for free.

Responses are stored in one sqlite file, keyed by the SHA-256 of the canonical JSON of the model
name, the messages and the parameters (secrets removed). A second run with the same seeds sends
the same requests, so every answer comes back from the file: same text, zero cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/recoworld/llm_cache.sqlite``, or ``~/.cache/recoworld/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recoworld" / "llm_cache.sqlite"


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _strip_secrets(v) for k, v in value.items() if not is_secret_param(str(k))}
    if isinstance(value, list | tuple):
        return [_strip_secrets(v) for v in value]
    return value


def canonical_request(model: str, messages: Sequence[Message], params: Mapping[str, Any]) -> str:
    """The canonical JSON of a request: sorted keys, no whitespace, credential params removed."""
    request = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": _strip_secrets(params),
    }
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(model: str, messages: Sequence[Message], params: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of :func:`canonical_request`.

    >>> msgs = [{"role": "user", "content": "hi"}]
    >>> cache_key("m", msgs, {"api_key": "sk-1"}) == cache_key("m", msgs, {})
    True
    """
    return hashlib.sha256(canonical_request(model, messages, params).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    text: str
    usage: Usage
    """What the original call cost (what the hit saved)."""


class ResponseCache:
    """Response texts in one sqlite file, safe to share between threads.

    Args:
        path: The sqlite file; its folder is created. Defaults to :func:`default_cache_path`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        with self._connection:
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,"
                " text TEXT NOT NULL, usage TEXT NOT NULL)"
            )

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT text, usage FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return CacheEntry(text=row[0], usage=Usage(**json.loads(row[1])))

    def put(self, key: str, model: str, request: str, text: str, usage: Usage) -> None:
        """Store an answer; ``request`` is the canonical (secret-free) request, kept for audits."""
        with self._lock, self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO responses (key, model, request, text, usage)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, model, request, text, json.dumps(asdict(usage))),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def clear(self) -> None:
        with self._lock, self._connection:
            self._connection.execute("DELETE FROM responses")

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
    """

    def __init__(self, model: ChatModel, cache: ResponseCache) -> None:
        self.model = model
        self.cache = cache
        self.model_name = model.model_name

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
        self.cache.put(key, self.model_name, request, response.text, response.usage)
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
        self.cache.put(key, self.model_name, request, response.text, response.usage)
        return response
