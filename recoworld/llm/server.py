"""Serve the embedded model over HTTP with llama-cpp-python's OpenAI-compatible server.

``recoworld llm serve`` runs it on 127.0.0.1, so the litellm backend (``openai/<alias>`` with
``api_base="http://127.0.0.1:<port>/v1"``) and any OpenAI client can use the same model. The
server answers one request at a time.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from recoworld.llm.local import INSTALL_HINT, LocalModelUnavailable, embedded_model_path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_ALIAS = "smollm2"


def server_command(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    alias: str = DEFAULT_ALIAS,
    model_path: str | Path | None = None,
    n_ctx: int = 2048,
) -> list[str]:
    """The command line that starts the server (``python -m llama_cpp.server ...``).

    Raises :class:`~recoworld.llm.local.LocalModelUnavailable` with the install command when the
    server's packages are missing.
    """
    if not 1 <= port <= 65535:
        raise ValueError(f"port={port} is outside 1..65535")
    if not alias or any(character.isspace() for character in alias):
        raise ValueError(f"alias={alias!r} must be a non-empty name without spaces")
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette"):
        if importlib.util.find_spec(module) is None:
            raise LocalModelUnavailable(
                f"the model server needs {module!r} (llama-cpp-python[server]); install it "
                f"with: {INSTALL_HINT}"
            )
    path = Path(model_path) if model_path is not None else embedded_model_path()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF model file {path} does not exist")
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(path),
        "--model_alias", alias,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
    ]  # fmt: skip
