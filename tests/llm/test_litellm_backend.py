"""A real litellm call, over HTTP, to an OpenAI-compatible server the test runs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recoworld.llm import (
    CachedChatModel,
    LiteLLMChatModel,
    MeteredChatModel,
    ProviderError,
    ResponseCache,
    UsageMeter,
)

pytestmark = pytest.mark.llm

API_KEY = "sk-recoworld-test-key-do-not-leak-4242"


@dataclass
class FakeServerState:
    """What the fake server does next, and what it has seen."""

    answer: str = "Try the jazz playlist."
    failures: list[int] = field(default_factory=list)
    """HTTP status codes to answer with, one per request, before answering normally."""
    delay_s: float = 0.0
    requests: list[dict] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: FakeServerState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        state = self.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with state.lock:
            state.requests.append(body)
            state.auth_headers.append(self.headers.get("Authorization", ""))
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            failure = state.failures.pop(0) if state.failures else None
        try:
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            time.sleep(state.delay_s)
            if failure is not None:
                self._send(failure, {"error": {"message": "server overloaded", "type": "x"}})
                return
            self._send(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": state.answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 17,
                        "completion_tokens": 5,
                        "total_tokens": 22,
                    },
                },
            )
        finally:
            with state.lock:
                state.in_flight -= 1


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FakeServerState]]:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    state = FakeServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_model(api_base: str, **kwargs: object) -> LiteLLMChatModel:
    options: dict = {"timeout": 5.0, "backoff_s": 0.01, "max_backoff_s": 0.05, **kwargs}
    return LiteLLMChatModel("openai/local-test", api_base=api_base, **options)


MESSAGES = [
    {"role": "system", "content": "You recommend music."},
    {"role": "user", "content": "What should I listen to tonight?"},
]


def test_real_call_returns_text_usage_and_latency(server):
    api_base, state = server
    response = make_model(api_base).complete(MESSAGES, temperature=0.0, seed=3)
    assert response.text == "Try the jazz playlist."
    assert response.usage.calls == 1
    assert response.usage.prompt_tokens == 17
    assert response.usage.completion_tokens == 5
    assert response.usage.cost_usd == 0.0  # no price known for a local model
    assert response.usage.latency_s > 0
    assert not response.cached
    (request,) = state.requests
    assert request["model"] == "local-test"
    assert request["messages"] == MESSAGES
    assert request["temperature"] == 0.0
    assert request["seed"] == 3
    assert state.auth_headers == [f"Bearer {API_KEY}"]  # the key came from the environment


def test_structured_answer_is_validated(server):
    api_base, state = server
    state.answer = 'Here you go: ```json\n{"item_id": 12, "reason": "new to you"}\n```'
    schema = {
        "type": "object",
        "properties": {"item_id": {"type": "integer"}, "reason": {"type": "string"}},
        "required": ["item_id"],
    }
    response = make_model(api_base).complete(MESSAGES, schema=schema)
    assert response.parsed == {"item_id": 12, "reason": "new to you"}
    assert "response_format" not in state.requests[0]
    make_model(api_base, native_json_schema=True).complete(MESSAGES, schema=schema)
    assert state.requests[1]["response_format"]["json_schema"]["schema"] == schema


def test_server_error_is_retried_then_succeeds(server):
    api_base, state = server
    state.failures = [500, 503]
    response = make_model(api_base, max_retries=2).complete(MESSAGES)
    assert response.text == "Try the jazz playlist."
    assert len(state.requests) == 3


def test_server_errors_beyond_the_bound_raise_provider_error(server, caplog):
    api_base, state = server
    state.failures = [500, 500, 500]
    with caplog.at_level(logging.WARNING), pytest.raises(ProviderError) as caught:
        make_model(api_base, max_retries=1).complete(MESSAGES)
    assert "retrying" in caplog.text and API_KEY not in caplog.text
    assert len(state.requests) == 2
    assert caught.value.attempts == 2
    assert caught.value.model == "openai/local-test"
    assert API_KEY not in str(caught.value)


def test_client_error_is_not_retried(server):
    api_base, state = server
    state.failures = [400]
    with pytest.raises(ProviderError) as caught:
        make_model(api_base, max_retries=3).complete(MESSAGES)
    assert len(state.requests) == 1
    assert caught.value.attempts == 1


def test_timeout_raises_provider_error_after_bounded_retries(server):
    api_base, state = server
    state.delay_s = 1.0
    start = time.perf_counter()
    with pytest.raises(ProviderError, match="after 2 attempts") as caught:
        make_model(api_base, timeout=0.2, max_retries=1).complete(MESSAGES)
    assert time.perf_counter() - start < 3.0
    assert len(state.requests) == 2
    assert "Timeout" in str(caught.value)


def test_async_calls_respect_the_concurrency_limit(server):
    api_base, state = server
    state.delay_s = 0.3
    model = make_model(api_base, max_concurrency=3)
    meter = UsageMeter()
    metered = MeteredChatModel(model, meter)

    async def run_users() -> list:
        return await asyncio.gather(
            *(
                metered.acomplete([{"role": "user", "content": f"user {i} wants music"}])
                for i in range(8)
            )
        )

    start = time.perf_counter()
    responses = asyncio.run(run_users())
    elapsed = time.perf_counter() - start
    assert [r.text for r in responses] == ["Try the jazz playlist."] * 8
    assert len(state.requests) == 8
    assert 1 < state.max_in_flight <= 3
    assert elapsed < 8 * 0.3  # the calls overlapped
    assert meter.usage.calls == 8
    assert meter.usage.completion_tokens == 40


def test_async_server_error_is_retried(server):
    api_base, state = server
    state.failures = [502]
    response = asyncio.run(make_model(api_base, max_retries=1).acomplete(MESSAGES))
    assert response.text == "Try the jazz playlist."
    assert len(state.requests) == 2


def test_cache_replays_without_the_server_and_never_stores_the_key(server, tmp_path: Path):
    api_base, state = server
    path = tmp_path / "llm_cache.sqlite"
    with ResponseCache(path) as cache:
        first = CachedChatModel(make_model(api_base), cache).complete(MESSAGES, seed=1)
    with ResponseCache(path) as cache:
        second = CachedChatModel(make_model(api_base), cache).complete(MESSAGES, seed=1)
    assert len(state.requests) == 1
    assert second.cached and second.text == first.text
    assert second.usage.cache_hits == 1 and second.usage.calls == 0
    for stored in tmp_path.iterdir():
        assert API_KEY.encode() not in stored.read_bytes()


def test_credentials_are_refused_as_parameters():
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        LiteLLMChatModel("openai/local-test", extra_params={"api_key": API_KEY})
