"""Evaluation output that can be trusted and files that are never lost (issue 9, items 4, 13,
19): existing trajectory files refused, trajectory files streamed, reports that print briefly,
and intervals only where the sample supports one."""

from __future__ import annotations

import io
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from recoworld.evaluation import (
    EvaluationReport,
    MetricSummary,
    TrajectoryWriter,
    UsageTotals,
    evaluate,
    iter_episodes,
    iter_trajectories,
    mean_ci95,
    metric_set_for,
    read_trajectories,
)
from recoworld.evaluation.metric_sets import MIN_EPISODES_FOR_CI, RECOWORLD_EPISODE_METRICS

SMALL = {"num_candidates": 20, "slate_size": 5}


def rendered(table: object) -> str:
    console = Console(file=io.StringIO(), width=120)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


# ------------------------------------------------------------- item 4: trajectories kept safe


def test_evaluate_refuses_an_existing_trajectory_file(tmp_path: Path) -> None:
    path = tmp_path / "keep.jsonl"
    evaluate("greedy", episodes=2, seed=0, max_episode_steps=3, trajectories=path, **SMALL)
    kept = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"keep\.jsonl.*overwrite=True"):
        evaluate("random", episodes=1, seed=0, trajectories=path, **SMALL)
    with pytest.raises(FileExistsError):
        TrajectoryWriter(path)
    assert path.read_bytes() == kept
    evaluate(
        "random",
        episodes=1,
        seed=0,
        max_episode_steps=2,
        trajectories=path,
        overwrite=True,
        **SMALL,
    )
    assert {r["agent"] for r in read_trajectories(path)} == {"random"}


def test_a_run_that_fails_before_its_first_episode_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "keep.jsonl"
    path.write_text("a first run's trajectories\n")
    with pytest.raises(ValueError, match="slate_size"):
        evaluate("greedy", episodes=1, trajectories=path, overwrite=True, slate_size=0)
    with pytest.raises(ValueError, match="unknown agent"):
        evaluate("nobody", episodes=1, trajectories=path, overwrite=True, **SMALL)
    assert path.read_text() == "a first run's trajectories\n"
    fresh = tmp_path / "fresh" / "never.jsonl"
    with pytest.raises(ValueError):
        evaluate("greedy", episodes=1, trajectories=fresh, slate_size=0)
    assert not fresh.exists()


