"""The world of slate recommendation (``SlateRec-v0``): a catalog whose items belong to groups,
and latent users who answer a slate with one click or none.

Item indices follow the FINN.no slate dataset (Eide, Leslie and Frigessi, 2021): in the logs,
index 0 is padding, 1 the no-click option, 2 an unknown item and a real item is ``3 + row``,
``row`` its catalog row. :class:`SlateWorld` converts between the two with :meth:`log_items`
and :meth:`catalog_rows`. The env and its agents speak catalog rows; logs speak log indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recoworld.catalog.base import Catalog
from recoworld.catalog.synthetic import SyntheticCatalogConfig, generate_catalog
from recoworld.simulators.config import UserModelConfig
from recoworld.validation import check_int, check_seed

__all__ = [
    "FIRST_ITEM",
    "NO_CLICK_ITEM",
    "PAD_ITEM",
    "SLATE_USER_CONFIG",
    "UNKNOWN_ITEM",
    "SlateWorld",
    "synthetic_slate_world",
]

PAD_ITEM = 0
"""Log index of padding (an empty slot, or a step the user never took)."""
NO_CLICK_ITEM = 1
"""Log index of the no-click option (FINN.no puts it in the slate's first position)."""
UNKNOWN_ITEM = 2
"""Log index of an item the dataset could not identify."""
FIRST_ITEM = 3
"""Log index of catalog row 0; row ``r`` is log index ``r + FIRST_ITEM``."""

SLATE_USER_CONFIG = UserModelConfig(
    choice_model="mnl",
    affinity_scale=10.0,
    no_click_utility=11.0,
    seen_penalty=0.5,
    fatigue=0.05,
    patience_gain=0.1,
)
"""The latent users of the slate world: a multinomial logit over the slate and the no-click
option (one click or none, as FINN.no logs them), with sharper tastes than the RecoWorld-v0
users (``affinity_scale`` 10) so that knowing a user pays. On the default synthetic world the
no-click utility of 11 leaves about two thirds of the 24-item slates of random items without a
click (about 55% for the 24 most popular items, 20% for the 24 most popular items of a group
the user clicked in, 5% for each user's best 24). Patience falls by 0.05 a slate and rises by
0.1 per watched item, so a user who keeps clicking stays the 20 steps of a FINN.no log and one
who does not leaves after four to seven slates."""


@dataclass(frozen=True, eq=False)
class SlateWorld:
    """A slate-recommendation world: a catalog, the group of every item and the users' model.

    Attributes:
        catalog: the items (rows ``0..n_items-1``).
        groups: ``(n_items,)`` int64, the group of every row, in ``0..n_groups-1`` (FINN.no's
            290 category-and-region groups; on the synthetic world, each item's main genre).
        group_names: the name of every group.
        user_config: the latent users' configuration (its ``choice_model`` is ``"mnl"``).
        name: a short name for reports.

    Raises:
        ValueError: ``groups`` has the wrong shape or a group outside ``group_names``, or
            ``user_config`` is not a multinomial-logit configuration.
    """

    catalog: Catalog
    groups: np.ndarray
    group_names: tuple[str, ...]
    user_config: UserModelConfig = SLATE_USER_CONFIG
    name: str = "slate-world"

    def __post_init__(self) -> None:
        groups = np.asarray(self.groups)
        if groups.shape != (self.catalog.n_items,) or groups.dtype.kind not in "iu":
            raise ValueError(
                f"SlateWorld.groups must be an integer array of shape ({self.catalog.n_items},) "
                f"(one group per catalog item), got {groups.dtype} {groups.shape}"
            )
        if len(groups) and (groups.min() < 0 or groups.max() >= len(self.group_names)):
            bad = groups[(groups < 0) | (groups >= len(self.group_names))][0]
            raise ValueError(
                f"SlateWorld.groups holds group {int(bad)}; groups are "
                f"0..{len(self.group_names) - 1} (one per group name)"
            )
        if not isinstance(self.user_config, UserModelConfig):
            raise ValueError(
                f"SlateWorld.user_config={self.user_config!r} is not a UserModelConfig"
            )
        if self.user_config.choice_model != "mnl":
            raise ValueError(
                f"SlateWorld.user_config.choice_model={self.user_config.choice_model!r}: slate "
                "users answer with one click or none, choice_model='mnl'"
            )
        frozen = groups.astype(np.int64, copy=True)
        frozen.setflags(write=False)
        object.__setattr__(self, "groups", frozen)
        object.__setattr__(self, "group_names", tuple(str(name) for name in self.group_names))

    @property
    def n_items(self) -> int:
        return self.catalog.n_items

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    def log_items(self, rows: np.ndarray) -> np.ndarray:
        """Log indices of catalog ``rows`` (``row + FIRST_ITEM``; a negative row, an empty slot,
        becomes :data:`PAD_ITEM`)."""
        rows = np.asarray(rows, dtype=np.int64)
        return np.where(rows >= 0, rows + FIRST_ITEM, PAD_ITEM)

    def catalog_rows(self, items: np.ndarray) -> np.ndarray:
        """Catalog rows of log indices ``items`` (``-1`` for padding, no click and unknown).

        Raises:
            ValueError: an index beyond the catalog (named).
        """
        items = np.asarray(items, dtype=np.int64)
        too_big = items >= self.n_items + FIRST_ITEM
        if too_big.any() or (items < 0).any():
            bad = items[too_big | (items < 0)].reshape(-1)[0]
            raise ValueError(
                f"log item index {int(bad)} is outside 0..{self.n_items + FIRST_ITEM - 1} "
                f"({self.name} has {self.n_items} items after the {FIRST_ITEM} reserved indices)"
            )
        return np.where(items >= FIRST_ITEM, items - FIRST_ITEM, -1)


def synthetic_slate_world(
    seed: int = 0,
    *,
    n_items: int = 3000,
    n_groups: int = 24,
    user_config: UserModelConfig | None = None,
) -> SlateWorld:
    """The embedded synthetic slate world: a seeded catalog of ``n_items`` items in ``n_groups``
    groups (each item's main genre; at most 24) and :data:`SLATE_USER_CONFIG` users.

    The same seed gives the same world; logs generated from it (see
    :func:`recoworld.catalog.slates.generate_slate_logs`) index its items.

    Raises:
        ValueError: an argument out of range (named).
    """
    seed = check_seed("seed", seed)
    n_items = check_int("n_items", n_items, 2, 10_000_000)
    n_groups = check_int("n_groups", n_groups, 2, 24)
    catalog = generate_catalog(
        SyntheticCatalogConfig(n_items=n_items, n_topics=n_groups), seed=seed
    )
    groups = np.argmax(catalog.item_topics, axis=1).astype(np.int64)
    return SlateWorld(
        catalog=catalog,
        groups=groups,
        group_names=catalog.topic_names,
        user_config=SLATE_USER_CONFIG if user_config is None else user_config,
        name=f"synthetic-slates-{n_items}",
    )
