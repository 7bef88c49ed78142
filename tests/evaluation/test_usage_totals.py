"""Language-model usage summed over a run, in the report, its table and its JSON.

The narrated env (``narrated_env.py``) makes one scripted call per step: 3 prompt and 3 completion
tokens at $0.001 a token, so every number below is worked out by hand.
"""

from __future__ import annotations

import json
import math
from typing import Any

import gymnasium as gym
import pytest
from narrated_env import NarratedWorld
from rich.console import Console

import recoworld  # noqa: F401  (registers the environments)
from recoworld.envs import RecoWorldEnv
from recoworld.evaluation import (
    UsageTotals,
    compare,
    comparison_table,
    evaluate,
)

SMALL = {"num_candidates": 40, "slate_size": 5}


@pytest.fixture
def narrated() -> NarratedWorld:
    """The narrated env of ``narrated_env.py``: one $0.006 scripted LLM call per step."""
    return NarratedWorld()


def rendered(table: Any) -> str:
    console = Console(record=True, width=160)
    console.print(table)
    return console.export_text()


def test_usage_is_summed_over_every_step(narrated):
    model, meter = narrated.metered()
    report = evaluate(
        "greedy", narrated.env_id, episodes=3, seed=0, model=model, max_episode_steps=2, **SMALL
    )
    turns = report.per_episode["session_length"] * report.per_episode["sessions"]
    assert int(turns.sum()) == 6  # three episodes cut at two turns each
    usage = report.usage
    assert usage.steps == 6 and usage.calls == 6
    assert usage.prompt_tokens == 18 and usage.completion_tokens == 18
    assert usage.cost_usd == pytest.approx(6 * narrated.cost_per_call)
    assert usage.cache_hits == 0 and usage.latency_s == 0.0
    assert usage.calls_per_step == 1.0
    assert usage.tokens_per_step == 6.0
    # The report agrees with the meter that charged the calls.
    assert usage.calls == meter.usage.calls
    assert usage.cost_usd == pytest.approx(meter.usage.cost_usd)


def test_usage_reported_at_reset_counts_but_is_not_a_step(narrated):
    model, _ = narrated.metered()
    report = evaluate(
        "random",
        narrated.env_id,
        episodes=2,
        seed=0,
        model=model,
        call_on_reset=True,
        max_episode_steps=2,
        **SMALL,
    )
    assert report.usage.steps == 4
    assert report.usage.calls == 4 + 2
    assert report.usage.calls_per_step == pytest.approx(1.5)


def test_usage_is_in_the_json_and_the_table(narrated, tmp_path):
    model, _ = narrated.metered()
    report = evaluate(
        "greedy", narrated.env_id, episodes=2, seed=0, model=model, max_episode_steps=2, **SMALL
    )
    data = json.loads(report.to_json(tmp_path / "report.json").read_text())
    agent_usage = data["usage"].pop("agent")
    assert agent_usage["calls"] == 0 and agent_usage["steps"] == 4  # greedy calls no model
    assert data["usage"] == {
        "calls": 4,
        "failed_calls": 0,
        "prompt_tokens": 12,
        "completion_tokens": 12,
        "cost_usd": pytest.approx(0.024),
        "latency_s": 0.0,
        "cache_hits": 0,
        "steps": 4,
        "calls_per_step": 1.0,
        "tokens_per_step": 6.0,
    }
    lines = rendered(report.table()).splitlines()
    for label, value in [
        ("LLM calls", "4"),
        ("Prompt tokens", "12"),
        ("Completion tokens", "12"),
        ("LLM cost (USD)", "$0.0240"),
        ("LLM cache hits", "0"),
        ("LLM calls / step", "1.00"),
        ("LLM tokens / step", "6.00"),
    ]:
        row = next(line for line in lines if label in line)
        assert value in row, row


def test_envs_without_llm_usage_give_zeros():
    report = evaluate("greedy", episodes=2, seed=0, max_episode_steps=3, **SMALL)
    assert report.usage == UsageTotals(steps=6)
    assert report.usage.calls_per_step == 0.0
    assert report.to_dict()["usage"]["cost_usd"] == 0.0
    # ConvRec-v0 reports no info["usage"] at all.
    convrec = evaluate("max-entropy", "ConvRec-v0", episodes=2, seed=0)
    assert convrec.usage.calls == 0 and convrec.usage.cost_usd == 0.0
    assert convrec.usage.steps == int(convrec.per_episode["turns"].sum())
    assert convrec.to_dict()["usage"]["calls"] == 0


def test_compare_reports_usage_per_agent_and_shows_it_in_the_table(narrated):
    model, meter = narrated.metered()
    reports = compare(
        ["random", "greedy"],
        narrated.env_id,
        episodes=2,
        seed=0,
        model=model,
        max_episode_steps=2,
        **SMALL,
    )
    assert [r.usage.calls for r in reports.values()] == [4, 4]
    assert meter.usage.calls == 8
    text = rendered(comparison_table(reports))
    assert "LLM calls" in text and "$0.0240" in text
    # Without LLM calls the comparison stays as compact as before, unless asked.
    plain = compare(["random"], episodes=1, seed=0, max_episode_steps=2, **SMALL)
    assert "LLM calls" not in rendered(comparison_table(plain))
    assert "LLM calls" in rendered(comparison_table(plain, usage=True))


def test_no_step_means_nan_per_step_rates():
    totals = UsageTotals()
    assert math.isnan(totals.calls_per_step) and math.isnan(totals.tokens_per_step)


class BadUsageRecoWorld(RecoWorldEnv):
    def step(self, action: Any):
        observation, reward, terminated, truncated, info = super().step(action)
        info["usage"] = {"calls": "two"}
        return observation, reward, terminated, truncated, info


if "BadUsageRecoWorld-v0" not in gym.registry:
    gym.register("BadUsageRecoWorld-v0", entry_point=BadUsageRecoWorld)


def test_malformed_usage_is_a_clear_error():
    with pytest.raises(ValueError, match=r"info\['usage'\]\['calls'\] = 'two'"):
        evaluate("random", "BadUsageRecoWorld-v0", episodes=1, **SMALL)
