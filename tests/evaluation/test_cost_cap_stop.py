"""A spent LLM cost cap stops an evaluation cleanly, keeping every episode already played.

The narrated env (``narrated_env.py``) makes one scripted call per step at $0.006 a call, and the
meter refuses a call once more than the cap is spent. With a cap of $0.015 and episodes cut at
two steps: calls 1-3 go through (spent $0.000, $0.006, $0.012 before them), call 4 is refused
($0.018 spent), so episode 0 completes and episode 1 is cut short at its second step.
"""

from __future__ import annotations

import json
import math
from itertools import accumulate
from typing import Any

import numpy as np
import pytest
from narrated_env import NarratedWorld
from rich.console import Console

import recoworld  # noqa: F401  (registers the environments)
from recoworld.agents import make_agent
from recoworld.evaluation import (
    compare,
    comparison_table,
    evaluate,
    read_trajectories,
)
from recoworld.llm import CostCapExceeded, MeteredChatModel, ScriptedChatModel, UsageMeter

SMALL = {"num_candidates": 40, "slate_size": 5, "max_episode_steps": 2}
CAP = 0.015


@pytest.fixture
def narrated() -> NarratedWorld:
    """The narrated env of ``narrated_env.py``: one $0.006 scripted LLM call per step."""
    return NarratedWorld()


def rendered(table: Any) -> str:
    """The table as text, whitespace collapsed (rich wraps titles and captions)."""
    console = Console(record=True, width=200)
    console.print(table)
    return " ".join(console.export_text().split())


def test_cost_cap_stops_the_run_and_reports_why(narrated, tmp_path):
    model, meter = narrated.metered(CAP)
    report = evaluate("greedy", narrated.env_id, episodes=5, seed=0, model=model, **SMALL)
    assert report.stopped_early
    assert report.episodes_completed == 1 and report.episodes_requested == 5
    assert report.incomplete_episode == 1
    assert "cost cap of $0.0150 exceeded" in report.stop_reason
    with pytest.raises(CostCapExceeded) as refused:
        meter.check()
    assert report.stop_reason == str(refused.value)
    # The three calls that went through are in the usage; the refused one cost nothing.
    assert report.usage.calls == 3 and report.usage.steps == 3
    assert report.usage.cost_usd == pytest.approx(meter.usage.cost_usd)

    data = json.loads(report.to_json(tmp_path / "report.json").read_text())
    assert data["run"] == {
        "episodes_requested": 5,
        "episodes_completed": 1,
        "stopped_early": True,
        "stop_reason": report.stop_reason,
        "incomplete_episode": 1,
    }
    assert data["usage"]["calls"] == 3
    text = rendered(report.table())
    assert "stopped early after 1 of 5 episodes" in text
    assert "cost cap of $0.0150 exceeded" in text


def test_metrics_cover_only_the_completed_episodes(narrated):
    capped_model, _ = narrated.metered(CAP)
    capped = evaluate("greedy", narrated.env_id, episodes=5, seed=0, model=capped_model, **SMALL)
    free_model, _ = narrated.metered()
    one = evaluate("greedy", narrated.env_id, episodes=1, seed=0, model=free_model, **SMALL)
    np.testing.assert_equal(capped.metrics, one.metrics)  # NaN == NaN here
    np.testing.assert_equal(capped.ci95, one.ci95)
    for name, values in capped.per_episode.items():
        assert values.shape == (1,), name
        np.testing.assert_array_equal(values, one.per_episode[name])


def test_the_cut_short_episode_is_written_as_incomplete(narrated, tmp_path):
    model, _ = narrated.metered(CAP)
    path = tmp_path / "run.jsonl"
    evaluate("greedy", narrated.env_id, episodes=5, seed=0, model=model, trajectories=path, **SMALL)
    records = read_trajectories(path)
    assert [(r["episode"], r["step"], r["episode_complete"]) for r in records] == [
        (0, 0, True),
        (0, 1, True),
        (0, 2, True),
        (1, 0, False),
        (1, 1, False),
    ]
    assert records[-1]["info"]["usage"]["calls"] == 1


