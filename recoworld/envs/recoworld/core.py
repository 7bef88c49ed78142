"""The batched engine behind ``RecoWorld-v0`` and its vector twin.

:class:`RecoWorldCore` holds a batch of users (one for the single env, thousands for the vector
env) and steps them all with one call to the latent user model, so both envs share one
implementation of retrieval, reward, session logic and observation encoding.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numba
import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog, SyntheticCatalogConfig, generate_catalog
from recoworld.envs.recoworld import kernels
from recoworld.envs.recoworld.config import RecoWorldConfig
from recoworld.envs.recoworld.kernels import (
    EngineState,
    EngineTables,
    ObservationArrays,
    StepArrays,
)
from recoworld.simulators import (
    InstructionVoice,
    LatentUserState,
    ReflectiveInstruction,
    UserModelConfig,
    begin_session,
    draw_return_gap,
    sample_users,
)
from recoworld.simulators.latent import (
    ItemArrays,
    Overrides,
    check_override,
    kernel_params,
    resample_users,
)
from recoworld.simulators.population import UserPopulation

CONTEXT_FEATURES = ("turn", "session", "last_clicks", "last_satisfaction", "instruction_recency")
HISTORY_RATE = 0.3
"""Weight of the newest turn in the history summary's moving average."""
PARALLEL_MIN_USERS = 512
"""Smallest batch stepped by the multi-threaded kernel (smaller ones: the overhead of starting
numba's threads outweighs the work)."""


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
    watch_time: np.ndarray
    """``(n,)`` minutes watched in all, ``watch_minutes.sum(axis=1)``."""
    wasted_slots: np.ndarray
    """``(n,)`` int64 empty (wasted) slots."""


class CoreCheckpoint(NamedTuple):
    """What :meth:`RecoWorldCore.checkpoint` saves (copies of the arrays a step writes)."""

    arrays: tuple[np.ndarray, ...]
    overridden: bool
    latest: tuple[dict[str, np.ndarray], ObservationArrays] | None


