"""Serve the embedded model over HTTP with llama-cpp-python's OpenAI-compatible server.

``recoworld llm serve`` runs it on 127.0.0.1, so the litellm backend (``openai/<alias>`` with
``api_base="http://127.0.0.1:<port>/v1"``) and any OpenAI client can use the same model. The
server answers one request at a time and checks no API key, but litellm's ``openai/`` provider
wants one set: any value does (``OPENAI_API_KEY=unused``, see :func:`client_snippet`).

The server runs as a child process (:func:`run_server`); a SIGTERM or SIGINT sent to the parent
is passed on to it, so stopping ``recoworld llm serve`` by its PID stops the server too.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

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


_STOP_WITH_PARENT = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(143)  # the parent died before the signal was armed: do not start the server
for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores these; the server gets the defaults
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as error:
    sys.stderr.write(f"cannot start {sys.argv[2]!r}: {error}\\n")
    sys.exit(127)
"""
"""A tiny Python launcher, Linux only: arms the parent-death signal
(``prctl(PR_SET_PDEATHSIG, SIGTERM)``, kept across ``exec``) and then becomes the server
command. It does in a child process of its own what a ``preexec_fn`` would do between ``fork``
and ``exec``, which is unsafe in a process with threads."""


def _child_command(command: Sequence[str]) -> list[str]:
    """``command``, started through :data:`_STOP_WITH_PARENT` on Linux, as it is elsewhere."""
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-c", _STOP_WITH_PARENT, str(os.getpid()), *command]


def run_server(
    command: Sequence[str],
    *,
    forward: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> int:
    """Run ``command`` as a child process until it ends, passing the ``forward`` signals on.

    While the child runs, SIGTERM and SIGINT sent to this process are sent to the child (which
    stops), instead of ending this process and leaving the child running. The child runs in a
    session of its own, so a Ctrl-C in the terminal reaches it once, passed on by this process,
    not twice. However this function is left (the child ended, or an exception), a child still
    running is stopped (SIGTERM, then SIGKILL after 10 s). Returns the child's exit status
    (negative: the signal that ended it, as :mod:`subprocess` reports it).

    The handlers are installed only in the main thread (Python allows no other); called from
    another thread, nothing is forwarded, but the child is still stopped when this function is
    left. On Linux the child also gets SIGTERM if this process is killed outright (SIGKILL):
    it is started through a small launcher that arms the parent-death signal
    (``prctl(PR_SET_PDEATHSIG)``) and then executes the command, rather than through a
    ``preexec_fn``, which is unsafe when the process has threads. (Linux sends that signal when
    the *thread* that started the child ends; this function waits in that thread until the
    child has ended.)
    """
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []  # signals that came before the child existed

    def pass_on(signum: int, frame: FrameType | None) -> None:
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    previous: dict[int, Any] = {}  # the handlers to put back
    try:
        if threading.current_thread() is threading.main_thread():
            for number in forward:
                previous[number] = signal.signal(number, pass_on)
        child = subprocess.Popen(_child_command(command), start_new_session=True)
        for early in pending:
            child.send_signal(early)
        return child.wait()
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)
        if child is not None and child.poll() is None:
            # this process is leaving for another reason: take the child along
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
