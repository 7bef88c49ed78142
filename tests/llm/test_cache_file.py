"""Response-cache files that are damaged, not files, or shared between processes (issue 9,
item 9): every problem names the file and the fix; WAL and a busy timeout let several runs share
one cache; an answer that cannot be stored is still returned."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import gymnasium as gym
import pytest

import recoworld  # noqa: F401  (registers the envs)
from recoworld.llm import CachedChatModel, CacheFileError, ResponseCache, ScriptedChatModel, Usage

ASK = [{"role": "user", "content": "Recommend one song."}]


ENTRIES = 60


def filled_cache(path: Path) -> None:
    with ResponseCache(path) as cache:
        for index in range(ENTRIES):
            cache.put(f"key-{index}", "m", "{}", f"answer {index} " + "x" * 3000, Usage(calls=1))


def read_everything(path: Path) -> None:
    with ResponseCache(path) as cache:
        len(cache)
        for index in range(ENTRIES):
            cache.get(f"key-{index}")


def assert_names_file_and_fix(error: CacheFileError, path: Path) -> None:
    assert error.path == path
    assert str(path) in str(error)
    assert "delete it" in str(error) or "choose another path" in str(error)


def test_random_bytes_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CacheFileError) as caught:
        ResponseCache(path)
    assert_names_file_and_fix(caught.value, path)
    assert "delete it" in str(caught.value)


def test_a_truncated_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    filled_cache(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CacheFileError) as caught:
        read_everything(path)  # at open, or at the first read of a lost page
    assert_names_file_and_fix(caught.value, path)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CacheFileError, match="is a folder") as caught:
        ResponseCache(tmp_path)
    assert caught.value.path == tmp_path


def test_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(CacheFileError) as caught:
        ResponseCache(blocker / "cache.sqlite")
    assert_names_file_and_fix(caught.value, blocker / "cache.sqlite")


def test_a_damaged_cache_is_reported_at_gym_make(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(2000))
    with pytest.raises(CacheFileError) as caught:
        gym.make(
            "RecoWorld-v0",
            user_model="llm",
            llm={"model": ScriptedChatModel(["x"]), "cache": str(path)},
        )
    assert_names_file_and_fix(caught.value, path)


def test_the_cache_is_opened_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path), contextlib.closing(sqlite3.connect(path)) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


def test_a_closed_cache_is_one_file_that_opens_read_only_anywhere(tmp_path: Path) -> None:
    """Review of issue 9: a closed cache stayed in WAL mode, and a WAL file cannot be opened
    with ``mode=ro`` where sqlite cannot create its ``-shm`` file."""
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path) as cache:
        cache.put("k", "m", "{}", "stored", Usage(calls=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite"]
    header = path.read_bytes()[18:20]
    assert header == b"\x01\x01"  # rollback journal: no -wal/-shm needed to read it
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as reader:
        assert reader.execute("SELECT text FROM responses").fetchone() == ("stored",)


def test_a_cache_still_open_elsewhere_stays_in_wal_when_one_closes(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    other = ResponseCache(path)
    try:
        with ResponseCache(path, busy_timeout_s=5) as cache:
            cache.put("k", "m", "{}", "stored", Usage(calls=1))
        assert other.get("k").text == "stored"  # closing one did not disturb the other
        other.put("k2", "m", "{}", "more", Usage(calls=1))
    finally:
        other.close()
    with ResponseCache(path, read_only=True) as cache:
        assert len(cache) == 2


# --- read-only caches (review of issue 9) ---------------------------------------------------


def stored_cache(path: Path, *, wal: bool = False) -> None:
    """A cache file holding one answer for ``ASK``; ``wal=True`` leaves it in WAL mode."""
    with ResponseCache(path) as cache:
        CachedChatModel(ScriptedChatModel(["stored answer"]), cache).complete(ASK)
    if wal:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


def test_read_only_replays_and_counts_failed_puts_with_one_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "cache.sqlite"
    stored_cache(path)
    before = path.read_bytes()
    inner = ScriptedChatModel(["new 1", "new 2"])
    with caplog.at_level(logging.WARNING), ResponseCache(path, read_only=True) as cache:
        assert cache.read_only
        model = CachedChatModel(inner, cache)
        hit = model.complete(ASK)
        assert hit.cached and hit.text == "stored answer"
        other = [{"role": "user", "content": "Another song?"}]
        assert model.complete(other).text == "new 1"
        assert model.complete(other).text == "new 2"  # not stored, so asked again
        with pytest.raises(CacheFileError, match="read-only") as caught:
            cache.put("k", "m", "{}", "x", Usage())
        assert str(path) in str(caught.value)
    assert model.failed_puts == 2
    assert caplog.text.count("not cached") == 1  # one warning, not one per miss
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite"]


def test_read_only_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite"
    with pytest.raises(CacheFileError, match="does not exist") as caught:
        ResponseCache(path, read_only=True)
    assert caught.value.path == path and not path.exists()


def test_read_only_still_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CacheFileError) as caught:
        ResponseCache(path, read_only=True)
    assert_names_file_and_fix(caught.value, path)


@contextlib.contextmanager
def write_protected(*paths: Path):
    """Make ``paths`` read-only for this process, root included: ``chmod`` for other users;
    for root, which ignores permissions, the immutable attribute (``chattr +i``); skip when
    neither is possible."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in paths}
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root (permissions ignored) and chattr is not available")
    protected: list[Path] = []
    try:
        for path in paths:
            if subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
                pytest.skip("running as root (permissions ignored) and chattr +i fails here")
            protected.append(path)
        yield
    finally:
        for path in reversed(protected):
            subprocess.run([chattr, "-i", str(path)], check=True)


