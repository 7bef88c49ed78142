"""The settings of ``RecoWorld-v0``: one frozen, validated dataclass, the env's public arguments.

Every plain setting of :class:`~recoworld.envs.RecoWorldEnv` and
:class:`~recoworld.envs.RecoWorldVectorEnv` is a field here, written once with its default and a
one-line docstring, and checked once in ``__post_init__``. The envs take a config or the same
names as keywords; objects (catalog, user model config, voice, text encoder) stay separate
keyword arguments of the envs.

>>> config = RecoWorldConfig(slate_size=5, user_model="llm", llm="openai/gpt-4o-mini")
>>> config.slate_size, config.llm.model
(5, 'openai/gpt-4o-mini')
>>> RecoWorldConfig(llm="openai/gpt-4o-mini")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: llm={'model': 'openai/gpt-4o-mini'} set with user_model='latent': it is a setting ...
>>> RecoWorldConfig(num_candidates=5, slate_size=10)
Traceback (most recent call last):
...
ValueError: slate_size=10 exceeds num_candidates=5: a slate is chosen from the candidates
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recoworld.catalog import Catalog
from recoworld.llm.prompts import prompt_versions
from recoworld.llm.settings import LLMSettings
from recoworld.simulators.llm_user import (
    DECISION_MODES,
    PROMPT_PARTS,
    PROMPT_VERSION,
    check_click_bounds,
)
from recoworld.validation import (
    MAX_COUNT,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_bool,
    check_seed,
    config_from_arguments,
)

__all__ = [
    "ACTION_TYPES",
    "LLM_USER_DEFAULTS",
    "MOVED_ARGUMENTS",
    "OBJECT_ARGUMENTS",
    "OBSERVATION_MODES",
    "USER_MODELS",
    "RecoWorldConfig",
    "recoworld_config",
]

ACTION_TYPES = ("slate", "scores")
OBSERVATION_MODES = ("features", "ids")
USER_MODELS = ("latent", "llm")

MOVED_ARGUMENTS = {
    "llm_cache": "llm={'model': ..., 'cache': ...}",
    "cost_cap_usd": "llm={'model': ..., 'cost_cap_usd': ...}",
    "on_llm_error": "llm={'model': ..., 'on_error': ...}",
    "llm_options": (
        "llm={'model': ..., 'temperature': ..., 'max_tokens': ...} and the settings "
        "instruction_max_tokens= and prompt_version="
    ),
}
"""Former RecoWorld arguments and where their settings live now (for the unknown-key error)."""


@dataclass(frozen=True)
class RecoWorldConfig:
    """Validated settings of a RecoWorld environment (see :class:`~recoworld.envs.RecoWorldEnv`).

    Change a field with :func:`dataclasses.replace`, which validates again.

    Raises:
        ValueError: a field out of range, naming the field and the value.
    """

    num_candidates: int = 100
    """Distinct candidate items the retrieval stage puts in front of the agent each turn."""
    slate_size: int = 10
    """Items the agent ranks and shows each turn (at most ``num_candidates``)."""
    n_items: int = 1000
    """Items of the default synthetic catalog (>= 2; unused when a catalog is given)."""
    catalog_seed: int = 0
    """Seed of the default synthetic catalog (unused when a catalog is given)."""
    multi_session: bool = False
    """An episode spans several sessions over simulated days (else it ends with the session)."""
    max_sessions: int = 5
    """Sessions of a multi-session episode before it is truncated."""
    max_session_turns: int = 50
    """Turns of a session before it ends (truncating a single-session episode)."""
    click_weight: float = 1.0
    """Reward per click."""
    watch_weight: float = 0.1
    """Reward per minute watched."""
    continue_weight: float = 0.1
    """Reward for a turn after which the session goes on."""
    return_weight: float = 1.0
    """Weight of the retention reward ``exp(-return_gap_days / return_horizon_days)``."""
    return_horizon_days: float = 7.0
    """Days over which the retention reward decays (> 0)."""
    diversity_weight: float = 0.0
    """Weight (>= 0) of the slate's intra-list diversity (mean pairwise cosine distance of the
    shown items' embeddings, 0 for a slate of fewer than two items) added every turn."""
    novelty_weight: float = 0.0
    """Weight (>= 0) of the share of the turn's clicks on items from topics new to the user
    (0 on a turn without clicks) added every turn."""
    new_topic_familiarity: float = 0.2
    """A topic is new to the user while its familiarity before the turn is under this (in
    ``(0, 1]``; familiarity is about 0.18 after one fully watched item of the topic and decays
    between sessions); an item's topic is its largest topic share."""
    action_type: str = "slate"
    """``"slate"`` (candidate indices, ranked) or ``"scores"`` (a score per candidate)."""
    observation_mode: str = "features"
    """``"features"`` (candidate feature rows) or ``"ids"`` (candidate item ids)."""
    user_model: str = "latent"
    """``"latent"`` (the fast latent user) or ``"llm"`` (a language model on top of it)."""
    decision_mode: str = "latent"
    """Who decides clicks and leaving of the LLM user: ``"latent"``, ``"hybrid"`` or ``"llm"``."""
    structured_instruction: bool | None = None
    """Keep the structured ``instruction`` entry; None: yes for the latent user, no for the LLM
    user (it learns what the user wants from the words)."""
    hybrid_click_bounds: tuple[float, float] = (0.1, 0.9)
    """``(low, high)`` latent click probabilities outside which the latent choice is forced in
    ``"hybrid"`` mode (``0 <= low <= high <= 1``)."""
    prompt_version: str = PROMPT_VERSION
    """Version of the LLM user's packaged prompts."""
    instruction_max_tokens: int = 40
    """Completion budget of an LLM user's instruction sentence."""
    llm: LLMSettings = field(default_factory=LLMSettings)
    """The LLM user's model (:class:`~recoworld.llm.LLMSettings`, or its shorthand: a model
    string, a ChatModel or a dict of fields). Always validated; with ``user_model="latent"``
    anything but the default is refused, as are the other LLM-user settings
    (``hybrid_click_bounds``, ``prompt_version``, ``instruction_max_tokens``) off their
    defaults: the latent user would ignore them."""

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put(
            "num_candidates",
            check_int("num_candidates", self.num_candidates, low=1, high=MAX_COUNT),
        )
        put("slate_size", check_int("slate_size", self.slate_size, low=1, high=MAX_COUNT))
        if self.slate_size > self.num_candidates:
            raise ValueError(
                f"slate_size={self.slate_size} exceeds num_candidates={self.num_candidates}: "
                "a slate is chosen from the candidates"
            )
        put("n_items", check_int("n_items", self.n_items, low=2, high=MAX_COUNT))
        put("catalog_seed", check_seed("catalog_seed", self.catalog_seed))
        put("multi_session", check_bool("multi_session", self.multi_session))
        put("max_sessions", check_int("max_sessions", self.max_sessions, low=1, high=MAX_COUNT))
        put(
            "max_session_turns",
            check_int("max_session_turns", self.max_session_turns, low=1, high=MAX_COUNT),
        )
        for name in ("click_weight", "watch_weight", "continue_weight", "return_weight"):
            put(name, check_number(name, getattr(self, name)))
        put(
            "return_horizon_days",
            check_number("return_horizon_days", self.return_horizon_days, 0.0, low_open=True),
        )
        for name in ("diversity_weight", "novelty_weight"):
            put(name, check_number(name, getattr(self, name), 0.0))
        put(
            "new_topic_familiarity",
            check_number(
                "new_topic_familiarity", self.new_topic_familiarity, 0.0, 1.0, low_open=True
            ),
        )
        check_choice("action_type", self.action_type, ACTION_TYPES)
        check_choice("observation_mode", self.observation_mode, OBSERVATION_MODES)
        check_choice("user_model", self.user_model, USER_MODELS)
        check_choice("decision_mode", self.decision_mode, DECISION_MODES)
        if self.user_model == "latent" and self.decision_mode != "latent":
            raise ValueError(
                f"decision_mode={self.decision_mode!r} needs user_model='llm' (the latent user "
                "decides by itself)"
            )
        put(
            "structured_instruction",
            check_optional_bool("structured_instruction", self.structured_instruction),
        )
        put(
            "hybrid_click_bounds",
            check_click_bounds("hybrid_click_bounds", self.hybrid_click_bounds),
        )
        check_choice("prompt_version", self.prompt_version, _llm_user_prompt_versions())
        put(
            "instruction_max_tokens",
            check_int("instruction_max_tokens", self.instruction_max_tokens, 1, MAX_COUNT),
        )
        put("llm", LLMSettings.of(self.llm))
        if self.user_model == "latent":
            given = [
                f"{name}={_shown(getattr(self, name))!r}"
                for name, default in LLM_USER_DEFAULTS.items()
                if getattr(self, name) != default
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} set with user_model='latent': "
                    f"{'it is a setting' if len(given) == 1 else 'they are settings'} of the "
                    "LLM user, and the latent user uses no language model; set "
                    "user_model='llm', or leave "
                    f"{'it' if len(given) == 1 else 'them'} at the default"
                )

    @property
    def keeps_structured_instruction(self) -> bool:
        """Whether the observation has the structured ``instruction`` entry (``None`` resolved
        by ``user_model``)."""
        if self.structured_instruction is None:
            return self.user_model == "latent"
        return self.structured_instruction

    def check_catalog(self, catalog: Catalog) -> None:
        """Refuse a catalog too small for the candidate block (the one catalog-dependent bound).

        Raises:
            ValueError: ``num_candidates`` exceeds the catalog's items.
        """
        if self.num_candidates > catalog.n_items:
            raise ValueError(
                f"num_candidates={self.num_candidates} exceeds the catalog's "
                f"{catalog.n_items} items: the candidates are distinct items"
            )


