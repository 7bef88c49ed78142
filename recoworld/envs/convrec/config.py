"""The plain settings of ``ConvRec-v0`` as one frozen, validated dataclass.

:class:`ConvRecConfig` holds every number and name that configures a conversation (turn budget,
list length, rewards, action mode, the size and seed of the synthetic world); the objects a
world is built from (a catalog, interactions, a data folder, scorers) stay keyword arguments of
:class:`~recoworld.envs.convrec.env.ConvRecEnv`. The env takes either ``config=`` or the same
names as keywords, so ``gym.make("ConvRec-v0", max_turns=5)`` and
``gym.make("ConvRec-v0", config=ConvRecConfig(max_turns=5))`` build the same env.

>>> ConvRecConfig(max_turns=5).max_turns
5
>>> ConvRecConfig(top_k=0)
Traceback (most recent call last):
...
ValueError: top_k=0 must be an integer in [1, 2147483647]
"""

from __future__ import annotations

from dataclasses import dataclass

from recoworld.catalog.scpr import is_file_in_folder
from recoworld.validation import MAX_COUNT, check_choice, check_int, check_number

__all__ = ["ACTION_MODES", "MAX_COUNT", "MAX_OBSERVATION_SETTING", "REWARD_FIELDS", "ConvRecConfig"]

MAX_OBSERVATION_SETTING = 10_000
"""Largest ``max_turns`` and ``entropy_features``: the observation holds ``5 * max_turns +
entropy_features + 10`` numbers, so larger values would only allocate gigabytes (the published
protocol uses 15 turns and the default 10 entropies)."""

ACTION_MODES: tuple[str, ...] = ("attribute", "ask_or_recommend")
"""``"attribute"``: ask any attribute column or recommend; ``"ask_or_recommend"``: SCPR's
two-action policy (ask the best attribute, or recommend)."""

REWARD_FIELDS: tuple[str, ...] = (
    "reward_rec_suc",
    "reward_rec_fail",
    "reward_ask_suc",
    "reward_ask_fail",
    "reward_quit",
)
"""The reward fields of :class:`ConvRecConfig`, in the order the env documents them."""


@dataclass(frozen=True)
class ConvRecConfig:
    """Validated settings of a ``ConvRec-v0`` env (see :class:`~recoworld.envs.ConvRecEnv`).

    Each field is checked once, on construction, and a bad value raises ``ValueError`` naming
    the field; integers and numbers are stored as Python ``int`` and ``float``.
    """

    max_turns: int = 15
    """``T``, the turn budget (2 to 10,000): the agent moves in turns ``1 .. T-1`` and the user
    quits at turn ``T`` (see the env's "Turn counting")."""

    top_k: int = 10
    """Items shown by one recommendation (>= 1)."""

    reward_rec_suc: float = 1.0
    """Reward of an accepted recommendation (the episode ends in success)."""

    reward_rec_fail: float = -0.1
    """Reward of a rejected recommendation."""

    reward_ask_suc: float = 0.01
    """Reward of an accepted question."""

    reward_ask_fail: float = -0.1
    """Reward of a rejected question (also of a useless one: already known, or no candidate)."""

    reward_quit: float = -0.3
    """Added to the reward of the move at whose end the user quits (the turn budget ran out)."""

    action_mode: str = "attribute"
    """One of :data:`ACTION_MODES`: ``"attribute"`` (``Discrete(n_attributes + 1)``) or
    ``"ask_or_recommend"`` (``Discrete(2)``)."""

    entropy_features: int = 10
    """Length (1 to 10,000) of the observation's ``entropy`` entry: the largest binary
    entropies of the candidate attributes, sorted descending and zero-padded."""

    n_items: int = 2000
    """Items (>= 2) of the synthetic catalog, used when neither ``catalog`` nor ``dataset_path``
    is given."""

    n_users: int = 100
    """Synthetic users (>= 1), each with 10 interactions, used when no ``interactions`` and no
    ``dataset_path`` are given; their ``(user, item)`` pairs are the episodes."""

    catalog_seed: int = 0
    """Seed (>= 0) of the synthetic catalog and of the synthetic interactions; it fixes the
    world, while ``reset(seed=...)`` fixes the episodes drawn in it."""

    split_file: str | None = None
    """The interaction file of the ``dataset_path`` folder whose pairs are the episodes
    (``None``: ``"review_dict_valid.json"``); only with ``dataset_path``. It must lie inside that
    folder: a relative path without ``..`` (``"../x.json"`` and absolute paths are refused)."""

    def __post_init__(self) -> None:
        for name, low, high in (
            ("max_turns", 2, MAX_OBSERVATION_SETTING),
            ("top_k", 1, MAX_COUNT),
            ("entropy_features", 1, MAX_OBSERVATION_SETTING),
            ("n_items", 2, MAX_COUNT),
            ("n_users", 1, MAX_COUNT),
            ("catalog_seed", 0, None),
        ):
            value = check_int(name, getattr(self, name), low=low, high=high)
            object.__setattr__(self, name, value)
        for name in REWARD_FIELDS:
            object.__setattr__(self, name, check_number(name, getattr(self, name)))
        check_choice("action_mode", self.action_mode, ACTION_MODES)
        if self.split_file is not None and not is_file_in_folder(self.split_file):
            raise ValueError(
                f"split_file={self.split_file!r} must be None or the name of an interaction "
                "file inside the dataset_path folder: a relative path without '..'"
            )

    @property
    def rewards(self) -> dict[str, float]:
        """The reward fields by name (:data:`REWARD_FIELDS`)."""
        return {name: getattr(self, name) for name in REWARD_FIELDS}
