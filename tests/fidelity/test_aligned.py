"""The llm-aligned scene simulator on a tiny random chat model with a scripted rationale model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trl")

from tiny_causal_lm import save_tiny_chat_model

from recoworld.catalog import Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity import fidelity_report, make_simulator, scenes
from recoworld.fidelity.aligned import (
    ANSWER_PREFIX,
    METADATA_FILE,
    AlignedSceneSimulator,
    answer_text,
)
from recoworld.llm import CostCapExceeded, Message, ScriptedChatModel

TRAIN_OPTIONS = {
    "train_scenes": 6,
    "min_history": 4,
    "n_choices": 4,
    "max_history": 3,
    "rationales_per_scene": 3,
    "keep_fraction": 0.7,
    "sft_learning_rate": 3e-3,
    "dpo_learning_rate": 3e-3,
    "batch_size": 2,
    "max_length": 2048,
    "time_budget_s": 60.0,
    "threads": 1,
    "score_batch_size": 3,
}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="module")
def world():
    """A seeded log: 8 users with 10 time-ordered interactions each among 40 items."""
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=40), seed=0)
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(8), 10)
    items = np.concatenate([rng.choice(40, size=10, replace=False) for _ in range(8)])
    ratings = rng.integers(1, 6, size=80).astype(np.float32)
    log = Interactions(users, items, ratings, np.tile(np.arange(10), 8))
    later = log.take(np.flatnonzero(log.timestamps == 9))
    valid = scenes(log, later, catalog, n_choices=4, seed=1)
    return catalog, log, valid


class Rationales:
    """A scripted rationale model: sampled answers cycle through the letters; guided answers
    give a rationale; every ``bad_every``-th request is malformed (no JSON)."""

    def __init__(self, bad_every: int = 0) -> None:
        self.requests = 0
        self.bad_every = bad_every
        self.prompts: list[str] = []

    def __call__(self, messages: list[Message]) -> str:
        self.requests += 1
        self.prompts.append(messages[0]["content"])
        if self.bad_every and self.requests % self.bad_every == 0:
            return "I would rather not say"
        if "You chose [" in messages[0]["content"]:
            return json.dumps({"rationale": f"it fits what I liked ({self.requests})"})
        letter = "ABCD"[(self.requests * 7) % 4]
        return json.dumps({"rationale": f"sounds good {self.requests}", "choice": letter})


def train(base: Path, world, out: Path, **options) -> AlignedSceneSimulator:
    catalog, log, _ = world
    script = options.pop("script", Rationales())
    simulator = AlignedSceneSimulator(
        seed=options.pop("seed", 0),
        rationale_llm=ScriptedChatModel(script),
        out=out,
        base_model=base,
        **{**TRAIN_OPTIONS, **options},
    )
    return simulator.fit(log, catalog)


@pytest.fixture(scope="module")
def trained(base, world, tmp_path_factory):
    out = tmp_path_factory.mktemp("aligned") / "checkpoint"
    script = Rationales(bad_every=5)
    simulator = train(base, world, out, script=script)
    return simulator, out, script


def test_pipeline_writes_a_checkpoint_with_metadata(trained) -> None:
    simulator, out, _ = trained
    assert simulator.checkpoint_dir == out
    assert (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file()
    metadata = json.loads((out / METADATA_FILE).read_text())
    assert metadata["seed"] == 0
    assert metadata["prompt_versions"] == {"fidelity_scene": "v1", "fidelity_rationale": "v1"}
    assert metadata["options"]["max_history"] == 3
    assert metadata["train_scenes"] == 6
    assert 1 <= metadata["sft_examples"] <= metadata["kept_scenes"] <= 6
    assert metadata["dpo_pairs"] >= 1
    assert metadata["sft"]["steps"] >= 1 and metadata["dpo"]["steps"] >= 1
    assert len(metadata["sft"]["losses"]) == metadata["sft"]["steps"]
    assert len(metadata["dpo"]["reward_margins"]) == metadata["dpo"]["steps"]
    assert not list(out.parent.glob(".checkpoint*"))  # no scratch folder left behind


def test_rationale_model_is_asked_what_the_model_is_trained_on(trained, world) -> None:
    simulator, _, script = trained
    *_, valid = world
    sampled = [p for p in script.prompts if "Which one item do you choose next?" in p]
    guided = [p for p in script.prompts if "You chose [" in p]
    assert sampled and guided
    assert all(p.count("Answer with only a JSON value") == 1 for p in script.prompts)
    # The scoring prompt of a scene is the sampled prompt the schema instruction gives.
    scored = simulator.prompt_messages(valid, 0)[0]["content"]
    assert scored.count("Answer with only a JSON value") == 1
    assert scored.endswith(sampled[0].split("\n\n")[-1])  # the same instruction


def test_usage_counts_every_scripted_call_including_malformed_ones(trained) -> None:
    simulator, out, script = trained
    metadata = json.loads((out / METADATA_FILE).read_text())
    # Each failed parse is re-asked: every request the script answered is a counted call.
    assert metadata["rationale_usage"]["calls"] == script.requests
    assert metadata["rationale_usage"]["failed_calls"] == script.requests // 5
    assert simulator.usage.calls >= script.requests
    # 6 scenes x (3 samples + 1 guided) answers were asked for; the malformed requests were
    # re-asked on top.
    assert script.requests > 6 * 4
    assert metadata["failed_rationales"] == simulator.failed_rationales


def test_malformed_rationales_are_counted_and_skipped(base, world, tmp_path) -> None:
    catalog, log, _ = world
    always_bad = ScriptedChatModel(lambda messages: "no json here", max_parse_retries=0)
    simulator = AlignedSceneSimulator(
        rationale_llm=always_bad, out=tmp_path / "out", base_model=base, **TRAIN_OPTIONS
    )
    with pytest.raises(ValueError, match="none of the 6 train scenes"):
        simulator.fit(log, catalog)
    assert simulator.failed_rationales == 6 * 4
    assert simulator.usage.calls == 6 * 4 and simulator.usage.failed_calls == 6 * 4
    assert not (tmp_path / "out").exists()
    # A second fit counts its own failures; the usage stays the simulator's total.
    with pytest.raises(
        ValueError, match=r"none of the 6 train scenes .*\(24 rationale calls failed\)"
    ):
        simulator.fit(log, catalog)
    assert simulator.failed_rationales == 6 * 4
    assert simulator.usage.calls == simulator.rationale_usage.calls == 2 * 6 * 4


def test_a_prompt_too_long_for_max_length_is_refused_before_any_call(base, world, tmp_path):
    catalog, log, _ = world
    script = Rationales()
    simulator = AlignedSceneSimulator(
        rationale_llm=ScriptedChatModel(script),
        out=tmp_path / "out",
        base_model=base,
        **{**TRAIN_OPTIONS, "max_length": 300},
    )
    with pytest.raises(ValueError, match=r"train scene 0's prompt is \d+ tokens.*max_history=3"):
        simulator.fit(log, catalog)
    assert script.requests == 0


def test_predictions_are_distributions_and_load_gives_the_same(trained, world) -> None:
    simulator, out, _ = trained
    catalog, log, valid = world
    before = simulator.usage
    probs = simulator.predict(valid)
    assert probs.shape == (len(valid), 4) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs > 0).all() and not np.allclose(probs, 0.25)  # soft, not uniform
    assert (simulator.usage - before).calls == len(valid)
    loaded = AlignedSceneSimulator.load(out).fit(log, catalog)
    np.testing.assert_array_equal(loaded.predict(valid), probs)
    report = fidelity_report(loaded, valid)
    assert np.isfinite(report.metrics["log_likelihood"])


def test_a_checkpoint_made_by_name_is_loaded_as_load_does(trained, world) -> None:
    simulator, out, _ = trained
    catalog, log, valid = world
    made = make_simulator("llm-aligned", checkpoint=out)
    assert isinstance(made, AlignedSceneSimulator)
    # The threads and batch size it was trained and scored with, not the constructor's defaults.
    assert (made.threads, made.score_batch_size) == (1, 3)
    np.testing.assert_array_equal(made.fit(log, catalog).predict(valid), simulator.predict(valid))
    with pytest.raises(ValueError, match="nothing is trained"):
        make_simulator("llm-aligned", checkpoint=out, llm="local")


def test_report_keeps_the_rationale_usage_apart_from_the_scoring(trained, world) -> None:
    simulator, out, script = trained
    *_, valid = world
    metrics = fidelity_report(simulator, valid).metrics
    training = json.loads((out / METADATA_FILE).read_text())["rationale_usage"]
    assert metrics["rationale_calls"] == training["calls"] == script.requests
    assert metrics["rationale_completion_tokens"] == training["completion_tokens"] > 0
    # The scoring: one prompt-only call per scene scored so far, no completion tokens.
    assert metrics["llm_calls"] == (simulator.usage - simulator.rationale_usage).calls
    assert metrics["llm_calls"] >= len(valid) and metrics["completion_tokens"] == 0


def test_train_scenes_mix_users_across_samplers_on_a_user_sorted_log(base, world) -> None:
    catalog, log, _ = world
    assert (np.diff(log.users) >= 0).all()  # sorted by user
    simulator = AlignedSceneSimulator(base_model=base, **{**TRAIN_OPTIONS, "train_scenes": 24})
    built = simulator._train_scenes(log, catalog)
    popularity, uniform = set(built.users[:12].tolist()), set(built.users[12:].tolist())
    assert len(popularity & uniform) >= 4  # sorted targets split in order would share <= 1


def test_more_choices_than_catalog_items_is_refused(base, tmp_path) -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=6), seed=0)
    users = np.repeat(np.arange(2), 6)
    log = Interactions(
        users, np.tile(np.arange(6), 2), np.ones(12, np.float32), np.tile(np.arange(6), 2)
    )
    script = Rationales()
    simulator = AlignedSceneSimulator(
        rationale_llm=ScriptedChatModel(script),
        out=tmp_path / "out",
        base_model=base,
        **{**TRAIN_OPTIONS, "n_choices": 7},
    )
    with pytest.raises(ValueError, match="n_choices=7 exceeds the catalog's 6 items"):
        simulator.fit(log, catalog)
    assert script.requests == 0


def test_save_copies_and_refuses_an_existing_folder(trained, world, tmp_path) -> None:
    simulator, _, _ = trained
    catalog, log, valid = world
    saved = simulator.save(tmp_path / "copy")
    with pytest.raises(FileExistsError, match="copy"):
        simulator.save(tmp_path / "copy")
    simulator.save(tmp_path / "copy", overwrite=True)
    copy = AlignedSceneSimulator.load(saved).fit(log, catalog)
    np.testing.assert_array_equal(copy.predict(valid), simulator.predict(valid))


def test_existing_out_is_refused_unless_overwrite_and_same_seed_same_model(
    trained, base, world, tmp_path
) -> None:
    simulator, _, _ = trained
    out = simulator.save(tmp_path / "taken")
    with pytest.raises(FileExistsError, match="taken"):
        AlignedSceneSimulator(out=out, base_model=base)
    # Trained again with the same seed into the same folder: the same model.
    again = train(base, world, out, overwrite=True, script=Rationales(bad_every=5))
    assert json.loads((out / METADATA_FILE).read_text())["seed"] == 0
    *_, valid = world
    np.testing.assert_array_equal(again.predict(valid), simulator.predict(valid))
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an llm-aligned checkpoint"):
        AlignedSceneSimulator(out=other, overwrite=True, base_model=base)
    assert (other / "keep.txt").read_text() == "mine"


def test_missing_or_corrupted_metadata_is_named(trained, world, base, tmp_path) -> None:
    _, out, _ = trained
    with pytest.raises(FileNotFoundError, match=METADATA_FILE):
        AlignedSceneSimulator.load(base)
    broken = tmp_path / "broken"
    AlignedSceneSimulator.load(out).save(broken)
    (broken / METADATA_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        AlignedSceneSimulator.load(broken)
    metadata = json.loads((out / METADATA_FILE).read_text())
    del metadata["seed"]
    (broken / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="'seed'"):
        AlignedSceneSimulator.load(broken)
    catalog, log, _ = world
    with pytest.raises(FileNotFoundError, match="nowhere"):
        AlignedSceneSimulator(checkpoint=tmp_path / "nowhere").fit(log, catalog)


def test_untrained_scores_the_base_model_alike_in_any_batch(base, world) -> None:
    catalog, log, valid = world
    simulator = AlignedSceneSimulator.untrained(base, max_history=3).fit(log, catalog)
    probs = simulator.predict(valid)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert simulator.usage.calls == len(valid)
    # Left padding in a batch of 8 changes nothing but float rounding against one at a time.
    alone = AlignedSceneSimulator.untrained(base, max_history=3, score_batch_size=1)
    np.testing.assert_allclose(alone.fit(log, catalog).predict(valid), probs, atol=1e-6)
    with pytest.raises(ValueError, match="no aligned checkpoint"):
        simulator.save("unused")


def test_cost_cap_propagates_with_its_usage(base, world, tmp_path) -> None:
    catalog, log, _ = world
    simulator = AlignedSceneSimulator(
        rationale_llm={"model": ScriptedChatModel(Rationales()), "token_cap": 30},
        out=tmp_path / "out",
        base_model=base,
        **TRAIN_OPTIONS,
    )
    with pytest.raises(CostCapExceeded):
        simulator.fit(log, catalog)
    assert simulator.usage.calls >= 1


def test_answer_format_puts_the_choice_first() -> None:
    text = answer_text("C", "I like rock")
    assert text.startswith(ANSWER_PREFIX + "C")
    assert json.loads(text) == {"choice": "C", "rationale": "I like rock"}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("keep_fraction", 0.0),
        ("rationales_per_scene", 0),
        ("time_budget_s", -1.0),
        ("negatives", ("sideways",)),
        ("n_choices", 1),
    ],
)
def test_bad_options_are_named(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        AlignedSceneSimulator(**{option: value})  # type: ignore[arg-type]
