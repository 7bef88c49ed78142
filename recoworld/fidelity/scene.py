"""UserMirrorer scenes: a user's history plus a lettered exposure list holding their real choice.

A *scene* (UserMirrorer, arXiv 2508.18142) shows a simulator what a user had done before a
logged interaction and a short list of items, labelled [A], [B], ...; one of them is the item the
user really chose next, the others are items the user never interacted with. A simulator that
behaves like the user picks the real item more often than chance (``1 / n_choices``).

Only what was known before the held-out interaction enters its scene: the history is the user's
rows that come strictly before the target in (timestamp, item row) order, the order in which the
MovieLens splits are made, so the target itself and anything at or after it never leak in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recoworld.catalog import Catalog, Interactions
from recoworld.seeding import spawn_rng
from recoworld.validation import check_choice, check_int, check_seed

__all__ = [
    "NEGATIVE_SAMPLERS",
    "SIMILAR_TEMPERATURE",
    "SceneConfig",
    "Scenes",
    "earlier_rows",
    "scenes",
    "train_scenes",
]

NegativeSampler = Literal["popularity", "uniform", "similar"]
NEGATIVE_SAMPLERS: tuple[NegativeSampler, ...] = ("popularity", "uniform", "similar")
"""How the other items of an exposure list are drawn (see :func:`scenes`)."""

SIMILAR_TEMPERATURE = 0.1
"""Temperature of the ``"similar"`` sampler: item ``j`` is drawn with weight
``exp(cos(real, j) / SIMILAR_TEMPERATURE)``, so an item 0.1 closer in cosine is e times likelier."""

_CHUNK_CELLS = 4_000_000
"""Scenes x catalog cells scored at once when sampling negatives (bounds the memory)."""


@dataclass(frozen=True)
class SceneConfig:
    """How a set of scenes was built (the arguments of :func:`scenes`)."""

    n_choices: int
    negatives: NegativeSampler
    seed: int
    limit: int | None


@dataclass(frozen=True, eq=False)
class Scenes:
    """Scenes as arrays: one row per held-out interaction, the history in CSR form.

    Attributes:
        users: ``(n,)`` int64 user row of each scene.
        history_offsets: ``(n + 1,)`` int64; scene ``s``'s history is
            ``history_items[history_offsets[s]:history_offsets[s + 1]]`` (oldest first).
        history_items: ``(total,)`` int64 catalog rows of the histories.
        history_ratings: ``(total,)`` float32 ratings (``nan`` where the log has none).
        history_timestamps: ``(total,)`` int64 Unix seconds (``-1`` where the log has no time).
        choices: ``(n, n_choices)`` int64 catalog rows of each exposure list, in display order
            ([A], [B], ...).
        answers: ``(n,)`` int64 position of the real item in ``choices``.
        target_rows: ``(n,)`` int64 row of each scene's interaction in the ``targets`` table.
        target_timestamps: ``(n,)`` int64 time of the real choice.
        config: the arguments the scenes were built with.
    """

    users: np.ndarray
    history_offsets: np.ndarray
    history_items: np.ndarray
    history_ratings: np.ndarray
    history_timestamps: np.ndarray
    choices: np.ndarray
    answers: np.ndarray
    target_rows: np.ndarray
    target_timestamps: np.ndarray
    config: SceneConfig

    def __post_init__(self) -> None:
        for name in (
            "users",
            "history_offsets",
            "history_items",
            "history_ratings",
            "history_timestamps",
            "choices",
            "answers",
            "target_rows",
            "target_timestamps",
        ):
            getattr(self, name).setflags(write=False)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_choices(self) -> int:
        return int(self.choices.shape[1])

    @property
    def history_lengths(self) -> np.ndarray:
        """``(n,)`` int64 number of history rows of each scene (the user's activity so far)."""
        return np.diff(self.history_offsets)

    @property
    def real_items(self) -> np.ndarray:
        """``(n,)`` int64 catalog row the user really chose in each scene."""
        return self.choices[np.arange(len(self)), self.answers]

    def history_of(self, scene: int) -> np.ndarray:
        """Catalog rows of scene ``scene``'s history, oldest first."""
        start, stop = self.history_offsets[scene], self.history_offsets[scene + 1]
        return self.history_items[start:stop]

    @staticmethod
    def concatenate(parts: Sequence[Scenes]) -> Scenes:
        """One table of the scenes of ``parts``, in order (the first part's config is kept).

        Raises:
            ValueError: no part, or parts with different ``n_choices``.
        """
        if not parts:
            raise ValueError("Scenes.concatenate: no scenes to join")
        if len({part.n_choices for part in parts}) > 1:
            raise ValueError("Scenes.concatenate: the parts list different numbers of choices")
        if len(parts) == 1:
            return parts[0]
        starts = np.cumsum([0] + [int(part.history_offsets[-1]) for part in parts[:-1]])
        offsets = [np.zeros(1, dtype=np.int64)]
        offsets += [
            part.history_offsets[1:] + start for part, start in zip(parts, starts, strict=True)
        ]

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(part, name) for part in parts])

        return Scenes(
            users=joined("users"),
            history_offsets=np.concatenate(offsets),
            history_items=joined("history_items"),
            history_ratings=joined("history_ratings"),
            history_timestamps=joined("history_timestamps"),
            choices=joined("choices"),
            answers=joined("answers"),
            target_rows=joined("target_rows"),
            target_timestamps=joined("target_timestamps"),
            config=parts[0].config,
        )

    def take(self, rows: np.ndarray) -> Scenes:
        """The scenes at ``rows`` (in that order; repeats allowed) as a new table with the same
        config, e.g. to score a subset or to split scenes into batches.

        Raises:
            ValueError: ``rows`` not a 1-D integer array, or a row outside ``0..len - 1``.
        """
        rows = np.asarray(rows)
        if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
            raise ValueError(f"rows must be a 1-D integer array, got shape {rows.shape}")
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"rows name scenes outside 0..{len(self) - 1}")
        starts, lengths = self.history_offsets[rows], self.history_lengths[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        index = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
        return Scenes(
            users=self.users[rows],
            history_offsets=offsets,
            history_items=self.history_items[index],
            history_ratings=self.history_ratings[index],
            history_timestamps=self.history_timestamps[index],
            choices=self.choices[rows],
            answers=self.answers[rows],
            target_rows=self.target_rows[rows],
            target_timestamps=self.target_timestamps[rows],
            config=self.config,
        )


def earlier_rows(history: Interactions) -> np.ndarray:
    """``(n,)`` int64: how many of its user's rows come before each row of ``history`` in
    (timestamp, item row) order, the order a scene's history follows (the length of the history a
    scene of that row would have)."""
    order = np.lexsort((history.items, history.timestamps, history.users))
    sorted_users = history.users[order]
    first = np.searchsorted(sorted_users, sorted_users, side="left")
    counts = np.empty(len(history), dtype=np.int64)
    counts[order] = np.arange(len(history)) - first
    return counts


def train_scenes(
    history: Interactions,
    catalog: Catalog,
    *,
    count: int,
    min_history: int,
    negatives: Sequence[str],
    n_choices: int,
    rng: np.random.Generator,
    min_history_name: str = "min_history",
) -> tuple[Scenes, np.ndarray]:
    """Scenes made from a train log itself, to fit a simulator on: ``count`` target rows (all
    eligible ones if fewer) drawn without replacement from ``rng`` among the rows with at least
    ``min_history`` earlier rows of their user, shuffled, and split in equal shares across the
    ``negatives`` samplers; a scene's history is its user's rows before its target, as in
    :func:`scenes`.

    Returns:
        The scenes (in sampler order) and ``(n,)`` the rows of ``history`` they hold out, in
        scene order (e.g. to keep them out of features fitted on the rest).

    Raises:
        ValueError: an empty log, no eligible row (naming ``min_history_name``), or what
            :func:`scenes` refuses (``n_choices`` larger than the catalog...).
    """
    if len(history) == 0:
        raise ValueError("history is empty: no train scene can be made from it")
    if isinstance(negatives, str) or not negatives:
        raise ValueError(f"negatives={negatives!r} must be a non-empty tuple of samplers")
    eligible = np.flatnonzero(earlier_rows(history) >= min_history)
    if len(eligible) == 0:
        raise ValueError(
            f"history has no interaction with {min_history_name}={min_history} earlier rows of "
            "its user to make a train scene of"
        )
    n = min(count, len(eligible))
    # Shuffled before the split across samplers: on a log sorted by user, rows in order would
    # give each sampler its own users.
    rows = rng.permutation(np.sort(rng.choice(eligible, size=n, replace=False)))
    seeds = rng.integers(0, 2**31, size=len(negatives))
    parts = np.array_split(np.arange(n), len(negatives))
    built, held = [], []
    for sampler, part, seed in zip(negatives, parts, seeds, strict=True):
        if len(part):
            built.append(
                scenes(
                    history,
                    history.take(rows[part]),
                    catalog,
                    n_choices=n_choices,
                    negatives=sampler,  # type: ignore[arg-type]
                    seed=int(seed),
                )
            )
            held.append(rows[part])
    return Scenes.concatenate(built), np.concatenate(held)


def scenes(
    history: Interactions,
    targets: Interactions,
    catalog: Catalog,
    *,
    n_choices: int = 5,
    negatives: NegativeSampler = "popularity",
    seed: int = 0,
    limit: int | None = None,
) -> Scenes:
    """Build one UserMirrorer scene per row of ``targets`` (or ``limit`` of them).

    Args:
        history: every logged interaction a scene's history may come from. A scene's history is
            its user's rows strictly before the target in (timestamp, item row) order, so
            ``history`` may hold the targets themselves (they are left out by that rule).
        targets: the held-out interactions, one scene each.
        catalog: the items; rows of both tables index it.
        n_choices: length ``N`` of each exposure list (at least 2).
        negatives: how the ``N - 1`` other items are drawn, without replacement, among the items
            the user never interacted with in ``history`` or ``targets`` (at any time):
            ``"popularity"`` with weight ``1 + count in history``; ``"uniform"`` with equal
            weight; ``"similar"`` with weight ``exp(cosine(real item, item) /``
            :data:`SIMILAR_TEMPERATURE` ``)`` on the catalog embeddings.
        seed: seeds the choice of scenes (with ``limit``), the negatives and the position of the
            real item (uniform over ``0..N-1``), each from its own child stream.
        limit: keep this many scenes, drawn uniformly without replacement from the targets (in
            table order); ``None`` keeps all.

    Sampling without replacement in proportion to weights uses Gumbel top-k keys
    (``log w + Gumbel``; the ``N - 1`` largest), vectorized over scenes.

    Raises:
        ValueError: an argument is out of range, a table names an item row outside the catalog,
            ``limit`` exceeds the number of targets, or a user has fewer than ``N - 1`` items
            they never interacted with.
    """
    n_choices = check_int("n_choices", n_choices, 2, catalog.n_items)
    negatives = check_choice("negatives", negatives, NEGATIVE_SAMPLERS)
    seed = check_seed("seed", seed)
    if limit is not None:
        limit = check_int("limit", limit, 1)
        if limit > len(targets):
            raise ValueError(f"limit={limit} exceeds the {len(targets)} target interactions")
    for label, table in (("history", history), ("targets", targets)):
        if len(table) and int(table.items.max()) >= catalog.n_items:
            where = f" ({table.source})" if table.source else ""
            raise ValueError(
                f"{label}{where} names item row {int(table.items.max())}, outside the catalog's "
                f"0..{catalog.n_items - 1}"
            )
    config = SceneConfig(n_choices=n_choices, negatives=negatives, seed=seed, limit=limit)
    pick_rng, negative_rng, position_rng = spawn_rng(np.random.default_rng(seed), 3)

    target_rows = np.arange(len(targets), dtype=np.int64)
    if limit is not None:
        target_rows = np.sort(pick_rng.choice(len(targets), size=limit, replace=False))
    users = targets.users[target_rows]
    real = targets.items[target_rows]
    times = targets.timestamps[target_rows]

    offsets, order, starts = _history_ranges(history, users, times, real)
    lengths = np.diff(offsets)
    rows = order[np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])]

    n_users = max(history.n_users, targets.n_users)
    touched = _touched(history, targets, n_users, catalog.n_items)
    free = catalog.n_items - np.diff(touched.indptr)[users]
    if len(users) and int(free.min()) < n_choices - 1:
        worst = int(np.argmin(free))
        raise ValueError(
            f"user row {int(users[worst])} interacted with all but {int(free[worst])} of the "
            f"{catalog.n_items} items; n_choices={n_choices} needs {n_choices - 1} others"
        )
    others = _sample_negatives(
        negatives, n_choices - 1, users, real, history, catalog, touched, negative_rng
    )
    answers = position_rng.integers(0, n_choices, size=len(users)).astype(np.int64)
    choices = np.empty((len(users), n_choices), dtype=np.int64)
    is_real = np.arange(n_choices)[None, :] == answers[:, None]
    choices[is_real] = real
    choices[~is_real] = others.ravel()
    return Scenes(
        users=users.astype(np.int64),
        history_offsets=offsets,
        history_items=history.items[rows],
        history_ratings=history.ratings[rows],
        history_timestamps=history.timestamps[rows],
        choices=choices,
        answers=answers,
        target_rows=target_rows,
        target_timestamps=times.astype(np.int64),
        config=config,
    )


