"""Fidelity metrics: how well a simulator's choice distribution matches users' real choices.

Pure numpy functions of an ``(n_scenes, n_choices)`` probability array and the position of the
real item in each scene. Every definition is deterministic: ties and bins follow fixed rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recoworld.evaluation.metrics import mean_ci95

__all__ = [
    "ECE_BINS",
    "LOG_FLOOR",
    "ReliabilityBins",
    "accuracy_by_tercile",
    "activity_terciles",
    "check_probabilities",
    "expected_calibration_error",
    "log_likelihood_ci95",
    "log_likelihoods",
    "scene_accuracy",
    "wilson_ci95",
]

LOG_FLOOR = 1e-12
"""Probabilities of the real choice are floored here before the log, so a simulator that rules
the real item out scores ``log(1e-12) = -27.6`` for that scene instead of minus infinity."""

ECE_BINS = 10
"""Equal-width bins of the top choice's probability on ``[0, 1]`` for calibration."""

_TIE_TOLERANCE = 1e-12
_Z95 = 1.959963984540054


def check_probabilities(probabilities: np.ndarray, n_scenes: int, n_choices: int) -> np.ndarray:
    """``probabilities`` as float64 if it is ``(n_scenes, n_choices)``, finite, non-negative with
    rows summing to 1 (within 1e-6); else ``ValueError`` saying which check failed and where."""
    array = np.asarray(probabilities, dtype=np.float64)
    if array.shape != (n_scenes, n_choices):
        raise ValueError(
            f"probabilities have shape {array.shape}, expected ({n_scenes}, {n_choices})"
        )
    if not np.all(np.isfinite(array)) or (array.size and float(array.min()) < 0.0):
        row = int(np.argmax(~np.isfinite(array).all(axis=1) | (array < 0).any(axis=1)))
        raise ValueError(f"probabilities of scene {row} are negative or not finite: {array[row]}")
    sums = array.sum(axis=1)
    bad = np.abs(sums - 1.0) > 1e-6
    if np.any(bad):
        row = int(np.argmax(bad))
        raise ValueError(f"probabilities of scene {row} sum to {sums[row]!r}, not 1")
    return array


