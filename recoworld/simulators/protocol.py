"""The batched user-model protocol: what every simulated population of users can do.

A user model holds no users itself: it draws a batch of users (a state object of arrays shaped
``(n_users, ...)``), steps the whole batch through one turn given the slates they were shown,
ends sessions with a return gap in days, and starts the next session after the gap. One user is
a batch of one and a population is the same code, so an env, a vector env, a population runner
or a simulator fitted to logs plug into each other through this protocol. Randomness always
comes from the generator passed in.

:class:`LatentUserModel` is the library's latent-state model behind the protocol (the functions
of :mod:`recoworld.simulators.latent`). ``RecoWorld-v0``'s engine calls the same compiled turn
directly for speed; the protocol is how new envs (slates, populations) and fitted users share it.

>>> import numpy as np
>>> from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
>>> catalog = generate_catalog(SyntheticCatalogConfig(n_items=200), seed=0)
>>> model = LatentUserModel(catalog)
>>> isinstance(model, UserModel)
True
>>> rng = np.random.default_rng(0)
>>> users = model.sample(3, rng)
>>> outcome = model.step(users, np.tile(np.arange(5), (3, 1)), rng)
>>> outcome.clicks.shape
(3, 5)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recoworld.catalog import Catalog
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import (
    LatentUserState,
    TurnOutcome,
    begin_session,
    draw_return_gap,
    sample_users,
    step_users,
)

__all__ = ["LatentUserModel", "UserModel"]


@runtime_checkable
class UserModel(Protocol):
    """A batched user model (see the module docstring).

    ``State`` is the model's own struct of arrays over users; ``step`` returns an outcome with at
    least ``clicks`` ``(n, S)`` bool, ``watch_fraction`` ``(n, S)`` and ``left`` ``(n,)`` bool.
    """

    def sample(self, n_users: int, rng: np.random.Generator) -> Any:
        """``n_users`` fresh users at the start of their first session."""
        ...

    def step(
        self,
        state: Any,
        items: np.ndarray,
        rng: np.random.Generator,
        *,
        click_override: np.ndarray | None = None,
        leave_override: np.ndarray | None = None,
    ) -> Any:
        """One turn for every user of ``state`` shown ``items`` (``(n, S)`` item rows, ``-1`` an
        empty slot); updates ``state`` in place. ``click_override`` ``(n, S)`` and
        ``leave_override`` ``(n,)`` (entries -1: the model decides, 0/1: forced) hand decisions
        to another decider, e.g. a language model."""
        ...

    def end_session(
        self, state: Any, rows: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """End the sessions of the users at ``rows``: ``(return_gap_days, churned)``."""
        ...

    def begin_session(self, state: Any, rows: np.ndarray, gap_days: np.ndarray) -> None:
        """Start the next session of the users at ``rows`` after ``gap_days`` away."""
        ...


@dataclass(frozen=True)
class LatentUserModel:
    """The latent-state user model (:mod:`recoworld.simulators.latent`) as a :class:`UserModel`
    over ``catalog`` with ``config``."""

    catalog: Catalog
    config: UserModelConfig = field(default_factory=UserModelConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.catalog, Catalog):
            raise ValueError(f"catalog={self.catalog!r} is not a recoworld Catalog")
        if not isinstance(self.config, UserModelConfig):
            raise ValueError(f"config={self.config!r} is not a UserModelConfig")

    def sample(self, n_users: int, rng: np.random.Generator) -> LatentUserState:
        return sample_users(n_users, self.catalog, self.config, rng)

    def step(
        self,
        state: LatentUserState,
        items: np.ndarray,
        rng: np.random.Generator,
        *,
        click_override: np.ndarray | None = None,
        leave_override: np.ndarray | None = None,
    ) -> TurnOutcome:
        return step_users(
            state,
            self.catalog,
            items,
            self.config,
            rng,
            click_override=click_override,
            leave_override=leave_override,
        )

    def end_session(
        self, state: LatentUserState, rows: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return draw_return_gap(state, np.asarray(rows, np.int64), self.config, rng)

    def begin_session(self, state: LatentUserState, rows: np.ndarray, gap_days: np.ndarray) -> None:
        begin_session(state, np.asarray(rows, np.int64), gap_days, self.config)