def test_a_writer_refuses_a_folder_and_an_unwritable_place(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="is a folder"):
        TrajectoryWriter(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        TrajectoryWriter(blocker / "run.jsonl")


# ---------------------------------------------------- item 13: trajectory files are streamed


def write_episodes(path: Path, episodes: int, steps: int, padding: int = 0) -> None:
    with TrajectoryWriter(path, exclude_info=()) as writer:
        for episode in range(episodes):
            writer.begin_episode(episode, episode, "a" if episode % 2 else "b")
            writer.record_reset({"turn": 0, "text": "x" * padding})
            for step in range(steps):
                writer.record_step([step], 1.0, step == steps - 1, False, {"text": "x" * padding})
            writer.end_episode()


def test_iter_episodes_groups_records_and_matches_the_list_form(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_episodes(path, episodes=4, steps=3)
    episodes = list(iter_episodes(path))
    assert [(e[0]["agent"], e[0]["episode"], len(e)) for e in episodes] == [
        ("b", 0, 4),
        ("a", 1, 4),
        ("b", 2, 4),
        ("a", 3, 4),
    ]
    assert [r for e in episodes for r in e] == read_trajectories(path)
    assert list(iter_trajectories(path)) == read_trajectories(path)


def test_iteration_is_lazy_a_broken_line_raises_only_when_reached(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_episodes(path, episodes=2, steps=1)
    with path.open("a", encoding="utf-8") as file:
        file.write('{"episode": 9, "cut off\n')
    records = iter_trajectories(path)
    assert next(records)["step"] == 0  # read before the broken line is reached
    episodes = iter_episodes(path)
    assert len(next(episodes)) == 2
    with pytest.raises(ValueError, match=r"line 5: malformed JSON"):
        list(episodes)


def test_streaming_a_large_file_holds_one_episode_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "large.jsonl"
    write_episodes(path, episodes=200, steps=10, padding=2000)  # about 4.5 MB
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(len(episode) for episode in iter_episodes(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200 * 11
    assert peak < size / 20, (peak, size)  # the list form would hold the whole file


# --------------------------------------------------------- item 19: reports that read well


def test_repr_and_str_are_short_and_hold_no_arrays() -> None:
    report = evaluate("greedy", episodes=6, seed=0, **SMALL)
    short = repr(report)
    assert short.startswith("EvaluationReport(agent='greedy', env_id='RecoWorld-v0', episodes=6")
    assert "array" not in short and len(short) < 250 and "\n" not in short
    text = str(report)
    assert "array" not in text and "Return" in text and "Exposure Gini" in text
    assert len(text.splitlines()) == 1 + len(report.metrics)  # no usage lines: no model ran
    assert "LLM" not in rendered(report.table())


def test_tables_show_usage_when_a_model_ran() -> None:
    report = evaluate("greedy", episodes=5, seed=0, **SMALL)
    used = EvaluationReport(
        report.metrics,
        report.ci95,
        report.config,
        report.per_episode,
        usage=UsageTotals(calls=4, prompt_tokens=100, completion_tokens=20, steps=4),
    )
    assert "LLM calls" in rendered(used.table())
    assert "LLM usage (user): 4 calls (0 failed), 120 tokens" in str(used)
    assert "LLM calls" in rendered(report.table(usage=True))


def test_fewer_than_five_values_give_no_interval() -> None:
    report = evaluate("greedy", episodes=2, seed=0, **SMALL)
    assert MIN_EPISODES_FOR_CI == 5
    for name, (lo, hi) in report.ci95.items():
        assert math.isnan(lo) and math.isnan(hi), name
        assert math.isfinite(report.metrics[name]) or name == "return_gap_days"
    assert "n too small (n=2)" in rendered(report.table())
    assert json.loads(json.dumps(report.to_dict()))["ci95"]["return"] == [None, None]


def test_a_metric_undefined_in_most_episodes_counts_only_its_values() -> None:
    metric_set = metric_set_for("RecoWorld-v0")
    values = {name: np.ones(8) for name in RECOWORLD_EPISODE_METRICS}
    values["return_gap_days"] = np.array([2.0, 3.0, np.nan, np.nan, np.nan, np.nan, 4.0, 5.0])
    summary = MetricSummary(
        {name: 1.0 for name in values}, {name: (0.5, 1.5) for name in values}, values
    )
    finished = metric_set.finish(summary, completed=8)
    assert all(math.isnan(v) for v in finished.ci95["return_gap_days"])  # 4 defined values
    assert finished.ci95["return"] == (0.5, 1.5)


@settings(max_examples=40, deadline=None)
@given(
    clicks=st.lists(st.integers(0, 3), min_size=5, max_size=12),
    shown=st.integers(3, 10),
)
def test_intervals_of_bounded_metrics_stay_in_range(clicks: list[int], shown: int) -> None:
    """A rate's t-interval over few episodes would reach below 0 or above 1: it is clipped."""
    metric_set = metric_set_for("RecoWorld-v0")
    n = len(clicks)
    ctr = np.minimum(np.array(clicks, float) / shown, 1.0)
    churn = (np.arange(n) == 0).astype(float)  # one churned user of n: t-interval below 0
    per_episode = {name: np.ones(n) for name in RECOWORLD_EPISODE_METRICS}
    per_episode.update(ctr=ctr, churn_rate=churn, clicks=np.array(clicks, float))
    raw = {name: mean_ci95(values) for name, values in per_episode.items()}
    summary = MetricSummary(
        {name: value[0] for name, value in raw.items()},
        {name: (value[1], value[2]) for name, value in raw.items()},
        per_episode,
    )
    finished = metric_set.finish(summary, completed=n)
    for name, low, high in (("ctr", 0, 1), ("churn_rate", 0, 1), ("clicks", 0, math.inf)):
        lo, hi = finished.ci95[name]
        assert low <= lo <= finished.metrics[name] <= hi <= high, (name, lo, hi)
    raw_lo = raw["churn_rate"][1]
    assert raw_lo < 0 and finished.ci95["churn_rate"][0] == 0.0
