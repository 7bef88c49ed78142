"""Conversational-recommendation metrics (SR@k, AT, hDCG) of ``ConvRec-v0`` runs.

The definitions follow the published SCPR/UNICORN evaluation. An episode's *success turn* is
the turn ``t`` (1-based, ``info["turn"]``) whose recommendation the user accepted, or -1 when
the user quit. With ``T = max_turns`` (15):

* ``SR@k`` = fraction of episodes with a success at turn ``t <= k`` (k = 5, 10, 15).
* ``AT`` = mean number of turns, a failure counting ``T`` (SCPR: ``AvgT += t + 1`` with ``t``
  its 0-based step index; the quitting step of a failure is step ``T - 1``).
* ``hDCG`` = mean over **all** episodes (a failure contributes 0) of::

      1 / log2(t + 2) + (1 / log2(t + 1) - 1 / log2(t + 2)) / log2(r + 1)

  with ``t`` the 1-based success turn and ``r`` the 1-based rank of the target in the accepted
  list (UNICORN's hDCG@(T, K), with the success turn written 1-based). When the ranks are not
  given every success counts as rank 1, and the term is ``1 / log2(t + 1)`` — SCPR's
  ``1 / log2(t0 + 2)`` with ``t0 = t - 1`` the 0-based turn, which is what SCPR's code computes
  because its user always reports rank 1.

Every metric comes with a two-sided 95% Student-t interval over episodes
(:func:`~recoworld.evaluation.metrics.mean_ci95`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recoworld.evaluation.metrics import mean_ci95

__all__ = ["CONVREC_METRICS", "SR_TURNS", "convrec_metrics"]

SR_TURNS: tuple[int, ...] = (5, 10, 15)
"""The turn cut-offs ``k`` of the reported success rates SR@k."""

CONVREC_METRICS: dict[str, str] = {
    "SR@5": "fraction of conversations that succeed within 5 turns",
    "SR@10": "fraction of conversations that succeed within 10 turns",
    "SR@15": "fraction of conversations that succeed within 15 turns",
    "AT": "average turns per conversation, a failure counting max_turns",
    "hDCG": "mean of 1/log2(t+2) + (1/log2(t+1) - 1/log2(t+2))/log2(r+1) (t: success turn, "
    "r: rank; failure 0)",
    "return": "sum of rewards over the conversation",
}
"""Metrics of a ``ConvRec-v0`` evaluation, with their definitions (see the module docstring)."""


def convrec_metrics(
    success_turns: np.ndarray | list[int],
    max_turns: int = 15,
    success_ranks: np.ndarray | list[int] | None = None,
) -> dict[str, tuple[float, float, float]]:
    """SR@5, SR@10, SR@15, AT and hDCG of a set of conversations, each as (mean, lo, hi).

    Args:
        success_turns: ``(n,)`` the 1-based success turn of each conversation, -1 for a
            failure; a success turn lies in ``1..max_turns``.
        max_turns: ``T``, the turns a failure counts for AT.
        success_ranks: ``(n,)`` optional 1-based rank of the target in the accepted list
            (ignored for failures); without it every success counts as rank 1.

    Returns:
        metric name -> ``(mean, lo, hi)``, the mean and its 95% Student-t interval.

    >>> metrics = convrec_metrics([1, 3, -1])
    >>> metrics["SR@5"][0], metrics["AT"][0], round(metrics["hDCG"][0], 4)
    (0.6666666666666666, 6.333333333333333, 0.5)
    """
    if isinstance(max_turns, bool) or not isinstance(max_turns, int | np.integer) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r} must be a positive integer")
    turns = _int_vector(success_turns, "success_turns")
    failed = turns == -1
    bad = np.flatnonzero(~failed & ((turns < 1) | (turns > max_turns)))
    if bad.size:
        raise ValueError(
            f"success_turns[{int(bad[0])}] = {int(turns[bad[0]])} is neither -1 (failure) nor a "
            f"turn in 1..{max_turns}"
        )
    if success_ranks is None:
        ranks = np.ones_like(turns)
    else:
        ranks = _int_vector(success_ranks, "success_ranks")
        if ranks.shape != turns.shape:
            raise ValueError(
                f"success_ranks has shape {ranks.shape}, success_turns has {turns.shape}"
            )
        bad = np.flatnonzero(~failed & (ranks < 1))
        if bad.size:
            raise ValueError(
                f"success_ranks[{int(bad[0])}] = {int(ranks[bad[0]])} is not a 1-based rank"
            )
    success = ~failed
    t = np.where(success, turns, 1).astype(np.float64)
    r = np.where(success, ranks, 1).astype(np.float64)
    gain = 1.0 / np.log2(t + 2.0) + (1.0 / np.log2(t + 1.0) - 1.0 / np.log2(t + 2.0)) / np.log2(
        r + 1.0
    )
    per_episode = {
        **{f"SR@{k}": (success & (turns <= k)).astype(np.float64) for k in SR_TURNS},
        "AT": np.where(success, turns, max_turns).astype(np.float64),
        "hDCG": np.where(success, gain, 0.0),
    }
    return {name: mean_ci95(values) for name, values in per_episode.items()}


def _int_vector(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; there is no conversation to score")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            bad = int(np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))[0])
            raise ValueError(f"{name}[{bad}] = {float(array[bad])!r} is not an integer")
    elif array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)