def _history_ranges(
    history: Interactions, users: np.ndarray, times: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR offsets of each target's history, the chronological order of ``history``'s rows and
    where each target's user begins in it.

    Targets and history rows are sorted together by (user, timestamp, item), a target before a
    history row equal to it; the history rows counted before a target, less those of earlier
    users, are the target's history.
    """
    order = np.lexsort((history.items, history.timestamps, history.users))
    sorted_users = history.users[order]
    n_hist, n_targets = len(history), len(users)
    all_users = np.concatenate([history.users, users])
    all_times = np.concatenate([history.timestamps, times])
    all_items = np.concatenate([history.items, items])
    is_history = np.concatenate([np.ones(n_hist, np.int8), np.zeros(n_targets, np.int8)])
    merged = np.lexsort((is_history, all_items, all_times, all_users))
    before = np.cumsum(is_history[merged], dtype=np.int64)  # history rows up to each position
    position = np.empty(n_hist + n_targets, dtype=np.int64)
    position[merged] = np.arange(n_hist + n_targets)
    ends = before[position[n_hist:]]
    starts = np.searchsorted(sorted_users, users, side="left").astype(np.int64)
    offsets = np.zeros(n_targets + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=offsets[1:])
    return offsets, order, starts


def _touched(
    history: Interactions, targets: Interactions, n_users: int, n_items: int
) -> sp.csr_array:
    """``(n_users, n_items)`` CSR with a 1 where the user interacted with the item (any time)."""
    users = np.concatenate([history.users, targets.users])
    items = np.concatenate([history.items, targets.items])
    matrix = sp.csr_array(
        (np.ones(len(users), dtype=np.int8), (users, items)), shape=(n_users, n_items)
    )
    matrix.sum_duplicates()
    return matrix


def _sample_negatives(
    negatives: NegativeSampler,
    k: int,
    users: np.ndarray,
    real: np.ndarray,
    history: Interactions,
    catalog: Catalog,
    touched: sp.csr_array,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n, k)`` item rows drawn without replacement by Gumbel top-k, never one the user
    touched."""
    n_items = catalog.n_items
    counts = np.bincount(history.items, minlength=n_items).astype(np.float64)
    log_popularity = np.log1p(counts)
    result = np.empty((len(users), k), dtype=np.int64)
    chunk = max(1, _CHUNK_CELLS // n_items)
    embeddings = catalog.embeddings.astype(np.float64)
    norms = np.linalg.norm(embeddings, axis=1)
    unit = embeddings / np.maximum(norms, 1e-12)[:, None]
    for start in range(0, len(users), chunk):
        stop = min(start + chunk, len(users))
        keys = rng.gumbel(size=(stop - start, n_items))
        if negatives == "popularity":
            keys += log_popularity[None, :]
        elif negatives == "similar":
            keys += (unit[real[start:stop]] @ unit.T) / SIMILAR_TEMPERATURE
        block = touched[users[start:stop], :].tocoo()
        keys[block.row, block.col] = -np.inf
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        # Gumbel top-k order (largest key first) is the successive-sampling order.
        ranked = np.take_along_axis(keys, top, axis=1)
        result[start:stop] = np.take_along_axis(top, np.argsort(-ranked, axis=1), axis=1)
    return result
