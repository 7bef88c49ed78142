"""Recommendation metrics and confidence intervals: pure, vectorized numpy functions.

Every function takes plain arrays (item rows, embeddings, exposure counts, per-episode values)
and knows nothing of environments or agents, so the same definitions serve
:func:`recoworld.evaluation.evaluate`, benchmarks and user code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def mean_ci95(values: np.ndarray | list[float]) -> tuple[float, float, float]:
    """Mean and two-sided 95% Student-t confidence interval of the mean.

    With ``n`` values, sample mean ``m`` and sample standard deviation ``s`` (``ddof=1``)::

        half_width = t_{0.975, n-1} * s / sqrt(n)
        (mean, lo, hi) = (m, m - half_width, m + half_width)

    NaN entries mark values that are undefined (for instance the return gap of an episode in
    which no session ended) and are dropped first. One remaining value gives ``(x, x, x)``; none
    gives ``(nan, nan, nan)``.

    >>> mean_ci95([2.0])
    (2.0, 2.0, 2.0)
    >>> tuple(round(v, 4) for v in mean_ci95([1.0, 2.0, 3.0]))
    (2.0, -0.4841, 4.4841)
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    n = array.size
    if n == 0:
        return (float("nan"), float("nan"), float("nan"))
    mean = float(array.mean())
    if n == 1:
        return (mean, mean, mean)
    half_width = float(stats.t.ppf(0.975, n - 1) * array.std(ddof=1) / np.sqrt(n))
    return (mean, mean - half_width, mean + half_width)


def intra_list_diversity(embeddings: np.ndarray) -> np.ndarray | float:
    """Intra-list diversity: mean pairwise cosine distance ``1 - cos(e_i, e_j)`` within a slate.

    ``embeddings`` is ``(S, d)`` for one slate or ``(..., S, d)`` for a batch of slates (for
    instance ``(turns, S, d)``). An *empty* slot (a wasted slot, shown as item ``-1``) is a row of
    zeros or NaNs and is left out. Over the ``k`` non-empty slots of a slate::

        ILD = (2 / (k (k - 1))) * sum_{i < j} (1 - e_i . e_j / (|e_i| |e_j|))

    so two orthogonal items give 1, identical items 0, opposite items 2. A slate with fewer than
    two non-empty slots has no pairs and gives NaN. Returns a float for one slate and an array
    shaped like the batch dimensions otherwise.

    >>> float(intra_list_diversity(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])))
    1.0
    """
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim < 2:
        raise ValueError(f"embeddings must be (S, d) or (..., S, d); got shape {array.shape}")
    array = np.nan_to_num(array, nan=0.0)
    norms = np.linalg.norm(array, axis=-1)
    filled = norms > 0
    unit = array / np.where(filled, norms, 1.0)[..., None]
    cosine = unit @ np.swapaxes(unit, -1, -2)
    pair = filled[..., :, None] & filled[..., None, :]
    k = filled.sum(axis=-1)
    # The diagonal contributes 1 - 1 = 0 for every filled slot, so summing over all ordered pairs
    # and dividing by k (k - 1) is the mean over unordered pairs i < j.
    distance_sum = np.where(pair, 1.0 - cosine, 0.0).sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ild = np.where(k >= 2, distance_sum / (k * (k - 1)), np.nan)
    return float(ild) if ild.ndim == 0 else ild


def novelty(items: np.ndarray, popularity: np.ndarray) -> float:
    """Mean self-information ``-log2(popularity[item])`` of the shown items, in bits.

    ``items`` are catalog rows (any shape); entries ``< 0`` are empty slots and are left out.
    ``popularity`` is ``(n_items,)``, the probability of each item (positive, sums to 1). An
    item with popularity 1/4 carries 2 bits; rarer items carry more. No items gives NaN.

    >>> novelty(np.array([0, -1]), np.array([0.25, 0.75]))
    2.0
    """
    rows = np.asarray(items).ravel()
    rows = rows[rows >= 0]
    if rows.size == 0:
        return float("nan")
    return float(-np.log2(np.asarray(popularity, dtype=np.float64)[rows]).mean())


def catalog_coverage(exposure_counts: np.ndarray) -> float:
    """Fraction of the catalog shown at least once: ``mean(exposure_counts > 0)``.

    ``exposure_counts`` is ``(n_items,)``, how many times each item was shown.

    >>> catalog_coverage(np.array([3, 0, 1, 0]))
    0.5
    """
    counts = np.asarray(exposure_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(
            f"exposure_counts must be a non-empty (n_items,) array; got {counts.shape}"
        )
    return float((counts > 0).mean())


def gini(exposure_counts: np.ndarray) -> float:
    """Gini coefficient of item exposure: 0 when every item is shown equally often.

    With the ``n`` counts sorted ascending, ``x_(1) <= ... <= x_(n)`` (1-based ranks ``i``)::

        G = sum_i (2 i - n - 1) x_(i) / (n * sum_i x_(i))

    This is the mean absolute difference between all pairs of items divided by twice the mean.
    It is 0 for equal exposure and ``(n - 1) / n`` when a single item gets every exposure (0.75
    for ``[0, 0, 0, 4]``). Items never shown count (as zeros), so a recommender that ignores
    most of the catalog scores high. All-zero counts give NaN.

    >>> gini(np.array([0, 0, 0, 4]))
    0.75
    """
    counts = np.sort(np.asarray(exposure_counts, dtype=np.float64).ravel())
    n = counts.size
    total = counts.sum()
    if n == 0 or total <= 0:
        return float("nan")
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(((2.0 * ranks - n - 1.0) * counts).sum() / (n * total))


def bootstrap_ci95(
    per_episode_data: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    rng: np.random.Generator,
    n_resamples: int = 1000,
) -> tuple[float, float]:
    """Percentile-bootstrap 95% interval of a statistic defined over a whole run.

    Metrics such as coverage and Gini are computed from all episodes together, so they have no
    per-episode sample to put a t-interval on. Instead, episodes are resampled with replacement:
    each of ``n_resamples`` resamples draws ``E`` rows of ``per_episode_data`` (``(E, ...)``, one
    row per episode, e.g. ``(E, n_items)`` exposure counts), and ``statistic`` maps the resampled
    ``(E, ...)`` array to a number. The interval is the 2.5th and 97.5th percentiles of those
    numbers (NaN resamples ignored). Randomness comes only from ``rng``.
    """
    data = np.asarray(per_episode_data)
    if data.ndim == 0 or data.shape[0] == 0:
        raise ValueError(f"per_episode_data needs at least one episode; got shape {data.shape}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples!r} must be a positive integer")
    n_episodes = data.shape[0]
    picks = rng.integers(0, n_episodes, size=(n_resamples, n_episodes))
    values = np.array([statistic(data[rows]) for rows in picks], dtype=np.float64)
    if np.isnan(values).all():
        return (float("nan"), float("nan"))
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return (float(lo), float(hi))
