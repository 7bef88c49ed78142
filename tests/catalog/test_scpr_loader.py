"""Tests of the SCPR/UNICORN JSON loader."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ---------------------------------------------------------------------------------------------
# Out-of-range, duplicated and unreadable values (issue 9, items 10 and 13).


@pytest.mark.parametrize(
    ("stem", "content", "where"),
    [
        ("user_dict", {**USERS, "1": {"like": [2, 10**6]}}, r"user '1' 'like'.*1000000"),
        ("user_dict", {**USERS, "1": {"like": [2**62]}}, r"user '1' 'like'.*" + str(2**62)),
        (
            "item_dict",
            {**ITEMS, "7": {"feature_index": [0, 10**6]}},
            r"item '7' 'feature_index'.*1000000",
        ),
        ("original_tag_map", {**TAG_MAP, "104": 10**6}, r"raw tag '104'.*1000000"),
    ],
)
def test_attribute_id_beyond_the_vocabulary_names_file_key_and_value(
    tmp_path: Path, stem: str, content: dict[str, Any], where: str
) -> None:
    # Such an id used to become the column count: 10**8 allocated gigabytes before failing.
    root = write_scpr(tmp_path / "d", **{stem: content})
    with pytest.raises(ValueError, match=re.escape(f"{stem}.json") + ": " + where) as info:
        load_scpr(root, **SMALL)
    assert "vocabulary 0..5" in str(info.value)  # 6 distinct ids used, 4 raw tags


def test_attribute_ids_may_grow_without_gaps_or_as_far_as_the_tag_map_reaches(
    tmp_path: Path,
) -> None:
    # A new id right after the others adds a column (no gap).
    items = {**ITEMS, "30": {"feature_index": [5]}}
    assert load_scpr(write_scpr(tmp_path / "a", item_dict=items), **SMALL).catalog.n_attributes == 6
    # Raw tags sharing ids leave room for ids no file uses: 7 raw tags, 6 ids used, id 6 fits.
    tags = {**TAG_MAP, "104": 0, "105": 1, "106": 2}
    items = {**ITEMS, "30": {"feature_index": [6]}}
    data = load_scpr(write_scpr(tmp_path / "b", item_dict=items, original_tag_map=tags), **SMALL)
    assert data.catalog.n_attributes == 7
    assert data.catalog.attribute_names[5] == "attribute:5"  # the unused column


@pytest.mark.parametrize(
    ("stem", "text", "key"),
    [
        ("review_dict_train", '{"0": [10], "1": [7], "0": [3]}', "'0'"),
        ("item_dict", '{"3": {"feature_index": [1], "feature_index": [2]}}', "'feature_index'"),
        ("original_tag_map", '{"100": 0, "101": 1, "100": 2}', "'100'"),
        ("user_dict", '{"0": {"like": [0]}, "0": {"like": [1]}}', "'0'"),
    ],
)
def test_duplicate_json_keys_are_refused_naming_file_and_key(
    tmp_path: Path, stem: str, text: str, key: str
) -> None:
    root = write_scpr(tmp_path / "d", **{stem: text})
    with pytest.raises(ValueError, match=re.escape(f"{stem}.json") + r".*repeats the key " + key):
        load_scpr(root, **SMALL)


@pytest.mark.parametrize(
    ("stem", "content", "message"),
    [
        # "-0" would name the same user as "0".
        ("user_dict", {**USERS, "-0": {"like": [1]}}, r"key '-0' is not an integer user id"),
        # Beyond int64: used to end in a bare OverflowError.
        ("item_dict", {**ITEMS, "9" * 20: {"feature_index": [0]}}, r"outside the int64 range"),
        ("item_dict", {**ITEMS, "1" + "0" * 5000: {"feature_index": [0]}}, r"int64 range"),
        # An integer literal longer than Python parses: used to be a ValueError without a path.
        ("review_dict_train", '{"0": [1' + "0" * 5000 + "]}", r"cannot be read as JSON"),
        # Nesting too deep for the parser: used to be a bare RecursionError.
        ("user_dict", "[" * 100_000, r"nests JSON values too deeply"),
        ("user_dict", {**USERS, "1": {"like": [1e8]}}, r"non-integer entry 100000000\.0"),
        ("user_dict", {**USERS, "1": {"like": [float("nan")]}}, r"non-integer entry nan"),
        ("review_dict_valid", {**VALID, "0": "3"}, r"must be a list of integers"),
        ("original_tag_map", {**TAG_MAP, "104": -1}, r"'104' maps to -1"),
        # Found by the probe below: used to end in a bare OverflowError.
        ("original_tag_map", {**TAG_MAP, "104": 2**63}, r"'104' maps to .*int64 range"),
        ("user_dict", '{"0": {"like": [0]', r"is not valid JSON"),
    ],
    ids=[
        "minus-zero-key",
        "key-beyond-int64",
        "key-of-5001-digits",
        "literal-of-5001-digits",
        "deep-nesting",
        "float-id",
        "nan-id",
        "string-for-list",
        "negative-tag-id",
        "tag-id-beyond-int64",
        "truncated",
    ],
)
def test_unreadable_values_are_value_errors_naming_the_file(
    tmp_path: Path, stem: str, content: Any, message: str
) -> None:
    root = write_scpr(tmp_path / "d", **{stem: content})
    with pytest.raises(ValueError, match=re.escape(f"{stem}.json") + ".*" + message):
        load_scpr(root, **SMALL)


def test_text_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d")
    (root / "item_dict.json").write_bytes(b"\xff\xfe{\x00}\x00")
    with pytest.raises(ValueError, match=r"item_dict\.json is not UTF-8 text"):
        load_scpr(root, **SMALL)


def test_a_folder_in_place_of_a_file_is_named(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d", user_dict=None)
    (root / "user_dict.json").mkdir()
    with pytest.raises(ValueError, match=re.escape(str(root / "user_dict.json")) + " is a folder"):
        load_scpr(root, **SMALL)


def test_too_little_data_for_the_parameters_names_the_folder(tmp_path: Path) -> None:
    root = write_scpr(tmp_path / "d")
    with pytest.raises(ValueError, match=r"embedding_dim=5 .*" + re.escape(str(root))):
        load_scpr(root, n_topics=3, embedding_dim=5)
    with pytest.raises(ValueError, match=r"n_topics=7 .*" + re.escape(str(root))):
        load_scpr(root, n_topics=7, embedding_dim=3)


@pytest.mark.parametrize("name", ["../outside.json", "/etc/hostname", "a/../../outside.json", ""])
def test_read_interactions_stays_inside_the_folder(tmp_path: Path, name: str) -> None:
    from recoworld.catalog.scpr import read_interactions

    (tmp_path / "outside.json").write_text(json.dumps(TRAIN), encoding="utf-8")
    root = write_scpr(tmp_path / "d")
    with pytest.raises(ValueError, match="does not name a file inside the SCPR data folder"):
        read_interactions(root, name, np.array(ITEM_ORDER))


def test_read_interactions_reads_a_file_in_a_subfolder(tmp_path: Path) -> None:
    from recoworld.catalog.scpr import read_interactions

    root = write_scpr(tmp_path / "d")
    (root / "splits").mkdir()
    (root / "splits" / "test.json").write_text(json.dumps({"4": [12]}), encoding="utf-8")
    rows = read_interactions(root, "splits/test.json", np.array(ITEM_ORDER))
    np.testing.assert_array_equal(rows[4], [ROW[12]])


# ---------------------------------------------------------------------------------------------
# Probe: fuzzed corruptions of the tiny folder. Whatever is changed, loading either succeeds
# with a vocabulary no larger than the files, or raises a ValueError naming a file (or, for data
# too small for the parameters, the folder): never MemoryError, KeyError, IndexError, ...

FILES: dict[str, Any] = {
    "item_dict": ITEMS,
    "user_dict": USERS,
    "original_tag_map": TAG_MAP,
    "review_dict_train": TRAIN,
    "review_dict_valid": VALID,
}
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, 0, 1, 4, 5, 6, 21, 10**8, 2**63 - 1, 2**63, -(2**63) - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["0", "1", "7", "-0", "like", "feature_index", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every list and object inside ``value`` (itself included)."""
    if not isinstance(value, dict | list):
        return []
    found = [path]
    for key, child in value.items() if isinstance(value, dict) else enumerate(value):
        found += _containers(child, (*path, key))
    return found


