"""``RecoWorld-v0``: a recommender ranks slates for a simulated user who may leave or instruct."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog
from recoworld.envs import _kernels as kernels
from recoworld.envs.core import (
    RecoWorldConfig,
    RecoWorldCore,
    StepResult,
    default_catalog,
    info_for_row,
)
from recoworld.llm.base import Usage
from recoworld.simulators import InstructionVoice, TemplateVoice, UserModelConfig

ObsType = dict[str, np.ndarray]


def slate_action_slots(action: Any, shape: tuple[int, ...], num_candidates: int) -> np.ndarray:
    """Check slate actions and return their slots ``(n, S)``; raise ``ValueError`` if outside.

    A slate is ``S`` integer candidate indices in ``[0, num_candidates)``; ``shape`` is ``(S,)``
    for one user or ``(n, S)`` for a batch. In the slots, the first occurrence of a candidate
    keeps its position and every repetition is an empty slot (``-1``).
    """
    array = np.asarray(action)
    if array.shape != shape:
        raise ValueError(f"slate action has shape {array.shape}, expected {shape}: {action!r}")
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"slate action has non-integer dtype {array.dtype}; candidate indices must be "
            f"integers in [0, {num_candidates - 1}]: {action!r}"
        )
    batch = np.ascontiguousarray(array.reshape(-1, shape[-1]), dtype=np.int64)
    slots = np.empty(batch.shape, np.int64)
    bad = kernels.slate_slots(batch, num_candidates, slots)
    if bad >= 0:
        raise ValueError(
            f"slate action index {array.reshape(-1)[bad]} is outside the candidate range "
            f"[0, {num_candidates - 1}]"
        )
    return slots


def validate_scores(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Check score actions (a score in ``[-1, 1]`` per candidate); raise ``ValueError``.

    ``shape`` is ``(num_candidates,)`` for one user or ``(n_users, num_candidates)`` for a batch.
    """
    array = np.asarray(action)
    if array.shape != shape:
        raise ValueError(f"score action has shape {array.shape}, expected {shape}")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"score action has non-numeric dtype {array.dtype}")
    if np.isnan(array).any():
        position = np.unravel_index(int(np.isnan(array).argmax()), shape)
        raise ValueError(f"score action has NaN at index {tuple(map(int, position))}")
    low, high = array.min(), array.max()
    if low < -1.0 or high > 1.0:
        bad = low if low < -1.0 else high
        raise ValueError(f"score action value {bad} is outside the action range [-1, 1]")
    return array