LLM_USER_DEFAULTS: dict[str, Any] = {
    "hybrid_click_bounds": (0.1, 0.9),
    "prompt_version": PROMPT_VERSION,
    "instruction_max_tokens": 40,
    "llm": LLMSettings(),
}
"""The settings only the LLM user reads, with their defaults: with ``user_model="latent"``
another value is refused (``ValueError`` naming it) rather than silently ignored."""


def _shown(value: Any) -> Any:
    """``value`` for a message: LLMSettings as the dict of its fields off their defaults."""
    if not isinstance(value, LLMSettings):
        return value
    default = LLMSettings()
    return {
        f.name: getattr(value, f.name)
        for f in dataclasses.fields(value)
        if getattr(value, f.name) != getattr(default, f.name)
    }


def _llm_user_prompt_versions() -> list[str]:
    """Versions packaged for every part of the LLM user's prompts."""
    versions = [set(prompt_versions(f"llm_user_{part}")) for part in PROMPT_PARTS]
    return sorted(set.intersection(*versions))


OBJECT_ARGUMENTS: tuple[str, ...] = (
    "catalog",
    "user_config",
    "voice",
    "text_encoder",
    "render_mode",
    "num_envs",
    "copy",
)
"""The envs' keyword arguments that are not settings (objects, rendering, batch size)."""


def recoworld_config(
    config: RecoWorldConfig | None, settings: Mapping[str, Any]
) -> RecoWorldConfig:
    """The config a RecoWorld env is made with: ``config``, or the keyword ``settings`` (field
    names); see :func:`recoworld.validation.config_from_arguments` for the rules and errors.

    >>> recoworld_config(None, {"slate_size": 5}).slate_size
    5
    >>> recoworld_config(None, {"llm_cache": True})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown RecoWorld-v0 argument 'llm_cache' (now llm={'model': ..., 'cache': ......
    """
    return config_from_arguments(
        RecoWorldConfig,
        config,
        settings,
        owner="RecoWorld-v0",
        other_arguments=OBJECT_ARGUMENTS,
        moved=MOVED_ARGUMENTS,
    )
