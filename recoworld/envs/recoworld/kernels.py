"""Compiled per-user loops of the RecoWorld engine (retrieval, slots, history, observation).

They loop over the users of a batch, so the single env (a batch of one) pays microseconds per
step and the vector env runs at compiled speed;
:class:`~recoworld.envs.recoworld.core.RecoWorldCore` is their only caller.

The engine's arrays travel as a few named tuples of arrays (numba compiles a named tuple into a
struct whose fields it reads by name): the latent users
(:class:`~recoworld.simulators.latent.UserArrays`), the catalog
(:class:`~recoworld.simulators.latent.ItemArrays`), the engine's own per-user state
(:class:`EngineState`), its constant tables (:class:`EngineTables`), one step's inputs and
outputs (:class:`StepArrays`) and the observation being written (:class:`ObservationArrays`).
The core builds them once (the arrays are written in place, never replaced) and calls
:func:`engine_step` through :func:`compiled`, which skips numba's per-call type dispatch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import njit

from recoworld.simulators.latent import (
    ItemArrays,
    Overrides,
    TurnDraws,
    TurnOutcome,
    UserArrays,
    pairwise_sum,
    turn_users,
)

__all__ = [
    "EngineState",
    "EngineTables",
    "ObservationArrays",
    "StepArrays",
    "compiled",
    "engine_step",
    "engine_step_parallel",
    "observe",
    "retrieve",
    "slate_slots",
]


class EngineState(NamedTuple):
    """The engine's per-user state beside the latent user (written in place, never replaced)."""

    candidates: np.ndarray
    """``(n, C)`` int64 item rows of the current candidate block."""
    history: np.ndarray
    """``(n, d + T)`` float32 moving average of the watched items' features."""
    counters: np.ndarray
    """``(n, 4)`` float64: session turn, session index, last turn's clicks and watched items."""
    more_of: np.ndarray
    """``(n,)`` int64 topic the standing instruction asks more of, ``-1`` for none."""
    less_of: np.ndarray
    """``(n,)`` int64 topic the standing instruction asks less of, ``-1`` for none."""
    instruction_age: np.ndarray
    """``(n,)`` int64 turns since the standing instruction was given."""


class EngineTables(NamedTuple):
    """What the engine reads and never changes during a step."""

    item_features: np.ndarray
    """``(n_items, F)`` float32 per-item observation features (without the availability flag)."""
    duration: np.ndarray
    """``(n_items,)`` float32 minutes."""
    strides: np.ndarray
    """int64 retrieval strides, each coprime with ``n_items``."""
    perm: np.ndarray
    """``(n_items,)`` int64 retrieval permutation (redrawn in place when the env is reseeded)."""
    reward_weights: np.ndarray
    """``[click_weight, watch_weight, continue_weight]``."""
    context_scale: np.ndarray
    """``(4,)`` divisors of the first four context entries."""
    history_rate: float
    max_session_turns: int


class StepArrays(NamedTuple):
    """One step's inputs and working outputs, reused every step."""

    slots: np.ndarray
    """``(n, S)`` int64 candidate index shown in each slot, ``-1`` for an empty slot."""
    draws: np.ndarray
    """``(n, 2S + 3)`` uniforms: ``[:, :2S]`` the cascade (``uniforms`` of
    :class:`~recoworld.simulators.latent.TurnDraws`), ``[:, 2S]`` the exogenous leave draw,
    ``[:, 2S + 1:]`` the next retrieval's offset and stride."""
    normals: np.ndarray
    """``(n, S)`` standard normals of the watch-fraction noise."""
    items: np.ndarray
    """``(n, S)`` int64 item shown in each slot, ``-1`` for an empty slot."""
    watch_minutes: np.ndarray
    """``(n, S)`` float64 minutes watched of each slot's item."""
    watch_time: np.ndarray
    """``(n,)`` float64 minutes watched in all (``watch_minutes.sum(axis=1)``, bit for bit)."""
    wasted_slots: np.ndarray
    """``(n,)`` int64 empty slots."""
    session_ended: np.ndarray
    """``(n,)`` bool."""
    turn: TurnOutcome
    """The user model's outputs (its ``more_of``/``less_of``: this turn's new instruction)."""

    @classmethod
    def empty(cls, n_users: int, slate_size: int) -> StepArrays:
        n, s = n_users, slate_size
        return cls(
            slots=np.full((n, s), -1, np.int64),
            draws=np.zeros((n, 2 * s + 3)),
            normals=np.zeros((n, s)),
            items=np.empty((n, s), np.int64),
            watch_minutes=np.empty((n, s)),
            watch_time=np.empty(n),
            wasted_slots=np.empty(n, np.int64),
            session_ended=np.empty(n, np.bool_),
            turn=TurnOutcome.empty(n, s),
        )


