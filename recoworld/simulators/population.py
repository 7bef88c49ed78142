"""A fixed population of users that a world draws its users from, instead of the prior.

By default ``RecoWorld-v0`` draws every new user from the latent model's generative prior
(:func:`~recoworld.simulators.latent.sample_users`). A :class:`UserPopulation` replaces that
prior with a given set of users, e.g. users fitted to a real log
(:func:`recoworld.fidelity.fit_world`): every reset draws, uniformly and with replacement from the
env's seeded generator, one of the population's users and starts a session with their interests,
interest weights, boredom, familiarity, novelty propensity, patience and the items they already
consumed. Everything a session changes (novelty state, skips, satisfaction, turns, items seen)
starts at zero, as for a user from the prior.

An object with ``catalog``, ``user_config`` and ``population`` attributes is a *world*
(:class:`World`): ``gym.make("RecoWorld-v0", world=world)`` runs on its catalog and user model
with its users.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from recoworld.catalog import Catalog
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import LatentUserState

__all__ = ["UserPopulation", "World", "check_world"]

_KEPT = (
    "interests",
    "interest_bonus",
    "boredom",
    "familiarity",
    "novelty_propensity",
    "base_patience",
    "consumed_bits",
)
"""The population's arrays a drawn user starts with; every other state array starts at zero
(``patience`` at ``base_patience``, turns since an instruction at "long ago")."""


@dataclass(frozen=True, eq=False)
class UserPopulation:
    """Users to draw from (see the module docstring).

    Attributes:
        users: their latent state at the start of a session (:class:`LatentUserState`, one row
            per user); only the arrays in ``_KEPT`` (interests, interest bonus, boredom,
            familiarity, novelty propensity, base patience, consumed items) are read.
        user_ids: ``(n,)`` int64 id of each user (e.g. the row of the real user it was fitted
            to), reported in ``info["user_id"]``.
        history: ``None`` (a drawn user starts with an empty watch history, like a user of the
            prior) or ``(n, d + T)`` float32: the watch history summary ``RecoWorld-v0``
            observes (moving average of the embeddings and topics the user watched) each user
            starts with, e.g. from their log, so an agent sees what they consumed before.

    Raises:
        ValueError: an empty population, arrays whose first axis disagrees, ``user_ids`` of
            the wrong shape, or non-finite values.
    """

    users: LatentUserState
    user_ids: np.ndarray
    history: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.users, LatentUserState):
            raise ValueError(f"users={self.users!r} must be a LatentUserState")
        n = self.users.n_users
        if n < 1:
            raise ValueError("users: a population needs at least one user")
        for field in dataclasses.fields(self.users):
            array = getattr(self.users, field.name)
            if array.shape[:1] != (n,):
                raise ValueError(
                    f"users.{field.name} has shape {array.shape}; its first axis must be the "
                    f"{n} users"
                )
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ValueError(f"users.{field.name} holds NaN or infinite values")
        ids = np.asarray(self.user_ids)
        if ids.shape != (n,) or ids.dtype.kind not in "iu":
            raise ValueError(
                f"user_ids has shape {ids.shape} and dtype {ids.dtype}; it must be ({n},) integers"
            )
        object.__setattr__(self, "user_ids", ids.astype(np.int64))
        if len(np.unique(self.user_ids)) != n:
            raise ValueError("user_ids repeat an id: each population user needs its own")
        if self.history is not None:
            history = np.asarray(self.history, dtype=np.float32)
            if history.ndim != 2 or history.shape[0] != n:
                raise ValueError(
                    f"history has shape {history.shape}; it must be ({n}, d + T): one row per user"
                )
            if not np.isfinite(history).all():
                raise ValueError("history holds NaN or infinite values")
            object.__setattr__(self, "history", history)

    @property
    def n_users(self) -> int:
        """Users in the population."""
        return self.users.n_users

    def check(self, catalog: Catalog, config: UserModelConfig) -> None:
        """Refuse a population that does not fit ``catalog`` and ``config``.

        Raises:
            ValueError: interests not ``(n, config.n_interests, catalog.embedding_dim)``, topic
                arrays not ``(n, catalog.n_topics)``, or a consumed-item bitset not
                ``(n, ceil(catalog.n_items / 8))``.
        """
        n, users = self.n_users, self.users
        expected = {
            "interests": (n, config.n_interests, catalog.embedding_dim),
            "interest_bonus": (n, config.n_interests),
            "boredom": (n, catalog.n_topics),
            "familiarity": (n, catalog.n_topics),
            "consumed_bits": (n, (catalog.n_items + 7) // 8),
        }
        if self.history is not None:
            expected["history"] = (n, catalog.embedding_dim + catalog.n_topics)
        for name, shape in expected.items():
            array = self.history if name == "history" else getattr(users, name)
            assert array is not None
            if array.shape != shape:
                where = name if name == "history" else f"users.{name}"
                raise ValueError(
                    f"population {where} has shape {array.shape}, but the "
                    f"catalog ({catalog.n_items} items, {catalog.n_topics} topics, embedding "
                    f"dim {catalog.embedding_dim}) and the user model (n_interests="
                    f"{config.n_interests}) need {shape}"
                )

    def index_of(self, user_id: int) -> int:
        """The population index of the user whose id is ``user_id``.

        Raises:
            ValueError: no population user has that id.
        """
        found = np.flatnonzero(self.user_ids == user_id)
        if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer) or not found.size:
            raise ValueError(
                f"user_id={user_id!r} is not the id of a population user (ids such as "
                f"{self.user_ids[:3].tolist()}, {self.n_users} users)"
            )
        return int(found[0])

    def assign(
        self,
        state: LatentUserState,
        rows: np.ndarray | slice,
        rng: np.random.Generator,
        picks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Replace the users of ``state`` at ``rows`` with users of the population, in place:
        ``picks`` (population indices, one per row) or, by default, users drawn uniformly with
        replacement from ``rng`` (nothing is drawn when ``picks`` is given); return the
        population indices."""
        n_rows = len(range(state.n_users)[rows]) if isinstance(rows, slice) else len(rows)
        if picks is None:
            picks = rng.integers(0, self.n_users, size=n_rows)
        elif np.shape(picks) != (n_rows,) or not np.all((picks >= 0) & (picks < self.n_users)):
            raise ValueError(
                f"picks={picks!r} must be {n_rows} population indices in 0..{self.n_users - 1}"
            )
        for name in _KEPT:
            getattr(state, name)[rows] = getattr(self.users, name)[picks]
        state.patience[rows] = self.users.base_patience[picks]
        for field in dataclasses.fields(state):
            if field.name not in _KEPT and field.name not in ("patience",):
                getattr(state, field.name)[rows] = 0
        state.turns_since_instruction[rows] = 1 << 20
        return picks


