"""Baseline simulators, the registry and the fidelity report."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from recoworld.catalog import Catalog, Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity import (
    PopularitySimulator,
    RandomSimulator,
    SceneConfig,
    Scenes,
    SceneSimulator,
    fidelity_report,
    make_simulator,
    scenes,
    simulator_names,
    simulator_options,
)
from recoworld.fidelity.report import RATIONALE_METRICS, USAGE_METRICS
from recoworld.llm import ScriptedChatModel, Usage


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(SyntheticCatalogConfig(n_items=40), seed=2)


def hand_scenes(choices: list[list[int]], answers: list[int], lengths: list[int]) -> Scenes:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    n = len(choices)
    return Scenes(
        users=np.arange(n, dtype=np.int64),
        history_offsets=offsets,
        history_items=np.zeros(total, dtype=np.int64),
        history_ratings=np.ones(total, dtype=np.float32),
        history_timestamps=np.zeros(total, dtype=np.int64),
        choices=np.asarray(choices, dtype=np.int64),
        answers=np.asarray(answers, dtype=np.int64),
        target_rows=np.arange(n, dtype=np.int64),
        target_timestamps=np.ones(n, dtype=np.int64),
        config=SceneConfig(n_choices=len(choices[0]), negatives="uniform", seed=0, limit=None),
    )


def test_popularity_probabilities_by_hand(catalog: Catalog) -> None:
    # Item 0 seen 3 times, item 1 once, item 2 never: weights 4, 2, 1 (smoothed by +1).
    train = Interactions(np.array([0, 1, 2, 3]), np.array([0, 0, 0, 1]), np.ones(4), np.arange(4))
    model = PopularitySimulator().fit(train, catalog)
    p = model.predict(hand_scenes([[0, 1, 2], [2, 3, 1]], [0, 0], [0, 0]))
    assert p[0].tolist() == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert p[1].tolist() == pytest.approx([1 / 4, 1 / 4, 2 / 4])
    with pytest.raises(ValueError, match="call fit"):
        PopularitySimulator().predict(hand_scenes([[0, 1]], [0], [0]))


def test_registry_lists_only_what_exists() -> None:
    assert simulator_names() == [
        "random", "popularity", "latent-fitted", "llm", "sequential", "llm-aligned"
    ]  # fmt: skip
    for name in simulator_names():
        if name == "llm-aligned":  # the align extra; its factory is tested with a stand-in below
            continue
        simulator = make_simulator(name, seed=3)
        assert isinstance(simulator, SceneSimulator) and simulator.name == name
    assert isinstance(make_simulator("random"), RandomSimulator)
    with pytest.raises(ValueError, match="simulator='no-such' must be one of"):
        make_simulator("no-such")
    assert simulator_options("llm") == ("llm",)
    assert simulator_options("llm-aligned") == ("llm", "checkpoint")
    assert simulator_options("sequential") == ("checkpoint",)
    assert simulator_options("popularity") == ()


@pytest.mark.parametrize(
    ("name", "option", "message"),
    [
        ("popularity", "llm", "simulator 'popularity' uses no language model: llm= is for llm, "
         "llm-aligned"),
        ("latent-fitted", "llm", "simulator 'latent-fitted' uses no language model"),
        ("random", "checkpoint", "simulator 'random' is not fitted, so has nothing to load: "
         "checkpoint= is for latent-fitted, sequential, llm-aligned"),
        ("llm", "checkpoint", "simulator 'llm' is not fitted"),
    ],
)  # fmt: skip
def test_options_for_another_simulator_are_refused(
    tmp_path: Path, name: str, option: str, message: str
) -> None:
    value: object = ScriptedChatModel([]) if option == "llm" else tmp_path
    with pytest.raises(ValueError, match=re.escape(message)):
        make_simulator(name, **{option: value})  # type: ignore[arg-type]


def test_llm_option_configures_the_answering_model(catalog: Catalog) -> None:
    log = Interactions(np.array([0, 0, 1]), np.array([3, 4, 5]), np.ones(3), np.array([1, 2, 1]))
    built = scenes(log, log.take(np.array([1, 2])), catalog, n_choices=3, seed=0)
    model = ScriptedChatModel(
        [json.dumps({"rationale": "fits", "choice": "B"}), "no letter", "still none", "nope"],
        cost_per_token_usd=0.01,
    )
    simulator = make_simulator("llm", seed=1, llm={"model": model, "max_tokens": 64})
    report = fidelity_report(simulator.fit(log, catalog), built)
    assert len(model.calls) == 4  # one answer, then a malformed one asked again twice
    usage = simulator.usage  # type: ignore[attr-defined]
    metrics = report.metrics
    assert metrics["llm_calls"] == usage.calls == 4
    assert metrics["llm_failed_calls"] == usage.failed_calls > 0
    assert metrics["prompt_tokens"] == usage.prompt_tokens > 0
    assert metrics["completion_tokens"] == usage.completion_tokens > 0
    assert metrics["cost_usd"] == pytest.approx(usage.cost_usd) and usage.cost_usd > 0
    assert metrics["failed_scenes"] == 1 and metrics["scenes"] == 2
    payload = report.to_dict()
    assert set(payload) == {"metrics", "ci95", "config", "reliability"}
    assert payload["metrics"]["llm_calls"] == 4
    text = _render(report.table())
    assert "LLM requests sent" in text and "Scenes answered by chance (failed)" in text
    assert f"${usage.cost_usd:.4f}" in text


def test_usage_is_reported_where_given_and_only_then(catalog: Catalog) -> None:
    train = Interactions(np.array([0, 0]), np.array([1, 2]), np.ones(2), np.arange(2))
    built = hand_scenes([[1, 3], [2, 3]], [0, 1], [1, 2])
    model = PopularitySimulator().fit(train, catalog)
    plain = fidelity_report(model, built)
    assert not set(USAGE_METRICS) & set(plain.metrics)
    given = fidelity_report(model, built, usage=Usage(calls=3, prompt_tokens=7, cost_usd=0.5))
    assert given.metrics["llm_calls"] == 3 and given.metrics["prompt_tokens"] == 7
    assert given.metrics["cost_usd"] == 0.5 and given.metrics["failed_scenes"] == 0
    with pytest.raises(ValueError, match=r"usage=3 must be a recoworld\.llm\.Usage"):
        fidelity_report(model, built, usage=3)  # type: ignore[arg-type]


def test_training_rationale_usage_is_reported_apart_from_the_scoring(catalog: Catalog) -> None:
    train = Interactions(np.array([0, 0]), np.array([1, 2]), np.ones(2), np.arange(2))
    built = hand_scenes([[1, 3], [2, 3]], [0, 1], [1, 2])
    model = PopularitySimulator().fit(train, catalog)
    # As llm-aligned keeps them: usage is everything, rationale_usage the training's part.
    model.usage = Usage(calls=10, prompt_tokens=100, completion_tokens=8, cost_usd=0.25)  # type: ignore[attr-defined]
    model.rationale_usage = Usage(calls=4, prompt_tokens=40, completion_tokens=8, cost_usd=0.25)  # type: ignore[attr-defined]
    metrics = fidelity_report(model, built).metrics
    assert metrics["llm_calls"] == 6 and metrics["prompt_tokens"] == 60
    assert metrics["completion_tokens"] == 0 and metrics["cost_usd"] == 0
    assert metrics["rationale_calls"] == 4 and metrics["rationale_prompt_tokens"] == 40
    assert metrics["rationale_completion_tokens"] == 8 and metrics["rationale_cost_usd"] == 0.25
    assert set(RATIONALE_METRICS) <= set(metrics)
    text = _render(fidelity_report(model, built).table())
    assert "Training: rationale requests sent" in text and "$0.2500" in text
    given = fidelity_report(model, built, usage=Usage(calls=1), rationale_usage=Usage(calls=2))
    assert given.metrics["llm_calls"] == 1 and given.metrics["rationale_calls"] == 2
    with pytest.raises(ValueError, match="rationale_usage=3"):
        fidelity_report(model, built, rationale_usage=3)  # type: ignore[arg-type]


def test_llm_aligned_is_made_lazily_with_its_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[dict[str, object]] = []

    class StandIn:
        name = "llm-aligned"

        def __init__(self, **kwargs: object) -> None:
            made.append(kwargs)

        @classmethod
        def load(cls, path: Path) -> StandIn:
            return cls(loaded=path)

    module = types.ModuleType("recoworld.fidelity.aligned")
    module.AlignedSceneSimulator = StandIn  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recoworld.fidelity.aligned", module)
    assert isinstance(make_simulator("llm-aligned", seed=4, llm="local"), StandIn)
    assert made == [{"seed": 4, "rationale_llm": "local"}]
    make_simulator("llm-aligned")
    assert made[-1] == {"seed": 0, "rationale_llm": None}
    # A checkpoint is loaded the way load() does it (its threads and batch size restored).
    assert isinstance(make_simulator("llm-aligned", checkpoint=tmp_path), StandIn)
    assert made[-1] == {"loaded": tmp_path}
    with pytest.raises(ValueError, match=r"llm-aligned.*nothing is trained.*give one"):
        make_simulator("llm-aligned", llm="local", checkpoint=tmp_path)
    monkeypatch.setitem(sys.modules, "recoworld.fidelity.aligned", None)  # not installed
    with pytest.raises(
        ImportError,
        match=re.escape("the align extra (") + ".*" + re.escape('pip install -e ".[align]"'),
    ):
        make_simulator("llm-aligned")


def _render(table: object) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_report_of_hand_scenes(tmp_path: Path, catalog: Catalog) -> None:
    train = Interactions(np.array([0, 0, 0]), np.array([5, 5, 6]), np.ones(3), np.arange(3))
    model = PopularitySimulator().fit(train, catalog)
    # Scene 0: real item 5 (weight 3) on top: hit. Scene 1: real item 7 (weight 1) vs item 6
    # (weight 2): miss. Scene 2: items 8, 9 tied: half a hit.
    built = hand_scenes([[5, 7], [6, 7], [8, 9]], [0, 1, 1], [1, 5, 9])
    report = fidelity_report(model, built, {"dataset": "hand"})
    assert report.metrics["accuracy"] == pytest.approx(0.5)
    assert report.metrics["chance"] == 0.5
    expected_log = (math.log(3 / 4) + math.log(1 / 3) + math.log(1 / 2)) / 3
    assert report.metrics["log_likelihood"] == pytest.approx(expected_log)
    assert report.metrics["accuracy_tercile_low"] == 1.0
    assert report.metrics["accuracy_tercile_mid"] == 0.0
    assert report.metrics["accuracy_tercile_high"] == 0.5
    assert report.metrics["scenes"] == 3
    payload = json.loads(report.to_json(tmp_path / "out" / "fidelity.json").read_text())
    assert set(payload) == {"metrics", "ci95", "config", "reliability"}
    assert {"accuracy", "chance", "log_likelihood", "ece"} <= set(payload["metrics"])
    assert payload["config"]["simulator"] == "popularity"
    assert payload["config"]["dataset"] == "hand" and payload["config"]["n_choices"] == 2
    lo, hi = payload["ci95"]["accuracy"]
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    assert len(payload["reliability"]["counts"]) == 10


def test_random_scores_chance_exactly_on_built_scenes(catalog: Catalog) -> None:
    rng = np.random.default_rng(0)
    log = Interactions(
        rng.integers(0, 20, 200), rng.integers(0, 40, 200), np.ones(200), rng.integers(0, 50, 200)
    )
    built = scenes(log, log, catalog, n_choices=4, seed=0)
    report = fidelity_report(make_simulator("random").fit(log, catalog), built)
    assert report.metrics["accuracy"] == 0.25 and report.metrics["chance"] == 0.25
    assert report.metrics["log_likelihood"] == pytest.approx(math.log(0.25))
    assert report.metrics["ece"] == pytest.approx(0.0, abs=1e-12)


def test_a_simulator_with_bad_probabilities_is_named() -> None:
    class Broken:
        name = "broken"

        def fit(self, history: Interactions, catalog: Catalog) -> Broken:
            return self

        def predict(self, scenes: Scenes) -> np.ndarray:
            return np.ones((len(scenes), scenes.n_choices))

    with pytest.raises(ValueError, match="simulator 'broken': probabilities of scene 0 sum to"):
        fidelity_report(Broken(), hand_scenes([[0, 1]], [0], [0]))


def test_plot_writes_a_png(tmp_path: Path, catalog: Catalog) -> None:
    pytest.importorskip("matplotlib")
    from recoworld.fidelity import plot_fidelity

    train = Interactions(np.array([0, 0]), np.array([1, 2]), np.ones(2), np.arange(2))
    report = fidelity_report(
        PopularitySimulator().fit(train, catalog), hand_scenes([[1, 3], [2, 3]], [0, 1], [1, 2])
    )
    path = plot_fidelity(report, tmp_path / "plots" / "fidelity.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_simulator_refuses_scenes_it_cannot_score(catalog: Catalog) -> None:
    """One check (check_scenes) for every simulator: the type, the listed items and the history
    items must be rows of the catalog it was fitted on."""
    from recoworld.fidelity.llm_scene import LLMSceneSimulator

    log = Interactions(
        np.array([0, 0, 0]), np.array([1, 2, 3]), np.ones(3, np.float32), np.array([1, 2, 3])
    )
    small = generate_catalog(SyntheticCatalogConfig(n_items=8), seed=0)
    fitted = [
        make_simulator("popularity").fit(log, small),
        LLMSceneSimulator(ScriptedChatModel([])).fit(log, small),
    ]
    listed_outside = hand_scenes([[1, 9]], [0], [1])
    inside = hand_scenes([[1, 2]], [0], [1])
    history_outside = dataclasses.replace(inside, history_items=np.array([9]))
    for simulator in fitted:
        with pytest.raises(ValueError, match="scenes must be a Scenes"):
            simulator.predict("scenes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"list item row 9 is outside the 8 items"):
            simulator.predict(listed_outside)
        with pytest.raises(ValueError, match=r"history item row 9 is outside the 8 items"):
            simulator.predict(history_outside)
    with pytest.raises(ValueError, match="at most 26"):
        fitted[1].predict(hand_scenes([list(range(27))], [0], [0]))
