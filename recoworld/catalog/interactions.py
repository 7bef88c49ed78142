"""Logged feedback as a typed table: who interacted with which item, how they rated it, and when."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Interactions:
    """A table of logged interactions, one row per (user, item) event, as parallel arrays.

    Users and items are addressed by row index: ``users`` indexes the dataset's user table and
    ``items`` the :class:`~recoworld.catalog.Catalog` rows (``catalog.item_ids[items]`` gives the
    source's ids back). Rows keep the order of the source file; :meth:`chronological` sorts them.

    Attributes:
        users: ``(n,)`` int64 user rows, ``>= 0``.
        items: ``(n,)`` int64 catalog rows, ``>= 0``.
        ratings: ``(n,)`` float32 explicit ratings (``nan`` where the log has none).
        timestamps: ``(n,)`` int64 Unix seconds (``-1`` where the log has no time).
        source: where the rows came from (a file name), for messages.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.users)
        for name, dtype in (
            ("users", np.int64),
            ("items", np.int64),
            ("ratings", np.float32),
            ("timestamps", np.int64),
        ):
            array = np.asarray(getattr(self, name))
            if array.ndim != 1 or len(array) != n:
                raise ValueError(
                    f"Interactions.{name} must be a 1-d array of length {n} (as users), "
                    f"got shape {array.shape}"
                )
            if name in ("users", "items") and n and int(array.min()) < 0:
                raise ValueError(f"Interactions.{name} holds a negative row {int(array.min())}")
            converted = array.astype(dtype, copy=False)
            converted.setflags(write=False)
            object.__setattr__(self, name, converted)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        """One more than the largest user row (0 when empty)."""
        return int(self.users.max()) + 1 if len(self) else 0

    def chronological(self) -> Interactions:
        """The rows sorted by (user, timestamp, item), the order in which each user's history
        unfolds (ties in time broken by item row, as the MovieLens splits are made)."""
        order = np.lexsort((self.items, self.timestamps, self.users))
        return self.take(order)

    def take(self, rows: np.ndarray) -> Interactions:
        """The table of the given rows (an index array or a boolean mask)."""
        return Interactions(
            self.users[rows],
            self.items[rows],
            self.ratings[rows],
            self.timestamps[rows],
            self.source,
        )

    @staticmethod
    def concatenate(tables: list[Interactions], source: str = "") -> Interactions:
        """One table holding the rows of ``tables`` in order."""
        if not tables:
            raise ValueError("Interactions.concatenate needs at least one table")
        return Interactions(
            np.concatenate([t.users for t in tables]),
            np.concatenate([t.items for t in tables]),
            np.concatenate([t.ratings for t in tables]),
            np.concatenate([t.timestamps for t in tables]),
            source or "+".join(t.source for t in tables if t.source),
        )
