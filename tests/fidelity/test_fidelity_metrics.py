"""Fidelity metrics on cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recoworld.fidelity.metrics import (
    LOG_FLOOR,
    accuracy_by_tercile,
    activity_terciles,
    check_probabilities,
    expected_calibration_error,
    log_likelihoods,
    scene_accuracy,
    wilson_ci95,
)


def test_accuracy_splits_ties_evenly() -> None:
    p = np.array(
        [
            [0.6, 0.2, 0.2],  # real on top alone: 1
            [0.6, 0.2, 0.2],  # real not on top: 0
            [0.4, 0.4, 0.2],  # real among 2 tied on top: 1/2
            [1 / 3, 1 / 3, 1 / 3],  # all tied: 1/3
        ]
    )
    answers = np.array([0, 1, 1, 2])
    assert scene_accuracy(p, answers).tolist() == pytest.approx([1.0, 0.0, 0.5, 1 / 3])


def test_uniform_answers_score_exactly_chance_and_are_calibrated() -> None:
    p = np.full((7, 5), 0.2)
    answers = np.array([0, 1, 2, 3, 4, 0, 1])
    assert np.all(scene_accuracy(p, answers) == 0.2)
    ece, bins = expected_calibration_error(p, answers)
    assert ece == pytest.approx(0.0, abs=1e-12)
    assert bins.counts.tolist() == [0, 0, 7, 0, 0, 0, 0, 0, 0, 0]


def test_log_likelihood_of_the_real_choice_is_floored() -> None:
    p = np.array([[0.5, 0.5], [1.0, 0.0]])
    values = log_likelihoods(p, np.array([0, 1]))
    assert values[0] == pytest.approx(math.log(0.5))
    assert values[1] == pytest.approx(math.log(LOG_FLOOR))


def test_ece_by_hand() -> None:
    # Two scenes at confidence 0.9 (one right, one wrong) and two at 0.55 (both right):
    # bin [0.9, 1.0]: |0.5 - 0.9| = 0.4, bin [0.5, 0.6): |1.0 - 0.55| = 0.45; ECE = 0.425.
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.45, 0.55]])
    answers = np.array([0, 1, 0, 1])
    ece, bins = expected_calibration_error(p, answers)
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.45)
    assert bins.counts[9] == 2 and bins.counts[5] == 2 and bins.counts.sum() == 4
    assert bins.accuracy[9] == pytest.approx(0.5) and bins.confidence[5] == pytest.approx(0.55)
    assert math.isnan(bins.accuracy[0])
    assert bins.to_dict()["accuracy"][0] is None
    # Confidence 1.0 falls in the last bin, not past it.
    _, top = expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0]))
    assert top.counts[9] == 1


def test_wilson_interval_matches_the_formula() -> None:
    lo, hi = wilson_ci95(np.array([1.0] * 50 + [0.0] * 50))
    assert (lo, hi) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    lo, hi = wilson_ci95(np.zeros(20))
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_ci95(np.zeros(0)))


def test_activity_terciles_and_accuracy_by_tercile() -> None:
    activity = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert activity_terciles(activity).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # Ties stay together: all equal activity is one (low) tercile.
    assert activity_terciles(np.array([4, 4, 4])).tolist() == [0, 0, 0]
    accuracy = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1], dtype=float)
    by = accuracy_by_tercile(accuracy, activity)
    assert by["low"][0] == pytest.approx(2 / 3) and by["low"][3] == 3
    assert by["mid"][0] == 0.0 and by["high"][0] == 1.0
    empty = accuracy_by_tercile(np.ones(3), np.array([4, 4, 4]))
    assert math.isnan(empty["high"][0]) and empty["high"][3] == 0


def test_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 3\), expected \(2, 2\)"):
        check_probabilities(np.ones((2, 3)) / 3, 2, 2)
    with pytest.raises(ValueError, match="scene 1 sum to"):
        check_probabilities(np.array([[0.5, 0.5], [0.5, 0.6]]), 2, 2)
    with pytest.raises(ValueError, match="scene 0 are negative or not finite"):
        check_probabilities(np.array([[np.nan, 1.0]]), 1, 2)
