"""``recoworld llm serve``: the snippet it prints works without a key, stopping it by PID stops
the server child, the loader log is quiet by default, and its install hint survives rich markup
(issue 9, item 17)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from recoworld.cli import app
from recoworld.llm import server
from recoworld.llm.local import INSTALL_HINT, LocalModelUnavailable

runner = CliRunner()

# A stand-in for the llama.cpp server: writes its pid, then waits; on SIGTERM or SIGINT it
# writes which signal stopped it and exits.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    out = sys.argv[1]
    def stop(signum, frame):
        with open(out + ".stopped", "w") as f:
            f.write(signal.Signals(signum).name)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(out + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(out + ".tmp", out)
    time.sleep(60)
    """
)

PARENT = textwrap.dedent(
    """
    import sys
    from recoworld.llm.server import run_server
    sys.exit(run_server([sys.executable, "-c", sys.argv[1], sys.argv[2]]))
    """
)


def wait_for(path: Path, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)
    return path.read_text()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_parent_by_pid_stops_the_server_child(tmp_path: Path, signum) -> None:
    marker = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(marker)])
    try:
        child_pid = int(wait_for(marker))
        parent.send_signal(signum)
        parent.wait(timeout=30)
        assert wait_for(Path(f"{marker}.stopped"), 10) == signal.Signals(signum).name
        deadline = time.monotonic() + 10
        while pid_alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(child_pid)
        assert parent.returncode == 0  # the child stopped cleanly and said so
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_killing_the_parent_outright_still_stops_the_child(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    marker = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(marker)])
    wait_for(marker)
    parent.kill()
    parent.wait(timeout=30)
    assert wait_for(Path(f"{marker}.stopped"), 10) == "SIGTERM"


def test_the_loader_log_is_quiet_unless_verbose() -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("uvicorn")
    try:
        quiet = server.server_command()
        loud = server.server_command(verbose=True)
    except LocalModelUnavailable as error:
        pytest.skip(str(error))
    assert quiet[quiet.index("--verbose") + 1] == "False"
    assert loud[loud.index("--verbose") + 1] == "True"


def test_serve_prints_a_working_snippet_and_exits_cleanly(monkeypatch, fake_provider) -> None:
    address = urlsplit(fake_provider.url)
    commands: list[list[str]] = []
    monkeypatch.setattr(server, "server_command", lambda **kwargs: ["llama-server", str(kwargs)])
    monkeypatch.setattr(server, "run_server", lambda command: commands.append(command) or -15)
    result = runner.invoke(
        app, ["llm", "serve", "--host", str(address.hostname), "--port", str(address.port)]
    )
    assert result.exit_code == 0, result.output
    assert "'verbose': False" in commands[0][1]
    snippet = result.output[result.output.index("import os") :].strip()
    assert f'api_base="{fake_provider.url}"' in snippet and '"openai/smollm2"' in snippet
    # The snippet works as printed, with no API key set (the placeholder stands in for it).
    monkeypatch.delenv("OPENAI_API_KEY")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, "<snippet>", "exec"), {})
    assert printed.getvalue().strip() == "Try the jazz playlist."
    assert fake_provider.headers[0]["authorization"] == "Bearer unused"


def test_serve_verbose_flag_reaches_the_server(monkeypatch) -> None:
    seen: list[dict] = []
    monkeypatch.setattr(server, "server_command", lambda **kwargs: seen.append(kwargs) or ["x"])
    monkeypatch.setattr(server, "run_server", lambda command: 0)
    assert runner.invoke(app, ["llm", "serve", "--verbose"]).exit_code == 0
    assert seen[0]["verbose"] is True


def test_serve_install_hint_keeps_its_brackets(monkeypatch) -> None:
    def missing(**kwargs):
        raise LocalModelUnavailable(f"the model server needs 'llama_cpp'; install: {INSTALL_HINT}")

    monkeypatch.setattr(server, "server_command", missing)
    result = runner.invoke(app, ["llm", "serve"])
    assert result.exit_code == 1
    assert 'pip install -e ".[llm]"' in result.output
    assert '"recoworld[llm]"' in result.output
