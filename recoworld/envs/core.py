"""The batched engine behind ``RecoWorld-v0`` and its vector twin.

:class:`RecoWorldCore` holds a batch of users (one for the single env, thousands for the vector
env) and steps them all with one call to the latent user model, so both envs share one
implementation of retrieval, reward, session logic and observation encoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog, SyntheticCatalogConfig, generate_catalog
from recoworld.envs import _kernels as kernels
from recoworld.simulators import (
    InstructionVoice,
    LatentUserState,
    ReflectiveInstruction,
    UserModelConfig,
    begin_session,
    draw_return_gap,
    sample_users,
)
from recoworld.simulators.latent import check_override, kernel_params

CONTEXT_FEATURES = ("turn", "session", "last_clicks", "last_satisfaction", "instruction_recency")
HISTORY_RATE = 0.3
"""Weight of the newest turn in the history summary's moving average."""


def _check_finite(name: str, value: float, low: float = -math.inf, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number")
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} is outside the range [{low}, {high}]")


def _check_int(name: str, value: int, low: int, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}={value!r} must be an integer")
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} is outside the range [{low}, {high}]")


@dataclass(frozen=True)
class RecoWorldConfig:
    """Validated settings of a RecoWorld environment (the constructor arguments).

    See :class:`recoworld.envs.RecoWorldEnv` for the meaning of each field.
    """

    num_candidates: int = 100
    slate_size: int = 10
    multi_session: bool = False
    max_sessions: int = 5
    max_session_turns: int = 50
    click_weight: float = 1.0
    watch_weight: float = 0.1
    continue_weight: float = 0.1
    return_weight: float = 1.0
    return_horizon_days: float = 7.0
    action_type: str = "slate"
    observation_mode: str = "features"

    def validate(self, catalog: Catalog) -> None:
        _check_int("num_candidates", self.num_candidates, 1, catalog.n_items)
        _check_int("slate_size", self.slate_size, 1, self.num_candidates)
        _check_int("max_sessions", self.max_sessions, 1)
        _check_int("max_session_turns", self.max_session_turns, 1)
        for name in ("click_weight", "watch_weight", "continue_weight", "return_weight"):
            _check_finite(name, getattr(self, name))
        _check_finite("return_horizon_days", self.return_horizon_days, 1e-9)
        if not isinstance(self.multi_session, bool):
            raise ValueError(f"multi_session={self.multi_session!r} must be True or False")
        if self.action_type not in ("slate", "scores"):
            raise ValueError(f"action_type={self.action_type!r} must be 'slate' or 'scores'")
        if self.observation_mode not in ("features", "ids"):
            raise ValueError(
                f"observation_mode={self.observation_mode!r} must be 'features' or 'ids'"
            )


def default_catalog(n_items: int = 1000, seed: int = 0) -> Catalog:
    """The synthetic catalog used when an env is made without one."""
    return generate_catalog(SyntheticCatalogConfig(n_items=n_items), seed=seed)


class StepResult(NamedTuple):
    """One batched step: arrays over users.

    Only ``reward`` is a fresh array. The others are the engine's working arrays (or read-only
    ones when no session ended): read them before the next step, copy what you keep.
    """

    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    items: np.ndarray
    """``(n, S)`` item shown in each slot, ``-1`` for an empty (wasted) slot."""
    clicks: np.ndarray
    """``(n, S)`` bool."""
    watch_minutes: np.ndarray
    """``(n, S)`` minutes watched of each slot's item."""
    session_ended: np.ndarray
    return_gap_days: np.ndarray
    """``(n,)`` drawn gap where a session ended, NaN elsewhere."""
    churned: np.ndarray
    instructed: np.ndarray
    examined: np.ndarray
    """``(n, S)`` bool, the user looked at the slot."""
    watch_fraction: np.ndarray
    """``(n, S)`` fraction of each slot's item watched."""


