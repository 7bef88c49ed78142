"""The FM scorer: pairwise training on tiny synthetic data, scores, checkpoints, seeding,
config validation, and the ConvRec-v0 scorer adapters."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import recoworld  # noqa: F401  (registers ConvRec-v0)
from recoworld.agents.scpr.fm import (
    FMConfig,
    FMScorer,
    accepted_attributes_of,
    train_fm,
)
from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
from recoworld.graph import synthetic_interactions

TINY = FMConfig(embedding_dim=8, epochs=12, batch_size=32, learning_rate=0.02)


@pytest.fixture(scope="module")
def world():
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=60), seed=0)
    return catalog, synthetic_interactions(catalog, n_users=20, items_per_user=6, seed=0)


@pytest.fixture(scope="module")
def trained(world) -> FMScorer:
    return train_fm(world, TINY, seed=0, progress=False)


def test_training_reduces_the_loss(trained):
    assert len(trained.training_loss) == TINY.epochs
    assert trained.training_loss[-1] < 0.7 * trained.training_loss[0]


def test_trained_scorer_ranks_the_users_items_above_others(world, trained):
    catalog, interactions = world
    hits = []
    for user, rows in interactions.items():
        scores = trained.score_items(user, np.arange(catalog.n_items), np.empty(0, np.int64))
        others = np.setdiff1d(np.arange(catalog.n_items), rows)
        hits.append(scores[rows].mean() > scores[others].mean())
    assert np.mean(hits) > 0.8


def test_score_shapes_and_dtypes(trained):
    items = np.array([0, 5, 7])
    item_scores = trained.score_items(3, items, np.array([1, 2]))
    attribute_scores = trained.score_attributes(3, np.array([0, 4]), np.array([1]))
    assert item_scores.shape == (3,) and item_scores.dtype == np.float64
    assert attribute_scores.shape == (2,) and attribute_scores.dtype == np.float64
    assert np.all(np.isfinite(item_scores)) and np.all(np.isfinite(attribute_scores))
    # An unknown user scores with the zero embedding: only the bias and attribute terms remain.
    unknown = trained.score_items(10_000, items, np.empty(0, np.int64))
    np.testing.assert_allclose(unknown, trained.item_bias.weight[items, 0].double().detach())


def test_item_score_is_bias_plus_item_dot_context(trained):
    user_row = int(trained.user_rows(np.array([2]))[0])
    u = trained.user_embedding.weight[user_row].detach().double()
    v = trained.item_embedding.weight[4].detach().double()
    p = trained.attribute_embedding.weight[[1, 3]].detach().double()
    expected = float(trained.item_bias.weight[4, 0]) + float(v @ u) + float((p @ v).sum())
    assert trained.score_items(2, np.array([4]), np.array([1, 3]))[0] == pytest.approx(expected)


def test_save_load_round_trip_gives_identical_scores(tmp_path, trained):
    path = tmp_path / "fm.pt"
    trained.save(path)
    loaded = FMScorer.load(path)
    assert loaded.config == trained.config
    assert loaded.training_loss == trained.training_loss
    items, accepted = np.arange(20), np.array([0, 3])
    np.testing.assert_array_equal(
        loaded.score_items(1, items, accepted), trained.score_items(1, items, accepted)
    )
    np.testing.assert_array_equal(
        loaded.score_attributes(1, np.arange(5), accepted),
        trained.score_attributes(1, np.arange(5), accepted),
    )


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not an FMScorer checkpoint"):
        FMScorer.load(path)


def test_same_seed_same_parameters_other_seed_differs(world):
    config = FMConfig(embedding_dim=4, epochs=2, batch_size=64)
    first = train_fm(world, config, seed=7, progress=False).state_dict()
    second = train_fm(world, config, seed=7, progress=False).state_dict()
    third = train_fm(world, config, seed=8, progress=False).state_dict()
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name
    assert not torch.equal(first["item_embedding.weight"], third["item_embedding.weight"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("embedding_dim", 0),
        ("epochs", 1.5),
        ("batch_size", True),
        ("max_accepted", -1),
        ("learning_rate", 0.0),
        ("l2", -1e-3),
        ("init_std", float("nan")),
        ("hard_negative_weight", "1"),
        ("attribute_loss_weight", float("inf")),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"FMConfig.{field}="):
        FMConfig(**{field: value})


def test_bad_inputs_raise(world):
    with pytest.raises(ValueError, match="ScprDataset"):
        train_fm({"not": "data"}, TINY, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        train_fm(world, TINY, seed=-1, progress=False)
    with pytest.raises(ValueError, match="unknown FMConfig fields"):
        FMConfig.from_dict({"embedding_dim": 4, "dim": 4})


def test_adapters_plug_into_convrec_and_accepted_attributes_are_recovered():
    env = gym.make("ConvRec-v0", n_items=300, n_users=30, action_mode="ask_or_recommend")
    core = env.unwrapped
    interactions = {
        int(u): core.graph.items_of_user(int(u)).astype(np.int64) for u in core.graph.user_ids
    }
    fm = train_fm((core.catalog, interactions), FMConfig(embedding_dim=4, epochs=1), 0, False)
    env = gym.make(
        "ConvRec-v0",
        n_items=300,
        n_users=30,
        action_mode="ask_or_recommend",
        item_scorer=fm.item_scorer(),
        attribute_scorer=fm.attribute_scorer(core.graph),
    )
    _, info = env.reset(seed=0)
    for action in (0, 0, 1, 0, 1):
        recovered = accepted_attributes_of(
            env.unwrapped.graph, info["candidates"], info["candidate_attributes"]
        )
        assert sorted(recovered.tolist()) == sorted(info["accepted_attributes"].tolist())
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    # A recommendation ranks the candidates by the FM scores.
    _, info = env.reset(seed=1)
    _, _, _, _, step_info = env.step(1)
    scores = fm.score_items(info["user"], info["candidates"], info["accepted_attributes"])
    best = info["candidates"][np.argsort(-scores, kind="stable")[: env.unwrapped.top_k]]
    np.testing.assert_array_equal(step_info["recommended"], best)