class ObservationArrays(NamedTuple):
    """Where the kernels write an observation (arrays over users; see the env's docstring).

    ``features`` is ``(0, 0, 0)`` with ``observation_mode="ids"``; ``candidate_ids`` and
    ``available`` are ``(0, 0)`` with ``observation_mode="features"``.
    """

    features: np.ndarray
    """``(n, C, F + 1)`` float32 per-candidate features and availability flag."""
    mask: np.ndarray
    """``(n, C)`` bool action mask."""
    instruction: np.ndarray
    """``(n, 2T)`` float32 one-hot topics of the standing instruction."""
    context: np.ndarray
    """``(n, 5)`` float32."""
    history: np.ndarray
    """``(n, d + T)`` float32 copy of the engine's history."""
    candidate_ids: np.ndarray
    """``(n, C)`` int64 copy of the candidate block."""
    available: np.ndarray
    """``(n, C)`` int8 copy of the mask."""


def compiled(kernel: Any, *args: Any) -> Callable[..., Any]:
    """The machine code of the numba ``kernel`` for the types of ``args`` (compiled now, or
    loaded from numba's cache).

    Calling it skips numba's per-call type dispatch, which costs more than a small kernel's work
    when the arguments are named tuples (numba types those in Python). Every call must pass
    arguments of exactly the types of ``args`` (same dtypes, dimensions, contiguity and
    writability): pass the same tuples, or fresh arrays allocated the same way.
    """
    return kernel.compile(tuple(numba.typeof(arg) for arg in args))


@njit(cache=True)
def slate_slots(slate: np.ndarray, num_candidates: int, out: np.ndarray) -> int:
    """Slot contents of slate actions ``(n, S)``: a repeated candidate index becomes ``-1``.

    The first occurrence keeps its slot; each later repetition is an empty (wasted) slot.
    Returns the flat position of the first index outside ``[0, num_candidates)``, or -1.
    """
    for user in range(slate.shape[0]):
        for s in range(slate.shape[1]):
            value = slate[user, s]
            if value < 0 or value >= num_candidates:
                return user * slate.shape[1] + s
            for earlier in range(s):
                if slate[user, earlier] == value:
                    value = -1
                    break
            out[user, s] = value
    return -1


@njit(cache=True, inline="always")
def _retrieve_user(user, offset_draw, stride_draw, strides, perm, candidates):
    n_items = perm.shape[0]
    position = int(offset_draw * n_items)
    stride = strides[int(stride_draw * strides.shape[0])]
    for j in range(candidates.shape[1]):
        candidates[user, j] = perm[position]
        position += stride
        if position >= n_items:
            position -= n_items


@njit(cache=True)
def retrieve(
    rows: np.ndarray,
    offset_draws: np.ndarray,
    stride_draws: np.ndarray,
    strides: np.ndarray,
    perm: np.ndarray,
    candidates: np.ndarray,
) -> None:
    """Fill ``candidates[rows]`` with ``perm[(offset + stride * j) % n_items]``, ``j < C``.

    ``offset_draws`` and ``stride_draws`` are uniforms in ``[0, 1)``; the stride is coprime with
    ``n_items``, so the ``C <= n_items`` candidates of a user are distinct.
    """
    for index in range(rows.shape[0]):
        _retrieve_user(
            rows[index], offset_draws[index], stride_draws[index], strides, perm, candidates
        )


