"""The agent protocol shared by every policy, and helpers for RecoWorld observations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Agent(Protocol):
    """A policy that sees only what an env returns (observation and ``info``).

    ``reset`` is called at the start of every episode with that episode's seed (so stochastic
    agents are reproducible); ``act`` returns an action inside the env's action space. An agent
    that reads hidden user state must say so in its name (``oracle``).
    """

    name: str

    def reset(self, *, seed: int | None = None) -> None: ...

    def act(self, observation: Any, info: dict[str, Any]) -> Any: ...


@dataclass(frozen=True, eq=False)
class ObservationLayout:
    """Where things sit in a ``RecoWorld-v0`` observation, for hand-written agents.

    Per-candidate feature columns: ``[0, d)`` embedding, ``[d, d + T)`` topic mass, then quality,
    scaled log-popularity, scaled log-duration and the availability flag.
    ``item_features`` (the catalog's public feature table) lets agents work with
    ``observation_mode="ids"`` observations too (see :meth:`candidates`).
    """

    embedding_dim: int
    n_topics: int
    slate_size: int
    item_features: np.ndarray | None = None

    def candidates(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """``(C, F + 1)`` per-candidate features with the availability flag last, for either
        observation mode."""
        if "candidates" in observation:
            return observation["candidates"]
        if self.item_features is None:
            raise ValueError("an 'ids' observation needs ObservationLayout.item_features")
        features = self.item_features[observation["candidate_ids"]]
        return np.concatenate([features, observation["available"][:, None]], axis=1)

    @property
    def topics(self) -> slice:
        return slice(self.embedding_dim, self.embedding_dim + self.n_topics)

    @property
    def quality(self) -> int:
        return self.embedding_dim + self.n_topics

    @property
    def popularity(self) -> int:
        return self.embedding_dim + self.n_topics + 1

    @property
    def available(self) -> int:
        return self.embedding_dim + self.n_topics + 3

    @classmethod
    def of(cls, env: Any) -> ObservationLayout:
        """The layout of a (possibly wrapped) RecoWorld env."""
        core = env.unwrapped.core
        return cls(
            core.catalog.embedding_dim,
            core.catalog.n_topics,
            core.config.slate_size,
            core.item_features,
        )


def top_slate(scores: np.ndarray, available: np.ndarray, slate_size: int) -> np.ndarray:
    """The ``slate_size`` best-scoring candidates, available ones first, as an int64 slate.

    Unavailable candidates (already shown this session or consumed) are used only when fewer
    than ``slate_size`` are available; the slate never repeats a candidate.
    """
    key = np.where(available > 0.5, scores, scores - 1e9)
    return np.argsort(-key, kind="stable")[:slate_size].astype(np.int64)
