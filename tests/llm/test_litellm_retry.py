"""Retry waits of the litellm backend: seeded full jitter, and the provider's Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from recoworld.llm import LiteLLMChatModel, ProviderError
from recoworld.llm.litellm_backend import _import_litellm, retry_after_s

litellm = _import_litellm()  # with the local price map: importing litellm must not go online

MESSAGES = [{"role": "user", "content": "Recommend one song."}]


def rate_limit_error(headers: dict[str, str] | None = None, **kwargs: object) -> Exception:
    """A litellm 429 whose HTTP response carries ``headers``, as litellm raises it."""
    response = httpx.Response(
        429, headers=headers or {}, request=httpx.Request("POST", "http://127.0.0.1/v1")
    )
    return litellm.exceptions.RateLimitError(
        "slow down", llm_provider="openai", model="local-test", response=response, **kwargs
    )


def make_model(**kwargs: object) -> LiteLLMChatModel:
    return LiteLLMChatModel("openai/local-test", api_base="http://127.0.0.1:9/v1", **kwargs)


def test_retry_after_seconds_is_read_from_the_response_headers():
    assert retry_after_s(rate_limit_error({"Retry-After": "3"})) == 3.0
    assert retry_after_s(rate_limit_error({"retry-after": "0.25"})) == 0.25
    assert retry_after_s(rate_limit_error({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5


def test_retry_after_from_headers_litellm_attaches_or_the_error_carries():
    attached = rate_limit_error()
    attached.litellm_response_headers = httpx.Headers({"Retry-After": "4"})
    assert retry_after_s(attached) == 4.0
    assert retry_after_s(rate_limit_error(headers={"retry-after": "2"})) == 2.0


def test_retry_after_as_an_http_date():
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert retry_after_s(rate_limit_error({"Retry-After": past})) == 0.0
    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100.0 < retry_after_s(rate_limit_error({"Retry-After": future})) <= 120.0


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", ""])
def test_unusable_retry_after_is_ignored(value):
    assert retry_after_s(rate_limit_error({"Retry-After": value})) is None


def test_no_headers_no_retry_after():
    assert retry_after_s(rate_limit_error()) is None
    assert retry_after_s(RuntimeError("no response at all")) is None


def test_retry_after_is_honoured_and_capped_at_max_backoff():
    model = make_model(max_retries=3, backoff_s=0.5, max_backoff_s=8.0)
    assert model._on_failure(rate_limit_error({"Retry-After": "3"}), attempt=1) == 3.0
    assert model._on_failure(rate_limit_error({"Retry-After": "600"}), attempt=1) == 8.0
    # Past the retry budget, or for an error that is not worth retrying, there is no wait.
    assert model._on_failure(rate_limit_error({"Retry-After": "3"}), attempt=4) is None
    bad_request = litellm.exceptions.BadRequestError("no", model="local-test", llm_provider="x")
    assert model._on_failure(bad_request, attempt=1) is None


def test_backoff_is_full_jitter_within_the_doubling_bound():
    model = make_model(max_retries=10, backoff_s=0.5, max_backoff_s=3.0)
    for attempt, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (6, 3.0)]:
        waits = [model._on_failure(rate_limit_error(), attempt) for _ in range(200)]
        assert all(0.0 <= wait <= bound for wait in waits)
        # Spread over the whole interval, not pinned to its top as plain backoff would be.
        assert min(waits) < 0.1 * bound and max(waits) > 0.9 * bound


def test_jitter_is_reproducible_from_retry_seed():
    def waits(seed: int) -> list[float]:
        model = make_model(max_retries=5, retry_seed=seed)
        return [model._on_failure(rate_limit_error(), attempt) for attempt in (1, 2, 3, 1, 2)]

    assert waits(7) == waits(7)
    assert waits(7) != waits(8)
    assert make_model().retry_seed == 0


@pytest.mark.parametrize("seed", [None, 1.5, True, "0"])
def test_bad_retry_seed_is_a_clear_error(seed):
    with pytest.raises(ValueError, match=f"retry_seed must be an int, got {seed!r}"):
        make_model(retry_seed=seed)


class _Throttling(BaseHTTPRequestHandler):
    """Answers 429 with a Retry-After header ``throttles`` times, then a normal completion."""

    throttles: list[str]
    requests: list[dict]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict, headers: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        if self.throttles:
            retry_after = self.throttles.pop(0)
            self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": retry_after})
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
                        "message": {"role": "assistant", "content": "Blue in Green."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            },
            {},
        )


@pytest.fixture
def throttling_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, type]]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-recoworld-retry-test")
    handler = type("Handler", (_Throttling,), {"throttles": [], "requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def recording_waits(model: LiteLLMChatModel) -> list[float | None]:
    """Record every wait the model decides on (it still sleeps it)."""
    waits: list[float | None] = []
    decide = model._on_failure

    def on_failure(error: BaseException, attempt: int) -> float | None:
        waits.append(decide(error, attempt))
        return waits[-1]

    model._on_failure = on_failure  # type: ignore[method-assign]
    return waits


def test_a_real_429_with_retry_after_is_waited_out(throttling_server):
    api_base, handler = throttling_server
    handler.throttles = ["0.2", "30"]
    model = LiteLLMChatModel(
        "openai/local-test", api_base=api_base, timeout=5.0, max_retries=2, max_backoff_s=0.3
    )
    waits = recording_waits(model)
    assert model.complete(MESSAGES).text == "Blue in Green."
    assert waits == [0.2, 0.3]  # as asked, then capped at max_backoff_s
    assert len(handler.requests) == 3


def test_async_path_honours_retry_after(throttling_server):
    api_base, handler = throttling_server
    handler.throttles = ["0.1"]
    model = LiteLLMChatModel("openai/local-test", api_base=api_base, timeout=5.0, max_retries=1)
    waits = recording_waits(model)
    assert asyncio.run(model.acomplete(MESSAGES)).text == "Blue in Green."
    assert waits == [0.1]


def test_throttled_beyond_the_retry_bound_raises_provider_error(throttling_server):
    api_base, handler = throttling_server
    handler.throttles = ["0.05", "0.05"]
    model = LiteLLMChatModel("openai/local-test", api_base=api_base, timeout=5.0, max_retries=1)
    with pytest.raises(ProviderError, match="after 2 attempts") as caught:
        model.complete(MESSAGES)
    assert "RateLimitError" in str(caught.value)
