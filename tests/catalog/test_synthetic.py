"""Tests of the seeded synthetic catalog generator."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.catalog.base import Catalog
from recoworld.catalog.synthetic import GENRES, TAGS, SyntheticCatalogConfig, generate_catalog

ARRAY_FIELDS = ("item_ids", "item_topics", "embeddings", "quality", "popularity", "duration")


def test_same_seed_gives_identical_catalog() -> None:
    first = generate_catalog(SyntheticCatalogConfig(n_items=300), seed=7)
    second = generate_catalog(SyntheticCatalogConfig(n_items=300), seed=7)
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
    assert (first.item_attributes != second.item_attributes).nnz == 0
    assert first.titles == second.titles
    assert first.descriptions == second.descriptions


def test_different_seed_gives_different_catalog() -> None:
    first = generate_catalog(SyntheticCatalogConfig(n_items=300), seed=1)
    second = generate_catalog(SyntheticCatalogConfig(n_items=300), seed=2)
    assert not np.array_equal(first.embeddings, second.embeddings)
    assert not np.array_equal(first.popularity, second.popularity)
    assert not np.array_equal(first.item_topics, second.item_topics)


def test_generator_argument_is_accepted() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=20), seed=np.random.default_rng(3))
    assert isinstance(catalog, Catalog)
    assert catalog.n_items == 20


def test_shapes_and_dtypes() -> None:
    config = SyntheticCatalogConfig(n_items=200, n_topics=8, n_tags=5, embedding_dim=10)
    catalog = generate_catalog(config, seed=0)
    assert catalog.n_items == 200
    assert catalog.n_topics == 8
    assert catalog.n_attributes == 13
    assert catalog.embedding_dim == 10
    assert catalog.item_attributes.shape == (200, 13)
    for name in ("item_topics", "embeddings", "quality", "popularity", "duration"):
        assert getattr(catalog, name).dtype == np.float32, name
    np.testing.assert_allclose(catalog.item_topics.sum(axis=1), 1.0, atol=1e-6)
    assert np.all((catalog.quality >= 0) & (catalog.quality <= 1))
    assert np.all(catalog.duration > 0)


def test_popularity_sums_to_one_and_is_long_tailed() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(), seed=0)
    popularity = np.sort(catalog.popularity.astype(np.float64))[::-1]
    assert np.all(popularity > 0)
    assert popularity.sum() == pytest.approx(1.0, abs=1e-5)
    top_decile = popularity[: catalog.n_items // 10].sum()
    assert top_decile > 0.30


def test_embeddings_have_unit_norm() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=500), seed=4)
    np.testing.assert_allclose(np.linalg.norm(catalog.embeddings, axis=1), 1.0, atol=1e-5)


def test_items_sharing_a_primary_topic_are_more_similar() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=600), seed=5)
    primary = catalog.item_topics.argmax(axis=1)
    similarity = catalog.embeddings.astype(np.float64) @ catalog.embeddings.T.astype(np.float64)
    same = primary[:, None] == primary[None, :]
    off_diagonal = ~np.eye(catalog.n_items, dtype=bool)
    within = similarity[same & off_diagonal].mean()
    across = similarity[~same].mean()
    assert within > across + 0.2


def test_catalog_arrays_are_read_only() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=10), seed=0)
    with pytest.raises(ValueError):
        catalog.embeddings[0, 0] = 2.0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"n_items": -1}, "n_items"),
        ({"n_items": 2.5}, "n_items"),
        ({"n_topics": 1}, "n_topics"),
        ({"n_topics": len(GENRES) + 1}, "n_topics"),
        ({"n_tags": len(TAGS) + 1}, "n_tags"),
        ({"embedding_dim": 1}, "embedding_dim"),
        ({"secondary_topic_prob": 1.5}, "secondary_topic_prob"),
        ({"zipf_exponent": float("nan")}, "zipf_exponent"),
        ({"median_duration": 0.0}, "median_duration"),
        ({"n_tags": 2, "max_tags": 3}, "max_tags"),
    ],
)
def test_config_validation_names_the_field(overrides: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SyntheticCatalogConfig(**overrides)  # type: ignore[arg-type]


def test_attributes_name_genres_and_tags() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=100), seed=2)
    vocabulary = set(GENRES) | set(TAGS)
    for item in range(catalog.n_items):
        attributes = catalog.attributes_of(item)
        assert attributes, item
        assert set(attributes) <= vocabulary
        primary = catalog.topic_names[int(catalog.item_topics[item].argmax())]
        assert primary in attributes
        assert any(tag in attributes for tag in TAGS[:12])
    with pytest.raises(IndexError):
        catalog.attributes_of(catalog.n_items)


def test_descriptions_mention_the_attributes() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=50), seed=3)
    for item in range(catalog.n_items):
        description = catalog.descriptions[item]
        assert description.startswith(catalog.titles[item])
        for attribute in catalog.attributes_of(item):
            assert attribute in description
