"""Evaluation trajectories on disk, as JSON Lines: written as a run goes, read back afterwards.

A long run over many (possibly LLM-backed) users must never lose what it has already simulated,
so :class:`TrajectoryWriter` writes each episode to disk and flushes the file as soon as the
episode ends, and writes the episode that was cut short (by an exception or a cost cap) with
``"episode_complete": false`` before the error goes on. :func:`read_trajectories` reads a file
back, and says which line of which file is broken when one is.

Each line is one JSON object, in this key order:

``episode``
    Index of the episode in its run (0-based).
``seed``
    The seed its ``env.reset`` was called with (``null`` when none was given).
``agent``
    Name of the agent that played it.
``step``
    0 for the reset, then 1, 2, ... for the steps, so record ``t`` holds the state after ``t``
    actions (and the reset record carries what the user said first, in conversational envs).
``action``
    The action of the step as JSON (a NumPy array becomes a list, a NumPy scalar a number; an
    action with no JSON form is written as its ``repr``); ``null`` on the reset record.
``reward``, ``terminated``, ``truncated``
    As the step returned them (``null``, ``false``, ``false`` on the reset record); a
    non-finite reward is written as ``null``.
``episode_complete``
    ``false`` on every record of an episode that ended by an error instead of by
    ``terminated`` or ``truncated``.
``info``
    The JSON-safe part of the step's ``info``: arrays become lists, NaN and infinities become
    ``null``, text (``instruction``, ``mindset``, ``utterance``, ``reply``...) is kept as it is;
    values with no JSON form (arbitrary objects, bytes, complex numbers) are left out, and so is
    ``action_mask`` unless asked for.

The same seeds and the same actions give a byte-identical file, except for values the env
itself measures in wall-clock time (such as ``info["usage"]["latency_s"]`` of a real LLM call).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np

from recoworld.evaluation.files import check_new_file

__all__ = [
    "OMIT",
    "RECORD_KEYS",
    "TrajectoryWriter",
    "check_new_file",
    "iter_episodes",
    "iter_trajectories",
    "jsonable",
    "read_trajectories",
]

RECORD_KEYS: tuple[str, ...] = (
    "episode",
    "seed",
    "agent",
    "step",
    "action",
    "reward",
    "terminated",
    "truncated",
    "episode_complete",
    "info",
)
"""The keys of every trajectory record, in the order they are written."""


class _Omit:
    """Marks a value that has no JSON form (left out of a record)."""

    def __repr__(self) -> str:
        return "<omitted>"


OMIT = _Omit()
"""What :func:`jsonable` returns for a value with no JSON form."""


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data, or :data:`OMIT` when it has none.

    NumPy arrays become (nested) lists and NumPy scalars Python numbers; NaN and infinities
    become ``None``; tuples become lists; a mapping keeps the entries that have a JSON form (keys
    become strings); a list or tuple with an element that has none has none itself.

    >>> jsonable({"slate": np.array([3, -1]), "gap": float("nan"), "model": object()})
    {'slate': [3, -1], 'gap': None}
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufUO":
            return jsonable(value.tolist())
        return OMIT
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str | int | np.integer):
                continue
            item_json = jsonable(item)
            if item_json is not OMIT:
                converted[str(key)] = item_json
        return converted
    if isinstance(value, list | tuple):
        items = [jsonable(item) for item in value]
        return OMIT if any(item is OMIT for item in items) else items
    return OMIT


class TrajectoryWriter:
    """Writes evaluation trajectories as JSON Lines (the record format is in the module docs).

    Records of an episode are kept in memory until :meth:`end_episode`, which writes them all
    and flushes the file, so the file only ever holds whole episodes, each marked complete or
    not. :meth:`close` (and leaving a ``with`` block, normally or by an exception) writes an
    episode still open as incomplete, then closes the file.

    The path is checked when the writer is built (an existing file is refused unless
    ``overwrite=True``; a folder, or a folder that cannot be created, is refused), but the file
    is created (with its parent folders) only when the first episode begins: a run that fails
    before playing (a bad dataset path, an unknown agent) leaves an existing file untouched.

    :func:`~recoworld.evaluation.evaluate` drives a writer itself (``trajectories=path`` or
    ``trajectories=writer``); the methods below are for loops of your own.

    Args:
        path: The ``.jsonl`` file to write.
        exclude_info: ``info`` keys left out of the records. ``action_mask`` by default: it is
            as long as the action space and says nothing that the candidates do not.
        overwrite: replace an existing file (default: refuse it, so that a second run never
            erases a first run's trajectories).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false (the message names it).
        IsADirectoryError: ``path`` is a folder.
        OSError: the parent folder cannot be created or written.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run.jsonl"
    >>> with TrajectoryWriter(path) as writer:
    ...     writer.begin_episode(episode=0, seed=7, agent="greedy")
    ...     writer.record_reset({"turn": 0, "action_mask": np.ones(3, bool)})
    ...     writer.record_step(np.array([2, 0]), 1.5, False, True, {"clicks": np.array([2])})
    ...     writer.end_episode()
    >>> [(r["step"], r["action"], r["info"]) for r in read_trajectories(path)]
    [(0, None, {'turn': 0}), (1, [2, 0], {'clicks': [2]})]
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        exclude_info: Collection[str] = ("action_mask",),
        overwrite: bool = False,
    ) -> None:
        if isinstance(exclude_info, str) or not all(isinstance(k, str) for k in exclude_info):
            raise ValueError(
                f"exclude_info must be a collection of info keys (str), got {exclude_info!r}"
            )
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite={overwrite!r} must be True or False")
        self.path = Path(path)
        self.exclude_info = frozenset(exclude_info)
        self.overwrite = overwrite
        check_new_file(self.path, overwrite=overwrite, what="trajectory file")
        self._file: TextIO | None = None
        self._closed = False
        self._header: dict[str, Any] | None = None
        self._pending: list[dict[str, Any]] = []
        self._steps = 0
        self.episodes_written = 0
        """Episodes written so far, complete or not."""
        self.records_written = 0
        """Records (lines) written so far."""

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"TrajectoryWriter({str(self.path)!r}, {state})"

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    @property
    def in_episode(self) -> bool:
        """Whether an episode has begun and not yet ended."""
        return self._header is not None

    def begin_episode(self, episode: int, seed: int | None, agent: str) -> None:
        """Start collecting the records of one episode.

        Raises:
            RuntimeError: the writer is closed, or the previous episode has not ended.
        """
        self._check_open()
        if self._header is not None:
            raise RuntimeError(
                f"episode {self._header['episode']} of {self._header['agent']!r} has not ended; "
                "call end_episode() before begin_episode()"
            )
        self._open_file()
        self._header = {
            "episode": int(episode),
            "seed": None if seed is None else int(seed),
            "agent": str(agent),
        }

    def record_reset(self, info: Mapping[str, Any]) -> None:
        """Record the ``info`` returned by ``env.reset`` (step 0), before any step.

        Raises:
            RuntimeError: no episode is open, or it has steps already.
        """
        if self._steps or self._pending:
            raise RuntimeError("record_reset() comes before the episode's first record_step()")
        self._append(0, None, None, False, False, info)

    def record_step(
        self,
        action: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: Mapping[str, Any],
    ) -> None:
        """Record one ``env.step``: its action and what it returned (steps count from 1)."""
        action_json = jsonable(action)
        if action_json is OMIT:
            action_json = repr(action)
        self._append(self._steps + 1, action_json, reward, terminated, truncated, info)
        self._steps += 1

    def end_episode(self, *, complete: bool = True) -> None:
        """Write the open episode's records, marked ``complete`` or not, and flush the file.

        Does nothing when no episode is open, so error paths may call it unconditionally.
        """
        if self._header is None:
            return
        self._check_open()
        lines = []
        for record in self._pending:
            record["episode_complete"] = bool(complete)
            ordered = {key: record[key] for key in RECORD_KEYS}
            lines.append(json.dumps(ordered, ensure_ascii=False, allow_nan=False) + "\n")
        file = self._open_file()
        file.write("".join(lines))
        file.flush()
        self.records_written += len(lines)
        self.episodes_written += 1
        self._header = None
        self._pending = []
        self._steps = 0

    def flush(self) -> None:
        """Flush written records to the operating system."""
        if self._file is not None and not self.closed:
            self._file.flush()

    def close(self) -> None:
        """Write an episode still open as incomplete, then close the file (idempotent)."""
        if self.closed:
            return
        try:
            self.end_episode(complete=False)
        finally:
            self._closed = True
            if self._file is not None:
                self._file.close()

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"the trajectory file {str(self.path)!r} is closed")

    def _open_file(self) -> TextIO:
        """The file, created at the first episode (exclusively, unless ``overwrite``)."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if self.overwrite:
                    file = self.path.open("w", encoding="utf-8", newline="\n")
                else:
                    file = self.path.open("x", encoding="utf-8", newline="\n")
            except FileExistsError:
                raise FileExistsError(
                    f"{str(self.path)!r} appeared after the trajectory writer was made; "
                    "refusing to overwrite it (pass overwrite=True to replace it)"
                ) from None
            self._file = file
            return file
        return self._file

    def _append(
        self,
        step: int,
        action: Any,
        reward: float | None,
        terminated: bool,
        truncated: bool,
        info: Mapping[str, Any],
    ) -> None:
        self._check_open()
        if self._header is None:
            raise RuntimeError("no episode is open; call begin_episode() first")
        if not isinstance(info, Mapping):
            raise ValueError(f"info must be a dict, got {type(info).__name__}")
        kept = {key: value for key, value in info.items() if key not in self.exclude_info}
        self._pending.append(
            {
                **self._header,
                "step": step,
                "action": action,
                "reward": None if reward is None else jsonable(float(reward)),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "info": jsonable(kept),
            }
        )


def iter_trajectories(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of a trajectory file, one at a time, in file order (constant memory).

    The file is read line by line as the iterator is consumed, so a file of any size can be
    scanned; a broken line raises when the iterator reaches it. Blank lines are skipped.

    Raises:
        FileNotFoundError: there is no such file (when iteration starts).
        ValueError: a line is not a JSON object with the record keys; the message names the
            file and the 1-based line number.
    """
    source = Path(path)
    with source.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{source}, line {number}: malformed JSON ({error.msg} at column "
                    f"{error.colno}); the file may have been cut off while it was written"
                ) from None
            if not isinstance(record, dict):
                raise ValueError(
                    f"{source}, line {number}: expected a JSON object (a trajectory record), "
                    f"got {type(record).__name__}"
                )
            missing = [key for key in RECORD_KEYS if key not in record]
            if missing:
                raise ValueError(
                    f"{source}, line {number}: the record lacks {missing}; a trajectory record "
                    f"has the keys {list(RECORD_KEYS)}"
                )
            yield record