# The kernels unpack their named tuples once, at the top: numba reference-counts every array
# read out of a tuple, so a field read inside a per-user loop would cost an atomic increment and
# decrement each time. The inlined per-user helpers take plain arrays.


@njit(cache=True, inline="always")
def _observe_user(
    user, candidates, history, counters, more_of, less_of, instruction_age, session_turns,
    seen_bits, consumed_bits, item_features, context_scale, features, mask, instruction,
    context, history_out, candidate_ids, available,
):  # fmt: skip
    """Write user ``user``'s observation and action mask (see :func:`observe`)."""
    width = item_features.shape[1]
    write_features = features.shape[0] > 0
    write_ids = candidate_ids.shape[0] > 0
    for j in range(candidates.shape[1]):
        item = candidates[user, j]
        seen = (seen_bits[user, item >> 3] >> (item & 7)) & 1
        consumed = (consumed_bits[user, item >> 3] >> (item & 7)) & 1
        is_available = seen == 0 and consumed == 0
        mask[user, j] = is_available
        if write_features:
            for f in range(width):
                features[user, j, f] = item_features[item, f]
            features[user, j, width] = 1.0 if is_available else 0.0
        if write_ids:
            candidate_ids[user, j] = item
            available[user, j] = 1 if is_available else 0
    for f in range(history.shape[1]):
        history_out[user, f] = history[user, f]
    n_topics = instruction.shape[1] // 2
    for f in range(instruction.shape[1]):
        instruction[user, f] = 0.0
    if more_of[user] >= 0:
        instruction[user, more_of[user]] = 1.0
        instruction[user, n_topics + less_of[user]] = 1.0
        context[user, 4] = 1.0 / (1.0 + instruction_age[user])
    else:
        context[user, 4] = 0.0
    counters[user, 0] = session_turns[user]
    for c in range(4):
        context[user, c] = min(max(counters[user, c] / context_scale[c], 0.0), 1.0)


@njit(cache=True)
def observe(
    rows: np.ndarray,
    engine: EngineState,
    users: UserArrays,
    tables: EngineTables,
    obs: ObservationArrays,
) -> None:
    """Write the observation and the action mask of the users at ``rows`` into ``obs``.

    A candidate is available (mask true, flag 1) unless shown this session or consumed before.
    The first four context entries are session turn, session index, last clicks and last
    satisfaction (``engine.counters``; the session turn is refreshed from the users first),
    divided by ``context_scale`` and clipped to ``[0, 1]``; the fifth is
    ``1 / (1 + instruction_age)`` (0 without an instruction).
    """
    candidates, history, counters = engine.candidates, engine.history, engine.counters
    more_of, less_of, instruction_age = engine.more_of, engine.less_of, engine.instruction_age
    session_turns, seen_bits, consumed_bits = (
        users.session_turns, users.seen_bits, users.consumed_bits
    )  # fmt: skip
    item_features, context_scale = tables.item_features, tables.context_scale
    features, mask, instruction, context = obs.features, obs.mask, obs.instruction, obs.context
    history_out, candidate_ids, available = obs.history, obs.candidate_ids, obs.available
    for index in range(rows.shape[0]):
        _observe_user(
            rows[index], candidates, history, counters, more_of, less_of, instruction_age,
            session_turns, seen_bits, consumed_bits, item_features, context_scale, features,
            mask, instruction, context, history_out, candidate_ids, available,
        )  # fmt: skip


@njit(cache=True)
def engine_step(
    step: StepArrays,
    overrides: Overrides,
    obs: ObservationArrays,
    reward: np.ndarray,
    users: UserArrays,
    catalog: ItemArrays,
    params: np.ndarray,
    engine: EngineState,
    tables: EngineTables,
) -> int:
    """One whole engine step in one compiled call; returns the number of sessions that ended.

    Per user: the items at ``step.slots``, the user model's turn
    (:func:`recoworld.simulators.latent.turn_kernel`, with ``overrides``: ``-1`` everywhere = the
    latent model decides), watch minutes, the history (moved toward the watch-weighted mean
    features of what was watched), counters, the standing instruction, session end and the
    engagement part of ``reward``
    (``click_weight * clicks + watch_weight * minutes + continue_weight * [session goes on]``),
    then the next retrieval and the next observation, written to ``obs``.
    """
    n_users = step.slots.shape[0]
    _step_users(0, n_users, step, overrides, obs, reward, users, catalog, params, engine, tables)
    return _count_ended(step.session_ended)


