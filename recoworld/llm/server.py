"""Serve the embedded model over HTTP with llama-cpp-python's OpenAI-compatible server.

``recoworld llm serve`` runs it on 127.0.0.1, so the litellm backend (``openai/<alias>`` with
``api_base="http://127.0.0.1:<port>/v1"``) and any OpenAI client can use the same model. The
server answers one request at a time and checks no API key, but litellm's ``openai/`` provider
wants one set: any value does (``OPENAI_API_KEY=unused``, see :func:`client_snippet`).

The server runs as a child process (:func:`run_server`); a SIGTERM or SIGINT sent to the parent
is passed on to it, so stopping ``recoworld llm serve`` by its PID stops the server too.
"""

from __future__ import annotations

import ctypes
import importlib.util
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

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
    verbose: bool = False,
) -> list[str]:
    """The command line that starts the server (``python -m llama_cpp.server ...``).

    ``verbose=False`` (the default) keeps llama.cpp's model-loading log (about 2,000 lines)
    quiet; the server's own startup and request lines are still printed.

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
        "--verbose", str(bool(verbose)),
    ]  # fmt: skip


def client_snippet(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, alias: str = DEFAULT_ALIAS
) -> str:
    """Python that uses the server from recoworld (and, through litellm, from anything else).

    The server checks no key, but litellm's ``openai/`` provider refuses to send a request
    without one, so the snippet sets a placeholder unless a key is already set.
    """
    api_base = f"http://{host}:{port}/v1"
    return "\n".join(
        (
            "import os",
            'os.environ.setdefault("OPENAI_API_KEY", "unused")  # the server checks no key',
            "from recoworld.llm import LiteLLMChatModel",
            f'model = LiteLLMChatModel("openai/{alias}", api_base="{api_base}")',
            'print(model.complete([{"role": "user", "content": "Hello!"}]).text)',
            f'# or in an env: llm={{"model": "openai/{alias}", "api_base": "{api_base}"}}',
        )
    )


def _stop_with_parent() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that makes the child get SIGTERM if the parent dies even by
    SIGKILL (``prctl(PR_SET_PDEATHSIG)``); ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG

    return set_death_signal


def run_server(
    command: Sequence[str],
    *,
    forward: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> int:
    """Run ``command`` as a child process until it ends, passing the ``forward`` signals on.

    While the child runs, SIGTERM and SIGINT sent to this process are sent to the child (which
    stops), instead of ending this process and leaving the child running. On Linux the child
    also gets SIGTERM if this process is killed outright. Returns the child's exit status
    (negative: the signal that ended it, as :mod:`subprocess` reports it).
    """
    child = subprocess.Popen(list(command), preexec_fn=_stop_with_parent())

    def pass_on(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {number: signal.signal(number, pass_on) for number in forward}
    try:
        return child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if child.poll() is None:  # this process is leaving for another reason: take it along
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
