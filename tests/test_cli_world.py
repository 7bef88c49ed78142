"""``recoworld world-fidelity`` on a tiny generated MovieLens folder."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli_fidelity import N_ITEMS, N_USERS, write_movielens
from typer.testing import CliRunner

from recoworld.cli import app

runner = CliRunner()


def test_world_fidelity_prints_and_writes_the_comparison(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml", per_user=16)
    out = tmp_path / "world.json"
    args = [
        "world-fidelity", "--dataset-path", str(folder), "--agents", "random,popular",
        "--users", "3", "--calibration-users", "4", "--num-candidates", "20",
        "--slate-size", "5", "--seed", "1", "--json", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{N_USERS} fitted users, {N_ITEMS} items" in result.output
    assert "KS statistic of activity" in result.output
    payload = json.loads(out.read_text())
    assert set(payload["metrics"]) == {"random", "popular", "real"}
    assert payload["metrics"]["real"]["users"] == 3
    assert payload["metrics"]["random"]["sessions"] == 3
    calibration = payload["calibration"]
    assert len(calibration["users"]) == 4
    # the users compared are held out of the calibration
    assert not set(payload["config"]["user_ids"]) & set(calibration["users"])
    assert calibration["env_settings"] == {"num_candidates": 20, "slate_size": 5}
    assert calibration["ks_activity"] == min(calibration["ks_tried"])
    # same seed, same figures; an existing file is refused before any work
    again = runner.invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert json.loads(out.read_text()) == payload
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "exists; pass --overwrite" in refused.output


def test_world_fidelity_without_calibration(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml", per_user=16)
    result = runner.invoke(
        app,
        [
            "world-fidelity", "--dataset-path", str(folder), "--agents", "random",
            "--users", "3", "--calibration-users", "0", "--num-candidates", "20",
            "--slate-size", "5",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(not calibrated)" in result.output


def test_world_fidelity_bad_input_is_one_error_line(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml", per_user=16)
    cases = [
        (["--agents", "random,nobody"], "--agents 'random,nobody': choose from"),
        (["--dataset", "csv"], "--dataset 'csv': choose one of"),
        ([], "num_candidates=100 exceeds the catalog's 30 items"),
    ]
    for extra, message in cases:
        result = runner.invoke(
            app, ["world-fidelity", "--dataset-path", str(folder), "--users", "2", *extra]
        )
        assert result.exit_code == 2, result.output
        assert message in result.output
    # an output that cannot be written is refused before the fit (here: a folder that cannot be
    # made under /proc)
    unwritable = runner.invoke(
        app, ["world-fidelity", "--dataset-path", str(folder), "--json", "/proc/nope/w.json"]
    )
    assert unwritable.exit_code == 2 and "cannot be created" in unwritable.output
    assert "fitted users" not in unwritable.output
    missing = runner.invoke(app, ["world-fidelity", "--dataset-path", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "is not a folder" in missing.output
