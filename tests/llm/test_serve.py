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
import threading
import time
from pathlib import Path
from types import SimpleNamespace
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
        # written aside and renamed, so a reader never sees the file before its text
        with open(out + ".stopping", "w") as f:
            f.write(signal.Signals(signum).name)
        os.replace(out + ".stopping", out + ".stopped")
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
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def kill_if_alive(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def parent_and_child(marker: Path, **popen: object):
    """The PARENT script running CHILD; both are killed on the way out, whatever happened."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(marker)], **popen)
    try:
        yield parent
    finally:
        if marker.exists():
            kill_if_alive(int(marker.read_text()))
        if parent.poll() is None:
            parent.kill()
        parent.wait()


@pytest.fixture
def spawned(monkeypatch):
    """Every child ``run_server`` starts in this process, killed after the test if still
    running (also when the test failed)."""
    children: list[subprocess.Popen] = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            children.append(self)

    monkeypatch.setattr(
        server,
        "subprocess",
        SimpleNamespace(Popen=Recorded, TimeoutExpired=subprocess.TimeoutExpired),
    )
    try:
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_parent_by_pid_stops_the_server_child(tmp_path: Path, signum) -> None:
    marker = tmp_path / "child.pid"
    with parent_and_child(marker) as parent:
        child_pid = int(wait_for(marker))
        parent.send_signal(signum)
        parent.wait(timeout=30)
        assert wait_for(Path(f"{marker}.stopped"), 10) == signal.Signals(signum).name
        deadline = time.monotonic() + 10
        while pid_alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(child_pid)
        assert parent.returncode == 0  # the child stopped cleanly and said so


def test_a_terminal_ctrl_c_reaches_the_child_only_through_the_parent(tmp_path: Path) -> None:
    """Review of issue 9: the child shared the parent's process group, so a Ctrl-C in the
    terminal (SIGINT to the whole foreground group) reached it twice: directly and forwarded."""
    marker = tmp_path / "child.pid"
    with parent_and_child(marker, start_new_session=True) as parent:  # the "terminal" group
        child_pid = int(wait_for(marker))
        assert os.getpgid(child_pid) != os.getpgid(parent.pid)
        assert os.getsid(child_pid) != os.getsid(parent.pid)
        os.killpg(os.getpgid(parent.pid), signal.SIGINT)  # what Ctrl-C sends
        parent.wait(timeout=30)
        assert wait_for(Path(f"{marker}.stopped"), 10) == "SIGINT"
        assert parent.returncode == 0


def test_killing_the_parent_outright_still_stops_the_child(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    marker = tmp_path / "child.pid"
    with parent_and_child(marker) as parent:
        wait_for(marker)
        parent.kill()
        parent.wait(timeout=30)
        assert wait_for(Path(f"{marker}.stopped"), 10) == "SIGTERM"


# A child that stops by itself (exit 7) if no signal comes within 20 s.
PATIENT_CHILD = "import sys, time; time.sleep(20); sys.exit(7)"


def test_a_signal_before_the_child_exists_is_passed_on(monkeypatch, spawned) -> None:
    """Review of issue 9: the handlers were installed only after the child started, so a
    SIGTERM in between ended the parent and left the child running."""
    real_popen = server.subprocess.Popen
    received: list[int] = []

    def signal_first(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the child is being started
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(server.subprocess, "Popen", signal_first)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        code = server.run_server([sys.executable, "-c", PATIENT_CHILD])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == -signal.SIGTERM  # passed on to the child, not waited out (exit 7)
    assert received == []  # and not handled by the handler run_server put back
    assert [child.returncode for child in spawned] == [-signal.SIGTERM]


def test_run_server_from_another_thread_installs_no_handler_and_cleans_up(spawned) -> None:
    """Review of issue 9: outside the main thread ``signal.signal`` raises ValueError, which
    came after the child had started and left it running."""
    results: list[object] = []

    def run(command: list[str]) -> None:
        try:
            results.append(server.run_server(command))
        except BaseException as error:  # reported below
            results.append(error)

    handler = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run, args=([sys.executable, "-c", "raise SystemExit(3)"],))
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert results == [3]
    assert signal.getsignal(signal.SIGTERM) is handler
    assert all(child.poll() is not None for child in spawned)


def test_the_child_is_stopped_when_waiting_fails(monkeypatch, spawned) -> None:
    class Interrupted(Exception):
        pass

    real_popen = server.subprocess.Popen

    class FailingWait(real_popen):  # type: ignore[misc, valid-type]
        def wait(self, timeout=None):
            if timeout is None:
                raise Interrupted
            return super().wait(timeout)

    monkeypatch.setattr(server.subprocess, "Popen", FailingWait)
    with pytest.raises(Interrupted):
        server.run_server([sys.executable, "-c", PATIENT_CHILD])
    assert len(spawned) == 1 and spawned[0].returncode == -signal.SIGTERM
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


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
