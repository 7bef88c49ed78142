"""Baseline agents for ``SlateRec-v0``: a random slate and the most popular items.

Both read only the observation and ``info`` of :class:`~recoworld.envs.SlateRecEnv` and return
``slate_size`` distinct catalog rows, so no slot is wasted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recoworld.seeding import tagged_rng
from recoworld.validation import check_int

__all__ = ["SlatePopularAgent", "SlateRandomAgent"]

Observation = dict[str, Any]


class SlateRandomAgent:
    """A uniformly random slate of ``slate_size`` distinct items each step.

    Draws come from a generator seeded by ``reset(seed=)`` (or the constructor's ``seed``).

    Raises:
        ValueError: ``slate_size`` is not in ``[1, n_items]``.
    """

    name = "random"

    def __init__(self, n_items: int, slate_size: int, seed: int | None = None) -> None:
        self.n_items = check_int("n_items", n_items, 1)
        self.slate_size = check_int("slate_size", slate_size, 1, self.n_items)
        self.rng = np.random.default_rng() if seed is None else tagged_rng(seed, "slate-random")

    def reset(self, *, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = tagged_rng(seed, "slate-random")

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        return self.rng.choice(self.n_items, self.slate_size, replace=False).astype(np.int64)


class SlatePopularAgent:
    """The ``slate_size`` most popular items (by ``popularity``, ties to the lower row) that
    the user has not clicked this episode, most popular first.

    The clicked items are those of the observation's ``clicks`` history and every
    ``info["clicked"]`` seen since ``reset``, so a history shorter than the episode loses none.

    Raises:
        ValueError: ``popularity`` is not a 1-d array of finite numbers, or ``slate_size`` is
            not in ``[1, n_items]``.
    """

    name = "popular"

    def __init__(self, popularity: np.ndarray, slate_size: int) -> None:
        scores = np.asarray(popularity, dtype=np.float64)
        if scores.ndim != 1 or scores.size == 0 or not np.all(np.isfinite(scores)):
            raise ValueError(
                f"popularity must be a non-empty 1-d array of finite numbers, got shape "
                f"{scores.shape}"
            )
        self.n_items = int(scores.size)
        self.slate_size = check_int("slate_size", slate_size, 1, self.n_items)
        self.ranking = np.argsort(-scores, kind="stable").astype(np.int64)
        """Catalog rows, most popular first."""
        self._clicked: set[int] = set()

    def reset(self, *, seed: int | None = None) -> None:
        self._clicked = set()

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        clicked = int(info.get("clicked", -1))
        if clicked >= 0:
            self._clicked.add(clicked)
        history = np.asarray(observation["clicks"])
        self._clicked.update(int(row) for row in history[history < self.n_items])
        head = self.ranking[: self.slate_size + len(self._clicked)]
        if self._clicked:
            clicked_rows = np.fromiter(self._clicked, np.int64, len(self._clicked))
            head = head[~np.isin(head, clicked_rows)]
            if head.size < self.slate_size:  # fewer unclicked items than slots: clicked ones last
                again = np.isin(self.ranking, clicked_rows)
                head = np.concatenate([self.ranking[~again], self.ranking[again]])
        return head[: self.slate_size].copy()
