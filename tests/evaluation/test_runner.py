"""One episode runner for every env: per-env metric sets, per-env agent registries, one report."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

import recoworld
from recoworld.agents import (
    Agent,
    agent_entry,
    agent_names,
    make_agent,
    make_env_and_agent,
    register_agent,
)
from recoworld.cli import app
from recoworld.envs import RecoWorldEnv
from recoworld.evaluation import (
    GENERIC_METRICS,
    RECOCHAT_METRICS,
    MetricSet,
    compare,
    comparison_table,
    evaluate,
    metric_set_for,
    register_metric_set,
)
from recoworld.evaluation.convrec_metrics import CONVREC_METRICS
from recoworld.llm import ScriptedChatModel

SMALL_CHAT = {"n_items": 200, "n_users": 20}
SMALL_CONVREC = {"n_items": 300, "n_users": 20}
REPORT_KEYS = {"metrics", "ci95", "config", "usage", "run"}

runner = CliRunner()


@pytest.mark.parametrize(
    ("env_id", "agent", "env_kwargs", "metrics"),
    [
        ("RecoWorld-v0", "greedy", {"num_candidates": 30, "slate_size": 5}, {"return", "ctr"}),
        ("ConvRec-v0", "max-entropy", SMALL_CONVREC, set(CONVREC_METRICS)),
        ("RecoChat-v0", "attribute", SMALL_CHAT, set(RECOCHAT_METRICS)),
    ],
)
def test_evaluate_runs_every_builtin_env_with_its_metric_set(env_id, agent, env_kwargs, metrics):
    report = evaluate(agent, env_id, 4, seed=3, **env_kwargs)
    assert metrics <= set(report.metrics)
    assert set(report.metrics) == set(metric_set_for(env_id).metrics)
    assert set(report.to_dict()) == REPORT_KEYS
    assert report.config["env_id"] == env_id and report.config["agent"] == agent
    again = evaluate(agent, env_id, 4, seed=3, **env_kwargs)
    np.testing.assert_equal(report.metrics, again.metrics)  # same seeds, same numbers
    for name, values in report.per_episode.items():
        assert values.shape == (4,), name


def test_recochat_metrics_follow_the_conversations():
    report = evaluate("attribute", "RecoChat-v0", 6, seed=0, **SMALL_CHAT)
    per = report.per_episode
    assert set(np.unique(per["success_rate"])) <= {0.0, 1.0}
    assert np.all((per["satisfaction"] >= 1) & (per["satisfaction"] <= 5))
    assert np.all(per["turns"] >= 1)
    # A conversation that succeeded was not left, and the rates are means of the episodes.
    assert not np.any((per["success_rate"] == 1) & (per["left_rate"] == 1))
    assert report.metrics["success_rate"] == pytest.approx(per["success_rate"].mean())
    # The attribute agent beats random on success, on the same conversations.
    random = evaluate("random", "RecoChat-v0", 6, seed=0, **SMALL_CHAT)
    assert report.metrics["success_rate"] >= random.metrics["success_rate"]


def test_recochat_usage_reaches_the_report_for_both_sides():
    """The AILO user's calls count in ``usage``; the LLM agent's own model in
    ``usage["agent"]``: two models, two meters."""
    user = ScriptedChatModel(
        lambda messages: json.dumps(
            {
                "expectation": "x",
                "satisfaction": 3,
                "reason": "ok",
                "reply": "Tell me more.",
                "leave": False,
            }
        )
    )
    report = evaluate(
        "llm",
        "RecoChat-v0",
        1,
        seed=0,
        agent_options={"llm": {"model": ScriptedChatModel(lambda m: "?"), "on_error": "fallback"}},
        user="ailo",
        llm=user,
        max_turns=2,
        **SMALL_CHAT,
    )
    data = report.to_dict()
    assert data["usage"]["calls"] >= 2  # the user answered both turns
    # The agent's model answered badly, was re-asked, and fell back: every call is counted.
    assert data["usage"]["agent"]["calls"] >= 2


def test_unknown_agent_names_the_env_and_lists_its_agents():
    with pytest.raises(ValueError, match=r"unknown agent 'greedy' for RecoChat-v0.*attribute"):
        evaluate("greedy", "RecoChat-v0", 1, **SMALL_CHAT)
    with pytest.raises(ValueError, match="has no option 'checkpoint'"):
        evaluate("greedy", "RecoWorld-v0", 1, agent_options={"checkpoint": "x"})
    with pytest.raises(ValueError, match="needs the option 'checkpoint'"):
        evaluate("ppo", "RecoWorld-v0", 1)


def test_reset_options_set_the_episodes_and_their_count():
    env = gym.make("ConvRec-v0", **SMALL_CONVREC)
    pairs = env.unwrapped.pairs[:3]
    report = evaluate(
        "abs-greedy",
        "ConvRec-v0",
        reset_options=[{"pair": (int(u), int(i))} for u, i in pairs],
        **SMALL_CONVREC,
    )
    assert report.config["episodes"] == 3
    with pytest.raises(ValueError, match="exceeds the 3 reset_options"):
        evaluate("abs-greedy", "ConvRec-v0", 4, reset_options=[{}] * 3, **SMALL_CONVREC)


class _Always(Agent):
    name = "always-first"

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        return 0


class Flip(gym.Env):
    """A third-party env: guess the hidden bit; three guesses per episode."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.bit, self.turn = int(self.np_random.integers(2)), 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.turn += 1
        reward = float(int(action) == self.bit)
        return np.zeros(1, np.float32), reward, False, self.turn >= 3, {"hit": bool(reward)}