def test_a_cap_spent_before_any_episode_ends_gives_an_empty_report(narrated, tmp_path):
    # $0 cap: the reset's call goes through (nothing spent yet), the first step's is refused.
    model, _ = narrated.metered(0.0)
    report = evaluate(
        "random", narrated.env_id, episodes=3, seed=0, model=model, call_on_reset=True, **SMALL
    )
    assert report.stopped_early and report.episodes_completed == 0
    assert report.incomplete_episode == 0
    assert all(math.isnan(value) for value in report.metrics.values())
    assert all(values.shape == (0,) for values in report.per_episode.values())
    assert report.usage.calls == 1 and report.usage.steps == 0
    data = json.loads(report.to_json(tmp_path / "empty.json").read_text())
    assert data["metrics"]["return"] is None
    assert data["usage"]["calls_per_step"] is None
    assert "stopped early after 0 of 3 episodes" in rendered(report.table())


def test_compare_stops_at_the_agent_that_spent_the_cap(narrated):
    # $0.04 lets calls 1-7 through: random plays 2 episodes (4 calls), greedy one (2) and is
    # cut short in its second episode; a third agent is not started.
    model, meter = narrated.metered(0.04)
    reports = compare(
        ["random", "greedy", "popular"], narrated.env_id, episodes=2, seed=0, model=model, **SMALL
    )
    assert list(reports) == ["random", "greedy"]
    assert not reports["random"].stopped_early
    assert reports["greedy"].stopped_early and reports["greedy"].episodes_completed == 1
    assert meter.usage.calls == 7
    text = rendered(comparison_table(reports))
    assert "Episodes completed" in text and "greedy stopped early" in text


class MeteredAgent:
    """An agent that consults a metered chat model before every action (an LLM agent)."""

    def __init__(self, inner: Any, model: MeteredChatModel) -> None:
        self.inner = inner
        self.model = model
        self.name = f"llm-{inner.name}"

    def reset(self, seed: int | None = None) -> None:
        self.inner.reset(seed=seed)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        self.model.complete([{"role": "user", "content": "what next"}])
        return self.inner.act(observation, info)


def metered_agent_factory(name: str, calls_allowed: int):
    """A factory of :class:`MeteredAgent` whose meter refuses call ``calls_allowed + 1``."""
    meter = UsageMeter(cost_cap_usd=calls_allowed - 0.5)
    model = MeteredChatModel(
        ScriptedChatModel(lambda messages: "ok", cost_per_token_usd=1 / 3), meter
    )  # "what next" + "ok": 3 tokens, $1 a call
    return lambda env: MeteredAgent(make_agent(name, env), model)


def test_a_cap_spent_by_the_agent_stops_the_run_too():
    report = evaluate(
        metered_agent_factory("random", calls_allowed=3),
        episodes=4,
        seed=0,
        num_candidates=40,
        slate_size=5,
        max_episode_steps=2,
    )
    assert report.agent == "llm-random"
    assert report.stopped_early and report.episodes_completed == 1
    assert report.incomplete_episode == 1


def test_convrec_evaluation_stops_cleanly_on_the_cap():
    free = evaluate("max-entropy", "ConvRec-v0", episodes=6, seed=0)
    steps = free.per_episode["turns"].astype(int).tolist()  # a conversation's steps = turns
    allowed = steps[0] + steps[1] + 1  # two conversations and the first act of the third
    report = evaluate(
        metered_agent_factory("max-entropy", calls_allowed=allowed), "ConvRec-v0", 6, seed=0
    )
    expected = sum(1 for total in accumulate(steps) if total <= allowed)
    assert expected == 2
    assert report.stopped_early and report.episodes_completed == expected
    assert report.incomplete_episode == expected
    np.testing.assert_array_equal(report.per_episode["turns"], free.per_episode["turns"][:2])
    reference = evaluate("max-entropy", "ConvRec-v0", episodes=2, seed=0)
    np.testing.assert_equal(report.metrics, reference.metrics)


def test_other_errors_propagate_and_the_written_episodes_stay(narrated, tmp_path):
    model, _ = narrated.metered()
    path = tmp_path / "broken.jsonl"
    with pytest.raises(RuntimeError, match="broke at step 3"):
        evaluate(
            "greedy",
            narrated.env_id,
            episodes=4,
            seed=0,
            model=model,
            fail_at_step=3,
            trajectories=path,
            **SMALL,
        )
    records = read_trajectories(path)
    assert [(r["episode"], r["step"], r["episode_complete"]) for r in records] == [
        (0, 0, True),
        (0, 1, True),
        (0, 2, True),
        (1, 0, False),
    ]
