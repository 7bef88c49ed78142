"""Seeded evaluation runs: metrics, determinism, a checked margin, the JSON report."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest
from rich.table import Table

import recoworld  # noqa: F401  (registers the environments)
from recoworld.agents import GreedyAgent, ObservationLayout, make_agent
from recoworld.evaluation import (
    RECOWORLD_EPISODE_METRICS,
    RECOWORLD_RUN_METRICS,
    EvaluationReport,
    compare,
    comparison_table,
    evaluate,
    mean_ci95,
    plot_report,
)

SMALL = {"num_candidates": 40, "slate_size": 5}


def test_metrics_keys_and_consistency():
    report = evaluate("greedy", episodes=5, seed=0, **SMALL)
    assert isinstance(report, EvaluationReport)
    assert set(report.metrics) == set(RECOWORLD_EPISODE_METRICS) | set(RECOWORLD_RUN_METRICS)
    assert set(report.ci95) == set(report.metrics)
    for name, values in report.per_episode.items():
        assert values.shape == (5,), name
    episode = report.per_episode
    turns = episode["session_length"] * episode["sessions"]
    shown = turns * SMALL["slate_size"] - episode["wasted_slots"]
    np.testing.assert_allclose(episode["ctr"] * shown, episode["clicks"])
    assert 0.0 < report.metrics["coverage"] <= 1.0
    assert 0.0 <= report.metrics["exposure_gini"] < 1.0
    lo, hi = report.ci95["return"]
    assert lo <= report.metrics["return"] <= hi
    assert report.config == {
        "env_id": "RecoWorld-v0",
        "agent": "greedy",
        "episodes": 5,
        "seed": 0,
        "env_kwargs": SMALL,
    }
    assert isinstance(report.table(), Table)


def test_same_seed_same_metrics_different_seed_different():
    first = evaluate("random", episodes=3, seed=5, **SMALL)
    second = evaluate("random", episodes=3, seed=5, **SMALL)
    other = evaluate("random", episodes=3, seed=6, **SMALL)
    assert first.metrics == second.metrics
    assert first.ci95 == second.ci95
    for name in first.per_episode:
        np.testing.assert_array_equal(first.per_episode[name], second.per_episode[name])
    assert first.metrics["return"] != other.metrics["return"]


def test_agent_instance_factory_and_name_agree():
    by_name = evaluate("greedy", episodes=2, seed=1, **SMALL)
    env = gym.make("RecoWorld-v0", **SMALL)
    by_instance = evaluate(GreedyAgent(ObservationLayout.of(env)), episodes=2, seed=1, **SMALL)
    by_factory = evaluate(lambda e: make_agent("greedy", e), episodes=2, seed=1, **SMALL)
    assert by_name.metrics == by_instance.metrics == by_factory.metrics


def test_oracle_beats_random_by_a_real_margin():
    reports = compare(["random", "oracle"], episodes=20, seed=0)
    random_return = reports["random"].per_episode["return"]
    oracle_return = reports["oracle"].per_episode["return"]
    # Episode i meets the same user for both agents, so the per-episode difference is paired.
    mean, lo, _ = mean_ci95(oracle_return - random_return)
    assert lo > 0.0
    assert reports["oracle"].ci95["return"][0] > reports["random"].ci95["return"][1]
    assert mean > 0.5 * reports["random"].metrics["return"]
    table = comparison_table(reports)
    assert [column.header for column in table.columns] == ["Metric", "random", "oracle"]


def test_json_has_exactly_the_report_keys(tmp_path):
    report = evaluate("popular", episodes=5, seed=0, **SMALL)
    path = report.to_json(tmp_path / "nested" / "report.json")
    data = json.loads(path.read_text())
    assert set(data) == {"metrics", "ci95", "config", "usage", "run"}
    assert data["run"] == {
        "episodes_requested": 5,
        "episodes_completed": 5,
        "stopped_early": False,
        "stop_reason": None,
        "incomplete_episode": None,
    }
    assert data["metrics"]["clicks"] == pytest.approx(report.metrics["clicks"])
    assert data["ci95"]["coverage"] == list(report.ci95["coverage"])
    assert data["config"]["agent"] == "popular"


def test_time_limit_mid_session_and_nan_metrics(tmp_path):
    # Every episode is cut after 3 turns, before any session ends: no return gap is drawn.
    report = evaluate("greedy", episodes=2, seed=0, max_episode_steps=3, **SMALL)
    np.testing.assert_array_equal(report.per_episode["session_length"], [3.0, 3.0])
    np.testing.assert_array_equal(report.per_episode["sessions"], [1.0, 1.0])
    assert math.isnan(report.metrics["return_gap_days"])
    data = json.loads(report.to_json(tmp_path / "r.json").read_text())
    assert data["metrics"]["return_gap_days"] is None
    assert data["config"]["env_kwargs"]["max_episode_steps"] == 3


def test_plot_report_writes_png(tmp_path):
    reports = compare(["random", "greedy"], episodes=2, seed=0, **SMALL)
    path = plot_report(reports, tmp_path / "cmp.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("episodes", [0, -1, 2.5, True])
def test_bad_episodes_raise(episodes):
    with pytest.raises(ValueError, match=f"episodes={episodes!r}"):
        evaluate("random", episodes=episodes)


def test_unknown_agent_raises():
    with pytest.raises(ValueError, match="unknown agent 'nobody'"):
        evaluate("nobody", episodes=1, **SMALL)