def slots_from_scores(scores: np.ndarray, slate_size: int) -> np.ndarray:
    """Slots for score actions ``(n, C)``: the ``slate_size`` highest scores, best first.

    Ties are broken toward the lower candidate index (stable sort), so equal scores are legal
    and deterministic.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :slate_size]


class RecoWorldEnv(gym.Env[ObsType, np.ndarray]):
    """A recommender ranks a slate for one simulated user, turn after turn, session after session.

    ## Description

    The RecoWorld loop: every turn a retrieval stage puts a fixed-size block of distinct
    candidate items in front of the agent; the agent ranks a slate from them; the simulated user
    (:mod:`recoworld.simulators.latent`) reviews the slate top-down (cascade with a no-click
    option), clicks and watches some items, drifts toward what it consumed, gets bored of
    repeated topics, loses or regains patience, and when its patience runs low it tells the
    recommender what it wants (a *reflective instruction*). When patience is exhausted the user
    leaves; a return gap in days is drawn from a hazard that grows with the session's
    satisfaction. With ``multi_session=True`` an episode spans several sessions over simulated
    days.

    ## Action Space

    ``action_type="slate"`` (default): ``MultiDiscrete([num_candidates] * slate_size)``, candidate
    indices in ranked order. A candidate repeated in the slate is shown only at its first
    position; each later repetition is an empty, *wasted* slot (the user examines it, finds
    nothing, and may go on), counted in ``info["wasted_slots"]``.

    ``action_type="scores"``: ``Box(-1, 1, (num_candidates,))``, a score per candidate; the env
    shows the ``slate_size`` highest, best first, ties going to the lower index.

    An action outside the space (wrong shape, non-integer or out-of-range index, NaN or
    out-of-range score) raises ``ValueError`` naming the value; nothing is clipped.

    ## Observation Space

    A ``Dict`` of ``Box`` entries:

    * ``candidates`` ``(num_candidates, d + T + 4)``: per candidate its embedding (``d``), topic
      mass (``T``), quality, log-popularity and log-duration scaled to ``[0, 1]``, and an
      availability flag (1 if not shown this session and never consumed; the same as
      ``info["action_mask"]``).
    * ``history`` ``(d + T,)``: moving average of the embeddings and topics the user watched.
    * ``instruction`` ``(2T,)``: one-hot topic the standing instruction asks more of, then one-hot
      topic it asks less of (zeros when the user has said nothing this session).
    * ``context`` ``(5,)``: session turn / ``max_session_turns``, session index /
      ``max_sessions``, last turn's clicks / ``slate_size``, last turn's watched items /
      ``slate_size``, ``1 / (1 + turns since the instruction)`` (0 without one).

    With ``observation_mode="ids"`` the ``candidates`` entry is replaced by ``candidate_ids``
    (``MultiDiscrete``, item rows of ``env.catalog``) and ``available`` (``MultiBinary``): the
    lean form for population-scale runs and for agents that keep their own item tables (the
    catalog's features are public: ``env.unwrapped.core.item_features``).

    ## Rewards

    Engagement plus retention: ``click_weight * clicks + watch_weight * minutes watched +
    continue_weight * [the session goes on]``, and when a session ends
    ``return_weight * exp(-return_gap_days / return_horizon_days)`` (0 if the user churned).

    ## Starting State

    A user drawn from the population (several interests, novelty propensity, patience) at the
    start of its first session, with a fresh candidate block.

    ## Episode End

    Single session: ``terminated`` when the user leaves; ``truncated`` when the session reaches
    ``max_session_turns``. Multi-session: ``terminated`` when the drawn return gap exceeds the
    user's churn horizon (the user does not come back); ``truncated`` when the ``max_sessions``-th
    session ends.

    ## Info

    ``action_mask`` (bool per candidate), ``candidates`` (item ids, rows of ``env.catalog``),
    ``slate`` (item shown per slot, -1 if wasted), ``clicks`` (clicked item ids), ``watch_time``
    (minutes), ``wasted_slots``, ``instruction`` (the sentence the user said this turn, or
    None), ``instruction_topics`` (``{"more_of": [...], "less_of": [...]}`` or None),
    ``session_ended``, ``return_gap_days`` (or None), ``churned``, ``session``, ``turn``, ``day``,
    ``instruction_voiced_by`` (``"template"``, ``"llm"`` or ``"fallback"`` when an instruction was
    voiced this turn, else None) and ``usage`` (the language-model calls, tokens, cost, latency and
    cache hits of this step; zeros with the template voice).

    ## Arguments

    * ``num_candidates`` (100), ``slate_size`` (10): sizes of the candidate block and the slate.
    * ``catalog``: a :class:`~recoworld.catalog.Catalog`; default a synthetic catalog of
      ``n_items`` (1000) items generated with ``catalog_seed`` (0).
    * ``user_config``: a :class:`~recoworld.simulators.UserModelConfig`.
    * ``multi_session`` (False), ``max_sessions`` (5), ``max_session_turns`` (50).
    * ``click_weight`` (1.0), ``watch_weight`` (0.1 per minute), ``continue_weight`` (0.1),
      ``return_weight`` (1.0), ``return_horizon_days`` (7.0): reward weights.
    * ``action_type`` ("slate" or "scores").
    * ``observation_mode`` ("features" or "ids").
    * ``voice``: the :class:`~recoworld.simulators.InstructionVoice` (default template voice).

    ## Version History

    * v0: initial version.

    >>> import gymnasium as gym, recoworld
    >>> env = gym.make("RecoWorld-v0", num_candidates=100, slate_size=10)
    >>> obs, info = env.reset(seed=0)
    >>> obs["candidates"].shape, info["action_mask"].shape
    ((100, 32), (100,))
    >>> obs, reward, terminated, truncated, info = env.step(np.arange(10))
    >>> len(info["slate"]), info["wasted_slots"]
    (10, 0)
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012

    def __init__(
        self,
        num_candidates: int = 100,
        slate_size: int = 10,
        *,
        catalog: Catalog | None = None,
        n_items: int = 1000,
        catalog_seed: int = 0,
        user_config: UserModelConfig | None = None,
        multi_session: bool = False,
        max_sessions: int = 5,
        max_session_turns: int = 50,
        click_weight: float = 1.0,
        watch_weight: float = 0.1,
        continue_weight: float = 0.1,
        return_weight: float = 1.0,
        return_horizon_days: float = 7.0,
        action_type: str = "slate",
        observation_mode: str = "features",
        voice: InstructionVoice | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.core = build_core(
            1,
            num_candidates=num_candidates,
            slate_size=slate_size,
            catalog=catalog,
            n_items=n_items,
            catalog_seed=catalog_seed,
            user_config=user_config,
            multi_session=multi_session,
            max_sessions=max_sessions,
            max_session_turns=max_session_turns,
            click_weight=click_weight,
            watch_weight=watch_weight,
            continue_weight=continue_weight,
            return_weight=return_weight,
            return_horizon_days=return_horizon_days,
            action_type=action_type,
            observation_mode=observation_mode,
            voice=voice,
        )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} must be None or 'ansi'")
        self.render_mode = render_mode
        self.catalog = self.core.catalog
        self.config = self.core.config
        self.observation_space = self.core.observation_space
        self.action_space = action_space(self.config)
        self._last: StepResult | None = None
        self._usage_reported: dict[str, int | float] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        self.core.reset(self.np_random, reseeded=seed is not None)
        # The voice draws from its own generator, so a voice that draws more or fewer numbers
        # (an LLM voice, another template set) never changes the users' trajectories.
        # It is spawned from the env's seed sequence, drawing nothing from the users' stream.
        self._voice_rng = np.random.default_rng(self.np_random.bit_generator.seed_seq.spawn(1)[0])
        self._last = None
        batch, mask = self.core.observe()
        return self._observe(None, batch, mask)

    def step(self, action: np.ndarray) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        if not hasattr(self.core, "candidates"):
            raise RuntimeError("RecoWorldEnv.step called before reset")
        cfg = self.config
        if cfg.action_type == "slate":
            slots = slate_action_slots(action, (cfg.slate_size,), cfg.num_candidates)
        else:
            scores = validate_scores(action, (cfg.num_candidates,))
            slots = slots_from_scores(scores[None, :], cfg.slate_size)
        result, batch, mask = self.core.step(slots, self.np_random)
        self._last = result
        obs, info = self._observe(result, batch, mask)
        return (
            obs,
            float(result.reward[0]),
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            info,
        )

    def _observe(
        self, result: StepResult | None, batch: dict[str, np.ndarray], mask: np.ndarray
    ) -> tuple[ObsType, dict[str, Any]]:
        obs = {key: value[0] for key, value in batch.items()}
        info = info_for_row(self.core, result, 0)
        info["action_mask"] = mask[0]
        instruction = None
        if result is not None and result.instructed[0]:
            instruction = self.core.instruction(0)
        info["instruction"] = (
            self.core.voice.render(instruction, self._voice_rng) if instruction else None
        )
        info["instruction_topics"] = (
            {"more_of": list(instruction.more_of), "less_of": list(instruction.less_of)}
            if instruction
            else None
        )
        info["instruction_voiced_by"] = (
            getattr(self.core.voice, "last_voiced_by", "template") if instruction else None
        )
        info["usage"] = self._usage_since_last_step()
        return obs, info

    def _usage_since_last_step(self) -> dict[str, int | float]:
        """Language-model usage of this step (the voice's calls; zeros for a template voice)."""
        usage = getattr(self.core.voice, "usage", None)
        total = usage.as_dict() if isinstance(usage, Usage) else Usage().as_dict()
        step = {key: value - self._usage_reported.get(key, 0) for key, value in total.items()}
        self._usage_reported = total
        return step

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        state = self.core.state
        lines = [
            f"session {int(self.core.counters[0, 1])} turn {int(state.session_turns[0])} "
            f"patience {float(state.patience[0]):.2f}"
        ]
        if self._last is not None:
            for position, item in enumerate(self._last.items[0]):
                mark = "*" if self._last.clicks[0, position] else " "
                title = self.catalog.titles[item] if item >= 0 else "(empty)"
                lines.append(f"{mark} {position + 1:2d}. {title}")
        return "\n".join(lines)


def action_space(config: RecoWorldConfig) -> spaces.Space[np.ndarray]:
    """The single-user action space of a RecoWorld config."""
    if config.action_type == "slate":
        return spaces.MultiDiscrete(np.full(config.slate_size, config.num_candidates))
    return spaces.Box(-1.0, 1.0, (config.num_candidates,), np.float32)


def build_core(
    n_users: int,
    *,
    num_candidates: int,
    slate_size: int,
    catalog: Catalog | None,
    n_items: int,
    catalog_seed: int,
    user_config: UserModelConfig | None,
    multi_session: bool,
    max_sessions: int,
    max_session_turns: int,
    click_weight: float,
    watch_weight: float,
    continue_weight: float,
    return_weight: float,
    return_horizon_days: float,
    action_type: str,
    observation_mode: str,
    voice: InstructionVoice | None,
) -> RecoWorldCore:
    """Validate the constructor arguments shared by the single and the vector env."""
    for name, value in (("num_candidates", num_candidates), ("slate_size", slate_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    if catalog is None:
        if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 2:
            raise ValueError(f"n_items={n_items!r} must be an integer >= 2")
        catalog = default_catalog(n_items, catalog_seed)
    elif not isinstance(catalog, Catalog):
        raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
    if slate_size > num_candidates:
        raise ValueError(
            f"slate_size={slate_size} exceeds num_candidates={num_candidates}; "
            "a slate is chosen from the candidates"
        )
    if user_config is not None and not isinstance(user_config, UserModelConfig):
        raise ValueError(f"user_config={user_config!r} is not a UserModelConfig")
    config = RecoWorldConfig(
        num_candidates=int(num_candidates),
        slate_size=int(slate_size),
        multi_session=multi_session,
        max_sessions=max_sessions,
        max_session_turns=max_session_turns,
        click_weight=click_weight,
        watch_weight=watch_weight,
        continue_weight=continue_weight,
        return_weight=return_weight,
        return_horizon_days=return_horizon_days,
        action_type=action_type,
        observation_mode=observation_mode,
    )
    return RecoWorldCore(
        catalog, user_config or UserModelConfig(), config, voice or TemplateVoice(), n_users
    )
