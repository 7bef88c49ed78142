"""Slate logs in the FINN.no format (Eide, Leslie and Frigessi, 2021): load, write, generate.

A log folder holds three files:

* ``data.npz``: ``userId`` ``(U,)``; ``click``, ``click_idx``, ``slate_lengths`` and
  ``interaction_type`` ``(U, T)``; ``slate`` ``(U, T, S)``. All integers. Row ``slate[u, t]``
  holds the no-click item (log index 1) at position 0, then the items shown, then padding (0);
  ``slate_lengths`` counts the no-click entry (six items shown: length 7). ``click`` is the log
  index clicked, 1 for no click and 0 for a padded step (no interaction: length 0, click
  position 0, a slate row of zeros); ``click_idx`` is the click's position in the row (0 for no
  click). ``interaction_type`` is 0 (undefined, and padded steps), 1 (search) or 2
  (recommendation). In the real data a clicked item is not always in its slate; that is
  accepted. :func:`check_slate_values` lists what loading and writing enforce.
* ``itemattr.npz``: ``category`` ``(n_items,)``, the category of every log index (stored as
  float in the real file); categories 0, 1, 2 belong to the special indices.
* ``ind2val.json``: ``{"category": {"0": "PAD", "1": "noClick", "2": "<UNK>", "3": ...},
  "interaction_type": {"0": "<UNK>", "1": "search", "2": "rec"}}``.

Log indices: 0 padding, 1 no click, 2 unknown, a real item ``3 + row`` (see
:mod:`recoworld.catalog.slate_world`). The real ``data.npz`` (about 2.3 million users, 4.6 GB for
``slate`` alone) is never read whole: :func:`load_slate_logs` memory-maps it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recoworld.catalog.base import Catalog
from recoworld.catalog.slate_world import (
    FIRST_ITEM,
    NO_CLICK_ITEM,
    PAD_ITEM,
    SLATE_USER_CONFIG,
    SlateWorld,
)
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import sample_users, step_users, topic_preferences
from recoworld.validation import MAX_COUNT, check_int, check_number, check_seed

__all__ = [
    "CATEGORY_SPECIALS",
    "DATA_FILE",
    "DATA_KEYS",
    "INTERACTION_TYPE_NAMES",
    "ITEM_FILE",
    "NAMES_FILE",
    "SlateLogs",
    "check_slate_values",
    "generate_slate_logs",
    "load_slate_logs",
    "slate_world_from_logs",
    "split_users",
    "write_slate_logs",
]

DATA_FILE = "data.npz"
"""The interactions file of a log folder."""
ITEM_FILE = "itemattr.npz"
"""The item-attribute file of a log folder (``category``)."""
NAMES_FILE = "ind2val.json"
"""The names file of a log folder (category and interaction-type names)."""
DATA_KEYS = ("userId", "click", "click_idx", "slate_lengths", "slate", "interaction_type")
"""The arrays of ``data.npz``, by their names in the file."""
CATEGORY_SPECIALS = {0: "PAD", 1: "noClick", 2: "<UNK>"}
"""The names of the categories of the three special log indices."""
INTERACTION_TYPE_NAMES = {0: "<UNK>", 1: "search", 2: "rec"}
"""The FINN.no interaction types (0 also marks a padded step)."""
SEARCH, RECOMMENDATION = 1, 2

_FIELDS = {  # SlateLogs field -> data.npz key
    "user_id": "userId",
    "click": "click",
    "click_idx": "click_idx",
    "slate_lengths": "slate_lengths",
    "slate": "slate",
    "interaction_type": "interaction_type",
}
_CHUNK_ENTRIES = 1 << 22
"""Slate entries read per validation chunk (16 MB of int32)."""
_COPY_BYTES = 1 << 24
"""Bytes per read when a compressed member is decompressed into the cache."""
_MAX_TOPICS = 24
"""Most topics of a world built from logs (the latent state is dense over topics)."""


@dataclass(frozen=True, eq=False)
class SlateLogs:
    """Slate logs of ``U`` users over ``T`` steps with slate rows of ``S`` entries.

    Arrays may be read-only numpy memmaps (as :func:`load_slate_logs` returns them); use
    :meth:`take` for an in-memory copy of some users. Construction checks dtypes and shapes only
    (cheap); :func:`load_slate_logs` and :func:`write_slate_logs` also check every value.

    Attributes:
        user_id: ``(U,)`` integer user ids.
        click: ``(U, T)`` integer, the log index clicked (1 no click, 0 padded step).
        click_idx: ``(U, T)`` integer, the position of the click in the slate row (0 for none).
        slate_lengths: ``(U, T)`` integer, entries of the slate row used, the no-click included.
        slate: ``(U, T, S)`` integer log indices: no-click item at position 0, items, padding.
        interaction_type: ``(U, T)`` integer, 0 undefined or padded, 1 search, 2 recommendation.
        category: ``(n_items,)`` int64, the category of every log index (0..2 the specials).
        category_names: the name of every category.
        interaction_type_names: the name of every interaction type.
        source: the folder the logs came from, or ``"synthetic"``.

    Raises:
        ValueError: an array that is not an integer array of the expected shape (named with
            the expected and the actual shape), or names that are not ``{int: str}``.
    """

    user_id: np.ndarray
    click: np.ndarray
    click_idx: np.ndarray
    slate_lengths: np.ndarray
    slate: np.ndarray
    interaction_type: np.ndarray
    category: np.ndarray
    category_names: dict[int, str]
    interaction_type_names: dict[int, str]
    source: str = "synthetic"

    def __post_init__(self) -> None:
        for name in (*_FIELDS, "category"):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "iu":
                kind = getattr(array, "dtype", type(array).__name__)
                raise ValueError(f"SlateLogs.{name} must be an integer numpy array, got {kind}")
        n_users = self.user_id.shape[0] if self.user_id.ndim == 1 else -1
        if self.user_id.ndim != 1:
            raise ValueError(f"SlateLogs.user_id has shape {self.user_id.shape}, expected (U,)")
        if self.slate.ndim != 3 or self.slate.shape[0] != n_users:
            raise ValueError(
                f"SlateLogs.slate has shape {self.slate.shape}, expected ({n_users}, T, S)"
            )
        steps = self.slate.shape[:2]
        for name in ("click", "click_idx", "slate_lengths", "interaction_type"):
            shape = getattr(self, name).shape
            if shape != steps:
                raise ValueError(f"SlateLogs.{name} has shape {shape}, expected {steps}")
        if self.category.ndim != 1 or self.category.shape[0] < FIRST_ITEM:
            raise ValueError(
                f"SlateLogs.category has shape {self.category.shape}, expected (n_items,) with "
                f"n_items >= {FIRST_ITEM} (the special indices come first)"
            )
        for name in ("category_names", "interaction_type_names"):
            names = getattr(self, name)
            if not isinstance(names, Mapping) or not all(
                isinstance(k, int) and not isinstance(k, bool) and isinstance(v, str)
                for k, v in names.items()
            ):
                raise ValueError(f"SlateLogs.{name} must map integer codes to names")
            object.__setattr__(self, name, dict(names))
        category = np.array(self.category, dtype=np.int64)
        category.setflags(write=False)
        object.__setattr__(self, "category", category)

    @property
    def n_users(self) -> int:
        return int(self.slate.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.slate.shape[1])

    @property
    def max_slate(self) -> int:
        """``S``, the entries of a slate row (the no-click entry included)."""
        return int(self.slate.shape[2])

    @property
    def n_items(self) -> int:
        """Log indices, the three specials included (``len(category)``)."""
        return int(self.category.shape[0])

    @property
    def n_categories(self) -> int:
        """Named categories, the three specials' included."""
        return len(self.category_names)

    def take(self, users: np.ndarray) -> SlateLogs:
        """An in-memory copy of the logs of user rows ``users`` (in that order).

        Raises:
            ValueError: ``users`` is not a 1-D integer array of rows in ``0..U-1``.
        """
        rows = np.asarray(users)
        if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
            raise ValueError(
                f"users must be a 1-D array of user rows, got {rows.dtype} {rows.shape}"
            )
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_users):
            bad = rows[(rows < 0) | (rows >= self.n_users)][0]
            raise ValueError(f"user row {int(bad)} is outside 0..{self.n_users - 1}")
        order = np.argsort(rows, kind="stable")  # memmaps read fastest in file order
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        arrays = {name: np.asarray(getattr(self, name)[rows[order]])[back] for name in _FIELDS}
        return SlateLogs(
            **arrays,
            category=self.category,
            category_names=self.category_names,
            interaction_type_names=self.interaction_type_names,
            source=self.source,
        )


