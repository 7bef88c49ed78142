"""The sequential scene simulator: it learns a sequential rule, is seeded, and checks its input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from recoworld.catalog import (
    Catalog,
    Interactions,
    SyntheticCatalogConfig,
    generate_catalog,
)
from recoworld.fidelity import SceneSimulator, fidelity_report, scenes
from recoworld.fidelity.sequential import SequentialSimulator

N_ITEMS = 30
STEPS = 10
TINY: dict[str, Any] = {
    "epochs": 10,
    "embedding_dim": 16,
    "max_history": 5,
    "batch_size": 64,
    "learning_rate": 1e-2,
    "dropout": 0.0,
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(SyntheticCatalogConfig(n_items=N_ITEMS), seed=3)


def successor_log(n_users: int, seed: int) -> Interactions:
    """Each user starts at a random item and then always chooses item ``i + 1 mod N_ITEMS``
    after item ``i``, one step per second."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, N_ITEMS, size=n_users)
    steps = np.arange(STEPS + 1)
    items = (starts[:, None] + steps[None, :]) % N_ITEMS
    times = np.broadcast_to(1000 + steps, items.shape)
    users = np.broadcast_to(np.arange(n_users)[:, None], items.shape)
    n = items.size
    return Interactions(users.ravel(), items.ravel(), np.ones(n), times.ravel(), "successor")


def split_last(log: Interactions) -> tuple[Interactions, Interactions]:
    """(every row but each user's last, each user's last row)."""
    last = (np.arange(len(log)) % (STEPS + 1)) == STEPS
    return log.take(~last), log.take(last)


@pytest.fixture(scope="module")
def fitted(catalog: Catalog) -> SequentialSimulator:
    train, _ = split_last(successor_log(80, seed=0))
    return SequentialSimulator(seed=0, **TINY).fit(train, catalog)


def test_learns_the_successor_rule_on_held_out_users(
    fitted: SequentialSimulator, catalog: Catalog
) -> None:
    # New users (another seed) walking the same rule: their last step is the held-out choice.
    log = successor_log(60, seed=1)
    _, targets = split_last(log)
    built = scenes(log, targets, catalog, n_choices=5, negatives="uniform", seed=4)
    probabilities = fitted.predict(built)
    top = probabilities.argmax(axis=1)
    assert (top == built.answers).mean() >= 0.9  # chance is 0.2
    real = probabilities[np.arange(len(built)), built.answers]
    assert real.mean() > 0.6
    assert fitted.losses[-1] < fitted.losses[0]
    assert fidelity_report(fitted, built).metrics["accuracy"] >= 0.9


def test_rows_are_float64_distributions_and_an_empty_history_works(
    fitted: SequentialSimulator, catalog: Catalog
) -> None:
    log = successor_log(10, seed=2)
    # Each user's first row as the target: its history is empty.
    firsts = log.take(np.arange(len(log)) % (STEPS + 1) == 0)
    built = scenes(log, firsts, catalog, n_choices=4, negatives="uniform", seed=0)
    assert built.history_lengths.max() == 0
    probabilities = fitted.predict(built)
    assert probabilities.dtype == np.float64
    assert probabilities.shape == (10, 4)
    assert np.isfinite(probabilities).all() and (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)

    _, targets = split_last(log)
    mixed = fitted.predict(scenes(log, targets, catalog, n_choices=5, seed=1))
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-12)


def test_same_seed_same_probabilities_and_the_global_torch_state_is_untouched(
    catalog: Catalog,
) -> None:
    train, targets = split_last(successor_log(20, seed=5))
    built = scenes(train, targets, catalog, n_choices=5, seed=0)
    quick = {**TINY, "epochs": 2, "dropout": 0.3}
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = SequentialSimulator(seed=7, **quick).fit(train, catalog).predict(built)
    assert torch.equal(torch.random.get_rng_state(), before)
    again = SequentialSimulator(seed=7, **quick).fit(train, catalog).predict(built)
    other = SequentialSimulator(seed=8, **quick).fit(train, catalog).predict(built)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_it_is_a_scene_simulator_and_predict_needs_fit(catalog: Catalog) -> None:
    simulator = SequentialSimulator()
    assert isinstance(simulator, SceneSimulator)
    assert simulator.name == "sequential"
    train, targets = split_last(successor_log(5, seed=0))
    built = scenes(train, targets, catalog, n_choices=3, seed=0)
    with pytest.raises(ValueError, match=r"call fit\(history, catalog\) first"):
        simulator.predict(built)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("seed", -1),
        ("epochs", 0),
        ("embedding_dim", 0),
        ("max_history", 0),
        ("heads", 0),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("weight_decay", -0.1),
        ("dropout", 1.0),
        ("min_history", -1),
        ("catalog_embeddings", "yes"),
        ("threads", 0),
        ("progress", 1),
    ],
)
def test_bad_arguments_name_the_argument(argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{argument}="):
        SequentialSimulator(**{argument: value})


def test_heads_must_divide_the_embedding_dim() -> None:
    with pytest.raises(ValueError, match=r"heads=3 must divide embedding_dim=16"):
        SequentialSimulator(embedding_dim=16, heads=3)


def test_fit_refuses_items_outside_the_catalog_and_logs_without_examples(
    catalog: Catalog,
) -> None:
    outside = Interactions(
        np.array([0, 0]), np.array([1, N_ITEMS]), np.ones(2), np.array([1, 2]), "log.tsv"
    )
    with pytest.raises(ValueError, match=rf"history \(log.tsv\) names item row {N_ITEMS}"):
        SequentialSimulator().fit(outside, catalog)
    singles = Interactions(np.array([0, 1]), np.array([1, 2]), np.ones(2), np.array([1, 2]))
    with pytest.raises(ValueError, match=r"min_history=1: there is no training example"):
        SequentialSimulator().fit(singles, catalog)
    # min_history=0 trains on the first interactions (empty histories) too.
    fitted = SequentialSimulator(min_history=0, epochs=1, embedding_dim=8).fit(singles, catalog)
    assert len(fitted.losses) == 1


def test_predict_refuses_items_outside_the_fitted_catalog(catalog: Catalog) -> None:
    small = generate_catalog(SyntheticCatalogConfig(n_items=12), seed=0)
    log = successor_log(6, seed=0)
    inside = log.take(log.items < 12)
    simulator = SequentialSimulator(epochs=1, embedding_dim=8).fit(inside, small)
    _, targets = split_last(log)
    built = scenes(log, targets, catalog, n_choices=5, seed=0)
    with pytest.raises(ValueError, match=r"outside the 12 items the simulator was fitted on"):
        simulator.predict(built)
