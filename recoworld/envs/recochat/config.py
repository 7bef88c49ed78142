"""The plain settings of ``RecoChat-v0``, written once and validated once.

:class:`RecoChatConfig` holds every setting of :class:`~recoworld.envs.recochat.RecoChatEnv` that
is a plain value (numbers, names, paths). Objects (a catalog, interactions, a text encoder) and
the language model (``llm=``, an :class:`~recoworld.llm.LLMSettings` or what it stands for) stay
keyword arguments of the env. The env takes ``config=`` or the same names as keywords
(:func:`recoworld.validation.config_from_arguments`), so
``gym.make("RecoChat-v0", max_turns=5)`` and
``gym.make("RecoChat-v0", config=RecoChatConfig(max_turns=5))`` build the same env.

>>> RecoChatConfig(max_turns=5).max_turns
5
>>> RecoChatConfig(top_k=0)
Traceback (most recent call last):
...
ValueError: top_k=0 must be an integer in [1, 2147483647]
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from recoworld.catalog.scpr import is_file_in_folder
from recoworld.validation import MAX_COUNT, check_choice, check_int, check_number, check_seed

__all__ = ["DEFAULT_N_ITEMS", "ENV_KEYWORDS", "MOVED_ARGUMENTS", "USERS", "RecoChatConfig"]

USERS: tuple[str, ...] = ("rule", "ailo")
"""The simulated users ``RecoChat-v0`` offers."""

DEFAULT_N_ITEMS = 1000

ENV_KEYWORDS: tuple[str, ...] = (
    "config",
    "llm",
    "catalog",
    "interactions",
    "text_encoder",
    "render_mode",
)
"""The env's keyword arguments that are not config fields (objects, the model, rendering)."""

MOVED_ARGUMENTS: dict[str, str] = {
    "on_llm_error": "llm={'model': ..., 'on_error': ...}",
    "llm_temperature": "llm={'model': ..., 'temperature': ...}",
    "llm_max_tokens": "llm={'model': ..., 'max_tokens': ...}",
}
"""Former env arguments and where their settings live now (for the unknown-argument error)."""


@dataclass(frozen=True)
class RecoChatConfig:
    """Validated plain settings of ``RecoChat-v0`` (see :class:`RecoChatEnv` for how each acts).

    Every field is checked on construction; a bad value raises ``ValueError`` naming the field,
    the value and what is allowed. Integers may be numpy integers (not bools) and are stored as
    ``int`` (counts at most ``2**31 - 1``);
    reward weights are stored as ``float``.
    """

    user: str = "rule"
    """Simulated user: ``"rule"`` (templated binary-attribute protocol, no model) or
    ``"ailo"`` (the ECPO AILO user voiced by ``llm=``)."""
    dataset_path: str | os.PathLike[str] | None = None
    """An SCPR data folder (as in ``ConvRec-v0``); None: a synthetic world."""
    split_file: str | None = None
    """Interaction file inside ``dataset_path`` whose pairs make the episodes."""
    n_items: int = DEFAULT_N_ITEMS
    """Items of the synthetic catalog (>= 2), when no dataset or catalog is given."""
    n_users: int = 100
    """Synthetic users (>= 1), when no dataset or interactions are given."""
    catalog_seed: int = 0
    """Seed of the synthetic catalog and users (>= 0)."""
    max_turns: int = 15
    """Turn budget of a conversation (>= 1); then the episode is truncated."""
    top_k: int = 10
    """Item slots of a recommendation (>= 1)."""
    patience: int = 5
    """Rule user: turns of satisfaction <= 2 it sits through before leaving (>= 1)."""
    utterance_max_length: int = 500
    """Longest utterance, in characters (>= 1)."""
    reward_success: float = 1.0
    """Reward when the user accepts a recommendation."""
    reward_satisfaction: float = 0.1
    """Reward per unit of centred satisfaction, ``(satisfaction - 3) / 2`` in ``[-1, 1]``."""
    reward_turn: float = -0.05
    """Reward of every turn (a cost when negative)."""
    reward_leave: float = -0.3
    """Reward when the user leaves without accepting."""
    llm_max_chars: int = 160
    """AILO user: longest expectation, reason and reply its answer schema allows (>= 1)."""
    persona_interests: int = 2
    """AILO user: strongest latent topics named as the persona's Interests (>= 1)."""
    target_pool: int = 10
    """AILO user: the target is drawn among this many items of highest latent utility (>= 1)."""

    def __post_init__(self) -> None:
        check_choice("user", self.user, USERS)
        if self.dataset_path is not None and not isinstance(self.dataset_path, str | os.PathLike):
            raise ValueError(f"dataset_path={self.dataset_path!r} must be a path or None")
        if self.split_file is not None and not is_file_in_folder(self.split_file):
            raise ValueError(
                f"split_file={self.split_file!r} must be None or the name of an interaction "
                "file inside the dataset_path folder: a relative path without '..'"
            )
        for name, low in (
            ("n_items", 2),
            ("n_users", 1),
            ("max_turns", 1),
            ("top_k", 1),
            ("patience", 1),
            ("utterance_max_length", 1),
            ("llm_max_chars", 1),
            ("persona_interests", 1),
            ("target_pool", 1),
        ):
            value = check_int(name, getattr(self, name), low=low, high=MAX_COUNT)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "catalog_seed", check_seed("catalog_seed", self.catalog_seed))
        for name in ("reward_success", "reward_satisfaction", "reward_turn", "reward_leave"):
            object.__setattr__(self, name, check_number(name, getattr(self, name)))
