"""``ConvRec-v0``: multi-round conversational recommendation on a user–item–attribute graph.

The CPR/SCPR/EAR protocol (Lei et al., WSDM 2020 and KDD 2020): a simulated user has a target
item in mind, opens the conversation by stating one of its attributes, and then answers the
agent's questions ("do you like *jazz*?") and recommendations (a list of ``top_k`` items) until
the target is recommended or the turn budget runs out. See :class:`ConvRecEnv`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog
from recoworld.envs.convrec.config import ACTION_MODES, ConvRecConfig
from recoworld.envs.convrec.world import (
    DEFAULT_SPLIT_FILE,
    build_world,
    episode_pairs,
    opening_attribute,
    synthetic_catalog_config,
)
from recoworld.graph import attribute_entropy
from recoworld.validation import config_from_arguments

__all__ = [
    "ACTION_MODES",
    "CANDIDATE_COUNT_BUCKETS",
    "DEFAULT_SPLIT_FILE",
    "OBJECT_ARGUMENTS",
    "OUTCOMES",
    "AttributeScorer",
    "ConvRecActionSpace",
    "ConvRecConfig",
    "ConvRecEnv",
    "ItemScorer",
    "PopularityScorer",
    "candidate_count_bucket",
    "integer_action",
    "synthetic_catalog_config",
]

ObsType = dict[str, np.ndarray]

ItemScorer = Callable[[int, np.ndarray, np.ndarray], np.ndarray]
"""``(user_id, candidate_items, accepted_attributes) -> scores``: one finite score per candidate
item row (higher is recommended first). ``candidate_items`` is sorted ascending."""

AttributeScorer = Callable[[int, np.ndarray, np.ndarray], np.ndarray]
"""``(user_id, candidate_items, candidate_attributes) -> scores``: one finite score per candidate
attribute (the highest is asked); used by ``action_mode="ask_or_recommend"``."""

OUTCOMES: tuple[str, ...] = ("ask_accepted", "ask_rejected", "rec_rejected", "rec_accepted", "quit")
"""Turn outcomes, in the column order of the ``history`` observation."""

CANDIDATE_COUNT_BUCKETS: tuple[int, ...] = (10, 50, 100, 200, 300, 500, 1000)
"""Upper edges of the candidate-count buckets: ``<=10, <=50, ..., <=1000, >1000`` (8 buckets)."""

OBJECT_ARGUMENTS: tuple[str, ...] = (
    "dataset_path",
    "catalog",
    "interactions",
    "item_scorer",
    "attribute_scorer",
    "render_mode",
)
"""The constructor's keyword arguments that are objects or Gymnasium's, not
:class:`ConvRecConfig` settings."""


def candidate_count_bucket(count: int) -> int:
    """Index of the :data:`CANDIDATE_COUNT_BUCKETS` bucket of ``count`` candidates (0..7).

    >>> [candidate_count_bucket(n) for n in (1, 10, 11, 50, 1000, 1001)]
    [0, 0, 1, 1, 6, 7]
    """
    return int(np.searchsorted(CANDIDATE_COUNT_BUCKETS, count))


class PopularityScorer:
    """The default item scorer: the catalog's popularity, the same for every user.

    For SCPR data the popularity is the (add-one) count of training interactions, so the
    recommendation is "most played first" among the candidates.
    """

    def __init__(self, popularity: np.ndarray) -> None:
        self.popularity = np.asarray(popularity, dtype=np.float64)

    def __call__(
        self, user: int, candidate_items: np.ndarray, accepted_attributes: np.ndarray
    ) -> np.ndarray:
        return self.popularity[candidate_items]


def integer_action(action: Any) -> int | None:
    """``action`` as an ``int`` if it is one integer: a Python ``int`` (not a ``bool``), a numpy
    integer, or a 0-d numpy integer array; else None. Range is not checked here.

    ``ConvRec-v0``'s ``step`` and its action space's ``contains`` both use it, so they agree:

    >>> [integer_action(a) for a in (3, np.int64(3), np.array(3), True, 3.0, np.array([3]))]
    [3, 3, 3, None, None, None]
    """
    if isinstance(action, np.ndarray):
        if action.shape != () or action.dtype.kind not in "iu":
            return None
        action = action[()]
    if isinstance(action, bool | np.bool_) or not isinstance(action, int | np.integer):
        return None
    return int(action)


class ConvRecActionSpace(spaces.Discrete):
    """``Discrete(n)`` whose ``contains`` agrees with ``ConvRec-v0``'s ``step``: an action is one
    integer in ``[0, n)`` (:func:`integer_action`); bools, floats and arrays with a shape are
    not, though Gymnasium's ``Discrete`` counts Python's ``True`` as ``1``."""

    def contains(self, x: Any) -> bool:
        value = integer_action(x)
        return value is not None and int(self.start) <= value < int(self.start) + int(self.n)


class ConvRecEnv(gym.Env[ObsType, int]):
    """Ask about attributes or recommend items until the user's target item is found.

    ## Description

    Multi-round conversational recommendation as published for CPR/SCPR (and EAR's binary
    questions), on a graph of items and their attributes (:class:`~recoworld.graph.AttributeGraph`).
    An episode is one ``(user, target item)`` pair. The user opens by stating one attribute of
    the target, drawn uniformly from the target's attributes; the *candidate items* are then the
    items that have it. Each turn the agent either

    * **asks** about one attribute: the user accepts iff the target has it and the attribute was
      not asked (or stated) before. An accepted attribute restricts the candidates to the items
      that have every accepted attribute; a rejected one changes nothing else (SCPR: "only
      accepted attributes filter"). Asking an attribute that is already known, or that no
      candidate has, is therefore a legal move with a rejected answer; or
    * **recommends** ``top_k`` (10) items: the user accepts iff the target is among them (the
      episode ends in success); otherwise the recommended items leave the candidate set.

    The target always stays a candidate, so the candidate set is never empty.

    ## Turn counting

    This follows the published SCPR code, where ``reset`` writes the opening statement into the
    first history slot and a step taken at conversation step ``T = max_turns`` only returns the
    quit penalty: the agent moves in turns ``1 .. T-1`` (14 moves; one env step each, the
    opening is turn 0 and is not an agent move); when turn ``T-1`` ends without success the
    user quits, which is the ``T``-th (15th) turn. Here the quit is folded into the last step
    (its reward includes the quit penalty and ``truncated`` is True) instead of costing an extra
    step whose action is ignored. "Success at turn ``t``" means the recommendation of turn ``t``
    was accepted (``info["turn"] == t``); for the metrics (SR@k, AT, hDCG,
    :mod:`recoworld.evaluation.convrec_metrics`) a failed conversation counts ``T`` turns, as
    in the published evaluation.

    ## Action Space

    ``action_mode="attribute"`` (default): ``Discrete(n_attributes + 1)``. Action ``a <
    n_attributes`` asks attribute column ``a``; action ``n_attributes`` recommends the ``top_k``
    candidates ranked by ``item_scorer`` (default :class:`PopularityScorer`; ties go to the lower
    item row). Graph agents that rank items themselves call ``env.unwrapped.recommend(items)``
    (1 to ``top_k`` distinct item rows) or ``env.unwrapped.ask(attribute)``; both return the same
    5-tuple as ``step`` and run the same protocol code.

    ``action_mode="ask_or_recommend"``: ``Discrete(2)``, SCPR's high-level policy action.
    ``0`` asks the candidate attribute with the highest ``attribute_scorer`` score (default:
    binary entropy over the candidates, :func:`~recoworld.graph.attribute_entropy`; ties go to
    the lower column; with no candidate attribute left it is a rejected ask), ``1`` recommends as
    above.

    The space is a :class:`ConvRecActionSpace`, a ``Discrete`` whose ``contains`` agrees with
    ``step``: an action is one integer (a Python or numpy integer, or a 0-d integer array). An
    action outside the space (a non-integer, a Python or numpy bool, a float even if whole, an
    array with a shape, ``None``, an id out of range) raises ``ValueError`` naming it and leaves
    the env as it was; so does a bad list given to ``recommend``.
    ``info["action_mask"]`` marks the useful actions (sb3-contrib's ``MaskablePPO`` reads the
    same mask from :meth:`action_masks`): the candidate attributes (see Info) and recommend.

    ## Observation Space

    A ``Dict`` of float32 ``Box`` entries in ``[0, 1]``; its size does not depend on the data:

    * ``history`` ``(T * 5,)``: SCPR's conversation history as one-hot rows, row ``t`` for turn
      ``t`` (row 0 is the opening, an accepted attribute), columns :data:`OUTCOMES`; rows of
      turns not yet played are zero. At a quit the last row also has its ``quit`` column set.
    * ``candidate_count`` ``(8,)``: one-hot bucket of the number of candidate items, upper edges
      :data:`CANDIDATE_COUNT_BUCKETS` (SCPR encodes the count in binary; buckets are smoother).
    * ``context`` ``(2,)``: turns played / ``(T - 1)`` and ``log(1 + candidates) / log(1 +
      n_items)``.
    * ``entropy`` ``(entropy_features,)``: the largest binary entropies of the candidate
      attributes over the candidate items, sorted descending and zero-padded (SCPR feeds the
      entropy of its attribute vocabulary; a fixed top-``m`` keeps the size independent of the
      8,438 LastFM* attributes). They tell how much the best questions can still split the set.

    ## Rewards

    Per turn, as published: ``reward_rec_suc`` (+1) for an accepted recommendation,
    ``reward_rec_fail`` (-0.1) for a rejected one, ``reward_ask_suc`` (+0.01) for an accepted
    question, ``reward_ask_fail`` (-0.1) for a rejected one; the turn at which the user quits
    adds ``reward_quit`` (-0.3) to its move's reward.

    ## Starting State

    A pair drawn uniformly from the episode pairs with ``self.np_random`` (or given as
    ``options={"pair": (user_id, item_row)}``), and an opening attribute drawn uniformly from the
    target's attributes (or ``options={"opening_attribute": a}``). Pairs whose target has no
    attribute cannot open a conversation and are left out of the episode pairs.

    ## Episode End

    ``terminated`` when a recommendation is accepted; ``truncated`` when turn ``T - 1`` ends
    without success (the user quits). Stepping a finished episode raises ``RuntimeError``.

    ## Info

    ``user`` (id), ``turn`` (agent turns played), ``turns_left``, ``outcome`` (one of
    :data:`OUTCOMES` for the turn, ``"quit"`` on the quitting turn, ``None`` after reset),
    ``move_outcome`` (the answer to the move itself, also on the quitting turn), ``success``,
    ``asked_attribute`` (-1 if none), ``recommended`` (item rows shown this turn),
    ``accepted_item`` and ``accepted_rank`` (1-based position in the list; -1 and 0 until
    success), ``candidates`` (sorted item rows), ``candidate_attributes`` (sorted attribute
    columns that at least one candidate has and that were not asked or stated),
    ``candidate_attribute_counts`` (how many candidates have each of those),
    ``accepted_attributes`` (the opening first), ``rejected_attributes``, ``action_mask``. The
    target stays hidden until it is accepted.

    ## Arguments

    The settings (numbers and names) are the fields of :class:`ConvRecConfig`, given either as
    ``config=ConvRecConfig(...)`` (also the one positional argument) or as keywords of the same
    names, not both: ``max_turns`` (15), ``top_k`` (10), ``reward_rec_suc`` (1.0),
    ``reward_rec_fail`` (-0.1), ``reward_ask_suc`` (0.01), ``reward_ask_fail`` (-0.1),
    ``reward_quit`` (-0.3), ``action_mode`` (``"attribute"`` or ``"ask_or_recommend"``),
    ``entropy_features`` (10), ``n_items`` (2000), ``n_users`` (100), ``catalog_seed`` (0) and
    ``split_file`` (None). An unknown keyword raises ``ValueError`` naming it. The objects
    stay keyword arguments (:data:`OBJECT_ARGUMENTS`):

    * ``dataset_path``: an SCPR/UNICORN data folder (LastFM*, Yelp*, see
      :func:`~recoworld.catalog.load_scpr`); the graph uses its training interactions and liked
      attributes. ``split_file`` (default ``"review_dict_valid.json"``): the interaction file in
      that folder whose ``(user, item)`` pairs are the episodes, a relative path inside it
      (``"../x.json"`` and absolute paths raise ``ValueError``).
    * ``catalog`` and ``interactions`` (user id -> item rows): a world of your own; without
      ``interactions``, synthetic ones. Neither given: a synthetic catalog of ``n_items`` (2000)
      items and 48 attributes (:func:`synthetic_catalog_config`) from ``catalog_seed`` (0),
      with ``n_users`` (100) synthetic users of 10 items each
      (:func:`~recoworld.graph.synthetic_interactions`, also seeded by ``catalog_seed``).
    * ``item_scorer`` (:data:`ItemScorer`), ``attribute_scorer`` (:data:`AttributeScorer`, only
      with ``action_mode="ask_or_recommend"``), ``render_mode`` (None or ``"ansi"``).

    ## Version History

    * v0: initial version.

    >>> import gymnasium as gym, recoworld
    >>> env = gym.make("ConvRec-v0")
    >>> obs, info = env.reset(seed=0)
    >>> env.action_space, obs["history"].shape, info["turn"]
    (Discrete(49), (75,), 0)
    >>> recommend = env.action_space.n - 1
    >>> obs, reward, terminated, truncated, info = env.step(recommend)
    >>> info["turn"], info["outcome"] in ("rec_accepted", "rec_rejected"), len(info["recommended"])
    (1, True, 10)
    >>> from recoworld.envs.convrec import ConvRecConfig
    >>> small = ConvRecConfig(max_turns=5, n_items=300, n_users=20)
    >>> gym.make("ConvRec-v0", config=small).unwrapped.config == small
    True
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012

    def __init__(
        self,
        config: ConvRecConfig | None = None,
        *,
        dataset_path: str | os.PathLike[str] | None = None,
        catalog: Catalog | None = None,
        interactions: Mapping[int, Any] | None = None,
        item_scorer: ItemScorer | None = None,
        attribute_scorer: AttributeScorer | None = None,
        render_mode: str | None = None,
        **settings: Any,
    ) -> None:
        config = config_from_arguments(
            ConvRecConfig,
            config,
            settings,
            owner="ConvRec-v0",
            other_arguments=(*OBJECT_ARGUMENTS, "render_mode"),
        )
        if item_scorer is not None and not callable(item_scorer):
            raise ValueError(f"item_scorer={item_scorer!r} is not callable")
        if attribute_scorer is not None:
            if not callable(attribute_scorer):
                raise ValueError(f"attribute_scorer={attribute_scorer!r} is not callable")
            if config.action_mode != "ask_or_recommend":
                raise ValueError(
                    "attribute_scorer chooses the attribute of the high-level ask action and is "
                    f"used only with action_mode='ask_or_recommend', not {config.action_mode!r}"
                )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} must be None or 'ansi'")

        self.config = config
        self.catalog, self.graph, episode_interactions = build_world(
            dataset_path,
            config.split_file,
            catalog,
            interactions,
            config.n_items,
            config.n_users,
            config.catalog_seed,
        )
        self.pairs = episode_pairs(episode_interactions, self.graph)
        self.rewards = config.rewards
        self.max_turns = config.max_turns
        self.top_k = config.top_k
        self.action_mode = config.action_mode
        self.item_scorer: ItemScorer = item_scorer or PopularityScorer(self.catalog.popularity)
        self.attribute_scorer = attribute_scorer
        self.entropy_features = config.entropy_features
        self.render_mode = render_mode

        n_attributes = self.graph.n_attributes
        self.recommend_action = n_attributes if self.action_mode == "attribute" else 1
        self.n_actions = n_attributes + 1 if self.action_mode == "attribute" else 2
        # Gymnasium types spaces by their sample type; Discrete samples numpy ints, Dict dicts.
        self.action_space = ConvRecActionSpace(self.n_actions)  # type: ignore[assignment]
        sizes = {
            "history": self.max_turns * len(OUTCOMES),
            "candidate_count": len(CANDIDATE_COUNT_BUCKETS) + 1,
            "context": 2,
            "entropy": self.entropy_features,
        }
        self.observation_space = spaces.Dict(  # type: ignore[assignment]
            {key: spaces.Box(0.0, 1.0, (size,), np.float32) for key, size in sizes.items()}
        )
        self._started = False
        self._done = False

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"pair", "opening_attribute"})
        if unknown:
            raise ValueError(
                f"reset options {unknown} are unknown; ConvRec-v0 takes 'pair' and "
                "'opening_attribute'"
            )
        if "pair" in options:
            user, target = self._check_pair(options["pair"])
        else:
            user, target = (int(v) for v in self.pairs[self.np_random.integers(len(self.pairs))])
        opening = opening_attribute(
            self.graph, target, options.get("opening_attribute"), self.np_random
        )

        self._user, self._target = user, target
        self._candidates = np.zeros(self.graph.n_items, dtype=bool)
        self._candidates[self.graph.items_with(opening)] = True
        self._asked = np.zeros(self.graph.n_attributes, dtype=bool)
        self._asked[opening] = True
        self._accepted = [opening]
        self._rejected: list[int] = []
        self._turn = 0
        self._history = np.zeros((self.max_turns, len(OUTCOMES)), dtype=np.float32)
        self._history[0, OUTCOMES.index("ask_accepted")] = 1.0
        self._started, self._done = True, False
        self._transcript = [
            f"user {user}: I want something with {self.catalog.attribute_names[opening]}."
        ]
        self._refresh()
        move = _Move()
        return self._observation(), self._info(move, None)

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        index = self._action_index(action)
        self._check_playable()
        if index == self.recommend_action:
            return self._play(self._recommendation())
        if self.action_mode == "attribute":
            return self._play(self._question(index))
        return self._play(self._question(self._policy_attribute()))

    def ask(self, attribute: int) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        """Ask about attribute column ``attribute``: the same move as ``step(attribute)`` in the
        default action mode, available in both modes for graph agents."""
        if (
            isinstance(attribute, bool)
            or not isinstance(attribute, int | np.integer)
            or not 0 <= attribute < self.graph.n_attributes
        ):
            raise ValueError(
                f"attribute {attribute!r} is not an attribute column in "
                f"0..{self.graph.n_attributes - 1}"
            )
        self._check_playable()
        return self._play(self._question(int(attribute)))

    def recommend(self, items: Any) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        """Recommend an explicit list of 1 to ``top_k`` distinct item rows, in ranked order.

        The graph agents' alternative to the recommend action, which ranks the candidates with
        ``item_scorer``; the user's answer and its consequences are the same.
        """
        array = np.asarray(items)
        if array.ndim != 1 or not 1 <= array.size <= self.top_k:
            raise ValueError(
                f"recommend takes a list of 1 to {self.top_k} item rows, got {items!r}"
            )
        if array.dtype.kind not in "iu":
            raise ValueError(f"recommend takes integer item rows, got {items!r}")
        bad = array[(array < 0) | (array >= self.graph.n_items)]
        if bad.size:
            raise ValueError(
                f"item id {int(bad[0])} is not an item row in 0..{self.graph.n_items - 1}"
            )
        values, counts = np.unique(array, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"item id {int(values[counts > 1][0])} is recommended twice")
        self._check_playable()
        return self._play(_Move(recommended=array.astype(np.int64)))

    def action_masks(self) -> np.ndarray:
        """The current ``info["action_mask"]`` (the method sb3-contrib's MaskablePPO calls)."""
        if not self._started:
            raise RuntimeError("ConvRecEnv.action_masks called before reset")
        return self._action_mask()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n".join(self._transcript) if self._started else ""

    # ------------------------------------------------------------------ the protocol

    def _question(self, attribute: int) -> _Move:
        """The user's answer to a question about ``attribute`` (-1: nothing left to ask)."""
        if attribute < 0 or self._asked[attribute]:
            accepted = False
        else:
            accepted = self.graph.has_attribute(self._target, attribute)
        if attribute >= 0 and not self._asked[attribute]:
            self._asked[attribute] = True
            if accepted:
                self._accepted.append(attribute)
                self._candidates = self.graph.restrict(self._candidates, attribute)
            else:
                self._rejected.append(attribute)
        outcome = "ask_accepted" if accepted else "ask_rejected"
        reward = self.rewards["reward_ask_suc" if accepted else "reward_ask_fail"]
        return _Move(outcome=outcome, reward=reward, asked_attribute=attribute)

    def _recommendation(self) -> _Move:
        """The ``top_k`` candidates by ``item_scorer``, ties to the lower item row."""
        candidates = np.flatnonzero(self._candidates)
        scores = np.asarray(
            self.item_scorer(self._user, candidates, np.array(self._accepted, np.int64)),
            dtype=np.float64,
        )
        if scores.shape != candidates.shape or not np.all(np.isfinite(scores)):
            raise ValueError(
                f"item_scorer returned scores of shape {scores.shape} (finite: "
                f"{bool(np.all(np.isfinite(scores)))}); expected {candidates.shape} finite scores"
            )
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        return _Move(recommended=candidates[order].astype(np.int64))

    def _play(self, move: _Move) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        """Apply ``move`` (a question already answered, or a list to recommend); end the turn."""
        names = self.catalog.attribute_names
        if move.recommended is not None:
            hits = np.flatnonzero(move.recommended == self._target)
            if hits.size:
                move.outcome, move.reward = "rec_accepted", self.rewards["reward_rec_suc"]
                move.accepted_rank = int(hits[0]) + 1
            else:
                move.outcome, move.reward = "rec_rejected", self.rewards["reward_rec_fail"]
                self._candidates[move.recommended] = False
            line = f"agent: how about items {move.recommended.tolist()}? user: {move.outcome}"
        else:
            asked = names[move.asked_attribute] if move.asked_attribute >= 0 else "(nothing)"
            line = f"agent: do you like {asked}? user: {move.outcome}"
        self._turn += 1
        self._history[self._turn, OUTCOMES.index(move.outcome)] = 1.0
        terminated = move.outcome == "rec_accepted"
        truncated = not terminated and self._turn >= self.max_turns - 1
        reward = move.reward
        outcome = move.outcome
        if truncated:
            reward += self.rewards["reward_quit"]
            outcome = "quit"
            self._history[self._turn, OUTCOMES.index("quit")] = 1.0
        self._done = terminated or truncated
        self._refresh()
        self._transcript.append(
            f"turn {self._turn}: {line}; {int(self._candidates.sum())} candidates"
            + ("; user quits" if truncated else "")
        )
        return self._observation(), float(reward), terminated, truncated, self._info(move, outcome)

    def _policy_attribute(self) -> int:
        """The attribute the high-level ask action asks (-1 when none is left)."""
        attributes = self._candidate_attributes
        if attributes.size == 0:
            return -1
        if self.attribute_scorer is None:
            scores = attribute_entropy(self._counts[attributes], self._n_candidates)
        else:
            scores = np.asarray(
                self.attribute_scorer(self._user, np.flatnonzero(self._candidates), attributes),
                dtype=np.float64,
            )
            if scores.shape != attributes.shape or not np.all(np.isfinite(scores)):
                raise ValueError(
                    f"attribute_scorer returned scores of shape {scores.shape}; expected "
                    f"{attributes.shape} finite scores"
                )
        return int(attributes[int(np.argmax(scores))])

    # ------------------------------------------------------------------ state views

    def _refresh(self) -> None:
        self._n_candidates = int(self._candidates.sum())
        self._counts = self.graph.attribute_counts(self._candidates)
        self._candidate_attributes = np.flatnonzero((self._counts > 0) & ~self._asked)

    def _action_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_actions, dtype=np.bool_)
        if self.action_mode == "attribute":
            mask[self._candidate_attributes] = True
        else:
            mask[0] = self._candidate_attributes.size > 0
        mask[self.recommend_action] = True
        return mask

    def _observation(self) -> ObsType:
        bucket = np.zeros(len(CANDIDATE_COUNT_BUCKETS) + 1, dtype=np.float32)
        bucket[candidate_count_bucket(self._n_candidates)] = 1.0
        context = np.array(
            [
                self._turn / (self.max_turns - 1),
                math.log1p(self._n_candidates) / math.log1p(self.graph.n_items),
            ],
            dtype=np.float32,
        )
        entropy = np.zeros(self.entropy_features, dtype=np.float32)
        values = attribute_entropy(self._counts[self._candidate_attributes], self._n_candidates)
        top = np.sort(values)[::-1][: self.entropy_features]
        entropy[: top.size] = top
        return {
            "history": self._history.ravel().copy(),
            "candidate_count": bucket,
            "context": np.clip(context, 0.0, 1.0),
            "entropy": entropy,
        }

    def _info(self, move: _Move, outcome: str | None) -> dict[str, Any]:
        success = move.outcome == "rec_accepted"
        attributes = self._candidate_attributes
        return {
            "user": self._user,
            "turn": self._turn,
            "turns_left": self.max_turns - 1 - self._turn,
            "outcome": outcome,
            "move_outcome": move.outcome,
            "success": success,
            "asked_attribute": move.asked_attribute,
            "recommended": (
                move.recommended if move.recommended is not None else np.empty(0, np.int64)
            ),
            "accepted_item": self._target if success else -1,
            "accepted_rank": move.accepted_rank,
            "candidates": np.flatnonzero(self._candidates),
            "candidate_attributes": attributes.copy(),
            "candidate_attribute_counts": self._counts[attributes],
            "accepted_attributes": np.array(self._accepted, dtype=np.int64),
            "rejected_attributes": np.array(self._rejected, dtype=np.int64),
            "action_mask": self._action_mask(),
        }

    # ------------------------------------------------------------------ validation

    def _action_index(self, action: Any) -> int:
        n = self.n_actions
        if isinstance(action, np.ndarray) and action.shape != ():
            raise ValueError(
                f"action {action!r} has shape {action.shape}; ConvRec-v0 takes one integer "
                f"in [0, {n - 1}]"
            )
        value = integer_action(action)
        if value is None:
            raise ValueError(
                f"action {action!r} is not an integer; ConvRec-v0 takes one integer in [0, {n - 1}]"
            )
        if not 0 <= value < n:
            raise ValueError(
                f"action {int(value)} is outside the action space Discrete({n}): "
                + (
                    f"attribute ids are 0..{n - 2} and {n - 1} recommends"
                    if self.action_mode == "attribute"
                    else "0 asks and 1 recommends"
                )
            )
        return int(value)

    def _check_playable(self) -> None:
        if not self._started:
            raise RuntimeError("ConvRecEnv.step called before reset")
        if self._done:
            raise RuntimeError("the conversation has ended; call reset before stepping again")

    def _check_pair(self, pair: Any) -> tuple[int, int]:
        values = tuple(pair) if isinstance(pair, tuple | list | np.ndarray) else ()
        if len(values) != 2 or any(
            isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer) for v in values
        ):
            raise ValueError(f"options['pair']={pair!r} must be (user id, item row) integers")
        user, item = int(values[0]), int(values[1])
        if not 0 <= item < self.graph.n_items:
            raise ValueError(
                f"options['pair'] item {item} is not an item row in 0..{self.graph.n_items - 1}"
            )
        if self.graph.attributes_of(item).size == 0:
            raise ValueError(
                f"options['pair'] item {item} has no attributes, so the user cannot open the "
                "conversation"
            )
        return user, item


class _Move:
    """One agent move and the user's answer, filled in as the turn is played."""

    __slots__ = ("accepted_rank", "asked_attribute", "outcome", "recommended", "reward")

    def __init__(
        self,
        outcome: str | None = None,
        reward: float = 0.0,
        asked_attribute: int = -1,
        recommended: np.ndarray | None = None,
    ) -> None:
        self.outcome = outcome
        self.reward = reward
        self.asked_attribute = asked_attribute
        self.recommended = recommended
        self.accepted_rank = 0
