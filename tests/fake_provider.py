"""A scriptable OpenAI-compatible chat server on loopback, for probing the LLM layer end to end.

Each request to ``POST /v1/chat/completions`` takes the next :class:`Reply` of the script (or
the default reply once the script is spent): a normal answer with usage, an HTTP error (with
``Retry-After``), a slow answer (for timeouts), a garbage or truncated body, an answer with no
choices, or a 401 whose body echoes the ``Authorization`` header it received, as some proxies
do. The server records every request's JSON body and headers.

Use it through the ``fake_provider`` fixture (``tests/conftest.py``)::

    def test_something(fake_provider):
        fake_provider.script = [Reply.error(500), Reply.answer("hi")]
        model = LiteLLMChatModel("openai/fake", api_base=fake_provider.url, ...)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAKE_API_KEY = "sk-fake-provider-key-must-never-leak-0123456789"
"""The key the fixture puts in ``OPENAI_API_KEY``; no error text may ever contain it."""


def completion_body(
    text: str, *, model: str = "fake", prompt_tokens: int = 11, completion_tokens: int = 4
) -> dict[str, Any]:
    """A valid chat-completion body answering ``text``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    status: int = 200
    body: Any = None
    """A dict (sent as JSON), ``bytes``/``str`` (sent as they are), or ``None`` for a normal
    answer with ``text``."""
    text: str = "Try the jazz playlist."
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    echo_authorization: bool = False
    """Answer 401 with a body that repeats the request's ``Authorization`` header."""
    prompt_tokens: int = 11
    completion_tokens: int = 4

    @classmethod
    def answer(cls, text: str = "Try the jazz playlist.", **usage: int) -> Reply:
        return cls(text=text, **usage)  # type: ignore[arg-type]

    @classmethod
    def error(cls, status: int = 500, *, retry_after: str | None = None) -> Reply:
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        body = {"error": {"message": f"fake provider error {status}", "type": "server_error"}}
        return cls(status=status, body=body, headers=headers)

    @classmethod
    def slow(cls, delay_s: float) -> Reply:
        return cls(delay_s=delay_s)

    @classmethod
    def garbage(cls, body: bytes | str = b"<html>502 Bad Gateway</html>\x00\xff") -> Reply:
        return cls(body=body)

    @classmethod
    def truncated(cls) -> Reply:
        """A normal answer cut in the middle (the Content-Length matches what is sent)."""
        whole = json.dumps(completion_body("Try the jazz playlist."))
        return cls(body=whole[: len(whole) // 2])

    @classmethod
    def empty_choices(cls) -> Reply:
        body = completion_body("")
        body["choices"] = []
        return cls(body=body)

    @classmethod
    def unauthorized_echo(cls) -> Reply:
        return cls(status=401, echo_authorization=True)


@dataclass
class FakeProvider:
    """The server's script and what it has seen (shared with the handler threads)."""

    url: str = ""
    """The ``api_base`` to give litellm (``http://127.0.0.1:<port>/v1``)."""
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    """The reply once the script is spent (e.g. ``Reply.error(500)`` for a server that is down
    for good)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    """The headers of each request, names in lower case."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.script.pop(0) if self.script else self.default


class _Handler(BaseHTTPRequestHandler):
    provider: FakeProvider

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, payload: bytes, headers: tuple[tuple[str, str], ...]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw.decode(errors="replace")}
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.provider.next_reply(body, headers)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if self.path != "/v1/chat/completions":
            payload: Any = {"error": {"message": f"no route {self.path}"}}
            self._send(404, json.dumps(payload).encode(), ())
            return
        if reply.echo_authorization:
            payload = {
                "error": {
                    "message": "Incorrect API key provided: "
                    + self.headers.get("Authorization", "<none>"),
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
            self._send(401, json.dumps(payload).encode(), reply.headers)
            return
        payload = reply.body
        if payload is None:
            payload = completion_body(
                reply.text,
                model=str(body.get("model", "fake")),
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
            )
        if isinstance(payload, dict):
            data = json.dumps(payload).encode()
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = bytes(payload)
        self._send(reply.status, data, reply.headers)


def start_fake_provider() -> tuple[FakeProvider, ThreadingHTTPServer]:
    """Start a server on a free loopback port in a daemon thread; stop it with ``shutdown()``
    and ``server_close()``."""
    provider = FakeProvider()
    handler = type("Handler", (_Handler,), {"provider": provider})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    provider.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return provider, httpd
