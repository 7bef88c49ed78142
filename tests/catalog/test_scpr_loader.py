"""Tests of the SCPR/UNICORN JSON loader."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recoworld.catalog.scpr import DEFAULT_DURATION_MINUTES, ScprDataset, load_scpr

# Six items (file order deliberately not sorted, ids not contiguous), five attributes (the tag
# map covers 0..3, attribute 4 only appears in a feature_index), three users.
ITEMS: dict[str, Any] = {
    "10": {"feature_index": [0, 1]},
    "3": {"feature_index": [1, 2]},
    "7": {"feature_index": [0, 1, 3]},
    "21": {"feature_index": [4]},
    "5": {"feature_index": [2]},
    "12": {"feature_index": [0]},
}
USERS: dict[str, Any] = {
    "1": {"friends": [0, 2], "like": [2]},
    "0": {"friends": [1], "like": [0, 1]},
    "2": {"like": [4]},
}
TAG_MAP: dict[str, Any] = {"100": 0, "101": 1, "102": 2, "103": 3}
TRAIN: dict[str, Any] = {"1": [7, 3], "0": [10, 7, 7], "2": [21]}
VALID: dict[str, Any] = {"0": [3], "2": [5, 12]}
ITEM_ORDER = [3, 5, 7, 10, 12, 21]  # row r holds item ITEM_ORDER[r]
ROW = {item_id: row for row, item_id in enumerate(ITEM_ORDER)}
SMALL = {"n_topics": 3, "embedding_dim": 3}


def write_scpr(root: Path, **overrides: Any) -> Path:
    """Write the tiny data set into ``root``; ``overrides`` replaces a file's content by stem.

    A ``str`` override is written verbatim (for malformed JSON); ``None`` leaves the file out.
    """
    contents = {
        "item_dict": ITEMS,
        "user_dict": USERS,
        "original_tag_map": TAG_MAP,
        "review_dict_train": TRAIN,
        "review_dict_valid": VALID,
    }
    contents.update(overrides)
    root.mkdir(parents=True, exist_ok=True)
    for stem, content in contents.items():
        if content is None:
            continue
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        (root / f"{stem}.json").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> ScprDataset:
    return load_scpr(write_scpr(tmp_path / "tiny"), **SMALL)


def test_shapes_and_names(dataset: ScprDataset) -> None:
    catalog = dataset.catalog
    assert catalog.name == "tiny"
    assert dataset.root.name == "tiny" and dataset.root.is_absolute()
    assert catalog.n_items == 6
    assert catalog.n_attributes == 5
    assert catalog.attribute_names == ("tag:100", "tag:101", "tag:102", "tag:103", "attribute:4")
    assert catalog.item_attributes.shape == (6, 5)
    assert catalog.item_attributes.dtype == np.int8
    assert catalog.item_topics.shape == (6, 3)
    assert catalog.embeddings.shape == (6, 3)
    for name in ("item_topics", "embeddings", "quality", "popularity", "duration"):
        assert getattr(catalog, name).dtype == np.float32, name
    np.testing.assert_array_equal(catalog.duration, DEFAULT_DURATION_MINUTES)
    assert "n_items=6" in repr(dataset)


def test_item_rows_follow_ascending_ids(dataset: ScprDataset) -> None:
    catalog = dataset.catalog
    assert catalog.item_ids.dtype == np.int64
    np.testing.assert_array_equal(catalog.item_ids, ITEM_ORDER)
    assert catalog.titles[ROW[7]] == "item 7"
    for key, entry in ITEMS.items():
        row = ROW[int(key)]
        expected = [catalog.attribute_names[j] for j in entry["feature_index"]]
        assert catalog.attributes_of(row) == expected
        for name in expected:
            assert name in catalog.descriptions[row]


def test_interactions_are_item_rows(dataset: ScprDataset) -> None:
    assert list(dataset.train) == [0, 1, 2]
    np.testing.assert_array_equal(dataset.train[0], [ROW[10], ROW[7], ROW[7]])
    np.testing.assert_array_equal(dataset.train[1], [ROW[7], ROW[3]])
    np.testing.assert_array_equal(dataset.valid[2], [ROW[5], ROW[12]])
    assert dataset.interactions("train") is dataset.train
    assert dataset.interactions("valid") is dataset.valid
    assert dataset.train[0].dtype == np.int64
    with pytest.raises(ValueError, match="'test'"):
        dataset.interactions("test")


def test_users_likes_and_friends(dataset: ScprDataset) -> None:
    assert list(dataset.user_likes) == [0, 1, 2]
    np.testing.assert_array_equal(dataset.user_likes[0], [0, 1])
    np.testing.assert_array_equal(dataset.user_likes[2], [4])
    np.testing.assert_array_equal(dataset.friends[1], [0, 2])
    assert dataset.friends[2].size == 0 and dataset.friends[2].dtype == np.int64


def test_pairs_are_sorted_by_user_then_file_order(dataset: ScprDataset) -> None:
    train = dataset.pairs("train")
    assert train.shape == (6, 2) and train.dtype == np.int64
    expected = [[0, ROW[10]], [0, ROW[7]], [0, ROW[7]], [1, ROW[7]], [1, ROW[3]], [2, ROW[21]]]
    np.testing.assert_array_equal(train, expected)
    np.testing.assert_array_equal(dataset.pairs("valid"), [[0, ROW[3]], [2, ROW[5]], [2, ROW[12]]])
    with pytest.raises(ValueError, match="'test'"):
        dataset.pairs("test")


def test_topics_are_most_frequent_attributes_plus_other(dataset: ScprDataset) -> None:
    catalog = dataset.catalog
    # Attributes 0 and 1 label three items each (tie: lower column first).
    assert catalog.topic_names == ("tag:100", "tag:101", "other")
    np.testing.assert_allclose(catalog.item_topics.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(catalog.item_topics[ROW[7]], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(catalog.item_topics[ROW[3]], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(catalog.item_topics[ROW[12]], [1.0, 0.0, 0.0])
    for item_id in (5, 21):  # none of their attributes is a named topic
        np.testing.assert_allclose(catalog.item_topics[ROW[item_id]], [0.0, 0.0, 1.0])


def test_popularity_counts_training_interactions(dataset: ScprDataset) -> None:
    catalog = dataset.catalog
    counts = {3: 1, 5: 0, 7: 3, 10: 1, 12: 0, 21: 1}  # validation interactions are not counted
    expected = np.array([counts[i] + 1 for i in ITEM_ORDER], dtype=np.float64)
    np.testing.assert_allclose(catalog.popularity, expected / expected.sum(), rtol=1e-6)
    assert catalog.popularity.sum() == pytest.approx(1.0, abs=1e-6)


def test_quality_is_a_monotone_function_of_popularity(dataset: ScprDataset) -> None:
    catalog = dataset.catalog
    quality, popularity = catalog.quality, catalog.popularity
    assert np.all((quality >= 0.25) & (quality <= 0.75))
    assert quality[ROW[7]] == pytest.approx(0.75)
    assert quality[ROW[5]] == quality[ROW[12]]  # tied counts, tied quality
    order = np.argsort(popularity, kind="stable")
    assert np.all(np.diff(quality[order]) >= 0)


def test_embeddings_are_unit_norm_and_follow_attributes(dataset: ScprDataset) -> None:
    embeddings = dataset.catalog.embeddings.astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    similar = embeddings[ROW[7]] @ embeddings[ROW[10]]  # share attributes 0 and 1
    unrelated = embeddings[ROW[10]] @ embeddings[ROW[21]]  # share nothing
    assert similar > unrelated + 0.3


def test_item_without_attributes_gets_a_random_unit_embedding(tmp_path: Path) -> None:
    items = {**ITEMS, "30": {"feature_index": []}}
    data = load_scpr(write_scpr(tmp_path / "d", item_dict=items), **SMALL)
    row = int(np.flatnonzero(data.catalog.item_ids == 30)[0])
    assert np.linalg.norm(data.catalog.embeddings[row]) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(data.catalog.item_topics[row], [0.0, 0.0, 1.0])
    assert "no listed tags" in data.catalog.descriptions[row]
    again = load_scpr(tmp_path / "d", **SMALL)
    np.testing.assert_array_equal(again.catalog.embeddings, data.catalog.embeddings)


def test_loading_is_deterministic(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d")
    first, second = load_scpr(root, **SMALL, seed=3), load_scpr(root, **SMALL, seed=3)
    for name in ("item_ids", "item_topics", "embeddings", "quality", "popularity", "duration"):
        np.testing.assert_array_equal(
            getattr(first.catalog, name), getattr(second.catalog, name), err_msg=name
        )
    assert first.catalog.descriptions == second.catalog.descriptions
    np.testing.assert_array_equal(first.pairs("train"), second.pairs("train"))


def test_arrays_are_read_only(dataset: ScprDataset) -> None:
    with pytest.raises(ValueError):
        dataset.train[0][0] = 1
    with pytest.raises(ValueError):
        dataset.catalog.embeddings[0, 0] = 0.0


def test_user_item_json_is_optional_and_ignored(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d", user_item="not even json")
    assert load_scpr(root, **SMALL).catalog.n_items == 6


# ---------------------------------------------------------------------------------------------
# Errors.


def test_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_scpr(missing)


@pytest.mark.parametrize(
    "stem",
    ["item_dict", "user_dict", "original_tag_map", "review_dict_train", "review_dict_valid"],
)
def test_missing_file_names_its_path(tmp_path: Path, stem: str) -> None:
    root = write_scpr(tmp_path / "d", **{stem: None})
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / f"{stem}.json"))):
        load_scpr(root, **SMALL)


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d", review_dict_train='{"0": [1, 2')
    with pytest.raises(ValueError, match=r"review_dict_train\.json") as info:
        load_scpr(root, **SMALL)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d", item_dict=[1, 2, 3])
    with pytest.raises(ValueError, match=r"item_dict\.json"):
        load_scpr(root, **SMALL)


def test_missing_feature_index_names_file_and_key(tmp_path: Path) -> None:
    items = {**ITEMS, "7": {"features": [0, 1]}}
    root = write_scpr(tmp_path / "d", item_dict=items)
    with pytest.raises(ValueError, match=r"item_dict\.json.*'7'.*'feature_index'"):
        load_scpr(root, **SMALL)


def test_missing_like_names_file_and_key(tmp_path: Path) -> None:
    users = {**USERS, "1": {"friends": [0]}}
    root = write_scpr(tmp_path / "d", user_dict=users)
    with pytest.raises(ValueError, match=r"user_dict\.json.*'1'.*'like'"):
        load_scpr(root, **SMALL)


@pytest.mark.parametrize(
    ("stem", "content", "key"),
    [
        ("item_dict", {**ITEMS, "x7": {"feature_index": [0]}}, "'x7'"),
        ("item_dict", {**ITEMS, "7": {"feature_index": [0, "1"]}}, "'7'"),
        ("item_dict", {**ITEMS, "7": {"feature_index": [0, 1.5]}}, "'7'"),
        ("item_dict", {**ITEMS, "7": {"feature_index": [0, -1]}}, "'7'"),
        ("item_dict", {**ITEMS, "7": [0, 1]}, "'7'"),
        ("user_dict", {**USERS, "1": {"like": [True]}}, "'1'"),
        ("user_dict", {**USERS, "1": {"like": [1], "friends": 2}}, "'friends'"),
        ("original_tag_map", {**TAG_MAP, "104": "four"}, "'104'"),
        ("review_dict_valid", {**VALID, "0": [3, None]}, "'0'"),
        ("review_dict_valid", {**VALID, "01": [3]}, "'01'"),
    ],
)
def test_wrong_structure_names_file_and_key(
    tmp_path: Path, stem: str, content: dict[str, Any], key: str
) -> None:
    root = write_scpr(tmp_path / "d", **{stem: content})
    with pytest.raises(ValueError, match=re.escape(f"{stem}.json") + ".*" + re.escape(key)):
        load_scpr(root, **SMALL)


def test_unknown_item_in_review_file_names_file_user_and_id(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d", review_dict_valid={**VALID, "2": [5, 999]})
    with pytest.raises(ValueError, match=r"review_dict_valid\.json.*user 2.*999"):
        load_scpr(root, **SMALL)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"embedding_dim": 5}, "embedding_dim"),  # must be below min(6 items, 5 attributes)
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"n_topics": 7}, "n_topics"),  # only 5 attributes label items
        ({"n_topics": 0}, "n_topics"),
        ({"seed": -1}, "seed"),
    ],
)
def test_parameter_errors_name_the_parameter(
    tmp_path: Path, kwargs: dict[str, int], name: str
) -> None:
    root = write_scpr(tmp_path / "d")
    with pytest.raises(ValueError, match=name):
        load_scpr(root, **{**SMALL, **kwargs})


# ---------------------------------------------------------------------------------------------
# The real LastFM* data, when present next to the repository.


def test_loads_lastfm_star() -> None:
    path = Path(__file__).resolve().parents[2].parent / "shared/data/lastfm_star"
    if not path.is_dir():
        pytest.skip(f"LastFM* data folder {path} is absent")
    start = time.perf_counter()
    data = load_scpr(path)
    elapsed = time.perf_counter() - start
    catalog = data.catalog
    assert catalog.n_items == 7432
    assert catalog.n_attributes == 8438
    assert len(data.user_likes) == 1801
    assert data.pairs("train").shape == (52910, 2)
    assert data.pairs("valid").shape == (11891, 2)
    assert catalog.n_topics == 16 and catalog.topic_names[-1] == "other"
    assert catalog.embedding_dim == 32
    np.testing.assert_allclose(np.linalg.norm(catalog.embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(catalog.item_topics.sum(axis=1), 1.0, atol=1e-5)
    assert catalog.popularity.sum() == pytest.approx(1.0, abs=1e-4)
    assert elapsed < 30.0, f"loading LastFM* took {elapsed:.1f} s"