def _integer_slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every integer inside ``value``: ids in lists, attribute ids of the tag map."""
    if isinstance(value, int):
        return [path]
    if not isinstance(value, dict | list):
        return []
    found: list[tuple[Any, ...]] = []
    for key, child in value.items() if isinstance(value, dict) else enumerate(value):
        found += _integer_slots(child, (*path, key))
    return found


_IDS = st.sampled_from([-1, 5, 6, 50, 10**8, 2**62, 2**63, -(2**63) - 1]) | st.integers()
_KINDS = ["id", "replace", "delete", "insert", "truncate", "duplicate", "splice"]


@st.composite
def _corruptions(draw: st.DrawFn) -> tuple[str, Any, str]:
    """``(stem, content, kind)``: one file of the tiny folder, corrupted (``content`` for
    :func:`write_scpr`) by a mutation of ``kind``."""
    stem = draw(st.sampled_from(sorted(FILES)))
    data = json.loads(json.dumps(FILES[stem]))
    kind = draw(st.sampled_from(_KINDS))
    if kind == "id":  # one id (an item, a user, an attribute) replaced by another integer
        *parents, last = draw(st.sampled_from(_integer_slots(data)))
        node = data
        for key in parents:
            node = node[key]
        node[last] = draw(_IDS)
        return stem, data, kind
    if kind in ("replace", "delete", "insert"):
        path = draw(st.sampled_from(_containers(data)))
        node = data
        for key in path:
            node = node[key]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if kind == "insert" or not keys:
            new = draw(_VALUES)
            if isinstance(node, dict):
                node[draw(st.sampled_from(["0", "4", "99", "-0", "007", "x", "like"]))] = new
            else:
                node.insert(draw(st.integers(0, len(node))), new)
        else:
            key = draw(st.sampled_from(keys))
            if kind == "delete":
                del node[key]
            else:
                node[key] = draw(_VALUES)
        return stem, data, kind
    text = json.dumps(data)
    if kind == "truncate":
        return stem, text[: draw(st.integers(0, len(text) - 1))], kind
    if kind == "duplicate":  # repeat one entry of the top-level object
        entry = draw(st.sampled_from(sorted(data)))
        return stem, "{" + json.dumps({entry: data[entry]})[1:-1] + ", " + text[1:], kind
    at = draw(st.integers(0, len(text)))
    splice = draw(st.text(alphabet='{}[]",:-0123456789e.x ', max_size=6))
    return stem, text[:at] + splice + text[at:], kind


@settings(max_examples=60, deadline=None)
@given(corruption=_corruptions())
def test_probe_corrupted_files_load_or_raise_a_value_error_naming_the_file(
    corruption: tuple[str, Any, str],
) -> None:
    stem, content, kind = corruption
    with tempfile.TemporaryDirectory() as folder:
        root = write_scpr(Path(folder) / "d", **{stem: content})
        total_text = sum(len(p.read_text(encoding="utf-8")) for p in root.glob("*.json"))
        try:
            data = load_scpr(root, **SMALL)
        except ValueError as error:
            assert str(root) in str(error), f"the message names no file: {error}"
        else:
            assert kind != "duplicate", "a key repeated within a JSON object was accepted"
            # Every attribute column is an id written somewhere in the files (a corrupted id
            # must not become a vocabulary of its size).
            assert data.catalog.n_attributes <= total_text