@njit(cache=True, parallel=True)
def engine_step_parallel(
    step: StepArrays,
    overrides: Overrides,
    obs: ObservationArrays,
    reward: np.ndarray,
    users: UserArrays,
    catalog: ItemArrays,
    params: np.ndarray,
    engine: EngineState,
    tables: EngineTables,
    n_blocks: int,
) -> int:
    """:func:`engine_step` with the users split into ``n_blocks`` blocks stepped on numba's
    threads (a few blocks a thread: ``numba.get_num_threads()`` is not read here, as a kernel
    that reads it cannot be cached).

    Each user's step reads and writes only that user's rows (and reads the shared tables), and
    every random number was drawn before the call, so the arrays are the serial kernel's to the
    last bit, whatever the number of threads. The ended sessions are counted afterwards, from
    ``step.session_ended``.
    """
    # numba's parallel loop takes arrays and scalars, not tuples: the tuples are unpacked here
    # and packed again in the loop's body.
    slots, draws, normals, items, watch_minutes, watch_time, wasted_slots, session_ended, turn = (
        step
    )  # fmt: skip
    examined, clicks, watch_fraction, satisfaction, left, instructed, new_more_of, new_less_of = (
        turn
    )  # fmt: skip
    click_override, leave_override = overrides
    features, mask, instruction, context, history_out, candidate_ids, available = obs
    (
        interests, interest_bonus, boredom, familiarity, novelty_propensity, novelty_state,
        patience, session_skips, session_satisfaction, session_turns, turns_since_instruction,
        seen_bits, consumed_bits,
    ) = users  # fmt: skip
    embeddings, item_topics, quality, topic_centroids = catalog
    candidates, history, counters, more_of, less_of, instruction_age = engine
    (
        item_features, duration, strides, perm, reward_weights, context_scale, history_rate,
        max_session_turns,
    ) = tables  # fmt: skip
    n_users = slots.shape[0]
    n_blocks = max(1, min(n_users, n_blocks))
    for block in numba.prange(n_blocks):
        _step_block(
            block * n_users // n_blocks,
            (block + 1) * n_users // n_blocks,
            StepArrays(
                slots, draws, normals, items, watch_minutes, watch_time, wasted_slots,
                session_ended,
                TurnOutcome(
                    examined, clicks, watch_fraction, satisfaction, left, instructed,
                    new_more_of, new_less_of,
                ),
            ),
            Overrides(click_override, leave_override),
            ObservationArrays(
                features, mask, instruction, context, history_out, candidate_ids, available
            ),
            reward,
            UserArrays(
                interests, interest_bonus, boredom, familiarity, novelty_propensity,
                novelty_state, patience, session_skips, session_satisfaction, session_turns,
                turns_since_instruction, seen_bits, consumed_bits,
            ),
            ItemArrays(embeddings, item_topics, quality, topic_centroids),
            params,
            EngineState(candidates, history, counters, more_of, less_of, instruction_age),
            EngineTables(
                item_features, duration, strides, perm, reward_weights, context_scale,
                history_rate, max_session_turns,
            ),
        )  # fmt: skip
    return _count_ended(session_ended)


@njit(cache=True)
def _step_block(start, stop, step, overrides, obs, reward, users, catalog, params, engine, tables):
    """:func:`_step_users` behind a call (compiling it inside the parallel loop is slow)."""
    _step_users(start, stop, step, overrides, obs, reward, users, catalog, params, engine, tables)


@njit(cache=True)
def _count_ended(session_ended: np.ndarray) -> int:
    ended = 0
    for user in range(session_ended.shape[0]):
        ended += session_ended[user]
    return ended