@pytest.mark.parametrize("wal", [False, True], ids=["closed-file", "wal-file"])
@pytest.mark.parametrize("protect", ["file-and-folder", "folder"])
def test_a_write_protected_cache_is_opened_read_only(
    tmp_path: Path, caplog, wal: bool, protect: str
) -> None:
    """Review of issue 9: ``PRAGMA journal_mode=WAL`` on every open needs write access, so a
    read-only cache could no longer be opened at all."""
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "cache.sqlite"
    stored_cache(path, wal=wal)
    targets = (path, folder) if protect == "file-and-folder" else (folder,)
    with write_protected(*targets):
        with caplog.at_level(logging.WARNING), ResponseCache(path) as cache:
            assert cache.read_only
            model = CachedChatModel(ScriptedChatModel(["new"]), cache)
            assert model.complete(ASK).text == "stored answer"
            assert model.complete([{"role": "user", "content": "Else?"}]).text == "new"
        assert model.failed_puts == 1
        assert "read-only" in caplog.text and str(path) in caplog.text
    assert sorted(p.name for p in folder.iterdir()) == ["cache.sqlite"]


def _writer(path: str, worker: int, puts: int) -> None:  # runs in a spawned process
    with ResponseCache(path) as cache:
        for index in range(puts):
            cache.put(f"{worker}-{index}", "m", "{}", f"answer {worker} {index}", Usage(calls=1))
            if index % 50 == 0:
                assert cache.get(f"{worker}-{index}") is not None


def test_three_processes_share_one_cache(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    # spawn, not fork: this process has threads (fork would copy their locks mid-use).
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), w, 500)) for w in range(3)]
    try:
        for process in workers:
            process.start()
        for process in workers:
            process.join(timeout=120)
    finally:
        for process in workers:  # stragglers past the timeout (or after a failed start)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
    assert [process.exitcode for process in workers] == [0, 0, 0]
    with ResponseCache(path) as cache:
        assert len(cache) == 1500
        assert cache.get("2-499").text == "answer 2 499"


def test_an_open_reader_in_another_run_does_not_block_a_put(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with ResponseCache(path) as cache:
        cache.put("first", "m", "{}", "one", Usage(calls=1))
        reader = sqlite3.connect(path, timeout=0.05)
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)
        try:
            cache.put("second", "m", "{}", "two", Usage(calls=1))  # WAL: no wait for readers
        finally:
            reader.rollback()
            reader.close()
        assert len(cache) == 2


def test_a_failed_put_keeps_the_paid_answer(tmp_path: Path, caplog) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, timeout=0.05)
    other.execute("BEGIN IMMEDIATE")  # another run holds the write lock past the busy timeout
    inner = ScriptedChatModel(["paid for", "paid again"])
    model = CachedChatModel(inner, cache)
    try:
        with caplog.at_level(logging.WARNING):
            response = model.complete(ASK)
            assert model.complete(ASK).text == "paid again"  # nothing was stored, so asked again
    finally:
        other.rollback()
        other.close()
    assert response.text == "paid for" and not response.cached
    assert model.failed_puts == 2
    assert str(path) in caplog.text and "not cached" in caplog.text
    cache.close()


def test_a_locked_put_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, timeout=0.05)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(CacheFileError, match="busy_timeout_s") as caught:
            cache.put("k", "m", "{}", "text", Usage())
    finally:
        other.rollback()
        other.close()
        cache.close()
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("value", [0, -1.0, "1", None, float("nan"), True])
def test_bad_busy_timeout_is_named(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError, match="busy_timeout_s="):
        ResponseCache(tmp_path / "c.sqlite", busy_timeout_s=value)
    assert not (tmp_path / "c.sqlite").exists()


def test_bad_read_only_flag_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read_only="):
        ResponseCache(tmp_path / "c.sqlite", read_only="yes")  # type: ignore[arg-type]
