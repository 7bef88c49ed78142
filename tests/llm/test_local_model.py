"""The embedded model for real: SmolLM2-135M in process, and over HTTP through litellm."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from recoworld.llm.local import EMBEDDED_MODEL_NAME, LocalChatModel, embedded_model_path
from recoworld.llm.server import server_command

pytestmark = pytest.mark.llm

HELLO = [{"role": "user", "content": "Say hello to a music fan in one short sentence."}]
GENRE_SCHEMA = {
    "type": "object",
    "properties": {"genre": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["genre", "confidence"],
}


@pytest.fixture(scope="module")
def model() -> LocalChatModel:
    return LocalChatModel(max_tokens=24)


def test_embedded_model_generates_text_with_usage(model):
    response = model.complete(HELLO)
    assert response.text.strip()
    assert response.usage.calls == 1
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= 24
    assert response.usage.latency_s > 0
    assert response.usage.cost_usd == 0.0
    assert model.model_name == EMBEDDED_MODEL_NAME


def test_embedded_model_is_deterministic_at_temperature_zero(model):
    assert model.complete(HELLO).text == model.complete(HELLO).text


def test_constrained_decoding_returns_schema_valid_json(model):
    messages = [{"role": "user", "content": "A listener loves jazz. Which genre fits them?"}]
    response = model.complete(messages, schema=GENRE_SCHEMA, max_tokens=48)
    assert isinstance(response.parsed, dict)
    assert isinstance(response.parsed["genre"], str)
    assert isinstance(response.parsed["confidence"], int | float)


def test_async_path(model):
    async def both():
        return await asyncio.gather(model.acomplete(HELLO), model.acomplete(HELLO))

    first, second = asyncio.run(both())
    assert first.text == second.text


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.gguf"):
        LocalChatModel(tmp_path / "nothing.gguf")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_litellm_reaches_the_served_embedded_model(monkeypatch):
    from recoworld.llm.litellm_backend import LiteLLMChatModel

    port = _free_port()
    command = server_command(port=port, alias="smollm2", n_ctx=1024)
    assert str(embedded_model_path()) in command
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the model server did not start (exit code {server.poll()})")
                time.sleep(0.25)
        monkeypatch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY", "sk-local"))
        remote = LiteLLMChatModel("openai/smollm2", api_base=f"http://127.0.0.1:{port}/v1")
        response = remote.complete(HELLO, max_tokens=16, temperature=0.0)
        assert response.text.strip()
        assert response.usage.calls == 1
        assert response.usage.completion_tokens > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