class RecoWorldCore:
    """A batch of users, their sessions, the retrieval stage, rewards and observations."""

    def __init__(
        self,
        catalog: Catalog,
        user_config: UserModelConfig,
        config: RecoWorldConfig,
        voice: InstructionVoice,
        n_users: int,
    ) -> None:
        config.validate(catalog)
        if not isinstance(voice, InstructionVoice):
            raise ValueError(f"voice={voice!r} does not implement InstructionVoice.render")
        self.catalog = catalog
        self.user_config = user_config
        self.config = config
        self.voice = voice
        self.n_users = n_users
        n_items = catalog.n_items
        log_pop = np.log(catalog.popularity.astype(np.float64))
        log_dur = np.log(catalog.duration.astype(np.float64))

        def unit_range(x: np.ndarray) -> np.ndarray:
            span = x.max() - x.min()
            return (x - x.min()) / span if span > 0 else np.zeros_like(x)

        self.item_features = np.concatenate(
            [
                catalog.embeddings,
                catalog.item_topics,
                catalog.quality[:, None],
                unit_range(log_pop)[:, None],
                unit_range(log_dur)[:, None],
            ],
            axis=1,
        ).astype(np.float32)
        self.n_features = self.item_features.shape[1] + 1
        self._no_features = np.empty((0, 0, 0), np.float32)
        self.reuse_buffers = False
        """Write observations into the same arrays every step (the vector env's ``copy=False``)."""
        self._buffers: dict[str, np.ndarray] = {}
        s = config.slate_size
        self._scratch = {
            "draws": np.empty((n_users, 2 * s + 3)),
            "normals": np.empty((n_users, s)),
            "items": np.empty((n_users, s), np.int64),
            "examined": np.empty((n_users, s), np.bool_),
            "clicks": np.empty((n_users, s), np.bool_),
            "watch_fraction": np.empty((n_users, s)),
            "watch": np.empty((n_users, s)),
            "satisfaction": np.empty(n_users),
            "left": np.empty(n_users, np.bool_),
            "instructed": np.empty(n_users, np.bool_),
            "session_ended": np.empty(n_users, np.bool_),
            "new_more_of": np.empty(n_users, np.int64),
            "new_less_of": np.empty(n_users, np.int64),
        }
        """Working arrays of :meth:`step`, reused every step (they never leave the engine's
        StepResult, whose consumers copy what they keep)."""
        self._no_click_override = np.full((n_users, s), -1, np.int8)
        self._no_click_override.setflags(write=False)
        self._no_leave_override = np.full(n_users, -1, np.int8)
        self._no_leave_override.setflags(write=False)
        self._no_flags = np.zeros((3, n_users), np.bool_)
        self._no_flags.setflags(write=False)
        self._no_gaps = np.full(n_users, np.nan)
        self._no_gaps.setflags(write=False)
        strides = np.arange(1, max(n_items, 2), dtype=np.int64)
        self._strides = strides[np.gcd(strides, n_items) == 1] if n_items > 1 else np.ones(1, int)
        self._offsets = np.arange(config.num_candidates, dtype=np.int64)
        self._perm = np.arange(n_items, dtype=np.int64)
        self._perm_drawn = False
        d, t = catalog.embedding_dim, catalog.n_topics
        c = config.num_candidates
        if config.observation_mode == "features":
            candidate_spaces: dict[str, spaces.Space] = {
                "candidates": spaces.Box(-1.0, 1.0, (c, self.n_features), np.float32)
            }
        else:
            candidate_spaces = {
                "candidate_ids": spaces.MultiDiscrete(np.full(c, n_items)),
                "available": spaces.MultiBinary(c),
            }
        self.observation_space = spaces.Dict(
            {
                **candidate_spaces,
                "history": spaces.Box(-1.0, 1.0, (d + t,), np.float32),
                "instruction": spaces.Box(0.0, 1.0, (2 * t,), np.float32),
                "context": spaces.Box(0.0, 1.0, (len(CONTEXT_FEATURES),), np.float32),
            }
        )
        self._context_scale = np.array(
            [config.max_session_turns, config.max_sessions, config.slate_size, config.slate_size],
            np.float64,
        )
        self._params = kernel_params(user_config)
        self._reward_weights = np.array(
            [config.click_weight, config.watch_weight, config.continue_weight], np.float64
        )
        self.state: LatentUserState = sample_users(
            0, catalog, user_config, np.random.default_rng(0)
        )

    # ------------------------------------------------------------------ reset
    def reset(self, rng: np.random.Generator, *, reseeded: bool = True) -> None:
        """A fresh batch of users; with ``reseeded`` also a new retrieval permutation.

        The permutation is drawn when the env is (re)seeded or on its first reset, so a reset
        with a given seed always gives the same trajectory, and unseeded resets stay cheap.
        """
        if reseeded or not self._perm_drawn:
            self._perm = rng.permutation(self.catalog.n_items)
            self._perm_drawn = True
        n, c = self.n_users, self.config.num_candidates
        d, t = self.catalog.embedding_dim, self.catalog.n_topics
        self.state = sample_users(n, self.catalog, self.user_config, rng)
        self.candidates = np.zeros((n, c), np.int64)
        self.history = np.zeros((n, d + t), np.float32)
        self.more_of = np.full(n, -1, np.int64)
        self.less_of = np.full(n, -1, np.int64)
        self.instruction_age = np.zeros(n, np.int64)
        self.counters = np.zeros((n, 4), np.float64)
        """Columns: session turn, session index, last turn's clicks, last turn's watched items."""
        self.day = np.zeros(n, np.float64)
        self.retrieve(np.arange(n), rng)

    def reset_rows(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Replace the users at ``rows`` with fresh users (vector-env autoreset)."""
        self.state.put(rows, sample_users(len(rows), self.catalog, self.user_config, rng))
        self.history[rows] = 0.0
        self.more_of[rows] = -1
        self.less_of[rows] = -1
        self.instruction_age[rows] = 0
        self.counters[rows] = 0.0
        self.day[rows] = 0.0
        self.retrieve(rows, rng)

    def retrieve(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        """The retrieval stage: a fresh block of distinct candidates for the users at ``rows``.

        Candidates are ``perm[(offset + stride * j) % n_items]`` for ``j < num_candidates`` with a
        uniformly drawn offset and a stride coprime with ``n_items``: a uniform-looking sample of
        distinct items at the cost of two random numbers per user.
        """
        draws = rng.random((2, len(rows)))
        kernels.retrieve(rows, draws[0], draws[1], self._strides, self._perm, self.candidates)

    # ------------------------------------------------------------ observation
    def observe(
        self,
        rows: np.ndarray | None = None,
        into: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Batched observation (arrays shaped ``(n, ...)``) and the ``(n, C)`` action mask.

        The mask marks candidates not shown this session and not consumed before. With ``rows``
        and ``into`` (a previous result), only those users' entries are rewritten in place.
        """
        n = self.candidates.shape[0]
        if into is None:
            obs, features, mask = self._allocate_observation(n)
            obs["history"] = self._fresh("history", self.history)
            rows = np.arange(n)
        else:
            obs, mask = into
            features = obs.get("candidates", self._no_features)
            assert rows is not None
            obs["history"][rows] = self.history[rows]
        self.counters[:, 0] = self.state.session_turns
        kernels.observe(
            np.asarray(rows, np.int64), self.candidates, self.item_features, self.state.seen_bits,
            self.state.consumed_bits, self.more_of, self.less_of, self.instruction_age,
            self.counters, self._context_scale, features, mask, obs["instruction"],
            obs["context"],
        )  # fmt: skip
        self._finish_ids_observation(obs, mask, rows if into is not None else None)
        return obs, mask

    def _allocate_observation(self, n: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Observation arrays for ``n`` users, the array the kernel writes features to (a
        ``(0, 0, 0)`` placeholder when ``observation_mode="ids"``) and the action mask.

        Fresh arrays every call, unless :attr:`reuse_buffers` is set (the vector env's
        ``copy=False``): then the same arrays are rewritten every step.
        """
        c, t = self.config.num_candidates, self.catalog.n_topics
        obs = {
            "instruction": self._buffer("instruction", (n, 2 * t), np.float32),
            "context": self._buffer("context", (n, len(CONTEXT_FEATURES)), np.float32),
        }
        mask = self._buffer("mask", (n, c), np.bool_)
        if self.config.observation_mode == "features":
            obs["candidates"] = self._buffer("candidates", (n, c, self.n_features), np.float32)
            return obs, obs["candidates"], mask
        return obs, self._no_features, mask

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        if not self.reuse_buffers:
            return np.empty(shape, dtype)
        if name not in self._buffers:
            self._buffers[name] = np.empty(shape, dtype)
        return self._buffers[name]

    def _fresh(self, name: str, source: np.ndarray) -> np.ndarray:
        """A copy of ``source`` (into the reused buffer ``name`` when reusing buffers)."""
        if not self.reuse_buffers:
            return source.copy()
        out = self._buffer(name, source.shape, source.dtype)
        np.copyto(out, source)
        return out

    def _finish_ids_observation(
        self, obs: dict[str, np.ndarray], mask: np.ndarray, rows: np.ndarray | None
    ) -> None:
        if self.config.observation_mode != "ids":
            return
        if rows is None:
            obs["candidate_ids"] = self._fresh("candidate_ids", self.candidates)
            obs["available"] = self._buffer("available", mask.shape, np.int8)
            obs["available"][:] = mask
        else:
            obs["candidate_ids"][rows] = self.candidates[rows]
            obs["available"][rows] = mask[rows]

    def instruction(self, row: int) -> ReflectiveInstruction | None:
        """The structured instruction currently standing for user ``row``, if any."""
        if self.more_of[row] < 0:
            return None
        names = self.catalog.topic_names
        more, less = int(self.more_of[row]), int(self.less_of[row])
        return ReflectiveInstruction((names[more],), (names[less],), (more,), (less,))

    # ------------------------------------------------------------------- step
    def step(
        self,
        slots: np.ndarray,
        rng: np.random.Generator,
        *,
        click_override: np.ndarray | None = None,
        leave_override: np.ndarray | None = None,
    ) -> tuple[StepResult, dict[str, np.ndarray], np.ndarray]:
        """Show every user the candidates at ``slots`` (``(n, S)``, ``-1`` = empty slot).

        ``click_override`` ``(n, S)`` / ``leave_override`` ``(n,)`` (entries -1, 0, 1) hand the
        users' decisions to another decider (see :func:`recoworld.simulators.step_users`).
        Returns the step's result, the next observation and the next action mask.
        """
        cfg = self.config
        state = self.state
        catalog = self.catalog
        n = self.n_users
        work = self._scratch
        draws = rng.random(out=work["draws"])
        normals = rng.standard_normal(out=work["normals"])
        items, examined, clicks = work["items"], work["examined"], work["clicks"]
        watch_fraction, watch, satisfaction = (
            work["watch_fraction"],
            work["watch"],
            work["satisfaction"],
        )
        left, instructed, session_ended = work["left"], work["instructed"], work["session_ended"]
        new_more_of, new_less_of = work["new_more_of"], work["new_less_of"]
        reward = np.empty(n, np.float64)
        click_override = (
            self._no_click_override
            if click_override is None
            else check_override(click_override, items.shape, "click_override")
        )
        leave_override = (
            self._no_leave_override
            if leave_override is None
            else check_override(leave_override, (n,), "leave_override")
        )
        obs, features, mask = self._allocate_observation(n)
        n_ended = kernels.engine_step(
            slots, self.candidates, draws, normals, state.interests, state.interest_bonus,
            state.boredom, state.familiarity, state.novelty_propensity, state.novelty_state,
            state.patience, state.session_skips, state.session_satisfaction, state.session_turns,
            state.turns_since_instruction, state.seen_bits, state.consumed_bits,
            catalog.embeddings, catalog.item_topics, catalog.quality, catalog.topic_centroids,
            catalog.duration, self.item_features, self._params, self._reward_weights,
            HISTORY_RATE, cfg.max_session_turns, self._strides, self._perm, self.history,
            self.counters, self.more_of, self.less_of, self.instruction_age,
            self._context_scale, items, examined, clicks, watch_fraction, satisfaction, left,
            instructed, new_more_of, new_less_of, watch, reward, session_ended,
            features, mask, obs["instruction"], obs["context"], click_override, leave_override,
        )  # fmt: skip
        obs["history"] = self._fresh("history", self.history)
        self._finish_ids_observation(obs, mask, None)
        if n_ended:
            flags = np.zeros((3, n), np.bool_)
            gaps = np.full(n, np.nan)
        else:
            flags, gaps = self._no_flags, self._no_gaps
        result = StepResult(
            reward=reward,
            terminated=flags[0],
            truncated=flags[1],
            items=items,
            clicks=clicks,
            watch_minutes=watch,
            session_ended=session_ended,
            return_gap_days=gaps,
            churned=flags[2],
            instructed=instructed,
            examined=examined,
            watch_fraction=watch_fraction,
        )
        if n_ended:
            started = self._end_sessions(np.flatnonzero(session_ended), left, rng, result)
            if started.size:
                self.observe(started, (obs, mask))
        return result, obs, mask

    def _end_sessions(
        self, ended: np.ndarray, left: np.ndarray, rng: np.random.Generator, result: StepResult
    ) -> np.ndarray:
        """Draw return gaps, add the retention reward, start the next sessions (in place).

        Returns the users that started a new session (their observation must be recomputed).
        """
        cfg = self.config
        reward, gap_days, churned = result.reward, result.return_gap_days, result.churned
        terminated, truncated = result.terminated, result.truncated
        gap, churn = draw_return_gap(self.state, ended, self.user_config, rng)
        gap_days[ended] = gap
        churned[ended] = churn
        retention = np.where(churn, 0.0, np.exp(-gap / cfg.return_horizon_days))
        reward[ended] += cfg.return_weight * retention
        if not cfg.multi_session:
            terminated[ended] = left[ended]
            truncated[ended] = ~left[ended]
            return ended[:0]
        last = self.counters[ended, 1] + 1 >= cfg.max_sessions
        terminated[ended] = churn
        truncated[ended] = ~churn & last
        going_on = ended[~churn & ~last]
        if going_on.size:
            begin_session(self.state, going_on, gap_days[going_on], self.user_config)
            self.counters[going_on, 1] += 1
            self.counters[going_on, 2:] = 0.0
            self.day[going_on] += gap_days[going_on]
            self.more_of[going_on] = -1
            self.less_of[going_on] = -1
            # The next session's first candidates come from a fresh retrieval.
            self.retrieve(going_on, rng)
        return going_on


def info_for_row(core: RecoWorldCore, result: StepResult | None, row: int) -> dict[str, Any]:
    """The ``info`` dict of one user after a step (``result=None`` after a reset)."""
    info: dict[str, Any] = {
        "candidates": core.candidates[row].copy(),
        "session": int(core.counters[row, 1]),
        "turn": int(core.state.session_turns[row]),
        "day": float(core.day[row]),
    }
    if result is None:
        return info
    items = result.items[row]
    info.update(
        slate=items.copy(),
        clicks=items[result.clicks[row]].copy(),
        watch_time=float(result.watch_minutes[row].sum()),
        wasted_slots=int((items < 0).sum()),
        session_ended=bool(result.session_ended[row]),
        return_gap_days=(float(result.return_gap_days[row]) if result.session_ended[row] else None),
        churned=bool(result.churned[row]),
    )
    return info
