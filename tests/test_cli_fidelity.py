"""``recoworld fidelity`` on tiny generated MovieLens and SCPR folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def scripted_models(monkeypatch: pytest.MonkeyPatch, cost_per_token_usd: float = 0.0) -> list[dict]:
    """Route litellm model strings to a scripted model that always names letter A (the cache,
    caps and meters still come from the real factory); returns the arguments each build got."""
    import recoworld.llm.settings as settings_module
    from recoworld.llm import ScriptedChatModel

    real = settings_module.make_chat_model
    builds: list[dict] = []

    def fake(spec: object, **kwargs: object) -> object:
        builds.append({"spec": spec, **kwargs})
        for key in ("api_base", "input_cost_per_token", "output_cost_per_token"):
            kwargs.pop(key)
        model = ScriptedChatModel(
            lambda messages: json.dumps({"rationale": "the first one", "choice": "A"}),
            cost_per_token_usd=cost_per_token_usd,
        )
        return real(model, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(settings_module, "make_chat_model", fake)
    return builds


def test_llm_options_configure_the_answering_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = scripted_models(monkeypatch, cost_per_token_usd=1e-6)
    folder = write_movielens(tmp_path / "ml")
    out_json = tmp_path / "llm.json"
    result = runner.invoke(
        app,
        ["fidelity", "--simulator", "llm", "--dataset-path", str(folder), "--scenes", "4",
         "--llm", "openai/scripted", "--api-base", "http://127.0.0.1:9/v1",
         "--cost-cap-usd", "1", "--json", str(out_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {build["spec"] for build in builds} == {"openai/scripted"}
    assert builds[-1]["api_base"] == "http://127.0.0.1:9/v1" and builds[-1]["cost_cap_usd"] == 1
    payload = json.loads(out_json.read_text())
    assert set(payload) == {"metrics", "ci95", "config", "reliability"}
    metrics = payload["metrics"]
    assert metrics["llm_calls"] == 4 and metrics["failed_scenes"] == 0
    assert metrics["prompt_tokens"] > 0 and metrics["cost_usd"] > 0
    assert payload["config"]["llm"]["model"] == "openai/scripted"
    assert "LLM requests sent" in result.output and "Prompt tokens" in result.output


def test_a_spent_cost_cap_stops_with_exit_code_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_models(monkeypatch, cost_per_token_usd=1e-3)
    folder = write_movielens(tmp_path / "ml")
    out_json = tmp_path / "llm.json"
    result = runner.invoke(
        app,
        ["fidelity", "--simulator", "llm", "--dataset-path", str(folder), "--llm",
         "openai/scripted", "--cost-cap-usd", "0.01", "--json", str(out_json)],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "Stopped" in result.output and "cost cap" in result.output
    assert not out_json.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--simulator", "popularity", "--llm", "openai/x"],
         "--llm: --simulator popularity uses no language model (the LLM options are for llm, "
         "llm-aligned)"),
        (["--simulator", "latent-fitted", "--token-cap", "5", "--api-base", "http://x"],
         "--api-base, --token-cap: --simulator latent-fitted uses no language model"),
        (["--simulator", "llm", "--input-cost-per-token", "0.1"],
         "--input-cost-per-token and --output-cost-per-token go together"),
        (["--simulator", "random", "--checkpoint", "."],
         "--checkpoint: --simulator random is not fitted, so there is nothing to load (it is "
         "for latent-fitted, sequential, llm-aligned)"),
        (["--simulator", "llm", "--save", "out"],
         "--save: --simulator llm is not fitted, so there is nothing to save"),
        (["--simulator", "latent-fitted", "--checkpoint", "nowhere"],
         "--checkpoint nowhere does not exist"),
    ],
)  # fmt: skip
def test_options_for_another_simulator_are_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str
) -> None:
    folder = write_movielens(tmp_path / "ml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["fidelity", "--dataset-path", str(folder), *extra])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output


def test_save_then_score_the_checkpoint(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml", per_user=16)
    saved, first, second = tmp_path / "model", tmp_path / "fit.json", tmp_path / "loaded.json"
    common = ["fidelity", "--simulator", "latent-fitted", "--dataset-path", str(folder)]
    result = runner.invoke(app, [*common, "--save", str(saved), "--json", str(first)])
    assert result.exit_code == 0, result.output
    assert f"Saved the fitted latent-fitted simulator to {saved}" in result.output
    result = runner.invoke(app, [*common, "--checkpoint", str(saved), "--json", str(second)])
    assert result.exit_code == 0, result.output
    fitted, loaded = json.loads(first.read_text()), json.loads(second.read_text())
    assert loaded["metrics"] == fitted["metrics"]
    assert loaded["config"]["checkpoint"] == str(saved)
    # An existing folder is refused before any work, and replaced with --overwrite.
    again = runner.invoke(app, [*common, "--save", str(saved)])
    assert again.exit_code == 2 and "exists; pass --overwrite" in again.output
    assert runner.invoke(app, [*common, "--save", str(saved), "--overwrite"]).exit_code == 0
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    kept = runner.invoke(app, [*common, "--save", str(notes), "--overwrite"])
    assert kept.exit_code == 2 and "not a saved simulator" in kept.output
    assert sorted(path.name for path in notes.iterdir()) == ["keep.txt"]
    both = runner.invoke(app, [*common, "--save", str(tmp_path / "b"), "--checkpoint", str(saved)])
    assert both.exit_code == 2 and "give one" in both.output
    # The checkpoint was fitted on this MovieLens catalog, not on the SCPR one.
    scpr = write_scpr(tmp_path / "lastfm")
    other = runner.invoke(
        app,
        ["fidelity", "--simulator", "latent-fitted", "--dataset", "scpr", "--dataset-path",
         str(scpr), "--checkpoint", str(saved)],
    )  # fmt: skip
    assert other.exit_code == 2, other.output
    assert f"catalog of {N_ITEMS} items; the catalog given has 40" in " ".join(other.output.split())
    # A damaged checkpoint is named.
    (saved / "simulator.json").write_text('{"format": "recoworld.fidelity.LatentFittedSimulator"}')
    broken = runner.invoke(app, [*common, "--checkpoint", str(saved)])
    assert broken.exit_code == 2 and "field 'version'" in broken.output


def test_llm_aligned_gets_the_rationale_model_and_the_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    from recoworld.llm import Usage

    scripted_models(monkeypatch)
    made: list[dict] = []
    cache = tmp_path / "cache"

    class StandIn:
        name = "llm-aligned"

        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)
            self.out, self.on_progress = kwargs["out"], kwargs["on_progress"]
            self.usage = Usage(calls=6, prompt_tokens=60, completion_tokens=12)
            self.rationale_usage = Usage(calls=4, prompt_tokens=40, completion_tokens=12)
            self.failed_scenes = 1
            self.checkpoint_dir: Path | None = None

        def fit(self, history: object, catalog: object) -> StandIn:
            for line in ("train scenes: 2", "rationales: scene 1/2", "SFT step 1: loss 1.0"):
                self.on_progress(line)
            folder = self.out if self.out is not None else cache / f"run{len(made)}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "recoworld_aligned.json").write_text('{"format": "recoworld-aligned"}')
            self.checkpoint_dir = folder
            return self

        def predict(self, scenes: object) -> np.ndarray:
            n, k = scenes.choices.shape  # type: ignore[attr-defined]
            return np.full((n, k), 1.0 / k)

        def save(self, path: Path, *, overwrite: bool = False) -> Path:
            raise AssertionError("llm-aligned trains into --save: nothing is copied")

    module = types.ModuleType("recoworld.fidelity.aligned")
    module.AlignedSceneSimulator = StandIn  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recoworld.fidelity.aligned", module)
    folder = write_movielens(tmp_path / "ml")
    out_json, saved = tmp_path / "aligned.json", tmp_path / "aligned"
    common = ["fidelity", "--simulator", "llm-aligned", "--dataset-path", str(folder)]
    result = runner.invoke(
        app,
        [*common, "--seed", "2", "--llm", "openai/scripted", "--save", str(saved), "--json",
         str(out_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    options = made[0]
    assert callable(options.pop("on_progress"))
    assert options == {
        "seed": 2,
        "rationale_llm": {"model": "openai/scripted"},
        "out": saved,
        "overwrite": False,
    }
    assert (saved / "recoworld_aligned.json").is_file()  # trained there, not copied
    text = " ".join(result.output.split())
    assert "llm-aligned: train scenes: 2" in text and "llm-aligned: checkpoint folder" in text
    written = json.loads(out_json.read_text())
    metrics = written["metrics"]
    # The scoring's requests and the training's rationale requests, apart.
    assert metrics["llm_calls"] == 2 and metrics["prompt_tokens"] == 20
    assert metrics["rationale_calls"] == 4 and metrics["rationale_completion_tokens"] == 12
    assert metrics["failed_scenes"] == 1
    assert written["config"]["trained_checkpoint"] == str(saved)
    # Without --save the checkpoint folder under the cache is named.
    cached = runner.invoke(app, [*common, "--json", str(out_json), "--overwrite"])
    assert cached.exit_code == 0, cached.output
    assert json.loads(out_json.read_text())["config"]["trained_checkpoint"] == str(cache / "run2")
    assert "The trained llm-aligned checkpoint is in" in " ".join(cached.output.split())
    # An llm-aligned checkpoint is scored as it is: no rationale model to configure.
    both = runner.invoke(app, [*common, "--checkpoint", str(saved), "--llm", "openai/scripted"])
    assert both.exit_code == 2, both.output
    assert "--llm: the llm-aligned --checkpoint" in " ".join(both.output.split())
    # A folder another simulator saved is refused before anything runs, even with --overwrite;
    # a folder this simulator wrote is replaced.
    latent = tmp_path / "latent"
    latent.mkdir()
    (latent / "simulator.json").write_text('{"format": "recoworld.fidelity.LatentFittedSimulator"}')
    taken = runner.invoke(app, [*common, "--save", str(latent), "--overwrite"])
    assert taken.exit_code == 2 and "holds a saved latent-fitted simulator" in taken.output
    other = ["fidelity", "--simulator", "latent-fitted", "--dataset-path", str(folder)]
    refused = runner.invoke(app, [*other, "--save", str(saved), "--overwrite"])
    assert refused.exit_code == 2 and "saved llm-aligned simulator" in refused.output
    assert len(made) == 2
    again = runner.invoke(app, [*common, "--save", str(saved), "--overwrite"])
    assert again.exit_code == 0, again.output
    assert made[-1]["out"] == saved and made[-1]["overwrite"] is True
    monkeypatch.setitem(sys.modules, "recoworld.fidelity.aligned", None)  # not installed
    missing = runner.invoke(app, common)
    assert missing.exit_code == 1
    assert 'pip install -e ".[align]"' in " ".join(missing.output.split())


def test_save_markers_are_those_the_simulators_write() -> None:
    from recoworld.cli import _FIDELITY_SAVED_AS
    from recoworld.fidelity import aligned, latent_fitted, sequential, simulators

    for module, name in ((latent_fitted, "latent-fitted"), (sequential, "sequential")):
        assert _FIDELITY_SAVED_AS[name] == (simulators.METADATA_FILE, module.CHECKPOINT_FORMAT)
    assert _FIDELITY_SAVED_AS["llm-aligned"] == (aligned.METADATA_FILE, aligned.METADATA_FORMAT)
    assert set(_FIDELITY_SAVED_AS) == {
        name
        for name in simulators.simulator_names()
        if "checkpoint" in simulators.simulator_options(name)
    }


def test_help_says_what_llm_aligned_needs() -> None:
    result = runner.invoke(app, ["fidelity", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    assert 'needs the align extra: pip install -e ".[align]"' in text
    for flag in (
        "--llm",
        "--llm-cache",
        "--cost-cap-usd",
        "--api-base",
        "--token-cap",
        "--input-cost-per-token",
        "--output-cost-per-token",
        "--checkpoint",
        "--save",
    ):
        assert flag in text  # fmt: skip
