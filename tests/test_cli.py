"""The ``recoworld`` command through typer's test runner."""

import json

from typer.testing import CliRunner

import recoworld
from recoworld.cli import app

runner = CliRunner()


def test_evaluate_writes_json_and_plot(tmp_path):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--episodes", "3",
         "--json", str(out_json), "--plot", str(out_png)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(json.loads(out_json.read_text())) == {"metrics", "ci95", "config"}
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
    result = runner.invoke(app, ["demo", "--episodes", "2"])
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
    assert set(payload) == {"metrics", "ci95", "config"}


def test_evaluate_convrec_rejects_a_recoworld_agent():
    result = runner.invoke(app, ["evaluate", "--env", "ConvRec-v0", "--agent", "oracle"])
    assert result.exit_code != 0
    assert "oracle" in result.output


def test_evaluate_scpr_from_a_checkpoint(tmp_path):
    import gymnasium as gym
    import numpy as np

    from recoworld.agents.fm import FMConfig, train_fm
    from recoworld.agents.scpr import DQNConfig, save_scpr, scpr_env_kwargs, train_scpr_dqn

    core = gym.make("ConvRec-v0").unwrapped
    graph = core.graph
    interactions = {int(u): graph.items_of_user(int(u)).astype(np.int64) for u in graph.user_ids}
    fm = train_fm((core.catalog, interactions), FMConfig(embedding_dim=8, epochs=1), 0, False)
    tiny = DQNConfig(total_steps=200, learning_starts=50, batch_size=16, buffer_size=300)
    dqn = train_scpr_dqn(scpr_env_kwargs({}, fm), tiny, seed=0, progress=False)
    folder = save_scpr(tmp_path / "scpr", fm, dqn)
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
