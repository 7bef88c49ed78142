"""Hand-worked numbers for the evaluation metrics."""

import numpy as np
import pytest
from scipy import stats

from recoworld.evaluation import (
    bootstrap_ci95,
    catalog_coverage,
    gini,
    intra_list_diversity,
    mean_ci95,
    novelty,
)


def test_gini_equal_exposure_is_zero():
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)


def test_gini_single_item_gets_everything():
    # Sorted [0, 0, 0, 4], n = 4: sum_i (2i - n - 1) x_(i) = (2*4 - 5) * 4 = 12;
    # divided by n * sum(x) = 4 * 4 = 16 gives 0.75 = (n - 1) / n.
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)


def test_gini_is_order_free_and_scale_free():
    # Sorted [1, 2, 3]: (-2 * 1 + 0 * 2 + 2 * 3) / (3 * 6) = 4 / 18.
    assert gini(np.array([3, 1, 2])) == pytest.approx(4 / 18)
    assert gini(np.array([30, 10, 20])) == pytest.approx(4 / 18)


def test_gini_of_no_exposure_is_nan():
    assert np.isnan(gini(np.zeros(5)))


def test_ild_orthogonal_and_identical():
    assert intra_list_diversity(np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(1.0)
    assert intra_list_diversity(np.array([[0.6, 0.8], [0.6, 0.8]])) == pytest.approx(0.0)


def test_ild_skips_empty_slots_and_ignores_norms():
    # Pairs of the three filled slots: (e1, e2) orthogonal -> 1, (e1, -e1) opposite -> 2,
    # (e2, -e1) orthogonal -> 1; mean 4 / 3. The zero row is an empty slot.
    slate = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    assert intra_list_diversity(slate) == pytest.approx(4 / 3)


def test_ild_batched_and_undefined():
    slates = np.array(
        [
            [[1.0, 0.0], [0.0, 1.0]],
            [[1.0, 0.0], [1.0, 0.0]],
            [[1.0, 0.0], [0.0, 0.0]],  # one filled slot: no pairs
        ]
    )
    result = intra_list_diversity(slates)
    assert result.shape == (3,)
    np.testing.assert_allclose(result[:2], [1.0, 0.0], atol=1e-12)
    assert np.isnan(result[2])


def test_novelty_in_bits():
    popularity = np.array([0.25, 0.5, 0.125, 0.125])
    assert novelty(np.array([0]), popularity) == pytest.approx(2.0)
    # -log2 of 0.25, 0.5, 0.125 -> 2, 1, 3 bits; the empty slot (-1) is skipped.
    assert novelty(np.array([[0, 1], [2, -1]]), popularity) == pytest.approx(2.0)
    assert np.isnan(novelty(np.array([-1, -1]), popularity))


def test_catalog_coverage():
    assert catalog_coverage(np.array([5, 0, 1, 0, 0])) == pytest.approx(0.4)
    assert catalog_coverage(np.ones(3)) == 1.0
    with pytest.raises(ValueError, match="exposure_counts"):
        catalog_coverage(np.zeros((2, 2)))


def test_mean_ci95_matches_scipy():
    sample = np.array([2.0, 4.0, 4.0, 5.0, 7.0, 9.0])
    mean, lo, hi = mean_ci95(sample)
    expected = stats.t.interval(0.95, len(sample) - 1, loc=sample.mean(), scale=stats.sem(sample))
    assert mean == pytest.approx(31 / 6)
    assert (lo, hi) == pytest.approx(expected)


def test_mean_ci95_small_and_undefined_samples():
    assert mean_ci95([3.5]) == (3.5, 3.5, 3.5)
    assert mean_ci95([1.0, np.nan, 1.0]) == (1.0, 1.0, 1.0)
    assert all(np.isnan(v) for v in mean_ci95([np.nan]))


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = np.arange(20, dtype=float)
    first = bootstrap_ci95(values, np.mean, np.random.default_rng(0), n_resamples=500)
    second = bootstrap_ci95(values, np.mean, np.random.default_rng(0), n_resamples=500)
    assert first == second
    lo, hi = first
    assert lo < values.mean() < hi
    assert bootstrap_ci95(np.array([4.0]), np.mean, np.random.default_rng(1)) == (4.0, 4.0)


def test_bootstrap_resamples_episodes_of_exposure_counts():
    # Two episodes that showed disjoint halves of a 4-item catalog: a resample holds both
    # (coverage 1) or one of them twice (coverage 0.5).
    counts = np.array([[1, 1, 0, 0], [0, 0, 1, 1]])
    lo, hi = bootstrap_ci95(
        counts, lambda c: catalog_coverage(c.sum(axis=0)), np.random.default_rng(0)
    )
    assert (lo, hi) == (0.5, 1.0)
