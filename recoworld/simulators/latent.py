"""The vectorized latent-state user model.

Every function here works on a *batch* of users held as a struct of arrays
(:class:`LatentUserState`, arrays shaped ``(n_users, ...)``), so a single user is a batch of one
and a population of a million runs the same code. Randomness comes only from the
``numpy.random.Generator`` passed in. The functions know nothing of Gymnasium; environments,
vector environments and population runners all call them.

The per-user arithmetic is compiled with numba (``cache=True``) and loops over users, so a batch
of one costs microseconds and a batch of a million runs at compiled speed; the small scalar
functions (:func:`click_probability`, :func:`patience_after`, ...) are the same code the kernel
calls, callable from Python. The compiled turn (:func:`turn_kernel`) takes its arrays as a few
named tuples: the users (:class:`UserArrays`), the catalog (:class:`ItemArrays`), the turn's
random numbers (:class:`TurnDraws`), decisions handed to another decider (:class:`Overrides`)
and its outputs (:class:`TurnOutcome`); engines that step the same users every turn build them
once.

The model, per turn:

1. **Utility** of each slate item (:func:`item_utilities`): affinity to the best of the user's K
   interests (weighted), item quality, minus the boredom of the item's topics, plus novelty
   (unfamiliar topics valued by the user's static propensity plus session appetite), minus
   penalties for items already shown this session or already consumed.
2. **Review** (:func:`cascade_review`): the user examines the ranked list top-down; an examined
   item is clicked with ``sigmoid(utility - no_click_utility)`` (the no-click option), then the
   user continues to the next position with a probability that depends on whether it clicked
   (position bias). A clicked item is watched for a fraction of its duration. With
   ``choice_model="mnl"`` the user instead picks at most one item of the whole slate by a
   multinomial logit against the no-click option (:func:`slate_choice_probabilities`).
3. **Transition** (:func:`boredom_after`, :func:`familiarity_after`): interests drift toward
   consumed items, per-topic boredom rises with consumption and decays with time, familiarity
   grows, the session novelty appetite follows how repetitive the consumption was.
4. **Patience** (:func:`patience_after`) falls every turn, more on a turn without clicks, and
   rises with watched items; the session ends when it reaches zero (or by a small exogenous
   leave probability).
5. **Reflective instruction**: a user whose patience falls under a threshold names the topic it
   wants most now (:func:`topic_preferences`) to see more of, and the topic it skipped or is bored
   with most to see less of.
6. **Retention** (:func:`draw_return_gap`): when a session ends, the gap in days until the next
   session is drawn from an exponential hazard that grows with the session's satisfaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple

import numpy as np
from numba import njit

from recoworld.catalog.base import Catalog
from recoworld.simulators.config import CHOICE_MODELS, UserModelConfig


@dataclass
class LatentUserState:
    """Hidden state of a batch of users (struct of arrays, first axis = user).

    Attributes:
        interests: ``(n, K, d)`` unit interest vectors in item-embedding space.
        interest_bonus: ``(n, K)`` additive affinity bonus of each interest,
            ``interest_weight_scale * log(K * weight)``.
        boredom: ``(n, T)`` per-topic boredom, ``>= 0``.
        familiarity: ``(n, T)`` per-topic familiarity in ``[0, 1]``.
        novelty_propensity: ``(n,)`` static appetite for unfamiliar topics.
        novelty_state: ``(n,)`` session-level appetite for unfamiliar topics, in ``[0, 1]``.
        base_patience: ``(n,)`` patience at the start of each session.
        patience: ``(n,)`` current patience in ``[0, 1]``; the session ends at 0.
        session_skips: ``(n, T)`` decayed topic mass of items examined and skipped this session.
        session_satisfaction: ``(n,)`` sum over this session's turns of watched items.
        session_turns: ``(n,)`` turns taken in this session.
        turns_since_instruction: ``(n,)`` turns since the last reflective instruction.
        seen_bits: ``(n, ceil(n_items / 8))`` bitset of items shown this session.
        consumed_bits: ``(n, ceil(n_items / 8))`` bitset of items ever clicked.
    """

    interests: np.ndarray
    interest_bonus: np.ndarray
    boredom: np.ndarray
    familiarity: np.ndarray
    novelty_propensity: np.ndarray
    novelty_state: np.ndarray
    base_patience: np.ndarray
    patience: np.ndarray
    session_skips: np.ndarray
    session_satisfaction: np.ndarray
    session_turns: np.ndarray
    turns_since_instruction: np.ndarray
    seen_bits: np.ndarray
    consumed_bits: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.patience.shape[0])

    def nbytes_per_user(self) -> float:
        """Bytes of hidden state per user (all arrays)."""
        total = sum(getattr(self, f.name).nbytes for f in fields(self))
        return total / max(self.n_users, 1)

    def take(self, rows: np.ndarray) -> LatentUserState:
        """A copy of the users at ``rows``."""
        return LatentUserState(**{f.name: getattr(self, f.name)[rows].copy() for f in fields(self)})

    def put(self, rows: np.ndarray, other: LatentUserState) -> None:
        """Overwrite the users at ``rows`` with ``other``'s users (in order)."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)

    def copy(self) -> LatentUserState:
        return LatentUserState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def arrays(self) -> UserArrays:
        """The arrays the compiled turn kernel reads and updates (the same arrays, not copies)."""
        return UserArrays._make(_user_arrays(self))


