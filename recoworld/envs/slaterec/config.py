"""The settings of ``SlateRec-v0`` as one frozen, validated dataclass.

:class:`SlateRecConfig` holds every number that configures the slate env (slate size, episode
length, click-history length, the size and seed of the synthetic world) and the users' model;
the objects a world is made from (a ready :class:`~recoworld.catalog.slate_world.SlateWorld`, a
FINN.no data folder) stay keyword arguments of :class:`~recoworld.envs.slaterec.SlateRecEnv`.
The env takes either ``config=`` or the same names as keywords, so
``gym.make("SlateRec-v0", slate_size=10)`` and
``gym.make("SlateRec-v0", config=SlateRecConfig(slate_size=10))`` build the same env.

>>> SlateRecConfig(slate_size=10).slate_size
10
>>> SlateRecConfig(horizon=0)
Traceback (most recent call last):
...
ValueError: horizon=0 must be an integer in [1, 10000]
>>> SlateRecConfig(user_config={"no_click_utility": 5.0}).user_config.no_click_utility
5.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from recoworld.catalog.slate_world import SLATE_USER_CONFIG
from recoworld.simulators.config import UserModelConfig
from recoworld.validation import MAX_COUNT, check_int, check_seed

__all__ = ["MAX_HORIZON", "MAX_SLATE_SIZE", "SlateRecConfig"]

MAX_HORIZON = 10_000
"""Largest ``horizon`` and ``history_length``: the observation's spaces grow with them, and the
FINN.no logs hold 20 steps per user."""

MAX_SLATE_SIZE = 10_000
"""Largest ``slate_size`` (FINN.no slates hold at most 24 items)."""


@dataclass(frozen=True)
class SlateRecConfig:
    """Validated settings of a ``SlateRec-v0`` env (see :class:`~recoworld.envs.SlateRecEnv`).

    Each field is checked once, on construction; a bad value raises ``ValueError`` naming the
    field and the value. Change a field with :func:`dataclasses.replace`, which checks again.
    """

    slate_size: int = 24
    """Items in every slate the agent shows (1 to 10,000, and at most the world's items: a slate
    can hold distinct items). FINN.no shows up to 24: its slate rows are 25 wide, the no-click
    entry included, as are the logs :func:`~recoworld.catalog.slates.generate_slate_logs`
    writes by default."""

    horizon: int = 20
    """Slates per episode (1 to 10,000) before it is truncated, as FINN.no logs 20 steps a
    user."""

    history_length: int = 20
    """Clicked items the observation keeps, most recent last (1 to 10,000)."""

    n_items: int = 3000
    """Items of the synthetic world (>= 2; unused with ``world`` or ``dataset_path``)."""

    n_groups: int = 24
    """Item groups of the synthetic world (2 to 24, each item's main genre; unused with
    ``world`` or ``dataset_path``)."""

    world_seed: int = 0
    """Seed (>= 0) of the synthetic world, or of the world built from a ``dataset_path``'s logs;
    it fixes the world, while ``reset(seed=...)`` fixes the users drawn in it (unused with
    ``world``)."""

    user_config: UserModelConfig | None = None
    """The latent users' model, replacing the world's (None: keep the world's, by default
    :data:`~recoworld.catalog.slate_world.SLATE_USER_CONFIG`). A
    :class:`~recoworld.simulators.UserModelConfig` with ``choice_model="mnl"``, or a mapping of
    its fields, applied over ``SLATE_USER_CONFIG`` (``{"no_click_utility": 5.0}``, as
    ``--env-arg user_config='{"no_click_utility": 5.0}'`` gives it)."""

    def __post_init__(self) -> None:
        for name, low, high in (
            ("slate_size", 1, MAX_SLATE_SIZE),
            ("horizon", 1, MAX_HORIZON),
            ("history_length", 1, MAX_HORIZON),
            ("n_items", 2, MAX_COUNT),
            ("n_groups", 2, 24),
        ):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low, high))
        object.__setattr__(self, "world_seed", check_seed("world_seed", self.world_seed))
        object.__setattr__(self, "user_config", _user_config(self.user_config))


def _user_config(value: object) -> UserModelConfig | None:
    """``value`` as a multinomial-logit :class:`UserModelConfig` (a mapping of fields is
    applied over :data:`SLATE_USER_CONFIG`), or None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        names = {field.name for field in dataclasses.fields(UserModelConfig)}
        unknown = sorted(str(key) for key in value if key not in names)
        if unknown:
            raise ValueError(
                f"user_config has no field {unknown[0]!r}; the fields are those of "
                "UserModelConfig (e.g. 'no_click_utility', 'leave_prob')"
            )
        value = dataclasses.replace(SLATE_USER_CONFIG, **dict(value))
    if not isinstance(value, UserModelConfig):
        raise ValueError(
            f"user_config={value!r} must be None, a UserModelConfig or a mapping of its fields"
        )
    if value.choice_model != "mnl":
        raise ValueError(
            f"user_config.choice_model={value.choice_model!r}: SlateRec-v0's users answer a "
            "slate with one click or none, choice_model='mnl'"
        )
    return value
