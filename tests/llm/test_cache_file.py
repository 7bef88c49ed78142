"""Response-cache files that are damaged, not files, or shared between processes (issue 9,
item 9): every problem names the file and the fix; WAL and a busy timeout let several runs share
one cache; an answer that cannot be stored is still returned."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
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
    ResponseCache(path).close()
    with sqlite3.connect(path) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


def _writer(path: str, worker: int, puts: int) -> None:
    with ResponseCache(path) as cache:
        for index in range(puts):
            cache.put(f"{worker}-{index}", "m", "{}", f"answer {worker} {index}", Usage(calls=1))
            if index % 50 == 0:
                assert cache.get(f"{worker}-{index}") is not None


def test_three_processes_share_one_cache(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(path), w, 500)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
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


@pytest.mark.parametrize("value", [0, -1.0])
def test_bad_busy_timeout_is_named(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError, match="busy_timeout_s"):
        ResponseCache(tmp_path / "c.sqlite", busy_timeout_s=value)