def scene_accuracy(probabilities: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """``(n,)`` expected accuracy of each scene when ties for the top probability are broken
    uniformly: ``1 / k`` if the real item is one of the ``k`` listed items whose probability
    equals the row's maximum (within 1e-12), else 0. A uniform simulator scores exactly
    ``1 / n_choices`` everywhere, with no random draw.

    >>> scene_accuracy(np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1]]), np.array([0, 0]))
    array([0.5, 0. ])
    """
    p = np.asarray(probabilities, dtype=np.float64)
    top = p >= p.max(axis=1, keepdims=True) - _TIE_TOLERANCE
    hit = top[np.arange(len(p)), np.asarray(answers)]
    return hit / top.sum(axis=1)


def log_likelihoods(probabilities: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """``(n,)`` natural log of each scene's probability of the real choice, floored at
    :data:`LOG_FLOOR`."""
    p = np.asarray(probabilities, dtype=np.float64)[np.arange(len(answers)), np.asarray(answers)]
    return np.log(np.maximum(p, LOG_FLOOR))


def wilson_ci95(values: np.ndarray) -> tuple[float, float]:
    """Wilson score 95% interval of the mean of per-scene values in ``[0, 1]``.

    The mean is the proportion ``p`` and the number of values ``n`` (fractional values come from
    ties; they count as their expected hit)::

        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n),   z = 1.96

    Unlike the normal interval it stays inside ``[0, 1]`` and is not empty at ``p = 0`` or 1.
    No values give ``(nan, nan)``.

    >>> tuple(round(v, 4) for v in wilson_ci95(np.array([1.0, 0.0, 0.0, 0.0])))
    (0.0456, 0.6994)
    """
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    p = float(np.mean(values))
    z2 = _Z95 * _Z95
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = _Z95 * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denominator
    return (max(centre - half, 0.0), min(centre + half, 1.0))


@dataclass(frozen=True)
class ReliabilityBins:
    """The reliability diagram behind the ECE: per bin of the top choice's probability.

    Attributes:
        edges: ``(ECE_BINS + 1,)`` bin edges on ``[0, 1]``.
        counts: ``(ECE_BINS,)`` scenes whose top probability falls in the bin.
        confidence: ``(ECE_BINS,)`` mean top probability of those scenes (``nan`` when empty).
        accuracy: ``(ECE_BINS,)`` their mean expected accuracy (``nan`` when empty).
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    def to_dict(self) -> dict[str, list[float | int | None]]:
        """JSON-safe lists (``None`` for empty bins)."""

        def clean(array: np.ndarray) -> list[float | int | None]:
            return [None if isinstance(v, float) and math.isnan(v) else v for v in array.tolist()]

        return {
            "edges": clean(self.edges),
            "counts": clean(self.counts),
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
        }


def expected_calibration_error(
    probabilities: np.ndarray, answers: np.ndarray, bins: int = ECE_BINS
) -> tuple[float, ReliabilityBins]:
    """Expected calibration error of the top choice and its reliability bins.

    Each scene's confidence is its largest probability and its correctness its
    :func:`scene_accuracy`; scenes fall in ``bins`` equal-width bins of confidence
    (``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]``), and
    ``ECE = sum over bins of (n_bin / n) * |mean accuracy - mean confidence|``.

    >>> ece, _ = expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
    >>> round(ece, 6)
    0.4
    """
    p = np.asarray(probabilities, dtype=np.float64)
    confidence = p.max(axis=1)
    correct = scene_accuracy(p, answers)
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / counts
        mean_accuracy = np.bincount(index, weights=correct, minlength=bins) / counts
    filled = counts > 0
    n = len(p)
    ece = (
        float(np.sum(counts[filled] / n * np.abs(mean_accuracy[filled] - mean_confidence[filled])))
        if n
        else math.nan
    )
    return ece, ReliabilityBins(
        edges=np.linspace(0.0, 1.0, bins + 1),
        counts=counts,
        confidence=mean_confidence,
        accuracy=mean_accuracy,
    )


def activity_terciles(activity: np.ndarray) -> np.ndarray:
    """``(n,)`` tercile of each scene's user activity: 0 low, 1 mid, 2 high.

    With ``q1, q2`` the 1/3 and 2/3 quantiles of ``activity`` (numpy's linear interpolation):
    low is ``activity <= q1``, mid ``q1 < activity <= q2``, high ``activity > q2``. Ties keep
    equal activities together, so a tercile may hold more or fewer than a third, or none.

    >>> activity_terciles(np.array([1, 2, 3, 4, 5, 6]))
    array([0, 0, 1, 1, 2, 2])
    """
    values = np.asarray(activity, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    q1, q2 = np.quantile(values, [1 / 3, 2 / 3])
    return (values > q1).astype(np.int64) + (values > q2).astype(np.int64)


def accuracy_by_tercile(
    accuracy: np.ndarray, activity: np.ndarray
) -> dict[str, tuple[float, float, float, int]]:
    """``{"low"|"mid"|"high": (mean, ci_low, ci_high, n)}`` of per-scene accuracy by the user's
    activity tercile (:func:`activity_terciles`); Wilson intervals, ``nan`` for an empty tercile."""
    terciles = activity_terciles(activity)
    result: dict[str, tuple[float, float, float, int]] = {}
    for index, name in enumerate(("low", "mid", "high")):
        values = np.asarray(accuracy)[terciles == index]
        mean = float(values.mean()) if len(values) else math.nan
        lo, hi = wilson_ci95(values)
        result[name] = (mean, lo, hi, len(values))
    return result


def log_likelihood_ci95(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and Student-t 95% interval of per-scene log-likelihoods
    (:func:`recoworld.evaluation.metrics.mean_ci95`)."""
    return mean_ci95(values)
