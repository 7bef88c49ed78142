"""Compiled per-user loops of the RecoWorld engine (retrieval, slots, history, observation).

They loop over the users of a batch, so the single env (a batch of one) pays microseconds per
step and the vector env runs at compiled speed; :class:`~recoworld.envs.core.RecoWorldCore` is
their only caller.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recoworld.simulators.latent import turn_kernel


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
    n_items = perm.shape[0]
    for index in range(rows.shape[0]):
        user = rows[index]
        position = int(offset_draws[index] * n_items)
        stride = strides[int(stride_draws[index] * strides.shape[0])]
        for j in range(candidates.shape[1]):
            candidates[user, j] = perm[position]
            position += stride
            if position >= n_items:
                position -= n_items


@njit(cache=True)
def update_history(
    items: np.ndarray,
    watch: np.ndarray,
    satisfaction: np.ndarray,
    item_features: np.ndarray,
    rate: float,
    history: np.ndarray,
) -> None:
    """Move each user's history toward the watch-weighted mean features of what it watched."""
    width = history.shape[1]
    for user in range(items.shape[0]):
        total = satisfaction[user]
        if total <= 0.0:
            continue
        for f in range(width):
            history[user, f] *= 1.0 - rate
        for s in range(items.shape[1]):
            w = watch[user, s]
            if w > 0.0:
                item = items[user, s]
                for f in range(width):
                    history[user, f] += rate * w / total * item_features[item, f]


@njit(cache=True)
def observe(
    rows: np.ndarray,
    candidates: np.ndarray,
    item_features: np.ndarray,
    seen_bits: np.ndarray,
    consumed_bits: np.ndarray,
    more_of: np.ndarray,
    less_of: np.ndarray,
    instruction_age: np.ndarray,
    context_values: np.ndarray,
    context_scale: np.ndarray,
    out_candidates: np.ndarray,
    out_mask: np.ndarray,
    out_instruction: np.ndarray,
    out_context: np.ndarray,
) -> None:
    """Write the observation arrays and the action mask of the users at ``rows``.

    ``out_candidates`` of shape ``(0, 0, 0)`` means no per-candidate features are wanted
    (``observation_mode="ids"``).

    ``context_values`` ``(n, 4)`` holds session turn, session index, last clicks and last
    satisfaction, divided by ``context_scale`` ``(4,)`` and clipped to ``[0, 1]``; the fifth
    context entry is ``1 / (1 + instruction_age)`` (0 without an instruction).
    """
    n_topics = out_instruction.shape[1] // 2
    width = item_features.shape[1]
    write_features = out_candidates.shape[0] > 0
    for user in rows:
        for j in range(candidates.shape[1]):
            item = candidates[user, j]
            seen = (seen_bits[user, item >> 3] >> (item & 7)) & 1
            consumed = (consumed_bits[user, item >> 3] >> (item & 7)) & 1
            available = seen == 0 and consumed == 0
            out_mask[user, j] = available
            if write_features:
                for f in range(width):
                    out_candidates[user, j, f] = item_features[item, f]
                out_candidates[user, j, width] = 1.0 if available else 0.0
        out_instruction[user, :] = 0.0
        if more_of[user] >= 0:
            out_instruction[user, more_of[user]] = 1.0
            out_instruction[user, n_topics + less_of[user]] = 1.0
            out_context[user, 4] = 1.0 / (1.0 + instruction_age[user])
        else:
            out_context[user, 4] = 0.0
        for c in range(4):
            out_context[user, c] = min(max(context_values[user, c] / context_scale[c], 0.0), 1.0)


@njit(cache=True)
def gather_items(candidates: np.ndarray, slots: np.ndarray, items: np.ndarray) -> None:
    """``items[u, s] = candidates[u, slots[u, s]]``, or ``-1`` for an empty slot."""
    for user in range(slots.shape[0]):
        for s in range(slots.shape[1]):
            slot = slots[user, s]
            items[user, s] = candidates[user, slot] if slot >= 0 else -1