class UserArrays(NamedTuple):
    """The hidden state a turn reads and updates, as one argument of the compiled kernels.

    The arrays of a :class:`LatentUserState` (see there for shapes), less ``base_patience``:
    numba compiles a named tuple of arrays into a struct whose fields a kernel reads by name.
    """

    interests: np.ndarray
    interest_bonus: np.ndarray
    boredom: np.ndarray
    familiarity: np.ndarray
    novelty_propensity: np.ndarray
    novelty_state: np.ndarray
    patience: np.ndarray
    session_skips: np.ndarray
    session_satisfaction: np.ndarray
    session_turns: np.ndarray
    turns_since_instruction: np.ndarray
    seen_bits: np.ndarray
    consumed_bits: np.ndarray


class ItemArrays(NamedTuple):
    """The catalog arrays the user model reads (see :class:`~recoworld.catalog.Catalog`)."""

    embeddings: np.ndarray
    """``(n_items, d)`` unit item embeddings."""
    item_topics: np.ndarray
    """``(n_items, T)`` topic mass of each item."""
    quality: np.ndarray
    """``(n_items,)`` item quality in ``[0, 1]``."""
    topic_centroids: np.ndarray
    """``(T, d)`` unit topic directions."""

    @classmethod
    def of(cls, catalog: Catalog) -> ItemArrays:
        return cls._make(_item_arrays(catalog))


_user_arrays = attrgetter(*UserArrays._fields)
"""The fields of :class:`UserArrays` of a state, as a plain tuple."""
_item_arrays = attrgetter(*ItemArrays._fields)
"""The fields of :class:`ItemArrays` of a catalog, as a plain tuple."""


class TurnDraws(NamedTuple):
    """The random numbers of one turn (drawn in Python from the caller's generator)."""

    uniforms: np.ndarray
    """``(n, 2S)`` uniforms: ``[:, 2s]`` decides a click at slot ``s``, ``[:, 2s + 1]`` whether
    the user goes on to the next slot."""
    normals: np.ndarray
    """``(n, S)`` standard normals of the watch-fraction noise."""
    leave: np.ndarray
    """``(n,)`` uniforms of the exogenous leave probability."""


class Overrides(NamedTuple):
    """Decisions handed to another decider (an LLM user): ``-1`` = the latent model decides,
    ``0`` / ``1`` = skip / click (``click``, int8 ``(n, S)``) or stay / leave (``leave``, int8
    ``(n,)``)."""

    click: np.ndarray
    leave: np.ndarray


def sample_users(
    n_users: int, catalog: Catalog, config: UserModelConfig, rng: np.random.Generator
) -> LatentUserState:
    """Draw ``n_users`` fresh users from the population, at the start of their first session.

    Each interest is centred on a topic chosen with probability proportional to the topic's share
    of the catalog, displaced by ``interest_spread`` noise, so users have several distinct tastes.
    """
    if n_users < 0:
        raise ValueError(f"n_users={n_users} must be >= 0")
    t, n_bytes = catalog.n_topics, (catalog.n_items + 7) // 8
    interests, interest_bonus, novelty, base_patience = _draw_users(n_users, catalog, config, rng)
    return LatentUserState(
        interests=interests.astype(np.float32),
        interest_bonus=interest_bonus.astype(np.float32),
        boredom=np.zeros((n_users, t), np.float32),
        familiarity=np.zeros((n_users, t), np.float32),
        novelty_propensity=novelty.astype(np.float32),
        novelty_state=np.zeros(n_users, np.float32),
        base_patience=base_patience.astype(np.float32),
        patience=base_patience.astype(np.float32),
        session_skips=np.zeros((n_users, t), np.float32),
        session_satisfaction=np.zeros(n_users, np.float32),
        session_turns=np.zeros(n_users, np.int32),
        turns_since_instruction=np.full(n_users, 1 << 20, np.int32),
        seen_bits=np.zeros((n_users, n_bytes), np.uint8),
        consumed_bits=np.zeros((n_users, n_bytes), np.uint8),
    )


def resample_users(
    state: LatentUserState,
    rows: np.ndarray | slice,
    catalog: Catalog,
    config: UserModelConfig,
    rng: np.random.Generator,
) -> None:
    """Replace the users of ``state`` at ``rows`` with fresh users, in place.

    The same draws and values as ``state.put(rows, sample_users(n, catalog, config, rng))``
    (``n`` the number of rows), written straight into ``state``'s arrays.
    """
    n_users = len(range(state.n_users)[rows]) if isinstance(rows, slice) else len(rows)
    interests, interest_bonus, novelty, base_patience = _draw_users(n_users, catalog, config, rng)
    state.interests[rows] = interests
    state.interest_bonus[rows] = interest_bonus
    state.novelty_propensity[rows] = novelty
    state.base_patience[rows] = base_patience
    state.patience[rows] = base_patience
    for name in _ZEROED_AT_START:
        getattr(state, name)[rows] = 0
    state.turns_since_instruction[rows] = 1 << 20


_ZEROED_AT_START = (
    "boredom", "familiarity", "novelty_state", "session_skips", "session_satisfaction",
    "session_turns", "seen_bits", "consumed_bits",
)  # fmt: skip