def iter_episodes(path: str | os.PathLike[str]) -> Iterator[list[dict[str, Any]]]:
    """The episodes of a trajectory file, one at a time: each a list of its records (reset
    first), in file order. Only one episode is held in memory, so files of any size stream.

    A :class:`TrajectoryWriter` writes each episode's records together, so an episode is a run
    of consecutive records with the same ``agent`` and ``episode``. Check
    ``records[0]["episode_complete"]`` to keep whole episodes only.

    Raises the errors of :func:`iter_trajectories`.
    """
    episode: list[dict[str, Any]] = []
    for record in iter_trajectories(path):
        if episode and (record["agent"], record["episode"]) != (
            episode[0]["agent"],
            episode[0]["episode"],
        ):
            yield episode
            episode = []
        episode.append(record)
    if episode:
        yield episode


def read_trajectories(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a trajectory file written by :class:`TrajectoryWriter`, as one list.

    Convenient for small files; it holds the whole file in memory. Stream large ones with
    :func:`iter_episodes` (an episode at a time) or :func:`iter_trajectories` (a record at a
    time). Group records by ``(agent, episode)`` for per-episode views, and keep
    ``record["episode_complete"]`` ones for analyses that need whole episodes.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: a line is not a JSON object with the record keys; the message names the
            file and the 1-based line number.
    """
    return list(iter_trajectories(path))