@njit(cache=True)
def finish_turn(
    items: np.ndarray,
    clicks: np.ndarray,
    watch_fraction: np.ndarray,
    satisfaction: np.ndarray,
    left: np.ndarray,
    session_turns: np.ndarray,
    instructed: np.ndarray,
    new_more_of: np.ndarray,
    new_less_of: np.ndarray,
    duration: np.ndarray,
    item_features: np.ndarray,
    history_rate: float,
    weights: np.ndarray,
    max_session_turns: int,
    history: np.ndarray,
    counters: np.ndarray,
    more_of: np.ndarray,
    less_of: np.ndarray,
    instruction_age: np.ndarray,
    watch_minutes: np.ndarray,
    reward: np.ndarray,
    session_ended: np.ndarray,
) -> None:
    """Bookkeeping after the users' turn: watch minutes, history, counters, standing
    instruction, session end and the engagement part of the reward
    (``weights = [click_weight, watch_weight, continue_weight]``)."""
    update_history(items, watch_fraction, satisfaction, item_features, history_rate, history)
    for user in range(items.shape[0]):
        n_clicks = 0
        minutes = 0.0
        for s in range(items.shape[1]):
            item = items[user, s]
            value = watch_fraction[user, s] * duration[item] if item >= 0 else 0.0
            watch_minutes[user, s] = value
            minutes += value
            if clicks[user, s]:
                n_clicks += 1
        counters[user, 2] = n_clicks
        counters[user, 3] = satisfaction[user]
        instruction_age[user] += 1
        if instructed[user]:
            more_of[user] = new_more_of[user]
            less_of[user] = new_less_of[user]
            instruction_age[user] = 0
        ended = left[user] or session_turns[user] >= max_session_turns
        session_ended[user] = ended
        reward[user] = weights[0] * n_clicks + weights[1] * minutes
        if not ended:
            reward[user] += weights[2]


@njit(cache=True)
def engine_step(
    slots, candidates, draws, normals, interests, interest_bonus, boredom, familiarity,
    novelty_propensity, novelty_state, patience, session_skips, session_satisfaction,
    session_turns, turns_since_instruction, seen_bits, consumed_bits, embeddings, item_topics,
    quality, centroids, duration, item_features, params, reward_weights, history_rate,
    max_session_turns, strides, perm, history, counters, more_of, less_of, instruction_age,
    context_scale, items, examined, clicks, watch_fraction, satisfaction, left, instructed,
    new_more_of, new_less_of, watch_minutes, reward, session_ended, out_candidates, out_mask,
    out_instruction, out_context, click_override, leave_override,
):  # fmt: skip
    """One whole engine step in one compiled call; returns the number of sessions that ended.

    ``draws`` ``(n, 2S + 3)`` uniforms: ``[:, :2S]`` the cascade (as ``(S, 2)``), ``[:, 2S]``
    the exogenous leave draw, ``[:, 2S + 1:]`` the next retrieval's offset and stride.
    ``click_override`` / ``leave_override``: decisions handed to another decider (see
    :func:`recoworld.simulators.latent.turn_kernel`; ``-1`` everywhere = the latent model decides).
    """
    n_users, n_slots = slots.shape
    gather_items(candidates, slots, items)
    uniforms = draws[:, : 2 * n_slots].copy().reshape(n_users, n_slots, 2)
    leave_draws = draws[:, 2 * n_slots].copy()
    turn_kernel(
        items, uniforms, normals, leave_draws, interests, interest_bonus, boredom, familiarity,
        novelty_propensity, novelty_state, patience, session_skips, session_satisfaction,
        session_turns, turns_since_instruction, seen_bits, consumed_bits, embeddings,
        item_topics, quality, centroids, params, examined, clicks, watch_fraction, satisfaction,
        left, instructed, new_more_of, new_less_of, click_override, leave_override,
    )  # fmt: skip
    finish_turn(
        items, clicks, watch_fraction, satisfaction, left, session_turns, instructed, new_more_of,
        new_less_of, duration, item_features, history_rate, reward_weights, max_session_turns,
        history, counters, more_of, less_of, instruction_age, watch_minutes, reward,
        session_ended,
    )  # fmt: skip
    rows = np.arange(n_users)
    retrieve(
        rows, draws[:, 2 * n_slots + 1].copy(), draws[:, 2 * n_slots + 2].copy(), strides, perm,
        candidates,
    )  # fmt: skip
    for user in range(n_users):
        counters[user, 0] = session_turns[user]
    observe(
        rows, candidates, item_features, seen_bits, consumed_bits, more_of, less_of,
        instruction_age,
        counters, context_scale, out_candidates, out_mask, out_instruction, out_context,
    )  # fmt: skip
    ended = 0
    for user in range(n_users):
        if session_ended[user]:
            ended += 1
    return ended
