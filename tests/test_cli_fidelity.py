"""``recoworld fidelity`` on tiny generated MovieLens and SCPR folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recoworld.cli import app

runner = CliRunner()

GENRES = ("unknown", "Action", "Comedy", "Drama")
OCCUPATIONS = ("artist", "engineer", "other")
N_ITEMS, N_USERS = 30, 8


def write_movielens(root: Path, seed: int = 0, per_user: int = 10) -> Path:
    """A MovieLens folder in the ml-100k format: each user rates ``per_user`` distinct movies in
    time order; the last 3 go to ratings_valid.tsv, the others to ratings_train.tsv."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "u.genre").write_text(
        "".join(f"{name}|{i}\n" for i, name in enumerate(GENRES)), encoding="latin-1"
    )
    (root / "u.occupation").write_text("\n".join(OCCUPATIONS) + "\n", encoding="latin-1")
    items = []
    for item in range(1, N_ITEMS + 1):
        flags = ["0"] * len(GENRES)
        flags[1 + item % (len(GENRES) - 1)] = "1"
        year = 1970 + item
        items.append(f"{item}|Movie {item} ({year})|01-Jan-{year}||http://x|" + "|".join(flags))
    (root / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    users = [
        f"{u}|{20 + u}|{'MF'[u % 2]}|{OCCUPATIONS[u % 3]}|1000{u}" for u in range(1, N_USERS + 1)
    ]
    (root / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
    train, valid = [], []
    for user in range(1, N_USERS + 1):
        movies = rng.choice(np.arange(1, N_ITEMS + 1), size=per_user, replace=False)
        for k, movie in enumerate(movies):
            line = f"{user}\t{movie}\t{1 + (user + k) % 5}\t{880000000 + 1000 * k + user}"
            (train if k < per_user - 3 else valid).append(line)
    (root / "ratings_train.tsv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (root / "ratings_valid.tsv").write_text("\n".join(valid) + "\n", encoding="utf-8")
    return root


def write_scpr(root: Path) -> Path:
    """A small SCPR folder: 40 items with 36 attributes (the loader's 32-dimensional SVD needs
    more than 32 of each), 4 users."""
    root.mkdir(parents=True, exist_ok=True)
    items = {str(i): {"feature_index": [i % 36, (i + 1) % 36, (i + 7) % 36]} for i in range(40)}
    users = {str(u): {"friends": [], "like": [u % 36]} for u in range(4)}
    files = {
        "item_dict.json": items,
        "user_dict.json": users,
        "original_tag_map.json": {str(100 + a): a for a in range(36)},
        "review_dict_train.json": {str(u): [u, u + 1, u + 2] for u in range(4)},
        "review_dict_valid.json": {str(u): [u + 6, u + 7] for u in range(4)},
    }
    for name, content in files.items():
        (root / name).write_text(json.dumps(content), encoding="utf-8")
    return root


def test_fidelity_on_a_movielens_folder_writes_json_and_plot(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml")
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    args = [
        "fidelity", "--simulator", "popularity", "--dataset-path", str(folder),
        "--n-choices", "4", "--negatives", "uniform", "--seed", "3", "--json", str(out_json),
    ]  # fmt: skip
    if _has_matplotlib():
        args += ["--plot", str(out_png)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(out_json.read_text())
    assert set(payload) == {"metrics", "ci95", "config", "reliability"}
    metrics = payload["metrics"]
    assert metrics["scenes"] == N_USERS * 3 and metrics["chance"] == 0.25
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert payload["config"]["split"] == "valid" and payload["config"]["negatives"] == "uniform"
    assert "Accuracy" in result.output
    if _has_matplotlib():
        assert out_png.read_bytes()[:4] == b"\x89PNG"
    # Same seed, same scenes, same numbers; an existing output is refused before any work.
    again = runner.invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert json.loads(out_json.read_text())["metrics"] == metrics
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "exists; pass --overwrite" in refused.output


def test_random_simulator_scores_chance_and_split_may_be_another_file(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml")
    elsewhere = tmp_path / "held_out.tsv"
    elsewhere.write_text("1\t1\t5\t990000000\n2\t2\t4\t990000001\n", encoding="utf-8")
    out_json = tmp_path / "random.json"
    result = runner.invoke(
        app,
        ["fidelity", "--simulator", "random", "--dataset-path", str(folder),
         "--split", str(elsewhere), "--json", str(out_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(out_json.read_text())
    assert payload["metrics"]["accuracy"] == 0.2 and payload["metrics"]["scenes"] == 2
    assert payload["config"]["split"] == str(elsewhere)


def test_fidelity_on_an_scpr_folder(tmp_path: Path) -> None:
    folder = write_scpr(tmp_path / "lastfm")
    out_json = tmp_path / "scpr.json"
    result = runner.invoke(
        app,
        ["fidelity", "--dataset", "scpr", "--dataset-path", str(folder), "--scenes", "5",
         "--n-choices", "3", "--json", str(out_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(out_json.read_text())
    assert payload["metrics"]["scenes"] == 5 and payload["config"]["dataset"] == "scpr"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--simulator", "oracle"], "--simulator 'oracle': choose one of random, popularity"),
        (["--negatives", "nearest"], "--negatives 'nearest': choose one of"),
        (["--dataset", "netflix"], "--dataset 'netflix': choose one of movielens, scpr"),
        (["--scenes", "1000"], "--scenes 1000 exceeds the 24 interactions"),
        (["--split", "missing.tsv"], "missing.tsv"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path: Path, extra: list[str], message: str) -> None:
    folder = write_movielens(tmp_path / "ml")
    result = runner.invoke(app, ["fidelity", "--dataset-path", str(folder), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fidelity", "--dataset-path", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "is not a folder" in result.output


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize("simulator", ["latent-fitted", "sequential"])
def test_fitted_simulators_run_from_the_command_line(tmp_path: Path, simulator: str) -> None:
    if simulator == "sequential":
        pytest.importorskip("torch", reason="the sequential simulator needs the train extra")
    # latent-fitted fits its choice model on train rows with at least 10 earlier rows
    folder = write_movielens(tmp_path / "ml", per_user=16)
    out_json = tmp_path / f"{simulator}.json"
    args = ["fidelity", "--simulator", simulator, "--dataset-path", str(folder),
            "--json", str(out_json)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(out_json.read_text())
    assert payload["config"]["simulator"] == simulator
    assert 0.0 <= payload["metrics"]["accuracy"] <= 1.0
    assert payload["metrics"]["log_likelihood"] <= 0.0