# --------------------------------------------------------------------------------- loading


def load_slate_logs(
    path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> SlateLogs:
    """Read the slate logs of folder ``path`` (``data.npz``, ``itemattr.npz``, ``ind2val.json``).

    ``data.npz`` is never loaded whole. A member stored uncompressed (what ``np.savez`` writes)
    is memory-mapped in place. A compressed member (``np.savez_compressed``, as the real FINN.no
    file is) is decompressed once, in chunks, to ``<cache_dir>/<key>/<member>.npy`` and that
    file is memory-mapped; ``<key>`` is a hash of the absolute path, size and modification time
    of ``data.npz`` and of the CRC32 and compressed size of each of its members (read from the
    zip central directory), so a changed file is decompressed again, never served stale, even
    when a copy kept the old size and modification time. The default ``cache_dir`` is
    ``$XDG_CACHE_HOME/recoworld/slate_logs`` (``~/.cache/recoworld/slate_logs``); the real file
    needs about 6 GB there. Nothing is ever written next to the dataset's files: a ``cache_dir``
    passed inside ``path`` is refused, while the default cache is used even when ``path`` is
    an ancestor of it (data kept in ``$HOME``), as it only writes inside its own folder. Cached
    files are kept for later loads; delete the folder to reclaim the space.

    Every value and every step is checked, a chunk of users at a time (bounded memory), by
    :func:`check_slate_values`: value ranges, and the slate-row layout the module docstring
    describes (no-click entry first, lengths that count it, padding after them).

    Args:
        path: the log folder.
        cache_dir: where decompressed members are kept (not inside ``path``); default
            ``$XDG_CACHE_HOME/recoworld/slate_logs``.

    Returns:
        The logs, with read-only memmapped interaction arrays and an in-memory ``category``.

    Raises:
        FileNotFoundError: the folder or one of its files is missing.
        NotADirectoryError: ``path`` is a file (name the folder that holds the files).
        ValueError: a file that is not a valid archive or JSON, a missing key, a non-integer
            array, inconsistent shapes, a bad value or a step that breaks the layout (the file,
            key, value, user row and step are named), or a ``cache_dir`` passed inside
            ``path``.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        if root.exists():
            raise NotADirectoryError(
                f"slate log folder {str(root)!r} is a file; name the folder that holds "
                "data.npz, itemattr.npz and ind2val.json"
            )
        raise FileNotFoundError(f"slate log folder {str(root)!r} does not exist")
    for name in (DATA_FILE, ITEM_FILE, NAMES_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name}: missing (a slate log folder holds {name})")
    category_names, type_names = _read_names(root / NAMES_FILE)
    category = _read_category(root / ITEM_FILE, category_names)
    arrays = _map_data(root / DATA_FILE, cache_dir)
    try:
        logs = SlateLogs(
            **arrays,
            category=category,
            category_names=category_names,
            interaction_type_names=type_names,
            source=str(root),
        )
    except ValueError as error:
        message = str(error)
        for field, key in _FIELDS.items():
            message = message.replace(f"SlateLogs.{field} ", f"key {key!r} ")
        raise ValueError(f"{root / DATA_FILE}: {message}") from None
    check_slate_values(logs, str(root / DATA_FILE))
    return logs


def _read_names(path: Path) -> tuple[dict[int, str], dict[int, str]]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid UTF-8 JSON ({error})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a JSON object with 'category' and 'interaction_type'")
    tables = []
    for key in ("category", "interaction_type"):
        if key not in content:
            raise ValueError(f"{path}: missing key {key!r}")
        table = content[key]
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {key!r} must be an object of index -> name")
        parsed: dict[int, str] = {}
        for code, name in table.items():
            try:
                number = int(code)
            except ValueError:
                raise ValueError(f"{path}: {key!r} has key {code!r}, not an integer") from None
            if not isinstance(name, str):
                raise ValueError(f"{path}: {key!r}[{code!r}] = {name!r} is not a name")
            parsed[number] = name
        tables.append(parsed)
    return tables[0], tables[1]


def _read_category(path: Path, category_names: dict[int, str]) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "category" not in archive.files:
                raise ValueError(f"{path}: missing key 'category' (holds {archive.files})")
            raw = archive["category"]
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npz archive ({error})") from None
    if raw.ndim != 1:
        raise ValueError(f"{path}: key 'category' has shape {raw.shape}, expected (n_items,)")
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
            bad = int(np.argmax(~np.isfinite(raw) | (raw != np.round(raw))))
            raise ValueError(
                f"{path}: key 'category' holds {float(raw[bad])} at item {bad}, not an integer"
            )
    elif raw.dtype.kind not in "iu":
        raise ValueError(f"{path}: key 'category' has dtype {raw.dtype}, expected integers")
    category = raw.astype(np.int64)
    if len(category) < FIRST_ITEM:
        raise ValueError(
            f"{path}: key 'category' has {len(category)} entries; the {FIRST_ITEM} special "
            "indices alone need 3"
        )
    unnamed = _unnamed_category(category, category_names)
    if unnamed is not None:
        raise ValueError(
            f"{path}: key 'category' holds {int(category[unnamed])} at item {unnamed}, a "
            f"category {NAMES_FILE} does not name"
        )
    return category


def _unnamed_category(category: np.ndarray, category_names: Mapping[int, str]) -> int | None:
    """The first item whose category ``category_names`` does not name, or None."""
    known = np.array(sorted(category_names), dtype=np.int64)
    if not len(known):
        return 0 if len(category) else None
    position = np.searchsorted(known, category)
    named = (position < len(known)) & (known[np.minimum(position, len(known) - 1)] == category)
    return None if named.all() else int(np.argmax(~named))


def _map_data(path: Path, cache_dir: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    """The arrays of ``data.npz`` as read-only memmaps, by SlateLogs field."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for field, key in _FIELDS.items():
                info = members.get(f"{key}.npy")
                if info is None:
                    raise ValueError(f"{path}: missing key {key!r}")
                if info.compress_type == zipfile.ZIP_STORED:
                    arrays[field] = _map_stored(path, info, key)
                else:
                    cached = _cached_member(path, archive, info, cache_dir)
                    arrays[field] = _map_npy(cached, 0, None, f"{path}: key {key!r}")
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: not a readable .npz archive ({error})") from None
    return arrays


def _map_stored(path: Path, info: zipfile.ZipInfo, key: str) -> np.ndarray:
    """Memory-map an uncompressed member in place: skip its local header to the .npy bytes."""
    with path.open("rb") as stream:
        stream.seek(info.header_offset)
        header = stream.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise ValueError(f"{path}: key {key!r}: damaged zip entry header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    return _map_npy(path, start, start + info.compress_size, f"{path}: key {key!r}")


def _map_npy(path: Path, start: int, end: int | None, label: str) -> np.ndarray:
    """A read-only memmap of the .npy bytes of ``path`` from ``start`` (to ``end``)."""
    with path.open("rb") as stream:
        stream.seek(start)
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as error:
            raise ValueError(f"{label}: not a readable .npy array ({error})") from None
        offset = stream.tell()
    if dtype.kind not in "iu":
        raise ValueError(f"{label}: dtype {dtype}, expected integers")
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    limit = path.stat().st_size if end is None else end
    if offset + size > limit:
        raise ValueError(
            f"{label}: the file is truncated ({limit - offset} bytes of {size} for shape {shape})"
        )
    if size == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")  # fmt: skip


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).absolute() / "recoworld" / "slate_logs"


def _cached_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cache_dir: Any
) -> Path:
    """The decompressed copy of ``info`` in the cache (made once, written aside then renamed)."""
    source = path.absolute().resolve()
    dataset = source.parent
    root = _cache_root(cache_dir)
    if cache_dir is not None and root.resolve().is_relative_to(dataset):
        raise ValueError(
            f"cache_dir={str(cache_dir)!r} is inside the log folder {str(dataset)!r}; the "
            "loader never writes into a dataset folder (pass a cache_dir outside it)"
        )
    stat = source.stat()
    # the central directory's CRC32 and compressed size of every member tell apart two files
    # of equal size and modification time (a copy made with ``cp -p``)
    members = sorted(
        f"{member.filename}\0{member.CRC}\0{member.compress_size}" for member in archive.infolist()
    )
    identity = "\0".join([str(source), str(stat.st_size), str(stat.st_mtime_ns), *members])
    digest = hashlib.sha256(identity.encode()).hexdigest()
    folder = root / digest[:20]
    if folder.resolve() == dataset:
        raise ValueError(
            f"the cache folder {str(folder)!r} of {str(source)!r} is its log folder; the loader "
            "never writes next to a dataset's files (pass another cache_dir)"
        )
    target = folder / info.filename
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{info.filename}.{uuid.uuid4().hex[:12]}.partial"
    try:
        with archive.open(info) as member, partial.open("wb") as out:
            shutil.copyfileobj(member, out, _COPY_BYTES)
        partial.replace(target)
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        partial.unlink(missing_ok=True)
        raise ValueError(f"{path}: member {info.filename!r} is damaged ({error})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def check_slate_values(logs: SlateLogs, label: str) -> None:
    """Check every value of ``logs`` and the layout of every step, a chunk of users at a time
    (memory stays bounded).

    Values: ``click`` and ``slate`` entries are log indices ``0..n_items-1``, ``slate_lengths``
    are in ``0..S``, ``click_idx`` in ``0..S-1`` and ``interaction_type`` is a type named in
    ``interaction_type_names``.

    Layout, as the FINN.no format states it (no-click entry at position 0, lengths that count
    it, padding after the length). On a step with an interaction (``click != 0``):

    * ``slate_lengths >= 1``;
    * ``slate[u, t, 0]`` is the no-click index 1;
    * the entries at positions ``1..length-1`` (the items shown) are not 0, and those at
      positions ``length..S-1`` are 0;
    * ``click_idx < length``.

    On a padded step (``click == 0``): ``slate_lengths`` 0, ``click_idx`` 0 and a slate row of
    zeros. Not checked, as the real data does not promise it: that a clicked item is in its
    slate (it sometimes is not) or at ``slate[u, t, click_idx]``, that a slate's items are
    distinct, the interaction type of a padded step, and distinct user ids.

    Args:
        logs: the logs (memory-mapped logs are read a chunk of users at a time).
        label: what the error messages name, e.g. the file.

    Raises:
        ValueError: the first bad value (by check, then user row), naming ``label``, the key,
            the value, the user row and the step (and slot for ``slate``) and what was expected.
    """
    n_items, width = logs.n_items, logs.max_slate
    types = np.array(sorted(logs.interaction_type_names), dtype=np.int64)
    limits = {
        "click": (0, n_items - 1, f"a log index in 0..{n_items - 1}"),
        "click_idx": (0, max(width - 1, 0), f"a slate position in 0..{max(width - 1, 0)}"),
        "slate_lengths": (0, width, f"a slate length in 0..{width}"),
        "slate": (0, n_items - 1, f"a log index in 0..{n_items - 1}"),
    }
    chunk = max(1, _CHUNK_ENTRIES // max(1, logs.n_steps * max(width, 1)))
    for start in range(0, logs.n_users, chunk):
        stop = min(start + chunk, logs.n_users)
        part = {field: np.asarray(getattr(logs, field)[start:stop]) for field in limits}
        for field, (low, high, allowed) in limits.items():
            values = part[field]
            bad = (values < low) | (values > high)
            if bad.any():
                _raise_bad(label, field, values, bad, start, allowed)
        values = np.asarray(logs.interaction_type[start:stop]).astype(np.int64)
        position = np.minimum(np.searchsorted(types, values), max(len(types) - 1, 0))
        bad = types[position] != values if len(types) else np.ones(values.shape, bool)
        if bad.any():
            names = ", ".join(f"{k} {v}" for k, v in sorted(logs.interaction_type_names.items()))
            _raise_bad(label, "interaction_type", values, bad, start, f"one of {names}")
        _check_layout(label, part, start)


def _check_layout(label: str, part: dict[str, np.ndarray], start: int) -> None:
    """The layout checks of :func:`check_slate_values` on one chunk of in-range values."""
    click, slate = part["click"], part["slate"]
    lengths = part["slate_lengths"].astype(np.int64)
    click_idx = part["click_idx"].astype(np.int64)
    real = click != PAD_ITEM
    padded = ~real

    def length_at(where: tuple[int, ...]) -> int:
        return int(lengths[where[0], where[1]])

    bad = real & (lengths < 1)
    if bad.any():
        _raise_bad(
            label,
            "slate_lengths",
            lengths,
            bad,
            start,
            "at least 1 on a step with an interaction (lengths count the no-click entry)",
        )
    bad = padded & (lengths != 0)
    if bad.any():
        _raise_bad(label, "slate_lengths", lengths, bad, start, "0 on a padded step (click 0)")
    bad = padded & (click_idx != 0)
    if bad.any():
        _raise_bad(label, "click_idx", click_idx, bad, start, "0 on a padded step (click 0)")
    if slate.shape[2]:
        bad = np.zeros(slate.shape, bool)
        bad[..., 0] = real & (slate[..., 0] != NO_CLICK_ITEM)
        if bad.any():
            _raise_bad(
                label,
                "slate",
                slate,
                bad,
                start,
                f"the no-click index {NO_CLICK_ITEM} at slot 0 of a step with an interaction",
            )
        inside = np.arange(slate.shape[2]) < lengths[..., None]
        bad = inside & (slate == PAD_ITEM)
        if bad.any():
            _raise_bad(
                label,
                "slate",
                slate,
                bad,
                start,
                lambda where: f"an item (not 0) below the slate length {length_at(where)}",
            )
        bad = ~inside & (slate != PAD_ITEM)
        if bad.any():

            def padding(where: tuple[int, ...]) -> str:
                if padded[where[0], where[1]]:
                    return "0 on a padded step (click 0): its slate row is all 0"
                return f"0 (padding) from the slate length {length_at(where)} on"

            _raise_bad(label, "slate", slate, bad, start, padding)
    bad = real & (click_idx >= lengths)
    if bad.any():
        _raise_bad(
            label,
            "click_idx",
            click_idx,
            bad,
            start,
            lambda where: f"a position below the slate length {length_at(where)}",
        )


def _raise_bad(
    label: str,
    field: str,
    values: np.ndarray,
    bad: np.ndarray,
    start: int,
    allowed: str | Callable[[tuple[int, ...]], str],
) -> None:
    """Raise the ValueError for the first ``bad`` entry of a chunk of users from row ``start``;
    ``allowed`` says what was expected (or builds it from the entry's chunk position)."""
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad.reshape(-1))), bad.shape))
    place = f"user row {start + where[0]}, step {where[1]}"
    if len(where) > 2:
        place += f", slot {where[2]}"
    expected = allowed(where) if callable(allowed) else allowed
    raise ValueError(
        f"{label}: key {_FIELDS[field]!r} holds {int(values[where])} at {place}; "
        f"expected {expected}"
    )