@njit(cache=True, inline="always")
def _step_users(
    start: int,
    stop: int,
    step: StepArrays,
    overrides: Overrides,
    obs: ObservationArrays,
    reward: np.ndarray,
    users: UserArrays,
    catalog: ItemArrays,
    params: np.ndarray,
    engine: EngineState,
    tables: EngineTables,
) -> None:
    """The engine step (see :func:`engine_step`) of the users ``start <= user < stop``."""
    slots, draws, normals, items = step.slots, step.draws, step.normals, step.items
    watch_minutes, session_ended, turn = step.watch_minutes, step.session_ended, step.turn
    watch_time, wasted_slots = step.watch_time, step.wasted_slots
    clicks, watch, satisfaction = turn.clicks, turn.watch_fraction, turn.satisfaction
    left, instructed, new_more_of, new_less_of = (
        turn.left, turn.instructed, turn.more_of, turn.less_of
    )  # fmt: skip
    candidates, history, counters = engine.candidates, engine.history, engine.counters
    more_of, less_of, instruction_age = engine.more_of, engine.less_of, engine.instruction_age
    item_features, duration, weights = tables.item_features, tables.duration, tables.reward_weights
    strides, perm, rate = tables.strides, tables.perm, tables.history_rate
    max_session_turns, session_turns = tables.max_session_turns, users.session_turns
    n_slots = slots.shape[1]
    width = history.shape[1]

    for user in range(start, stop):
        for s in range(n_slots):
            slot = slots[user, s]
            items[user, s] = candidates[user, slot] if slot >= 0 else -1
    turn_draws = TurnDraws(draws[:, : 2 * n_slots], normals, draws[:, 2 * n_slots])
    turn_users(start, stop, items, turn_draws, users, catalog, params, overrides, turn)

    for user in range(start, stop):
        total = satisfaction[user]
        if total > 0.0:
            for f in range(width):
                history[user, f] *= 1.0 - rate
            for s in range(n_slots):
                w = watch[user, s]
                if w > 0.0:
                    item = items[user, s]
                    for f in range(width):
                        history[user, f] += rate * w / total * item_features[item, f]
        n_clicks = 0
        n_wasted = 0
        minutes = 0.0
        for s in range(n_slots):
            item = items[user, s]
            value = watch[user, s] * duration[item] if item >= 0 else 0.0
            watch_minutes[user, s] = value
            minutes += value
            if clicks[user, s]:
                n_clicks += 1
            if item < 0:
                n_wasted += 1
        wasted_slots[user] = n_wasted
        watch_time[user] = pairwise_sum(watch_minutes, user, n_slots)
        counters[user, 2] = n_clicks
        counters[user, 3] = satisfaction[user]
        instruction_age[user] += 1
        if instructed[user]:
            more_of[user] = new_more_of[user]
            less_of[user] = new_less_of[user]
            instruction_age[user] = 0
        session_end = left[user] or session_turns[user] >= max_session_turns
        session_ended[user] = session_end
        reward[user] = weights[0] * n_clicks + weights[1] * minutes
        if not session_end:
            reward[user] += weights[2]

    offset_draws, stride_draws = draws[:, 2 * n_slots + 1], draws[:, 2 * n_slots + 2]
    seen_bits, consumed_bits, context_scale = (
        users.seen_bits, users.consumed_bits, tables.context_scale
    )  # fmt: skip
    features, mask, instruction, context = obs.features, obs.mask, obs.instruction, obs.context
    history_out, candidate_ids, available = obs.history, obs.candidate_ids, obs.available
    for user in range(start, stop):
        _retrieve_user(user, offset_draws[user], stride_draws[user], strides, perm, candidates)
    for user in range(start, stop):
        _observe_user(
            user, candidates, history, counters, more_of, less_of, instruction_age,
            session_turns, seen_bits, consumed_bits, item_features, context_scale, features,
            mask, instruction, context, history_out, candidate_ids, available,
        )  # fmt: skip
