"""SFT and DPO of a tiny random chat model: losses fall, budgets stop runs, inputs are checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from tiny_causal_lm import save_tiny_chat_model

from recoworld.training.dpo import (
    TRAINING_FILE,
    PreferencePair,
    SFTExample,
    StepLog,
    embedded_hf_model,
    train_dpo,
    train_sft,
)


def prompt(i: int) -> list:
    return [{"role": "user", "content": f"Pick one of A, B, C for case {i}."}]


SFT = [SFTExample(prompt(i), '{"choice": "' + "ABC"[i % 3] + '"}') for i in range(6)]
PAIRS = [PreferencePair(prompt(i), '{"choice": "A"}', '{"choice": "B"}') for i in range(6)]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "base")


def test_sft_lowers_the_loss_and_saves_the_model(base: Path, tmp_path: Path) -> None:
    seen: list[StepLog] = []
    result = train_sft(
        base,
        SFT,
        tmp_path / "sft",
        max_steps=6,
        learning_rate=3e-3,
        batch_size=3,
        threads=1,
        on_step=seen.append,
    )
    assert result.steps == 6 and len(result.losses) == 6
    assert result.losses[-1] < result.losses[0] - 0.1
    assert [step.step for step in seen] == [1, 2, 3, 4, 5, 6]
    assert result.reward_margins == () and not result.stopped_by_budget
    assert (tmp_path / "sft" / "config.json").is_file()
    assert (tmp_path / "sft" / "tokenizer_config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["sft"]  # no scratch folder left


def test_dpo_lowers_the_loss_and_widens_the_margin(base: Path, tmp_path: Path) -> None:
    result = train_dpo(
        base, PAIRS, tmp_path / "dpo", max_steps=6, learning_rate=3e-3, batch_size=3, threads=1
    )
    assert result.steps == 6
    assert result.losses[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy = reference
    assert result.losses[-1] < result.losses[0] - 0.02
    assert len(result.reward_margins) == 6 and result.reward_margins[-1] > 0


def test_time_budget_stops_after_one_step(base: Path, tmp_path: Path) -> None:
    result = train_sft(base, SFT, tmp_path / "quick", epochs=5, time_budget_s=1e-3, threads=1)
    assert result.steps == 1 and result.stopped_by_budget
    assert (tmp_path / "quick" / "config.json").is_file()


def test_same_seed_same_losses(base: Path, tmp_path: Path) -> None:
    runs = [
        train_sft(base, SFT, tmp_path / f"run{i}", max_steps=2, batch_size=2, seed=4, threads=1)
        for i in range(2)
    ]
    assert runs[0].losses == runs[1].losses


def test_existing_out_dir_is_refused_unless_overwrite(base: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="taken"):
        train_sft(base, SFT, tmp_path / "taken", max_steps=1)
    result = train_sft(base, SFT, tmp_path / "taken", max_steps=1, overwrite=True, threads=1)
    assert (result.out_dir / "config.json").is_file()
    written = json.loads((result.out_dir / TRAINING_FILE).read_text())
    assert written["kind"] == "sft" and written["steps"] == result.steps == 1
    # A folder of other files is never replaced, even with overwrite.
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"notes.*not replaced"):
        train_sft(base, SFT, notes, max_steps=1, overwrite=True)
    assert [path.name for path in notes.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"examples": []}, "examples"),
        ({"max_steps": 0}, "max_steps"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"time_budget_s": 0.0}, "time_budget_s"),
        ({"examples": [SFTExample([], "x")]}, r"examples\[0\].prompt"),
        ({"examples": [SFTExample(prompt(0), "")]}, r"examples\[0\].completion"),
    ],
)
def test_bad_sft_input_is_named(base: Path, tmp_path: Path, arguments: dict, named: str) -> None:
    options = {"examples": SFT, **arguments}
    examples = options.pop("examples")
    with pytest.raises(ValueError, match=named):
        train_sft(base, examples, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_an_example_longer_than_max_length_is_refused(base: Path, tmp_path: Path) -> None:
    long = [SFTExample(prompt(0), "x " * 200)]
    with pytest.raises(ValueError, match=r"examples\[0\] is \d+ tokens long.*max_length=64"):
        train_sft(base, long, tmp_path / "out", max_length=64)


def test_bad_dpo_input_is_named(base: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pairs"):
        train_dpo(base, [], tmp_path / "out")
    with pytest.raises(ValueError, match="beta"):
        train_dpo(base, PAIRS, tmp_path / "out", beta=0.0)
    same = [PreferencePair(prompt(0), "A", "A")]
    with pytest.raises(ValueError, match=r"pairs\[0\]: chosen and rejected"):
        train_dpo(base, same, tmp_path / "out")


def test_a_folder_without_a_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty.*config\.json"):
        train_sft(tmp_path / "empty", SFT, tmp_path / "out", max_steps=1)
    with pytest.raises(FileNotFoundError, match="missing"):
        train_sft(tmp_path / "missing", SFT, tmp_path / "out", max_steps=1)


def test_embedded_model_is_reused_from_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "smollm2-135m-instruct"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert embedded_hf_model(tmp_path) == folder  # found, not converted again