def _draw_users(
    n_users: int, catalog: Catalog, config: UserModelConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The random part of new users (float64): interests ``(n, K, d)``, interest bonus
    ``(n, K)``, novelty propensity and base patience ``(n,)``."""
    k, d = config.n_interests, catalog.embedding_dim
    topic_draws = rng.random((n_users, k))
    normals = rng.standard_normal((n_users, k, d))
    # Dirichlet(concentration) weights, drawn as normalised Gamma variates.
    gammas = rng.standard_gamma(config.interest_concentration, size=(n_users, k))
    interests = np.empty((n_users, k, d))
    weights = np.empty((n_users, k))
    _shape_users(
        topic_draws, normals, gammas, catalog.topic_share_cdf, catalog.topic_centroids,
        config.interest_spread / math.sqrt(d), interests, weights,
    )  # fmt: skip
    interest_bonus = config.interest_weight_scale * np.log(weights)
    novelty = rng.beta(config.novelty_propensity_a, config.novelty_propensity_b, size=n_users)
    base_patience = rng.uniform(config.patience_low, config.patience_high, size=n_users)
    return interests, interest_bonus, novelty, base_patience


@njit(cache=True)
def _shape_users(topic_draws, normals, gammas, topic_cdf, centroids, spread, interests, weights):
    """The arithmetic of :func:`_draw_users` (the same operations, in the same order, as
    ``searchsorted(topic_cdf, draw, side="right")``, ``centroid + normals * spread`` divided
    by its norm, and ``K * max(gamma / max(sum(gammas), 1e-300), 1e-6)``), without NumPy's
    per-call overhead: a reset of one user costs a few microseconds."""
    n_users, n_interests, dim = normals.shape
    n_topics = centroids.shape[0]
    squares = np.empty((1, dim))
    for user in range(n_users):
        for k in range(n_interests):
            draw = topic_draws[user, k]
            low, high = 0, topic_cdf.shape[0]
            while low < high:  # the first topic whose cumulative share exceeds the draw
                middle = (low + high) // 2
                if topic_cdf[middle] <= draw:
                    low = middle + 1
                else:
                    high = middle
            topic = min(low, n_topics - 1)
            for j in range(dim):
                value = centroids[topic, j] + normals[user, k, j] * spread
                interests[user, k, j] = value
                squares[0, j] = value * value
            norm = math.sqrt(pairwise_sum(squares, 0, dim))
            for j in range(dim):
                interests[user, k, j] /= norm
        total = max(pairwise_sum(gammas, user, n_interests), 1e-300)
        for k in range(n_interests):
            weights[user, k] = n_interests * max(gammas[user, k] / total, 1e-6)


def _params(config: UserModelConfig) -> np.ndarray:
    """The config as the flat float64 vector the compiled kernels read (indices ``_P_*``)."""
    values = [float(getattr(config, name)) for name in _PARAM_NAMES[:-1]]
    values.append(float(CHOICE_MODELS.index(config.choice_model)))
    return np.array(values, np.float64)


_PARAM_NAMES = (
    "affinity_scale", "quality_weight", "boredom_weight", "novelty_weight", "seen_penalty",
    "consumed_penalty", "no_click_utility", "continue_after_click", "continue_after_skip",
    "watch_sharpness", "watch_noise", "drift_rate", "boredom_gain", "boredom_decay",
    "familiarity_rate", "novelty_state_rate", "fatigue", "empty_turn_penalty", "patience_gain",
    "leave_prob", "instruction_threshold", "instruction_cooldown", "choice_model",
)  # fmt: skip
(
    _P_AFFINITY, _P_QUALITY, _P_BOREDOM, _P_NOVELTY, _P_SEEN, _P_CONSUMED, _P_NO_CLICK,
    _P_CONT_CLICK, _P_CONT_SKIP, _P_WATCH_SHARP, _P_WATCH_NOISE, _P_DRIFT, _P_BOREDOM_GAIN,
    _P_BOREDOM_DECAY, _P_FAMILIARITY, _P_NOVELTY_RATE, _P_FATIGUE, _P_EMPTY, _P_GAIN, _P_LEAVE,
    _P_THRESHOLD, _P_COOLDOWN, _P_CHOICE,
) = range(len(_PARAM_NAMES))  # fmt: skip
_MNL = float(CHOICE_MODELS.index("mnl"))


@njit(cache=True, inline="always")
def click_probability(margin: float) -> float:
    """Probability of clicking an examined item: ``sigmoid(utility - no_click_utility)``.

    ``margin`` is ``utility - no_click_utility``; the no-click option has utility 0 on that scale.
    """
    return 1.0 / (1.0 + math.exp(-margin))


@njit(cache=True, inline="always")
def watch_fraction(margin: float, noise: float, sharpness: float, noise_scale: float) -> float:
    """Fraction of a clicked item watched: ``sigmoid(sharpness * margin + noise_scale * noise)``."""
    return 1.0 / (1.0 + math.exp(-(sharpness * margin + noise_scale * noise)))


@njit(cache=True, inline="always")
def boredom_after(boredom: float, consumed_mass: float, decay: float, gain: float) -> float:
    """Topic boredom after a turn: ``decay * boredom + gain * consumed_mass``."""
    return decay * boredom + gain * consumed_mass


@njit(cache=True, inline="always")
def familiarity_after(familiarity: float, consumed_mass: float, rate: float) -> float:
    """Topic familiarity after a turn: ``1 - (1 - f) * exp(-rate * consumed_mass)``."""
    return 1.0 - (1.0 - familiarity) * math.exp(-rate * consumed_mass)


@njit(cache=True, inline="always")
def patience_after(
    patience: float, satisfaction: float, fatigue: float, empty_penalty: float, gain: float
) -> float:
    """Patience after a turn, in ``[0, 1]``.

    ``p - fatigue - empty_penalty * [satisfaction == 0] + gain * satisfaction``, with
    ``satisfaction`` the items watched this turn (sum of watch fractions).
    """
    value = patience - fatigue + gain * satisfaction
    if satisfaction <= 0.0:
        value -= empty_penalty
    return min(max(value, 0.0), 1.0)


@njit(cache=True, inline="always")
def _has_bit(bits: np.ndarray, user: int, item: int) -> bool:
    return (bits[user, item >> 3] >> (item & 7)) & 1 == 1


@njit(cache=True, inline="always")
def _set_bit(bits: np.ndarray, user: int, item: int) -> None:
    bits[user, item >> 3] |= np.uint8(1 << (item & 7))


@njit(cache=True, inline="always")
def _block_sum(values, row, start, n):
    """NumPy's pairwise summation of a block of at most 128 values (see :func:`pairwise_sum`)."""
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[row, i]
        return total
    r0 = values[row, start]
    r1 = values[row, start + 1]
    r2 = values[row, start + 2]
    r3 = values[row, start + 3]
    r4 = values[row, start + 4]
    r5 = values[row, start + 5]
    r6 = values[row, start + 6]
    r7 = values[row, start + 7]
    i = 8
    whole = n - n % 8
    while i < whole:
        b = start + i
        r0 += values[row, b]
        r1 += values[row, b + 1]
        r2 += values[row, b + 2]
        r3 += values[row, b + 3]
        r4 += values[row, b + 4]
        r5 += values[row, b + 5]
        r6 += values[row, b + 6]
        r7 += values[row, b + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[row, start + i]
        i += 1
    return total


@njit(cache=True)
def pairwise_sum(values: np.ndarray, row: int, n: int) -> float:
    """``values[row, :n].sum()`` added in NumPy's order, so the total is NumPy's to the last bit.

    NumPy sums a block of up to 128 values with eight running sums; a longer run is split in
    two (the first half a multiple of 8) and the halves' sums are added. The split is walked
    with an explicit stack (numba cannot cache a recursive function).
    """
    if n <= 128:
        return _block_sum(values, row, 0, n)
    depth = 64
    starts = np.empty(depth, np.int64)
    sizes = np.empty(depth, np.int64)
    stage = np.zeros(depth, np.int64)
    left = np.empty(depth)
    top = 0
    starts[0], sizes[0] = 0, n
    result = 0.0
    while top >= 0:
        start, size = starts[top], sizes[top]
        if size <= 128:
            result = _block_sum(values, row, start, size)
            top -= 1
            continue
        half = size // 2
        half -= half % 8
        if stage[top] == 0:
            stage[top] = 1
            top += 1
            starts[top], sizes[top], stage[top] = start, half, 0
        elif stage[top] == 1:
            left[top] = result
            stage[top] = 2
            top += 1
            starts[top], sizes[top], stage[top] = start + half, size - half, 0
        else:
            result = left[top] + result
            top -= 1
    return result


# Kernels take named tuples and unpack them once, at the top: numba reference-counts every
# array read out of a tuple, so a field read inside a per-user loop would cost an atomic
# increment and decrement each time. The inlined helpers take plain arrays.


@njit(cache=True, inline="always")
def _utility(
    user: int, item: int, interests, interest_bonus, boredom, familiarity, novelty_propensity,
    novelty_state, seen_bits, consumed_bits, embeddings, item_topics, quality, params,
):  # fmt: skip
    """Utility of one item for one user and the index of the interest closest to it."""
    best = -np.inf
    best_k = 0
    for k in range(interests.shape[1]):
        dot = interest_bonus[user, k]
        for j in range(embeddings.shape[1]):
            dot += embeddings[item, j] * interests[user, k, j]
        if dot > best:
            best = dot
            best_k = k
    bored = 0.0
    familiar = 0.0
    for t in range(item_topics.shape[1]):
        bored += item_topics[item, t] * boredom[user, t]
        familiar += item_topics[item, t] * familiarity[user, t]
    appetite = novelty_propensity[user] + novelty_state[user]
    value = (
        params[_P_AFFINITY] * best
        + params[_P_QUALITY] * (quality[item] - 0.5)
        - params[_P_BOREDOM] * bored
        + params[_P_NOVELTY] * appetite * (1.0 - familiar)
    )
    if _has_bit(seen_bits, user, item):
        value -= params[_P_SEEN]
    if _has_bit(consumed_bits, user, item):
        value -= params[_P_CONSUMED]
    return value, best_k


@njit(cache=True)
def _utilities_kernel(
    items: np.ndarray, out: np.ndarray, user_arrays: tuple, item_arrays: tuple, params: np.ndarray
) -> None:
    users, catalog = UserArrays(*user_arrays), ItemArrays(*item_arrays)
    interests, interest_bonus = users.interests, users.interest_bonus
    boredom, familiarity = users.boredom, users.familiarity
    novelty_propensity, novelty_state = users.novelty_propensity, users.novelty_state
    seen_bits, consumed_bits = users.seen_bits, users.consumed_bits
    embeddings, item_topics, quality = catalog.embeddings, catalog.item_topics, catalog.quality
    for user in range(items.shape[0]):
        for s in range(items.shape[1]):
            item = items[user, s]
            if item < 0:
                out[user, s] = -np.inf
            else:
                out[user, s] = _utility(
                    user, item, interests, interest_bonus, boredom, familiarity,
                    novelty_propensity, novelty_state, seen_bits, consumed_bits, embeddings,
                    item_topics, quality, params,
                )[0]  # fmt: skip


@njit(cache=True, inline="always")
def review_item(utility, click_draw, continue_draw, noise, params):
    """One examined position of the cascade: ``(clicked, watch_fraction, goes_on)``.

    The item is clicked iff ``click_draw < sigmoid(utility - no_click_utility)`` (an empty slot,
    ``utility = -inf``, never is); a clicked item is watched for :func:`watch_fraction` of it;
    the user goes on to the next position iff ``continue_draw`` is under
    ``continue_after_click`` (after a click) or ``continue_after_skip`` (after a skip).
    """
    margin = utility - params[_P_NO_CLICK]
    if utility > -np.inf and click_draw < click_probability(margin):
        watched = watch_fraction(margin, noise, params[_P_WATCH_SHARP], params[_P_WATCH_NOISE])
        return True, watched, continue_draw < params[_P_CONT_CLICK]
    return False, 0.0, continue_draw < params[_P_CONT_SKIP]


@njit(cache=True)
def cascade_review(utility, uniforms, normals, params, examined, clicks, watch):
    """The cascade review of one ranked list, given its random draws (writes the outputs).

    Args:
        utility: ``(S,)`` item utilities in ranked order (``-inf`` = empty slot).
        uniforms: ``(S, 2)`` uniforms: ``[:, 0]`` decides clicks, ``[:, 1]`` whether the user
            goes on to the next position.
        normals: ``(S,)`` standard normals for the watch-fraction noise.
        params: the flat config vector (:func:`kernel_params`).
        examined, clicks: ``(S,)`` bool outputs. watch: ``(S,)`` float output.

    Position 0 is always examined; each examined position is decided by :func:`review_item`.
    The turn kernel runs the same loop but computes an item's utility only once the user
    reaches it.
    """
    going_on = True
    for s in range(utility.shape[0]):
        examined[s] = going_on
        clicks[s] = False
        watch[s] = 0.0
        if going_on:
            clicks[s], watch[s], going_on = review_item(
                utility[s], uniforms[s, 0], uniforms[s, 1], normals[s], params
            )


@njit(cache=True, inline="always")
def _topic_preferences(user, interests, interest_bonus, boredom, centroids, params, out):
    """How much the user wants each topic now: best-interest affinity minus boredom."""
    for t in range(centroids.shape[0]):
        best = -np.inf
        for k in range(interests.shape[1]):
            dot = interest_bonus[user, k]
            for j in range(centroids.shape[1]):
                dot += centroids[t, j] * interests[user, k, j]
            best = max(best, dot)
        out[t] = params[_P_AFFINITY] * best - params[_P_BOREDOM] * boredom[user, t]


@njit(cache=True)
def _topic_preferences_kernel(
    user_arrays: tuple, centroids: np.ndarray, params: np.ndarray, out: np.ndarray
) -> None:
    users = UserArrays(*user_arrays)
    interests, interest_bonus, boredom = users.interests, users.interest_bonus, users.boredom
    for user in range(out.shape[0]):
        _topic_preferences(user, interests, interest_bonus, boredom, centroids, params, out[user])


@njit(cache=True, inline="always")
def _mnl_choose(
    user, items, interests, interest_bonus, boredom, familiarity, novelty_propensity,
    novelty_state, seen_bits, consumed_bits, embeddings, item_topics, quality, params, draw,
    normals, click_override, utilities, best_k, examined, clicks, watch,
):  # fmt: skip
    """The ``"mnl"`` choice of one user (writes the user's row of the outputs).

    Every shown slot is examined; the slot clicked is drawn by inverting the cumulative
    probabilities (no-click first, then the slots in order) at ``draw``, with probabilities
    :func:`slate_choice_probabilities`. Overrides (another decider's answer) keep the one-click
    rule: a slot forced to ``1`` is the click and no draw is made (the first such slot, should a
    caller force several; :func:`step_users` refuses that); a slot forced to ``0`` is left out of
    the draw, which picks among the other shown slots and no click.
    """
    n_slots = items.shape[1]
    top = params[_P_NO_CLICK]
    for s in range(n_slots):
        item = items[user, s]
        examined[user, s] = item >= 0
        clicks[user, s] = False
        watch[user, s] = 0.0
        if item < 0:
            utilities[s] = -np.inf
        else:
            utilities[s], best_k[s] = _utility(
                user, item, interests, interest_bonus, boredom, familiarity,
                novelty_propensity, novelty_state, seen_bits, consumed_bits, embeddings,
                item_topics, quality, params,
            )  # fmt: skip
            top = max(top, utilities[s])
    chosen = -1
    for s in range(n_slots):
        if click_override[user, s] == 1 and utilities[s] > -np.inf:
            chosen = s
            break
    if chosen < 0:
        total = math.exp(params[_P_NO_CLICK] - top)
        last = -1
        for s in range(n_slots):
            if utilities[s] > -np.inf and click_override[user, s] != 0:
                total += math.exp(utilities[s] - top)
                last = s
        target = draw * total
        running = math.exp(params[_P_NO_CLICK] - top)
        if target >= running:
            chosen = last  # what rounding leaves past the last slot belongs to the last slot
            for s in range(n_slots):
                if utilities[s] > -np.inf and click_override[user, s] != 0:
                    running += math.exp(utilities[s] - top)
                    if target < running:
                        chosen = s
                        break
    for s in range(n_slots):
        if s == chosen:
            clicks[user, s] = True
            watch[user, s] = watch_fraction(
                utilities[s] - params[_P_NO_CLICK], normals[user, s], params[_P_WATCH_SHARP],
                params[_P_WATCH_NOISE],
            )  # fmt: skip


def slate_choice_probabilities(utilities: np.ndarray, no_click_utility: float) -> np.ndarray:
    """``(..., S + 1)`` probabilities of the ``"mnl"`` choice model: column ``s < S`` is clicking
    slot ``s``, the last column no click. ``utilities`` is ``(..., S)`` with ``-inf`` for an
    empty slot (probability 0); each row sums to 1::

        p_s = exp(u_s) / (exp(no_click_utility) + sum_j exp(u_j))
    """
    values = np.asarray(utilities, dtype=np.float64)
    outside = np.full((*values.shape[:-1], 1), float(no_click_utility))
    logits = np.concatenate([values, outside], axis=-1)
    logits = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


@njit(cache=True, inline="always")
def _cascade_choose(
    user, items, interests, interest_bonus, boredom, familiarity, novelty_propensity,
    novelty_state, seen_bits, consumed_bits, embeddings, item_topics, quality, params, uniforms,
    normals, click_override, best_k, examined, clicks, watch,
):  # fmt: skip
    """The ``"cascade"`` review of one user's ranked list (writes the user's row of the outputs;
    see :func:`turn_users` for the overrides)."""
    n_slots = items.shape[1]
    going_on = True
    for s in range(n_slots):
        examined[user, s] = going_on
        clicks[user, s] = False
        watch[user, s] = 0.0
        if not going_on:
            continue
        item = items[user, s]
        if item < 0:
            value = -np.inf
        else:
            value, best_k[s] = _utility(
                user, item, interests, interest_bonus, boredom, familiarity,
                novelty_propensity, novelty_state, seen_bits, consumed_bits, embeddings,
                item_topics, quality, params,
            )  # fmt: skip
        decision = click_override[user, s]
        if decision < 0:
            clicks[user, s], watch[user, s], going_on = review_item(
                value, uniforms[user, 2 * s], uniforms[user, 2 * s + 1], normals[user, s],
                params,
            )  # fmt: skip
        elif decision == 1 and value > -np.inf:
            margin = value - params[_P_NO_CLICK]
            clicks[user, s] = True
            watch[user, s] = watch_fraction(
                margin, normals[user, s], params[_P_WATCH_SHARP], params[_P_WATCH_NOISE]
            )
            going_on = True
        else:
            going_on = True


@njit(cache=True)
def turn_kernel(
    items: np.ndarray,
    draws: TurnDraws,
    users: UserArrays,
    catalog: ItemArrays,
    params: np.ndarray,
    overrides: Overrides,
    out: TurnOutcome,
) -> None:
    """The user model's turn for every user (see :func:`step_users`, its Python entry point).

    :func:`turn_users` over all the rows of ``items``.
    """
    turn_users(0, items.shape[0], items, draws, users, catalog, params, overrides, out)


@njit(cache=True)
def turn_users(
    start: int,
    stop: int,
    items: np.ndarray,
    draws: TurnDraws,
    users: UserArrays,
    catalog: ItemArrays,
    params: np.ndarray,
    overrides: Overrides,
    out: TurnOutcome,
) -> None:
    """The user model's turn for the users ``start <= user < stop`` (see :func:`turn_kernel`).

    It reads and writes only those users' rows (its scratch is its own), so disjoint ranges can
    run at once on several threads and give the same arrays as one serial call.

    Reads ``items`` ``(n, S)`` (``-1`` = empty slot), the turn's ``draws``, the ``catalog`` and
    the flat ``params`` (:func:`kernel_params`); updates ``users`` in place and writes ``out``.

    The choice follows ``params``' choice model: the cascade review (below) or the multinomial
    logit over the slate and the no-click option (:func:`slate_choice_probabilities`; at most one
    click, drawn with ``draws.uniforms[user, 0]``).

    ``overrides`` let another decider (an LLM user) take decisions: ``-1`` leaves the slot (or
    the leaving) to the latent model; ``0``/``1`` force a skip/click (or staying/leaving). An
    overridden slot counts as examined and the review goes on past it (the decider read the whole
    list); a forced click on an empty slot is no click. The transition is the same either way, so
    the latent state follows the decisions.
    """
    interests, interest_bonus = users.interests, users.interest_bonus
    boredom, familiarity = users.boredom, users.familiarity
    novelty_propensity, novelty_state = users.novelty_propensity, users.novelty_state
    patience, session_skips = users.patience, users.session_skips
    session_satisfaction, session_turns = users.session_satisfaction, users.session_turns
    turns_since_instruction = users.turns_since_instruction
    seen_bits, consumed_bits = users.seen_bits, users.consumed_bits
    embeddings, item_topics = catalog.embeddings, catalog.item_topics
    quality, centroids = catalog.quality, catalog.topic_centroids
    uniforms, normals, leave_draws = draws.uniforms, draws.normals, draws.leave
    click_override, leave_override = overrides.click, overrides.leave
    examined, clicks, watch = out.examined, out.clicks, out.watch_fraction
    satisfaction, left, instructed = out.satisfaction, out.left, out.instructed
    more_of, less_of = out.more_of, out.less_of
    n_slots = items.shape[1]
    n_interests, dim = interests.shape[1], interests.shape[2]
    n_topics = item_topics.shape[1]
    best_k = np.zeros(n_slots, np.int64)
    delta = np.empty((n_interests, dim))
    consumed = np.empty(n_topics)
    skipped = np.empty(n_topics)
    preference = np.empty(n_topics)
    utilities = np.empty(n_slots)
    mnl = params[_P_CHOICE] == _MNL
    for user in range(start, stop):
        if mnl:
            _mnl_choose(
                user, items, interests, interest_bonus, boredom, familiarity,
                novelty_propensity, novelty_state, seen_bits, consumed_bits, embeddings,
                item_topics, quality, params, uniforms[user, 0], normals, click_override,
                utilities, best_k, examined, clicks, watch,
            )  # fmt: skip
        else:
            _cascade_choose(
                user, items, interests, interest_bonus, boredom, familiarity,
                novelty_propensity, novelty_state, seen_bits, consumed_bits, embeddings,
                item_topics, quality, params, uniforms, normals, click_override, best_k,
                examined, clicks, watch,
            )  # fmt: skip

        delta[:] = 0.0
        consumed[:] = 0.0
        skipped[:] = 0.0
        mass = 0.0
        for s in range(n_slots):
            item = items[user, s]
            if item < 0:
                continue
            _set_bit(seen_bits, user, item)
            if clicks[user, s]:
                w = watch[user, s]
                mass += w
                _set_bit(consumed_bits, user, item)
                k = best_k[s]
                for j in range(dim):
                    delta[k, j] += (
                        params[_P_DRIFT] * w * (embeddings[item, j] - interests[user, k, j])
                    )
                for t in range(n_topics):
                    consumed[t] += w * item_topics[item, t]
            elif examined[user, s]:
                for t in range(n_topics):
                    skipped[t] += item_topics[item, t]
        if mass > 0.0:
            for k in range(n_interests):
                norm = 0.0
                for j in range(dim):
                    interests[user, k, j] += delta[k, j]
                    norm += interests[user, k, j] ** 2
                norm = math.sqrt(norm)
                for j in range(dim):
                    interests[user, k, j] /= norm
            repetition = 0.0
            for t in range(n_topics):
                repetition += consumed[t] * familiarity[user, t]
            rate = params[_P_NOVELTY_RATE]
            novelty_state[user] = (1.0 - rate) * novelty_state[user] + rate * repetition / mass
        for t in range(n_topics):
            boredom[user, t] = boredom_after(
                boredom[user, t], consumed[t], params[_P_BOREDOM_DECAY], params[_P_BOREDOM_GAIN]
            )
            if consumed[t] > 0.0:
                familiarity[user, t] = familiarity_after(
                    familiarity[user, t], consumed[t], params[_P_FAMILIARITY]
                )
            session_skips[user, t] = params[_P_BOREDOM_DECAY] * session_skips[user, t] + skipped[t]

        satisfaction[user] = mass
        patience[user] = patience_after(
            patience[user], mass, params[_P_FATIGUE], params[_P_EMPTY], params[_P_GAIN]
        )
        session_turns[user] += 1
        session_satisfaction[user] += mass
        turns_since_instruction[user] += 1
        if leave_override[user] < 0:
            left[user] = patience[user] <= 0.0 or leave_draws[user] < params[_P_LEAVE]
        else:
            left[user] = leave_override[user] == 1
        instructed[user] = (
            not left[user]
            and patience[user] < params[_P_THRESHOLD]
            and turns_since_instruction[user] > params[_P_COOLDOWN]
        )
        more_of[user] = -1
        less_of[user] = -1
        if instructed[user]:
            _topic_preferences(
                user, interests, interest_bonus, boredom, centroids, params, preference
            )
            more = np.argmax(preference)
            fed_up = -np.inf
            less = -1
            for t in range(n_topics):
                value = session_skips[user, t] + boredom[user, t]
                if t != more and value > fed_up:
                    fed_up = value
                    less = t
            more_of[user] = more
            less_of[user] = less
            turns_since_instruction[user] = 0


@njit(cache=True)
def _turn_of_tuples(items, draws, users, catalog, params, overrides, out):
    """:func:`turn_kernel` called with plain tuples in place of the named tuples."""
    turn_kernel(
        items, TurnDraws(*draws), UserArrays(*users), ItemArrays(*catalog), params,
        Overrides(*overrides), TurnOutcome(*out),
    )  # fmt: skip


# The Python entry points pass plain tuples: numba types a plain tuple of arrays in its C
# dispatcher but a named tuple in Python, field by field, which costs microseconds a call. The
# kernels make the named tuples back (for free) and read the fields by name.


def item_utilities(
    state: LatentUserState, catalog: Catalog, items: np.ndarray, config: UserModelConfig
) -> np.ndarray:
    """``(n, m)`` utility of items ``(n, m)`` (item rows, ``-1`` = empty, giving ``-inf``).

    ``utility = affinity_scale * max_k(cos(item, interest_k) + interest_bonus_k)
    + quality_weight * (quality - 0.5) - boredom_weight * (topics . boredom)
    + novelty_weight * (novelty_propensity + novelty_state) * (1 - topics . familiarity)
    - seen_penalty * [shown this session] - consumed_penalty * [consumed before]``.
    The click probability of an examined item is ``sigmoid(utility - no_click_utility)``.
    """
    items = np.ascontiguousarray(items, dtype=np.int64)
    out = np.empty(items.shape, np.float64)
    _utilities_kernel(items, out, _user_arrays(state), _item_arrays(catalog), kernel_params(config))
    return out


@lru_cache(maxsize=64)
def kernel_params(config: UserModelConfig) -> np.ndarray:
    """The read-only flat parameter vector of ``config`` that the compiled kernels take."""
    params = _params(config)
    params.setflags(write=False)
    return params


class TurnOutcome(NamedTuple):
    """What happened to a batch of users in one turn (arrays over users, slots)."""

    examined: np.ndarray
    """``(n, S)`` bool, the user looked at the slot."""
    clicks: np.ndarray
    """``(n, S)`` bool."""
    watch_fraction: np.ndarray
    """``(n, S)`` fraction of each clicked item watched, 0 where not clicked."""
    satisfaction: np.ndarray
    """``(n,)`` watched items this turn (sum of watch fractions)."""
    left: np.ndarray
    """``(n,)`` bool, the user ended the session this turn."""
    instructed: np.ndarray
    """``(n,)`` bool, the user emitted a reflective instruction this turn."""
    more_of: np.ndarray
    """``(n,)`` topic index to see more of, ``-1`` where no instruction."""
    less_of: np.ndarray
    """``(n,)`` topic index to see less of, ``-1`` where no instruction."""

    @classmethod
    def empty(cls, n_users: int, slate_size: int) -> TurnOutcome:
        """Uninitialised output arrays for ``n_users`` users shown ``slate_size`` slots."""
        n, s = n_users, slate_size
        return cls(
            np.empty((n, s), np.bool_), np.empty((n, s), np.bool_), np.empty((n, s)),
            np.empty(n), np.empty(n, np.bool_), np.empty(n, np.bool_), np.empty(n, np.int64),
            np.empty(n, np.int64),
        )  # fmt: skip


def check_override(override: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A decision override as a contiguous int8 array of ``shape`` with entries in {-1, 0, 1}
    (``None`` = all ``-1``, the latent model decides); ``ValueError`` naming anything else."""
    if override is None:
        return np.full(shape, -1, np.int8)
    array = np.asarray(override)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if array.dtype.kind not in "iub":
        raise ValueError(f"{name} has dtype {array.dtype}; entries must be -1, 0 or 1")
    bad = ~np.isin(array, (-1, 0, 1))
    if bad.any():
        raise ValueError(f"{name} entry {array.reshape(-1)[bad.reshape(-1)][0]} is not -1, 0 or 1")
    return np.ascontiguousarray(array, dtype=np.int8)


def step_users(
    state: LatentUserState,
    catalog: Catalog,
    items: np.ndarray,
    config: UserModelConfig,
    rng: np.random.Generator,
    *,
    click_override: np.ndarray | None = None,
    leave_override: np.ndarray | None = None,
) -> TurnOutcome:
    """One turn for every user of ``state`` shown ``items`` (``(n, S)`` item rows, ``-1`` empty).

    Per user: utilities, the cascade review, the transition (drift, boredom, familiarity,
    novelty appetite, skips, seen/consumed sets), patience, leaving and the reflective
    instruction, as described in the module docstring. Updates ``state`` in place. The random
    draws are ``rng.random((n, S, 2))``, ``rng.standard_normal((n, S))`` and ``rng.random(n)``,
    in that order.

    Within a turn, drift is simultaneous: every consumed item pulls its nearest interest as it
    was before the turn; the interest is renormalised once.

    ``click_override`` (``(n, S)``) and ``leave_override`` (``(n,)``), with ``-1`` (the latent
    model decides), ``0`` (skip / stay) or ``1`` (click / leave) per entry, hand decisions to
    another decider such as an LLM user; the state is updated from those decisions (see
    :func:`turn_kernel`). The random draws are the same either way. With
    ``choice_model="mnl"`` a forced click is the user's one click of the slate (a row forcing
    more than one raises ``ValueError``) and a forced skip takes its slot out of the choice.
    """
    items = np.ascontiguousarray(items, dtype=np.int64)
    n, s = items.shape
    click_override = check_override(click_override, (n, s), "click_override")
    if config.choice_model == "mnl":
        forced = (click_override == 1).sum(axis=1)
        if (forced > 1).any():
            user = int(np.flatnonzero(forced > 1)[0])
            raise ValueError(
                f"click_override forces {int(forced[user])} clicks for user row {user}; with "
                "choice_model='mnl' a user clicks one item of a slate or none"
            )
    leave_override = check_override(leave_override, (n,), "leave_override")
    uniforms = rng.random((n, s, 2))
    normals = rng.standard_normal((n, s))
    leave_draws = rng.random(n)
    outcome = TurnOutcome.empty(n, s)
    _turn_of_tuples(
        items, (uniforms.reshape(n, 2 * s), normals, leave_draws), _user_arrays(state),
        _item_arrays(catalog), kernel_params(config), (click_override, leave_override),
        tuple(outcome),
    )  # fmt: skip
    return outcome


def topic_preferences(
    state: LatentUserState, catalog: Catalog, config: UserModelConfig
) -> np.ndarray:
    """``(n, T)`` how much each user wants each topic now (the hidden truth behind ``more_of``)."""
    out = np.empty((state.n_users, catalog.n_topics))
    _topic_preferences_kernel(
        _user_arrays(state), catalog.topic_centroids, kernel_params(config), out
    )
    return out


def return_hazard(mean_satisfaction: np.ndarray, config: UserModelConfig) -> np.ndarray:
    """Daily return hazard given a session's mean satisfaction (watched items per turn)."""
    exponent = config.return_sensitivity * (mean_satisfaction - config.satisfaction_reference)
    return config.return_rate * np.exp(exponent)


def draw_return_gap(
    state: LatentUserState, rows: np.ndarray, config: UserModelConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Days until the users at ``rows`` return, drawn from :func:`return_hazard`.

    Returns ``(gap_days, churned)``; ``churned`` is true where the gap exceeds ``churn_days``.
    """
    turns = np.maximum(state.session_turns[rows], 1)
    mean_satisfaction = state.session_satisfaction[rows] / turns
    gap = rng.exponential(1.0, size=len(rows)) / return_hazard(mean_satisfaction, config)
    return gap.astype(np.float32), gap > config.churn_days


def begin_session(
    state: LatentUserState, rows: np.ndarray, gap_days: np.ndarray, config: UserModelConfig
) -> None:
    """Start a new session for the users at ``rows`` after ``gap_days`` away.

    Boredom and familiarity decay with the time away; patience, novelty appetite, skips, the
    session counters and the seen-this-session set reset. Interests and consumed items persist.
    """
    gap = np.asarray(gap_days, np.float32)[:, None]
    state.boredom[rows] *= np.exp(-gap / config.boredom_recovery_days)
    state.familiarity[rows] *= np.exp(-gap / config.familiarity_memory_days)
    state.patience[rows] = state.base_patience[rows]
    state.novelty_state[rows] = 0.0
    state.session_skips[rows] = 0.0
    state.session_satisfaction[rows] = 0.0
    state.session_turns[rows] = 0
    state.turns_since_instruction[rows] = 1 << 20
    state.seen_bits[rows] = 0
