"""Hand-worked SR@k, AT and hDCG, their intervals, bad input, and seeded ConvRec-v0 runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recoworld.evaluation import evaluate
from recoworld.evaluation.convrec_metrics import CONVREC_METRICS, convrec_metrics
from recoworld.evaluation.metrics import mean_ci95

# Five conversations: successes at turns 1, 3, 7 and 12, and one failure.
TURNS = [1, 3, -1, 7, 12]


def test_success_rates_count_successes_within_k_turns():
    metrics = convrec_metrics(TURNS, max_turns=15)
    assert metrics["SR@5"][0] == pytest.approx(2 / 5)  # turns 1 and 3
    assert metrics["SR@10"][0] == pytest.approx(3 / 5)  # and 7
    assert metrics["SR@15"][0] == pytest.approx(4 / 5)  # and 12


def test_average_turns_counts_a_failure_as_max_turns():
    assert convrec_metrics(TURNS)["AT"][0] == pytest.approx((1 + 3 + 15 + 7 + 12) / 5)
    assert convrec_metrics(TURNS, max_turns=20)["AT"][0] == pytest.approx(43 / 5)


def test_hdcg_is_one_over_log2_of_turn_plus_one_averaged_over_all_conversations():
    # 1/log2(2) + 1/log2(4) + 0 + 1/log2(8) + 1/log2(13) = 1 + 1/2 + 1/3 + 0.2702381...
    expected = (1 + 0.5 + 0 + 1 / 3 + math.log(2) / math.log(13)) / 5
    assert convrec_metrics(TURNS)["hDCG"][0] == pytest.approx(expected)
    assert expected == pytest.approx(0.4207143, abs=1e-6)


def test_hdcg_with_ranks_follows_unicorn():
    # Success at turn 2, rank 3: 1/log2(4) + (1/log2(3) - 1/log2(4)) / log2(4)
    #   = 0.5 + (0.6309298 - 0.5) / 2 = 0.5654649. Rank 1 gives 1/log2(3).
    metrics = convrec_metrics([2, 2, -1], success_ranks=[3, 1, 7])
    expected = (0.5 + (1 / math.log2(3) - 0.5) / 2 + 1 / math.log2(3)) / 3
    assert metrics["hDCG"][0] == pytest.approx(expected)
    assert convrec_metrics([2], success_ranks=[1])["hDCG"][0] == pytest.approx(1 / math.log2(3))


def test_intervals_are_student_t_over_conversations():
    metrics = convrec_metrics(TURNS)
    assert metrics["SR@10"] == pytest.approx(mean_ci95([1, 1, 0, 1, 0]))
    assert metrics["AT"] == pytest.approx(mean_ci95([1, 3, 15, 7, 12]))
    mean, lo, hi = metrics["hDCG"]
    assert lo < mean < hi
    assert convrec_metrics([4])["SR@5"] == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("turns", "kwargs", "message"),
    [
        ([1, 0], {}, r"success_turns\[1\] = 0"),
        ([16], {}, r"success_turns\[0\] = 16 .* 1\.\.15"),
        ([-2], {}, r"success_turns\[0\] = -2"),
        ([[1, 2]], {}, "1-D"),
        ([], {}, "empty"),
        ([1.5], {}, r"success_turns\[0\] = 1\.5"),
        ([1, 2], {"success_ranks": [1]}, "shape"),
        ([1, 2], {"success_ranks": [1, 0]}, r"success_ranks\[1\] = 0"),
        ([1], {"max_turns": 0}, "max_turns"),
    ],
)
def test_bad_input_names_the_value(turns, kwargs, message):
    with pytest.raises(ValueError, match=message):
        convrec_metrics(turns, **kwargs)


def test_evaluate_convrec_reports_metrics_consistent_with_its_episodes(tmp_path):
    report = evaluate("abs-greedy", "ConvRec-v0", 30, seed=5)
    assert list(report.metrics) == list(CONVREC_METRICS)
    turns = report.per_episode["success_turn"]
    assert report.metrics["SR@15"] == pytest.approx(np.mean(turns > 0))
    assert report.metrics["AT"] == pytest.approx(np.mean(report.per_episode["turns"]))
    assert report.metrics["AT"] == pytest.approx(np.mean(np.where(turns > 0, turns, 15)))
    assert np.all(turns[turns > 0] <= 14)  # the agent moves in turns 1..14
    # Abs Greedy shows 10 items a turn and only ever wastes a turn with a rejection.
    failures = turns < 0
    np.testing.assert_allclose(report.per_episode["return"][failures], -0.1 * 14 - 0.3, rtol=1e-9)
    assert report.config["agent"] == "abs-greedy" and report.config["max_turns"] == 15
    data = json.loads(report.to_json(tmp_path / "report.json").read_text())
    assert set(data["metrics"]) == set(CONVREC_METRICS)
    again = evaluate("abs-greedy", "ConvRec-v0", 30, seed=5)
    np.testing.assert_array_equal(turns, again.per_episode["success_turn"])


def test_evaluate_convrec_plays_the_given_pairs_in_order():
    users = []

    class Recorder:
        name = "recorder"

        def reset(self, *, seed=None):
            pass

        def act(self, observation, info):
            if info["turn"] == 0:
                users.append(info["user"])
            return len(info["action_mask"]) - 1

    pairs = np.array([[3, 10], [1, 20], [3, 30]])
    report = evaluate(Recorder(), "ConvRec-v0", reset_options=[{"pair": tuple(p)} for p in pairs])
    assert users == [3, 1, 3] and report.config["episodes"] == 3
    with pytest.raises(ValueError, match="exceeds"):
        evaluate(Recorder(), "ConvRec-v0", 4, reset_options=[{"pair": tuple(p)} for p in pairs])
    with pytest.raises(ValueError, match="unknown agent 'greedy' for ConvRec-v0"):
        evaluate("greedy", "ConvRec-v0", 1)