class RecoWorldCore:
    """A batch of users, their sessions, the retrieval stage, rewards and observations.

    Its arrays (:attr:`state`'s, ``candidates``, ``history``, ``counters``, ``more_of``,
    ``less_of``, ``instruction_age``) are allocated once and bound to the compiled kernels:
    write into them, never rebind them.

    A batch of at least :attr:`parallel_min_users` users is stepped on numba's threads
    (:func:`~recoworld.envs.recoworld.kernels.engine_step_parallel`, same arrays to the last bit
    as the serial kernel) unless ``numba.get_num_threads()`` is 1.
    """

    parallel_min_users: int = PARALLEL_MIN_USERS
    """Smallest batch stepped by the multi-threaded kernel (set it per core, e.g. to compare
    the two kernels or to keep a big batch on the calling thread)."""

    def __init__(
        self,
        catalog: Catalog,
        user_config: UserModelConfig,
        config: RecoWorldConfig,
        voice: InstructionVoice,
        n_users: int,
        population: UserPopulation | None = None,
    ) -> None:
        config.check_catalog(catalog)
        if population is not None:
            population.check(catalog, user_config)
        self.population = population
        """Where new users come from: ``None`` for the latent model's prior, else a fixed
        :class:`~recoworld.simulators.population.UserPopulation` (a fitted world)."""
        self.user_ids = np.full(n_users, -1, np.int64)
        """Each row's population user id (``-1`` for a user drawn from the prior)."""
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
        self.reuse_buffers = False
        """Write observations into the same arrays every step (the vector env's ``copy=False``)."""
        self._reused: ObservationArrays | None = None
        strides = np.arange(1, max(n_items, 2), dtype=np.int64)
        self._strides = strides[np.gcd(strides, n_items) == 1] if n_items > 1 else np.ones(1, int)
        self._perm = np.arange(n_items, dtype=np.int64)
        self._perm_drawn = False
        d, t = catalog.embedding_dim, catalog.n_topics
        c, s = config.num_candidates, config.slate_size
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
        self._params = kernel_params(user_config)

        # The engine's arrays live as long as the core and are written in place (a reset copies
        # fresh users in), so the kernels' argument tuples below are built once.
        self.started = False
        """Whether :meth:`reset` has run (the arrays hold users)."""
        self._state = sample_users(n_users, catalog, user_config, np.random.default_rng(0))
        self.candidates = np.zeros((n_users, c), np.int64)
        self.history = np.zeros((n_users, d + t), np.float32)
        self.more_of = np.full(n_users, -1, np.int64)
        self.less_of = np.full(n_users, -1, np.int64)
        self.instruction_age = np.zeros(n_users, np.int64)
        self.counters = np.zeros((n_users, 4), np.float64)
        """Columns: session turn, session index, last turn's clicks, last turn's watched items."""
        self.day = np.zeros(n_users, np.float64)
        self._all_rows = np.arange(n_users, dtype=np.int64)
        self._engine = EngineState(
            self.candidates, self.history, self.counters, self.more_of, self.less_of,
            self.instruction_age,
        )  # fmt: skip
        self._tables = EngineTables(
            item_features=self.item_features,
            duration=catalog.duration,
            strides=self._strides,
            perm=self._perm,
            reward_weights=np.array(
                [config.click_weight, config.watch_weight, config.continue_weight], np.float64
            ),
            context_scale=np.array(
                [config.max_session_turns, config.max_sessions, s, s], np.float64
            ),
            history_rate=HISTORY_RATE,
            max_session_turns=int(config.max_session_turns),
        )
        self._users = self._state.arrays()
        self._items = ItemArrays.of(catalog)
        self._main_topic = np.argmax(catalog.item_topics, axis=1)
        """``(n_items,)`` the topic of each item for the novelty reward (its largest share)."""
        self._step = StepArrays.empty(n_users, s)
        self._overrides = Overrides(
            np.full((n_users, s), -1, np.int8), np.full(n_users, -1, np.int8)
        )
        self._overridden = False
        self._ids = config.observation_mode == "ids"
        self._obs_layout = (
            ((n_users, c), np.dtype(np.bool_)),
            ((n_users, 2 * t), np.dtype(np.float32)),
            ((n_users, len(CONTEXT_FEATURES)), np.dtype(np.float32)),
            ((n_users, d + t), np.dtype(np.float32)),
            ((n_users, c), np.dtype(np.int64))
            if self._ids
            else ((n_users, c, self.n_features), np.dtype(np.float32)),
        )
        """Shapes and dtypes of the observation's mask, instruction, context, history and
        candidates (ids or features)."""
        self._no_features = np.empty((0, 0, 0), np.float32)
        self._no_ids = np.empty((0, 0), np.int64)
        self._no_available = np.empty((0, 0), np.int8)
        self._no_flags = np.zeros((3, n_users), np.bool_)
        self._no_flags.setflags(write=False)
        self._no_gaps = np.full(n_users, np.nan)
        self._no_gaps.setflags(write=False)
        self._latest: tuple[dict[str, np.ndarray], ObservationArrays] | None = None
        self._bind_kernels()

    def _bind_kernels(self) -> None:
        """The compiled engine step and observation for this core's argument types."""
        example = self._new_observation_arrays()
        self._engine_step = kernels.compiled(
            kernels.engine_step, self._step, self._overrides, example, np.empty(self.n_users),
            self._users, self._items, self._params, self._engine, self._tables,
        )  # fmt: skip
        self._observe_rows = kernels.compiled(
            kernels.observe, self._all_rows, self._engine, self._users, self._tables, example
        )
        self._engine_step_parallel: Any = None  # compiled (or loaded) at its first use

    def _run_engine_step(self, arrays: ObservationArrays, reward: np.ndarray) -> int:
        """The engine step of a big batch: multi-threaded unless numba has one thread."""
        args = (
            self._step, self._overrides, arrays, reward, self._users, self._items, self._params,
            self._engine, self._tables,
        )  # fmt: skip
        n_threads = numba.get_num_threads()
        if n_threads == 1:
            return int(self._engine_step(*args))
        if self._engine_step_parallel is None:
            self._engine_step_parallel = kernels.compiled(
                kernels.engine_step_parallel, *args[:2], self._new_observation_arrays(),
                *args[3:], 1,
            )  # fmt: skip
        return int(self._engine_step_parallel(*args, 4 * n_threads))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # Machine code: bound again on load.
        del state["_engine_step"], state["_observe_rows"], state["_engine_step_parallel"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_kernels()

    @property
    def state(self) -> LatentUserState:
        """The latent users (placeholders until the first :meth:`reset`), updated in place."""
        return self._state

    # ------------------------------------------------------------- checkpoint
    def _written_arrays(self) -> list[np.ndarray]:
        """Every array a step writes: the users, the engine state, the day, the step's working
        arrays and overrides, and (``reuse_buffers``) the reused observation arrays."""
        step = self._step
        arrays = [getattr(self._state, f.name) for f in dataclasses.fields(self._state)]
        arrays += [*self._engine, self.day, self.user_ids, *self._overrides, *step[:-1]]
        arrays += [*step.turn]
        if self._reused is not None:
            arrays += [array for array in self._reused if array.size]
        return arrays

    def checkpoint(self) -> CoreCheckpoint:
        """A copy of everything :meth:`step` and :meth:`reset_rows` change, for :meth:`restore`
        (the envs take one before a step whose language-model calls may raise)."""
        return CoreCheckpoint(
            tuple(array.copy() for array in self._written_arrays()),
            self._overridden,
            self._latest,
        )

    def restore(self, checkpoint: CoreCheckpoint) -> None:
        """Put the engine back as it was at ``checkpoint`` (in place: the arrays stay bound to
        the kernels), as if the steps since had never happened."""
        for array, saved in zip(self._written_arrays(), checkpoint.arrays, strict=True):
            np.copyto(array, saved)
        self._overridden = checkpoint.overridden
        self._latest = checkpoint.latest

    # ------------------------------------------------------------------ reset
    def reset(
        self,
        rng: np.random.Generator,
        *,
        reseeded: bool = True,
        picks: np.ndarray | None = None,
    ) -> None:
        """A fresh batch of users; with ``reseeded`` also a new retrieval permutation.

        The permutation is drawn when the env is (re)seeded or on its first reset, so a reset
        with a given seed always gives the same trajectory, and unseeded resets stay cheap.
        """
        if reseeded or not self._perm_drawn:
            self._perm[:] = rng.permutation(self.catalog.n_items)
            self._perm_drawn = True
        self._new_users(self._all_rows, rng, picks)
        self.more_of.fill(-1)
        self.less_of.fill(-1)
        self.instruction_age.fill(0)
        self.counters.fill(0.0)
        self.day.fill(0.0)
        self.started = True
        self.retrieve(self._all_rows, rng)

    def reset_rows(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Replace the users at ``rows`` with fresh users (vector-env autoreset)."""
        self._new_users(rows, rng)
        self.more_of[rows] = -1
        self.less_of[rows] = -1
        self.instruction_age[rows] = 0
        self.counters[rows] = 0.0
        self.day[rows] = 0.0
        self.retrieve(rows, rng)

    def _new_users(
        self, rows: np.ndarray, rng: np.random.Generator, picks: np.ndarray | None = None
    ) -> None:
        """Fresh users at ``rows``: from the prior (empty watch history), or drawn from the
        population (``picks``: these population indices; with its watch history, if it has
        one)."""
        if self.population is None:
            resample_users(self.state, rows, self.catalog, self.user_config, rng)
            self.user_ids[rows] = -1
            self.history[rows] = 0.0
            return
        picks = self.population.assign(self.state, rows, rng, picks)
        self.user_ids[rows] = self.population.user_ids[picks]
        if self.population.history is None:
            self.history[rows] = 0.0
        else:
            self.history[rows] = self.population.history[picks]

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
        and ``into`` (the latest observation this core returned), only those users' entries are
        rewritten in place.
        """
        if into is None:
            arrays = self._observation_arrays()
            self._observe_rows(self._all_rows, self._engine, self._users, self._tables, arrays)
            return self._publish(arrays), arrays.mask
        if rows is None:
            raise ValueError("observe(into=...) needs the rows to rewrite")
        if self._latest is None or into[0] is not self._latest[0]:
            raise ValueError("observe(into=...) takes the latest observation of this core")
        arrays = self._latest[1]
        rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_users):
            raise ValueError(f"observe rows must be in [0, {self.n_users}): {rows!r}")
        self._observe_rows(rows, self._engine, self._users, self._tables, arrays)
        return into

    @property
    def slots(self) -> np.ndarray:
        """The ``(n, S)`` int64 array :meth:`step` reads the slots from: write a step's slots
        here and pass this array to skip a copy."""
        return self._step.slots

    def _new_observation_arrays(self) -> ObservationArrays:
        empty, (mask, instruction, context, history, candidates) = np.empty, self._obs_layout
        if self._ids:
            return ObservationArrays(
                self._no_features, empty(*mask), empty(*instruction), empty(*context),
                empty(*history), empty(*candidates), empty(mask[0], np.int8),
            )  # fmt: skip
        return ObservationArrays(
            empty(*candidates), empty(*mask), empty(*instruction), empty(*context),
            empty(*history), self._no_ids, self._no_available,
        )  # fmt: skip

    def _observation_arrays(self) -> ObservationArrays:
        """Fresh observation arrays, unless :attr:`reuse_buffers` is set (the vector env's
        ``copy=False``): then the same arrays are rewritten every step."""
        if not self.reuse_buffers:
            return self._new_observation_arrays()
        if self._reused is None:
            self._reused = self._new_observation_arrays()
        return self._reused

    def _publish(self, arrays: ObservationArrays) -> dict[str, np.ndarray]:
        """The observation dict of ``arrays`` (remembered for :meth:`observe`'s ``into``)."""
        if not self._ids:
            obs = {
                "instruction": arrays.instruction,
                "context": arrays.context,
                "candidates": arrays.features,
                "history": arrays.history,
            }
        else:
            obs = {
                "instruction": arrays.instruction,
                "context": arrays.context,
                "history": arrays.history,
                "candidate_ids": arrays.candidate_ids,
                "available": arrays.available,
            }
        self._latest = (obs, arrays)
        return obs

    def instruction(self, row: int) -> ReflectiveInstruction | None:
        """The structured instruction currently standing for user ``row``, if any."""
        if self.more_of[row] < 0:
            return None
        names = self.catalog.topic_names
        more, less = int(self.more_of[row]), int(self.less_of[row])
        return ReflectiveInstruction((names[more],), (names[less],), (more,), (less,))

    def standing_instruction(self, row: int) -> ReflectiveInstruction:
        """The instruction standing for user ``row``; ``ValueError`` when none stands."""
        instruction = self.instruction(row)
        if instruction is None:
            raise ValueError(f"user {row} has no standing instruction")
        return instruction

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
        work = self._step
        if slots is not work.slots:
            if np.shape(slots) != work.slots.shape:
                raise ValueError(f"slots have shape {np.shape(slots)}, expected {work.slots.shape}")
            np.copyto(work.slots, slots, casting="same_kind")
        rng.random(out=work.draws)
        rng.standard_normal(out=work.normals)
        overrides = self._overrides
        if click_override is not None or leave_override is not None or self._overridden:
            shape = work.slots.shape
            overrides.click[:] = check_override(click_override, shape, "click_override")
            overrides.leave[:] = check_override(leave_override, shape[:1], "leave_override")
            self._overridden = click_override is not None or leave_override is not None
        arrays = self._observation_arrays()
        reward = np.empty(self.n_users)
        cfg = self.config
        familiarity = self.state.familiarity.copy() if cfg.novelty_weight > 0 else None
        if self.n_users < self.parallel_min_users:
            n_ended = self._engine_step(
                work, overrides, arrays, reward, self._users, self._items, self._params,
                self._engine, self._tables,
            )  # fmt: skip
        else:
            n_ended = self._run_engine_step(arrays, reward)
        obs = self._publish(arrays)
        turn = work.turn
        if cfg.diversity_weight > 0 or familiarity is not None:
            reward += self._shaping(work.items, turn.clicks, familiarity)
        if n_ended:
            flags = np.zeros((3, self.n_users), np.bool_)
            gaps = np.full(self.n_users, np.nan)
        else:
            flags, gaps = self._no_flags, self._no_gaps
        result = StepResult(
            reward, flags[0], flags[1], work.items, turn.clicks, work.watch_minutes,
            work.session_ended, gaps, flags[2], turn.instructed, turn.examined,
            turn.watch_fraction, work.watch_time, work.wasted_slots,
        )  # fmt: skip
        if n_ended:
            started = self._end_sessions(np.flatnonzero(work.session_ended), turn.left, rng, result)
            if started.size:
                self._observe_rows(started, self._engine, self._users, self._tables, arrays)
        return result, obs, arrays.mask

    def _shaping(
        self, items: np.ndarray, clicks: np.ndarray, familiarity: np.ndarray | None
    ) -> np.ndarray:
        """``(n,)`` the optional reward terms of a turn (see ``RecoWorldConfig``):
        ``diversity_weight`` x the intra-list diversity of the shown items (0 below two) plus
        ``novelty_weight`` x the share of the clicks on items whose topic had a familiarity under
        ``new_topic_familiarity`` before the turn (``familiarity``; 0 without clicks)."""
        from recoworld.evaluation.metrics import intra_list_diversity

        cfg = self.config
        shown = items >= 0
        extra = np.zeros(self.n_users)
        if cfg.diversity_weight > 0:
            embeddings = self.catalog.embeddings[np.where(shown, items, 0)] * shown[..., None]
            diversity = np.nan_to_num(np.asarray(intra_list_diversity(embeddings)), nan=0.0)
            extra += cfg.diversity_weight * diversity
        if familiarity is not None:
            topic = self._main_topic[np.where(shown, items, 0)]
            rows = np.arange(self.n_users)[:, None]
            new = familiarity[rows, topic] < cfg.new_topic_familiarity
            n_clicks = clicks.sum(axis=1)
            new_clicks = (clicks & new & shown).sum(axis=1)
            share = np.divide(new_clicks, n_clicks, out=np.zeros(self.n_users), where=n_clicks > 0)
            extra += cfg.novelty_weight * share
        return extra

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
    info = _row_info(core, result, row)
    if core.population is not None:
        info["user_id"] = int(core.user_ids[row])
    return info


def _row_info(core: RecoWorldCore, result: StepResult | None, row: int) -> dict[str, Any]:
    if result is None:
        return {
            "candidates": core.candidates[row].copy(),
            "session": int(core.counters[row, 1]),
            "turn": int(core.state.session_turns[row]),
            "day": float(core.day[row]),
        }
    items = result.items[row]
    ended = bool(result.session_ended[row])
    return {
        "candidates": core.candidates[row].copy(),
        "session": int(core.counters[row, 1]),
        "turn": int(core.state.session_turns[row]),
        "day": float(core.day[row]),
        "slate": items.copy(),
        "clicks": items[result.clicks[row]],
        "watch_time": float(result.watch_time[row]),
        "wasted_slots": int(result.wasted_slots[row]),
        "session_ended": ended,
        "return_gap_days": float(result.return_gap_days[row]) if ended else None,
        "churned": bool(result.churned[row]),
    }