# --------------------------------------------------------------------------------- writing


def write_slate_logs(
    logs: SlateLogs,
    path: str | os.PathLike[str],
    *,
    compress: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``logs`` to folder ``path`` in the FINN.no format.

    ``data.npz`` and ``itemattr.npz`` are written with ``np.savez`` (``np.savez_compressed``
    with ``compress``) under the FINN.no key names, ``category`` as float64 like the real file;
    ``ind2val.json`` maps string indices to names. Each file is written under a hidden name
    beside its target and renamed into place, so an interrupted write leaves no half file.
    Everything :func:`load_slate_logs` checks is checked first, before anything is written: the
    category of every item is named in ``category_names`` and every value and step passes
    :func:`check_slate_values`; a written folder always loads.

    Args:
        logs: the logs.
        path: the folder (created if missing).
        compress: deflate the arrays (smaller; loading then decompresses into a cache).
        overwrite: replace existing files of those names.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: one of the three files exists and ``overwrite`` is false (named).
        ValueError: a category ``category_names`` does not name, or a bad value or step in
            ``logs`` (named, as when loading).
        OSError: the folder cannot be written.
    """
    if not isinstance(logs, SlateLogs):
        raise ValueError(f"logs must be SlateLogs, got {type(logs).__name__}")
    # imported here: recoworld.evaluation imports the catalog package
    from recoworld.evaluation.files import check_new_file

    root = Path(path).expanduser()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"slate log folder {str(root)!r} is a file, not a folder")
    for name in (DATA_FILE, ITEM_FILE, NAMES_FILE):
        check_new_file(root / name, overwrite=overwrite, what="slate log file")
    bad = _unnamed_category(logs.category, logs.category_names)
    if bad is not None:
        raise ValueError(
            f"logs: category holds {int(logs.category[bad])} at item {bad}, a category "
            "category_names does not name (a folder written with it could not be loaded)"
        )
    check_slate_values(logs, "logs")
    root.mkdir(parents=True, exist_ok=True)
    save = np.savez_compressed if compress else np.savez
    names = {
        "category": {str(k): v for k, v in sorted(logs.category_names.items())},
        "interaction_type": {str(k): v for k, v in sorted(logs.interaction_type_names.items())},
    }
    text = json.dumps(names, ensure_ascii=False, indent=1)

    def data(stream: Any) -> None:
        save(stream, **{key: getattr(logs, field) for field, key in _FIELDS.items()})

    def items(stream: Any) -> None:
        save(stream, category=logs.category.astype(np.float64))

    def names_file(stream: Any) -> None:
        stream.write(text.encode("utf-8"))

    for name, writer in ((DATA_FILE, data), (ITEM_FILE, items), (NAMES_FILE, names_file)):
        partial = root / f".{name}.{uuid.uuid4().hex[:12]}.partial"
        try:
            with partial.open("wb") as stream:
                writer(stream)
            partial.replace(root / name)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return root


# ------------------------------------------------------------------------------- generating


def generate_slate_logs(
    world: SlateWorld,
    n_users: int,
    *,
    seed: int,
    horizon: int = 20,
    slate_size: int = 25,
    search_share: float = 0.5,
    min_search_length: int = 5,
    near_share: float = 0.3,
    group_temperature: float = 1.0,
    candidates_per_group: int = 256,
    pool_size: int = 1024,
) -> SlateLogs:
    """Seeded synthetic logs in the FINN.no format: ``world``'s latent users under a logging
    policy that mixes search and recommendation slates.

    ``n_users`` users are drawn with :func:`~recoworld.simulators.sample_users` and all answer
    each step together (:func:`~recoworld.simulators.step_users`, one click or none). Per user
    and step the policy shows, with probability ``search_share``:

    * a **search** slate (interaction type 1): a group drawn from the softmax of the user's
      current wish for it (:func:`~recoworld.simulators.topic_preferences` over the group's
      topics, divided by ``group_temperature``), then items of that group drawn by popularity
      without replacement among its ``candidates_per_group`` most popular, best first; the
      slate length is uniform in ``min_search_length..slate_size`` (shorter if the group has
      fewer items);
    * otherwise a **recommendation** slate (interaction type 2) of length ``slate_size``: a
      ``near_share`` of its items from the group of the user's last click (drawn as for search),
      the rest by popularity without replacement among the ``pool_size`` most popular items,
      in random order.

    Lengths count the no-click entry, as in FINN.no: a slate row has ``slate_size`` entries and
    shows at most ``slate_size - 1`` items. A user who leaves (the latent model's ``left``) has
    padded steps afterwards (click 0, slate all 0, length 0, type 0). ``user_id`` is ``1..U``;
    the item of catalog row ``r`` is log index ``r + 3`` with category ``world.groups[r] + 3``.

    Args:
        world: the items and the users' model.
        n_users: users to log.
        seed: seeds every draw; the same seed gives identical logs.
        horizon: steps per user (``T``).
        slate_size: entries of a slate row (``S``, the no-click entry included).
        search_share: probability of a search slate at each step.
        min_search_length: shortest search slate (length, the no-click entry included).
        near_share: share of a recommendation slate taken from the last click's group.
        group_temperature: softness of the search group choice (higher: more random).
        candidates_per_group: most popular items of a group a slate draws from.
        pool_size: most popular items of the catalog a recommendation slate draws from.

    Returns:
        In-memory :class:`SlateLogs` with ``source="synthetic"``.

    Raises:
        ValueError: an argument out of range (named), e.g. a catalog with fewer than
            ``slate_size - 1`` items.
    """
    if not isinstance(world, SlateWorld):
        raise ValueError(f"world must be a SlateWorld, got {type(world).__name__}")
    n_users = check_int("n_users", n_users, 1, MAX_COUNT)
    seed = check_seed("seed", seed)
    horizon = check_int("horizon", horizon, 1, 10_000)
    slate_size = check_int("slate_size", slate_size, 2, world.n_items + 1)
    search_share = check_number("search_share", search_share, 0.0, 1.0)
    min_search_length = check_int("min_search_length", min_search_length, 2, slate_size)
    near_share = check_number("near_share", near_share, 0.0, 1.0)
    group_temperature = check_number("group_temperature", group_temperature, 0.0, low_open=True)
    candidates_per_group = check_int("candidates_per_group", candidates_per_group, slate_size - 1)
    pool_size = check_int("pool_size", pool_size, slate_size - 1)

    catalog, config = world.catalog, world.user_config
    shown = slate_size - 1
    n_near = round(near_share * shown)
    weight = catalog.popularity.astype(np.float64)
    table, table_weights = _group_tables(world, weight, candidates_per_group)
    group_sizes = np.bincount(world.groups, minlength=world.n_groups)
    # how much each group weighs each topic: the mean topic mix of its items
    profile = np.zeros((world.n_groups, catalog.n_topics))
    np.add.at(profile, world.groups, catalog.item_topics)
    profile /= np.maximum(group_sizes, 1)[:, None]
    pool = np.argsort(-weight, kind="stable")[: min(pool_size, world.n_items)]
    pool_position = np.full(world.n_items, -1, np.int64)
    pool_position[pool] = np.arange(len(pool))

    rng = np.random.default_rng(seed)
    users = sample_users(n_users, catalog, config, rng)
    click = np.zeros((n_users, horizon), np.int32)
    click_idx = np.zeros((n_users, horizon), np.int32)
    lengths = np.zeros((n_users, horizon), np.int32)
    slate = np.zeros((n_users, horizon, slate_size), np.int32)
    kind = np.zeros((n_users, horizon), np.int32)
    last_click = np.full(n_users, -1, np.int64)
    active = np.arange(n_users)
    for step in range(horizon):
        state = users if len(active) == n_users else users.take(active)
        n = len(active)
        wish = topic_preferences(state, catalog, config) @ profile.T / group_temperature
        wish[:, group_sizes == 0] = -np.inf
        search = rng.random(n) < search_share
        items = np.full((n, shown), -1, np.int64)
        rows = np.flatnonzero(search)
        if len(rows):
            groups = _softmax_draw(wish[rows], rng)
            sizes = rng.integers(min_search_length - 1, shown + 1, len(rows))
            items[rows] = _draw_in_groups(groups, sizes, shown, table, table_weights, rng)
        rows = np.flatnonzero(~search)
        if len(rows):
            items[rows] = _recommend(
                last_click[active[rows]], n_near, shown, world.groups, table, table_weights,
                pool, pool_position, weight, rng,
            )  # fmt: skip
        outcome = step_users(state, catalog, items, config, rng)
        if state is not users:
            users.put(active, state)
        clicked = outcome.clicks.any(axis=1)
        slot = np.argmax(outcome.clicks, axis=1)
        chosen = np.where(clicked, items[np.arange(n), slot], -1)
        slate[active, step, 0] = NO_CLICK_ITEM
        slate[active, step, 1:] = world.log_items(items)
        lengths[active, step] = (items >= 0).sum(axis=1) + 1
        kind[active, step] = np.where(search, SEARCH, RECOMMENDATION)
        click[active, step] = np.where(clicked, chosen + FIRST_ITEM, NO_CLICK_ITEM)
        click_idx[active, step] = np.where(clicked, slot + 1, 0)
        last_click[active[clicked]] = chosen[clicked]
        active = active[~outcome.left]
        if not len(active):
            break
    return SlateLogs(
        user_id=np.arange(1, n_users + 1, dtype=np.int64),
        click=click,
        click_idx=click_idx,
        slate_lengths=lengths,
        slate=slate,
        interaction_type=kind,
        category=np.concatenate([np.arange(FIRST_ITEM), world.groups + FIRST_ITEM]),
        category_names={
            **CATEGORY_SPECIALS,
            **{g + FIRST_ITEM: name for g, name in enumerate(world.group_names)},
        },
        interaction_type_names=dict(INTERACTION_TYPE_NAMES),
        source="synthetic",
    )


def _group_tables(
    world: SlateWorld, weight: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(n_groups, C)`` the ``C`` most popular rows of every group (``-1`` pads) and their
    popularity (0 for pads)."""
    order = np.lexsort((-weight, world.groups))  # by group, most popular first
    sorted_groups = world.groups[order]
    starts = np.searchsorted(sorted_groups, np.arange(world.n_groups))
    rank = np.arange(len(order)) - starts[sorted_groups]
    width = int(min(width, max(np.bincount(world.groups, minlength=world.n_groups).max(), 1)))
    keep = rank < width
    table = np.full((world.n_groups, width), -1, np.int64)
    table[sorted_groups[keep], rank[keep]] = order[keep]
    weights = np.where(table >= 0, weight[np.maximum(table, 0)], 0.0)
    return table, weights


def _softmax_draw(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column per row drawn with probability ``softmax(logits)`` (``-inf`` never)."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(weights, axis=1)
    draws = rng.random(len(logits)) * cdf[:, -1]
    chosen = (cdf <= draws[:, None]).sum(axis=1)
    return np.minimum(chosen, logits.shape[1] - 1)


def _race(
    weights: np.ndarray, take: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the ``take`` winners of an exponential race per row, fastest first, and
    whether each is real: a draw of ``take`` columns without replacement with probability
    proportional to ``weights`` (zero-weight columns come last and are not real)."""
    keys = weights / rng.standard_exponential(weights.shape)
    columns = weights.shape[1]
    if take < columns:
        top = np.argpartition(-keys, take - 1, axis=1)[:, :take]
    else:
        top = np.broadcast_to(np.arange(columns), weights.shape).copy()
    top_keys = np.take_along_axis(keys, top, axis=1)
    order = np.argsort(-top_keys, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_keys, order, axis=1) > 0


def _draw_in_groups(
    groups: np.ndarray,
    sizes: np.ndarray,
    width: int,
    table: np.ndarray,
    table_weights: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n, width)`` rows: ``sizes[i]`` distinct items of group ``groups[i]`` drawn by
    popularity without replacement, the first drawn first, ``-1`` after."""
    n, columns = len(groups), table.shape[1]
    out = np.full((n, width), -1, np.int64)
    take = min(width, columns)
    if n == 0 or take == 0:
        return out
    top, real = _race(table_weights[groups], take, rng)
    chosen = np.where(real, table[groups[:, None], top], -1)
    chosen[np.arange(take)[None, :] >= sizes[:, None]] = -1
    out[:, :take] = chosen
    return out


def _recommend(
    last_click: np.ndarray,
    n_near: int,
    shown: int,
    item_groups: np.ndarray,
    table: np.ndarray,
    table_weights: np.ndarray,
    pool: np.ndarray,
    pool_position: np.ndarray,
    weight: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n, shown)`` recommendation slates: up to ``n_near`` items of the last click's group,
    then popular items, all distinct, in random order (``-1`` pads only when the pool and the
    group together hold fewer than ``shown`` items)."""
    n = len(last_click)
    near = np.full((n, n_near), -1, np.int64)
    has_click = np.flatnonzero(last_click >= 0)
    if n_near and len(has_click):
        groups = item_groups[last_click[has_click]]
        near[has_click] = _draw_in_groups(
            groups, np.full(len(has_click), n_near), n_near, table, table_weights, rng
        )
    weights = np.broadcast_to(weight[pool], (n, len(pool))).copy()
    in_pool = pool_position[np.maximum(near, 0)]
    row, col = np.nonzero((near >= 0) & (in_pool >= 0))
    weights[row, in_pool[row, col]] = 0.0  # never twice in a slate
    top, real = _race(weights, min(shown, len(pool)), rng)
    popular = np.where(real, pool[top], -1)
    candidates = np.concatenate([near, popular], axis=1)
    order = np.argsort(candidates < 0, axis=1, kind="stable")
    slate = np.take_along_axis(candidates, order, axis=1)[:, :shown]
    if slate.shape[1] < shown:
        slate = np.pad(slate, ((0, 0), (0, shown - slate.shape[1])), constant_values=-1)
    shuffle = np.argsort(np.where(slate >= 0, rng.random(slate.shape), 2.0), axis=1)
    return np.take_along_axis(slate, shuffle, axis=1)


# -------------------------------------------------------------------- splits and worlds


def split_users(
    n_users: int, *, valid_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of user rows ``0..n_users-1`` into training and validation rows.

    ``round(valid_fraction * n_users)`` rows, drawn at random, validate; the rest train. Both
    are sorted (memory-mapped logs read fastest in file order).

    Returns:
        ``(train, valid)`` int64 row arrays.

    Raises:
        ValueError: ``valid_fraction`` outside ``(0, 1)`` or a split with an empty side.
    """
    n_users = check_int("n_users", n_users, 2, MAX_COUNT)
    valid_fraction = check_number("valid_fraction", valid_fraction, 0.0, 1.0, low_open=True)
    seed = check_seed("seed", seed)
    n_valid = round(valid_fraction * n_users)
    if not 0 < n_valid < n_users:
        raise ValueError(
            f"valid_fraction={valid_fraction} of {n_users} users leaves {n_valid} validation "
            f"and {n_users - n_valid} training users; both need at least one"
        )
    order = np.random.default_rng(seed).permutation(n_users)
    return np.sort(order[n_valid:]).astype(np.int64), np.sort(order[:n_valid]).astype(np.int64)


def slate_world_from_logs(
    logs: SlateLogs, *, seed: int = 0, user_config: UserModelConfig | None = None
) -> SlateWorld:
    """A :class:`SlateWorld` over the items of ``logs``, so ``SlateRec-v0`` runs on FINN.no data.

    Catalog row ``r`` is log index ``r + 3`` (the item ids are the log indices) and its group is
    its category minus 3, named from ``category_names`` (a real item whose category is one of
    the specials goes to an extra group named ``"<UNK>"``). The users' model keeps dense state
    per topic and ``item_topics`` is ``(n_items, n_topics)``, so topics are few: the *vertical*
    (the text before the first comma of a category name, FINN.no's "BAP", "MOTOR",
    "REAL_ESTATE") when names have commas, else one topic per group; with more than 24 of
    those, the 23 with the most items keep a topic and the rest share one named "other".

    Content is invented, deterministically from ``seed``: 16-dimensional unit embeddings from a
    direction per topic, a direction per group and a little item noise (items of a group are
    close, groups of a vertical closer than others). Behaviour comes from the logs, read a
    chunk of users at a time: popularity is the add-one count of times an item was shown;
    quality is the percentile of its click-through rate shrunk toward the mean (a prior of 20
    showings). Items have a duration of 1 minute (listings are not watched). Titles read
    ``"item 12345 (BAP, antiques, Trøndelag)"`` and serve as descriptions too (the logs hold no
    text; one string per item keeps 1.3 million items affordable).

    Args:
        logs: the logs (memory-mapped logs are read a chunk of users at a time).
        seed: seeds the invented embeddings.
        user_config: the users' model (default :data:`SLATE_USER_CONFIG`).

    Raises:
        ValueError: logs without real items, or with a slate entry or click beyond the items.
    """
    if not isinstance(logs, SlateLogs):
        raise ValueError(f"logs must be SlateLogs, got {type(logs).__name__}")
    rng = np.random.default_rng(check_seed("seed", seed))
    n_rows = logs.n_items - FIRST_ITEM
    if n_rows < 1:
        raise ValueError(f"logs from {logs.source} have no real items (category has 3 entries)")
    category = logs.category[FIRST_ITEM:]
    codes = np.unique(category)
    real_codes = codes[codes >= FIRST_ITEM]
    n_named = int(real_codes.max()) - FIRST_ITEM + 1 if len(real_codes) else 0
    group_names = [
        logs.category_names.get(code + FIRST_ITEM, f"category {code + FIRST_ITEM}")
        for code in range(n_named)
    ]
    groups = category - FIRST_ITEM
    if (category < FIRST_ITEM).any():
        groups = np.where(category < FIRST_ITEM, n_named, groups)
        group_names.append("<UNK>")
    n_groups = len(group_names)
    group_sizes = np.bincount(groups, minlength=n_groups)
    topic_of_group, topic_names = _group_topics(group_names, group_sizes)
    item_topic = topic_of_group[groups]

    shown, clicked = _exposure(logs)
    popularity = (shown + 1.0) / (shown + 1.0).sum()
    prior = 20.0
    mean_rate = clicked.sum() / max(shown.sum(), 1.0)
    rate = (clicked + prior * mean_rate) / (shown + prior)
    ranks = np.argsort(np.argsort(rate, kind="stable"), kind="stable")
    quality = ranks / max(n_rows - 1, 1)

    dim = 16
    topic_direction = _unit(rng.standard_normal((len(topic_names), dim)))
    group_direction = _unit(rng.standard_normal((n_groups, dim)))
    embeddings = np.empty((n_rows, dim), np.float32)
    chunk = 1 << 18
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        part = (
            topic_direction[item_topic[start:stop]]
            + 0.7 * group_direction[groups[start:stop]]
            + 0.25 * rng.standard_normal((stop - start, dim))
        )
        embeddings[start:stop] = _unit(part)
    item_topics = np.zeros((n_rows, len(topic_names)), np.float32)
    item_topics[np.arange(n_rows), item_topic] = 1.0
    attributes = sp.csr_array(
        (np.ones(n_rows, np.float32), groups.astype(np.int64), np.arange(n_rows + 1)),
        shape=(n_rows, n_groups),
    )
    readable = [name.replace(",", ", ") for name in group_names]
    titles = tuple(f"item {row + FIRST_ITEM} ({readable[g]})" for row, g in enumerate(groups))
    name = "finn-slates" if logs.source != "synthetic" else "synthetic-slates"
    catalog = Catalog(
        item_ids=np.arange(FIRST_ITEM, logs.n_items, dtype=np.int64),
        attribute_names=tuple(group_names),
        item_attributes=attributes,
        topic_names=topic_names,
        item_topics=item_topics,
        embeddings=embeddings,
        quality=quality.astype(np.float32),
        popularity=popularity.astype(np.float32),
        duration=np.ones(n_rows, np.float32),
        titles=titles,
        descriptions=titles,  # listings carry no text in the logs
        name=name,
    )
    return SlateWorld(
        catalog=catalog,
        groups=groups,
        group_names=tuple(group_names),
        user_config=SLATE_USER_CONFIG if user_config is None else user_config,
        name=f"{name}-{n_rows}",
    )


def _group_topics(
    group_names: list[str], group_sizes: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The topic of every group and the topic names (see :func:`slate_world_from_logs`)."""
    if any("," in name for name in group_names):
        labels = [name.split(",", 1)[0].strip() or "<none>" for name in group_names]
    else:
        labels = list(group_names)
    distinct = list(dict.fromkeys(labels))  # in group order
    if len(distinct) > _MAX_TOPICS:
        size = dict.fromkeys(distinct, 0)
        for label, count in zip(labels, group_sizes, strict=True):
            size[label] += int(count)
        biggest = sorted(distinct, key=lambda label: (-size[label], label))[: _MAX_TOPICS - 1]
        keep = set(biggest)
        labels = [label if label in keep else "other" for label in labels]
        distinct = [*(label for label in distinct if label in keep), "other"]
    index = {label: i for i, label in enumerate(distinct)}
    return np.array([index[label] for label in labels], np.int64), tuple(distinct)


def _exposure(logs: SlateLogs) -> tuple[np.ndarray, np.ndarray]:
    """``(n_rows,)`` float64 times each real item was shown and clicked, a chunk at a time."""
    n_items = logs.n_items
    shown = np.zeros(n_items, np.float64)
    clicked = np.zeros(n_items, np.float64)
    chunk = max(1, _CHUNK_ENTRIES // max(1, logs.n_steps * logs.max_slate))
    for start in range(0, logs.n_users, chunk):
        stop = min(start + chunk, logs.n_users)
        for counts, key in ((shown, "slate"), (clicked, "click")):
            values = np.asarray(getattr(logs, key)[start:stop]).reshape(-1)
            if len(values) and (values.min() < 0 or values.max() >= n_items):
                bad = values[(values < 0) | (values >= n_items)][0]
                raise ValueError(
                    f"logs from {logs.source}: {key} holds {int(bad)}, outside the log indices "
                    f"0..{n_items - 1}"
                )
            counts += np.bincount(values, minlength=n_items)
    shown[:FIRST_ITEM] = 0.0
    clicked[:FIRST_ITEM] = 0.0
    return shown[FIRST_ITEM:], clicked[FIRST_ITEM:]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