if "Flip-v0" not in gym.registry:
    gym.register("Flip-v0", entry_point=Flip)


def test_a_third_party_env_gets_generic_metrics_and_its_own_agents_and_metrics():
    report = evaluate(_Always(), "Flip-v0", 5, seed=0)
    assert set(report.metrics) == set(GENERIC_METRICS.metrics)
    assert np.all(report.per_episode["length"] == 3)
    entry = register_agent("Flip-v0", "first", lambda env, seed, options: _Always(), overwrite=True)
    assert agent_entry("Flip-v0", "first") is entry and "first" in agent_names("Flip-v0")
    assert isinstance(make_agent("first", gym.make("Flip-v0")), _Always)

    class HitRecorder:
        def __init__(self, env, episodes):
            self.hits = np.zeros(episodes)

        def record(self, episode, rewards, infos):
            self.hits[episode] = sum(info["hit"] for info in infos)

        def summarize(self, completed, seed):
            from recoworld.evaluation import MetricSummary, mean_ci95

            mean, lo, hi = mean_ci95(self.hits[:completed])
            return MetricSummary({"hits": mean}, {"hits": (lo, hi)}, {"hits": self.hits})

    register_metric_set(
        MetricSet("Flip-v0", {"hits": "right guesses"}, HitRecorder, required_info=("hit",)),
        overwrite=True,
    )
    custom = evaluate("first", "Flip-v0", 5, seed=0)
    assert set(custom.metrics) == {"hits"}
    assert custom.metrics["hits"] == pytest.approx(report.metrics["return"])


class QuietRecoWorld(RecoWorldEnv):
    """A subclass of RecoWorldEnv registered under its own id: same family."""


if "QuietRecoWorld-v0" not in gym.registry:
    gym.register("QuietRecoWorld-v0", entry_point=QuietRecoWorld)


def test_a_subclassed_env_inherits_its_familys_agents_and_metrics():
    assert agent_names("QuietRecoWorld-v0") == agent_names("RecoWorld-v0")
    report = evaluate("greedy", "QuietRecoWorld-v0", 2, seed=0)
    assert "ctr" in report.metrics