@runtime_checkable
class World(Protocol):
    """What ``RecoWorld-v0``'s ``world=`` takes: a catalog, a user model and a population."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def user_config(self) -> UserModelConfig: ...

    @property
    def population(self) -> UserPopulation: ...


def check_world(world: object) -> World:
    """``world`` if it is a :class:`World` whose population fits its catalog and user model.

    Raises:
        ValueError: ``world`` lacks one of the three attributes, one has the wrong type, or the
            population does not fit (see :meth:`UserPopulation.check`).
    """
    missing = [
        name for name in ("catalog", "user_config", "population") if not hasattr(world, name)
    ]
    if missing:
        raise ValueError(
            f"world={world!r} lacks {', '.join(missing)}: a world has a catalog, a user_config "
            "and a population (e.g. recoworld.fidelity.fit_world)"
        )
    assert isinstance(world, World)
    if not isinstance(world.catalog, Catalog):
        raise ValueError(f"world.catalog={world.catalog!r} is not a recoworld Catalog")
    if not isinstance(world.user_config, UserModelConfig):
        raise ValueError(f"world.user_config={world.user_config!r} is not a UserModelConfig")
    if not isinstance(world.population, UserPopulation):
        raise ValueError(f"world.population={world.population!r} is not a UserPopulation")
    world.population.check(world.catalog, world.user_config)
    return world
