"""The ``recoworld`` command through typer's test runner."""

import json
from typing import Any

import gymnasium as gym
from typer.testing import CliRunner

import recoworld
from recoworld.cli import EXIT_STOPPED_EARLY, app
from recoworld.envs import RecoWorldEnv
from recoworld.evaluation import read_trajectories
from recoworld.llm import MeteredChatModel, ScriptedChatModel, UsageMeter

runner = CliRunner()


def test_evaluate_writes_json_and_plot(tmp_path):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--episodes", "3",
         "--json", str(out_json), "--plot", str(out_png)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(json.loads(out_json.read_text())) == {"metrics", "ci95", "config", "usage", "run"}
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    assert "Return" in result.output


def test_unknown_agent_is_a_clear_error():
    result = runner.invoke(app, ["evaluate", "--agent", "nobody", "--episodes", "1"])
    assert result.exit_code == 2
    assert "unknown agent 'nobody'" in result.output
    assert "Traceback" not in result.output


def test_unknown_env_is_a_clear_error():
    result = runner.invoke(app, ["evaluate", "--agent", "greedy", "--env", "Nowhere-v0"])
    assert result.exit_code == 2
    assert "Nowhere-v0" in result.output


def test_ppo_needs_a_checkpoint():
    result = runner.invoke(app, ["evaluate", "--agent", "ppo"])
    assert result.exit_code == 2
    assert "--checkpoint" in result.output


def test_envs_lists_recoworld():
    result = runner.invoke(app, ["envs"])
    assert result.exit_code == 0
    assert "RecoWorld-v0" in result.output.split()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert recoworld.__version__ in result.output


def test_demo_prints_a_comparison_table():
    result = runner.invoke(app, ["demo", "--episodes", "5"])
    assert result.exit_code == 0, result.output
    for text in ("random", "oracle", "Return", "Coverage", "Exposure Gini", "±"):
        assert text in result.output


def test_evaluate_convrec_writes_sr_at_and_hdcg(tmp_path):
    out = tmp_path / "convrec.json"
    result = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "max-entropy", "--episodes", "5",
         "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert {"SR@5", "SR@10", "SR@15", "AT", "hDCG"} <= set(payload["metrics"])
    assert set(payload) == {"metrics", "ci95", "config", "usage", "run"}


def test_evaluate_convrec_rejects_a_recoworld_agent():
    result = runner.invoke(app, ["evaluate", "--env", "ConvRec-v0", "--agent", "oracle"])
    assert result.exit_code != 0
    assert "oracle" in result.output


def test_evaluate_scpr_from_a_checkpoint(tmp_path):
    import gymnasium as gym
    import numpy as np

    from recoworld.agents.scpr import (
        DQNConfig,
        save_scpr_checkpoint,
        scpr_env_kwargs,
        train_scpr_dqn,
    )
    from recoworld.agents.scpr.fm import FMConfig, train_fm

    core = gym.make("ConvRec-v0").unwrapped
    graph = core.graph
    interactions = {int(u): graph.items_of_user(int(u)).astype(np.int64) for u in graph.user_ids}
    fm = train_fm((core.catalog, interactions), FMConfig(embedding_dim=8, epochs=1), 0, False)
    tiny = DQNConfig(total_steps=200, learning_starts=50, batch_size=16, buffer_size=300)
    dqn = train_scpr_dqn(scpr_env_kwargs({}, fm), tiny, seed=0, progress=False)
    folder = save_scpr_checkpoint(tmp_path / "scpr", fm, dqn)
    out = tmp_path / "scpr.json"
    result = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "scpr", "--checkpoint", str(folder),
         "--episodes", "4", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["config"]["agent"] == "scpr"
    missing = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "scpr", "--checkpoint",
         str(tmp_path / "nope")],
    )  # fmt: skip
    assert missing.exit_code != 0
    assert "nope" in missing.output


def test_evaluate_writes_trajectories(tmp_path):
    out = tmp_path / "runs" / "greedy.jsonl"
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--episodes", "2", "--trajectories", str(out)],
    )
    assert result.exit_code == 0, result.output
    records = read_trajectories(out)
    assert {r["episode"] for r in records} == {0, 1}
    assert all(r["agent"] == "greedy" and r["episode_complete"] for r in records)
    assert "LLM calls" not in result.output  # no model ran: no usage rows


def test_evaluate_convrec_writes_trajectories(tmp_path):
    out = tmp_path / "convrec.jsonl"
    result = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "max-entropy", "--episodes", "2",
         "--trajectories", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {r["episode"] for r in read_trajectories(out)} == {0, 1}


def test_unwritable_trajectories_path_is_a_clear_error(tmp_path):
    result = runner.invoke(
        app, ["evaluate", "--agent", "greedy", "--episodes", "1", "--trajectories", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--trajectories" in result.output
    assert "Traceback" not in result.output


class CappedNarratedRecoWorld(RecoWorldEnv):
    """RecoWorld-v0 whose every step makes a $1 scripted LLM call, under a $2.50 cost cap:
    calls 1-3 go through, call 4 is refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        scripted = ScriptedChatModel(lambda messages: "ok", cost_per_token_usd=0.5)
        self.model = MeteredChatModel(scripted, UsageMeter(cost_cap_usd=2.5))

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = super().step(action)
        response = self.model.complete([{"role": "user", "content": "narrate"}])
        info["usage"] = response.usage.as_dict()
        return observation, reward, terminated, truncated, info


if "CappedNarratedRecoWorld-v0" not in gym.registry:
    gym.register(
        "CappedNarratedRecoWorld-v0", entry_point=CappedNarratedRecoWorld, max_episode_steps=2
    )


def test_cost_cap_stops_evaluate_with_its_report_and_a_nonzero_exit(tmp_path):
    out_json, out_jsonl = tmp_path / "capped.json", tmp_path / "capped.jsonl"
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--env", "CappedNarratedRecoWorld-v0",
         "--episodes", "4", "--json", str(out_json), "--trajectories", str(out_jsonl)],
    )  # fmt: skip
    assert result.exit_code == EXIT_STOPPED_EARLY == 3
    output = " ".join(result.output.split())
    assert "Stopped early after 1 of 4 episodes" in output
    assert "LLM cost cap of $2.5000 exceeded" in output
    assert "Traceback" not in result.output
    payload = json.loads(out_json.read_text())
    assert payload["run"]["stopped_early"] is True
    assert payload["run"]["episodes_completed"] == 1
    assert payload["usage"]["calls"] == 3
    records = read_trajectories(out_jsonl)
    assert [(r["episode"], r["step"], r["episode_complete"]) for r in records] == [
        (0, 0, True),
        (0, 1, True),
        (0, 2, True),
        (1, 0, False),
        (1, 1, False),
    ]


def test_demo_llm_plays_a_session_on_the_embedded_model():
    result = runner.invoke(app, ["demo", "--llm", "--turns", "1", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "Turn 1" in result.output
    assert "User's mindset" in result.output
    assert "calls" in result.output and "tokens" in result.output


def test_demo_llm_names_the_install_command_when_the_extra_is_missing(monkeypatch):
    from recoworld import demo
    from recoworld.llm.local import INSTALL_HINT, LocalModelUnavailable

    def missing():
        raise LocalModelUnavailable(f"the embedded model is not installed; {INSTALL_HINT}")

    monkeypatch.setattr(demo, "embedded_model_path", missing)
    result = runner.invoke(app, ["demo", "--llm"])
    assert result.exit_code == 1
    assert 'pip install -e ".[llm]"' in result.output