def test_make_env_and_agent_builds_the_env_the_agent_needs(tmp_path):
    env, agent = make_env_and_agent("RecoWorld-v0", "random", seed=1, slate_size=4)
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    assert env.action_space.contains(agent.act(obs, info))
    assert env.unwrapped.config.slate_size == 4


def test_compare_pairs_agents_on_the_same_seeds_for_every_env():
    for env_id, agents, kwargs in (
        ("ConvRec-v0", ["random", "max-entropy"], SMALL_CONVREC),
        ("RecoChat-v0", ["random", "attribute"], SMALL_CHAT),
    ):
        reports = compare(agents, env_id, 3, seed=2, **kwargs)
        assert list(reports) == agents
        table = comparison_table(reports)
        assert table.columns[1].header == agents[0]
    with pytest.raises(ValueError, match="not among the agents"):
        compare(["random"], "ConvRec-v0", 1, agent_options={"scpr": {}}, **SMALL_CONVREC)


@pytest.mark.parametrize(
    ("env_id", "agent", "env_args", "metric"),
    [
        ("RecoWorld-v0", "greedy", ["num_candidates=30", "slate_size=5"], "ctr"),
        ("ConvRec-v0", "max-entropy", ["n_items=300", "n_users=20"], "SR@15"),
        ("RecoChat-v0", "attribute", ["n_items=200", "n_users=20"], "success_rate"),
    ],
)
def test_cli_evaluate_and_compare_on_every_env(tmp_path, env_id, agent, env_args, metric):
    out = tmp_path / "one.json"
    args = [a for pair in env_args for a in ("--env-arg", pair)]
    result = runner.invoke(
        app,
        ["evaluate", "--env", env_id, "--agent", agent, "--episodes", "2", "--seed", "1",
         "--json", str(out), *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert set(payload) == REPORT_KEYS and metric in payload["metrics"]
    assert "agent" in payload["usage"]
    both = tmp_path / "both.json"
    result = runner.invoke(
        app,
        ["compare", "--env", env_id, "--agents", f"random,{agent}", "--episodes", "2",
         "--json", str(both), *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    reports = json.loads(both.read_text())["reports"]
    assert list(reports) == ["random", agent]
    assert all(set(r) == REPORT_KEYS for r in reports.values())


def test_cli_rejects_bad_agents_options_and_env_args():
    result = runner.invoke(app, ["evaluate", "--env", "RecoChat-v0", "--agent", "greedy"])
    assert result.exit_code == 2 and "unknown agent 'greedy' for RecoChat-v0" in result.output
    result = runner.invoke(app, ["evaluate", "--agent", "greedy", "--env-arg", "slate_size"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = runner.invoke(
        app, ["evaluate", "--agent", "greedy", "--checkpoint", "x", "--episodes", "1"]
    )
    assert result.exit_code == 2 and "--checkpoint" in result.output
    result = runner.invoke(app, ["compare", "--agents", "random,nobody", "--episodes", "1"])
    assert result.exit_code == 2 and "nobody" in result.output and "--agents" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_cli_refuses_an_unwritable_output_before_running(tmp_path, command, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("the run started although its output cannot be written")

    monkeypatch.setattr("recoworld.evaluation.evaluate", no_run)
    monkeypatch.setattr("recoworld.evaluation.compare", no_run)
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    agents = ["--agent", "greedy"] if command == "evaluate" else ["--agents", "random,greedy"]
    for option in ("--json", "--plot"):
        result = runner.invoke(
            app, [command, *agents, "--episodes", "1", option, str(blocker / "x")]
        )
        assert result.exit_code == 2, result.output
        assert "cannot write" in result.output and "Traceback" not in result.output
    assert blocker.read_text() == "keep me"


def test_cli_lists_agents_per_env():
    result = runner.invoke(app, ["agents"])
    assert result.exit_code == 0
    for env_id in recoworld.ENV_IDS:
        assert env_id in result.output
    assert "max-entropy" in result.output and "checkpoint" in result.output
