"""Loader for conversational-recommendation data in the SCPR/UNICORN JSON format.

The published SCPR and UNICORN code for multi-round conversational recommendation ships its data
sets (LastFM*, Yelp*) as a folder of JSON objects keyed by string ids:

=========================== ==================================================================
file                        content
=========================== ==================================================================
``item_dict.json``          ``{item_id: {"feature_index": [attribute_id, ...]}}``
``user_dict.json``          ``{user_id: {"friends": [user_id, ...], "like": [attribute_id, ...]}}``
``original_tag_map.json``   ``{raw_tag_id: attribute_id}``
``review_dict_train.json``  ``{user_id: [item_id, ...]}`` training interactions
``review_dict_valid.json``  ``{user_id: [item_id, ...]}`` validation interactions
``user_item.json``          ``{user_id: [item_id, ...]}`` all interactions (optional, not read)
=========================== ==================================================================

:func:`load_scpr` turns such a folder into a :class:`ScprDataset`: a :class:`Catalog` plus the
interactions, each user's liked attributes and friends. The library never ships these files; the
user passes the folder path.

How the catalog is built (everything is deterministic for a given ``seed``):

* **Rows.** Item rows are ordered by integer item id, ascending; ``catalog.item_ids[row]`` is the
  JSON id. Interactions are stored as row indices, not JSON ids.
* **Attributes.** Column ``j`` is the SCPR attribute id ``j``; there are
  ``max(attribute id seen in the tag map, in any "feature_index" or "like" list) + 1`` columns.
  Column ``j`` is named ``"tag:<raw_tag_id>"`` after the raw tag that ``original_tag_map.json``
  maps to it (the first in file order if several do), or ``"attribute:<j>"`` if none does.
  Attribute ids number the vocabulary from 0, so each must be below its size: the larger of the
  number of raw tags in the tag map and the number of distinct attribute ids the files use
  (8,438 for LastFM*). An id beyond it (a corrupted ``100000000`` would otherwise make as many
  columns) is refused before anything of that size is allocated.
* **JSON.** A key repeated within one object (which ``json`` would resolve silently to its last
  value) is refused; ids are canonical decimal integers in the int64 range.
* **Topics.** Latent users keep per-topic state, so the vocabulary (8,438 attributes for LastFM*)
  is summarised by ``n_topics`` topics: the ``n_topics - 1`` attributes labelling the most items
  (ties go to the lower column) plus a final ``"other"`` topic. An item spreads its topic mass
  uniformly over those of its attributes that are topics, or puts all of it on ``"other"``.
* **Embeddings.** Latent semantic analysis of the attributes: the item-attribute matrix is
  weighted by smoothed inverse document frequency, ``idf_j = ln((1 + n_items) / (1 + df_j)) + 1``,
  its rows are L2-normalised (so items with many tags do not dominate), and its rank
  ``embedding_dim`` truncated SVD ``U S V^T`` gives ``U S``, whose rows are L2-normalised. Items
  sharing (rare) attributes are therefore close in cosine. Singular-vector signs are fixed so the
  largest-magnitude entry of each left singular vector is positive; an item without attributes
  gets a random unit vector.
* **Popularity** is ``(number of training interactions + 1)``, normalised to sum to one. Only the
  training split is counted, so the validation split stays unseen.
* **Quality is derived, not observed:** the data has no ratings, so quality is a monotone function
  of the popularity rank, ``0.25 + 0.5 * (1 - rank / (n_items - 1))`` with rank 0 for the most
  popular item (tied items share their average rank). It lies in ``[0.25, 0.75]``: popular items
  are assumed somewhat better, without making quality a stronger signal than the data supports.
* **Duration is a constant** :data:`DEFAULT_DURATION_MINUTES` (4 minutes, a typical song): the
  data has no durations.
* **Text.** Titles are ``"item <item_id>"``; descriptions list the first five attribute names.

Example (needs the data folder, so it is not a doctest; ``tests/catalog/test_scpr.py`` loads the
real folder when it is present)::

    dataset = load_scpr("../shared/data/lastfm_star")
    dataset.catalog.n_items, dataset.catalog.n_attributes  # (7432, 8438)
    dataset.pairs("train").shape  # (52910, 2)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from scipy.stats import rankdata

from recoworld.catalog.base import Catalog, render_description

__all__ = ["DEFAULT_DURATION_MINUTES", "SPLITS", "ScprDataset", "load_scpr"]

ITEM_FILE = "item_dict.json"
USER_FILE = "user_dict.json"
TAG_MAP_FILE = "original_tag_map.json"
SPLIT_FILES: dict[str, str] = {
    "train": "review_dict_train.json",
    "valid": "review_dict_valid.json",
}
SPLITS: tuple[str, ...] = tuple(SPLIT_FILES)

DEFAULT_DURATION_MINUTES = 4.0
"""Duration of every SCPR item in minutes: the data has none; 4 minutes is a typical song."""

OTHER_TOPIC = "other"
DESCRIPTION_ATTRIBUTES = 5

# Canonical decimal integers only ("7", "-3"; not "07", "+7", " 7", "-0"), so two JSON keys can
# never name the same id.
_INTEGER_KEY = re.compile(r"0|-?[1-9][0-9]*")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Below this many matrix cells the SVD is computed densely (exact LAPACK); above it, with ARPACK.
_DENSE_SVD_MAX_CELLS = 2_000_000


@dataclass(frozen=True, eq=False, repr=False)
class ScprDataset:
    """A conversational-recommendation data set loaded by :func:`load_scpr`.

    Items are addressed by catalog row everywhere; ``catalog.item_ids`` maps rows back to the JSON
    item ids. Users keep their JSON ids. All dictionaries are ordered by user id and their arrays
    are read-only.

    Attributes:
        catalog: the items, see :func:`load_scpr` for how each field is built.
        train: user id -> ``(n,)`` int64 item rows, from ``review_dict_train.json`` (file order).
        valid: user id -> ``(n,)`` int64 item rows, from ``review_dict_valid.json`` (file order).
        user_likes: user id -> ``(n,)`` int64 attribute columns the user likes
            (``user_dict.json`` "like").
        friends: user id -> ``(n,)`` int64 user ids of the user's friends (``user_dict.json``
            "friends"; empty when the key is absent).
        root: absolute path of the data folder.
    """

    catalog: Catalog
    train: dict[int, np.ndarray]
    valid: dict[int, np.ndarray]
    user_likes: dict[int, np.ndarray]
    friends: dict[int, np.ndarray]
    root: Path

    def interactions(self, split: str) -> dict[int, np.ndarray]:
        """User id -> item rows of ``split``, one of ``"train"`` or ``"valid"``."""
        if split == "train":
            return self.train
        if split == "valid":
            return self.valid
        raise ValueError(f"split={split!r} is not one of {', '.join(map(repr, SPLITS))}")

    def pairs(self, split: str) -> np.ndarray:
        """All ``(user id, item row)`` interactions of ``split`` as an ``(n, 2)`` int64 array.

        Rows are sorted by user id; a user's items keep their order in the JSON file.
        """
        data = self.interactions(split)
        users = sorted(data)
        if not users:
            return np.empty((0, 2), dtype=np.int64)
        counts = np.fromiter((len(data[u]) for u in users), dtype=np.int64, count=len(users))
        user_column = np.repeat(np.asarray(users, dtype=np.int64), counts)
        item_column = np.concatenate([data[u] for u in users]).astype(np.int64, copy=False)
        return np.stack([user_column, item_column], axis=1)

    def __repr__(self) -> str:
        return (
            f"ScprDataset(name={self.catalog.name!r}, n_items={self.catalog.n_items}, "
            f"n_attributes={self.catalog.n_attributes}, n_users={len(self.user_likes)}, "
            f"n_train={sum(map(len, self.train.values()))}, "
            f"n_valid={sum(map(len, self.valid.values()))}, root={str(self.root)!r})"
        )


def load_scpr(
    path: str | os.PathLike[str], *, n_topics: int = 16, embedding_dim: int = 32, seed: int = 0
) -> ScprDataset:
    """Load an SCPR/UNICORN data folder (such as LastFM*) into a :class:`ScprDataset`.

    Args:
        path: the folder holding ``item_dict.json``, ``user_dict.json``, ``original_tag_map.json``,
            ``review_dict_train.json`` and ``review_dict_valid.json``.
        n_topics: number of catalog topics: the ``n_topics - 1`` most frequent attributes plus
            ``"other"``. At least 1, and ``n_topics - 1`` must not exceed the number of attributes
            that label at least one item.
        embedding_dim: dimension of the item embeddings; must be below
            ``min(n_items, n_attributes)`` (the rank of the truncated SVD).
        seed: seeds the SVD start vector and the embeddings of items without attributes; the same
            seed gives the same data set.

    Returns:
        The data set; see the module docstring for how each catalog field is derived.

    Raises:
        FileNotFoundError: the folder or one of the required files is missing (the message names
            the full path).
        NotADirectoryError: ``path`` is not a folder.
        ValueError: a file is not valid JSON (or repeats a key within an object), has the
            wrong structure (not an object, a missing ``"feature_index"`` or ``"like"`` key, a
            non-integer id or list entry, an id outside int64), has an attribute id that is
            negative or beyond the vocabulary (see the module docstring), a review file names
            an item id absent from ``item_dict.json``, or ``n_topics``/``embedding_dim``/``seed``
            is out of range or too large for the data. The message names the file and the
            offending key and value, or the parameter and the folder.
    """
    for name, value, low in (("n_topics", n_topics, 1), ("embedding_dim", embedding_dim, 1)):
        if not _is_int(value) or value < low:
            raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")

    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise FileNotFoundError(f"SCPR data folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"SCPR data path {root} is not a folder")

    item_ids, feature_lists = _read_items(root)
    attribute_map, n_raw_tags = _read_tag_map(root)
    user_likes, friends = _read_users(root)
    # Checked before anything of the vocabulary's size is allocated.
    n_attributes = _attribute_vocabulary(
        root, attribute_map, n_raw_tags, item_ids, feature_lists, user_likes
    )
    splits = {split: read_interactions(root, file, item_ids) for split, file in SPLIT_FILES.items()}

    n_items = len(item_ids)
    if embedding_dim >= min(n_items, n_attributes):
        raise ValueError(
            f"embedding_dim={embedding_dim} must be below min(n_items, n_attributes) = "
            f"min({n_items}, {n_attributes}) for the truncated SVD of SCPR data folder {root}"
        )
    attribute_names = tuple(
        f"tag:{attribute_map[j]}" if j in attribute_map else f"attribute:{j}"
        for j in range(n_attributes)
    )

    rng = np.random.default_rng(seed)
    item_attributes = _attribute_matrix(feature_lists, n_attributes)
    topic_names, item_topics = _topics(item_attributes, attribute_names, n_topics, root)
    embeddings = _lsa_embeddings(item_attributes, embedding_dim, rng)
    popularity, quality = _popularity_and_quality(splits["train"], n_items)
    duration = np.full(n_items, DEFAULT_DURATION_MINUTES, dtype=np.float32)

    titles = tuple(f"item {item_id}" for item_id in item_ids.tolist())
    indptr, indices = item_attributes.indptr, item_attributes.indices
    descriptions = tuple(
        render_description(
            titles[i],
            [
                attribute_names[j]
                for j in indices[indptr[i] : indptr[i + 1]][:DESCRIPTION_ATTRIBUTES]
            ],
            DEFAULT_DURATION_MINUTES,
        )
        for i in range(n_items)
    )

    catalog = Catalog(
        item_ids=item_ids,
        attribute_names=attribute_names,
        item_attributes=item_attributes,
        topic_names=topic_names,
        item_topics=item_topics,
        embeddings=embeddings,
        quality=quality,
        popularity=popularity,
        duration=duration,
        titles=titles,
        descriptions=descriptions,
        name=root.name or str(root),
    )
    return ScprDataset(
        catalog=catalog,
        train=splits["train"],
        valid=splits["valid"],
        user_likes=user_likes,
        friends=friends,
        root=root,
    )


# --------------------------------------------------------------------------------------------
# Reading and validating the JSON files.


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class _DuplicateKeyError(Exception):
    """A JSON object names the same key twice (raised inside ``json.load``)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.load``'s ``object_pairs_hook``: the object, or :class:`_DuplicateKeyError`."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKeyError(key)
        data[key] = value
    return data


def _read_json_object(root: Path, name: str) -> tuple[dict[str, Any], Path]:
    """The top-level JSON object of ``root / name`` and the file's path.

    A key repeated within one JSON object (which ``json.load`` would silently resolve to the
    last value) is refused, as are text that is not UTF-8 JSON, integers too long to parse and
    nesting too deep to read: each a ``ValueError`` naming the file.
    """
    path = root / name
    try:
        with path.open("r", encoding="utf-8") as handle:
            data = json.load(handle, object_pairs_hook=_object_without_duplicates)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"SCPR data file {path} does not exist") from error
    except IsADirectoryError as error:
        raise ValueError(f"SCPR data file {path} is a folder, not a JSON file") from error
    except _DuplicateKeyError as error:
        raise ValueError(
            f"SCPR data file {path} repeats the key {error.key!r} within one JSON object; "
            "each key may appear once"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"SCPR data file {path} is not valid JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"SCPR data file {path} is not UTF-8 text: {error}") from error
    except ValueError as error:  # e.g. an integer literal longer than Python parses
        raise ValueError(f"SCPR data file {path} cannot be read as JSON: {error}") from error
    except RecursionError as error:
        raise ValueError(f"SCPR data file {path} nests JSON values too deeply") from error
    if not isinstance(data, dict):
        raise ValueError(
            f"SCPR data file {path} must hold a JSON object keyed by id at the top level, "
            f"not a {type(data).__name__}"
        )
    return data, path


def _parse_id(key: str, path: Path, kind: str) -> int:
    if not _INTEGER_KEY.fullmatch(key):
        raise ValueError(f"{path}: key {key!r} is not an integer {kind} id")
    # The length test first: int() refuses strings of more than 4,300 digits.
    if len(key) > 20 or not _INT64_MIN <= int(key) <= _INT64_MAX:
        raise ValueError(f"{path}: {kind} id {key!r} is outside the int64 range")
    return int(key)


def _int_array(value: object, path: Path, where: str, *, non_negative: bool = False) -> np.ndarray:
    """``value`` (a JSON list of integers) as a read-only int64 array, or a ValueError."""
    if not isinstance(value, list):
        raise ValueError(
            f"{path}: {where} must be a list of integers, not a {type(value).__name__}"
        )
    if not set(map(type, value)) <= {int}:
        bad = next(v for v in value if type(v) is not int)
        raise ValueError(f"{path}: {where} has the non-integer entry {bad!r}")
    try:
        array = np.array(value, dtype=np.int64)
    except OverflowError as error:
        raise ValueError(f"{path}: {where} has an entry outside the int64 range") from error
    if non_negative and array.size and array.min() < 0:
        raise ValueError(f"{path}: {where} has the negative attribute id {int(array.min())}")
    array.setflags(write=False)
    return array


def _entry_object(entry: object, path: Path, key: str, kind: str, required: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(
            f"{path}: {kind} {key!r} must be an object with a {required!r} list, "
            f"not a {type(entry).__name__}"
        )
    if required not in entry:
        raise ValueError(f"{path}: {kind} {key!r} has no {required!r} key")
    return entry


def _read_items(root: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """Item ids sorted ascending, ``(n_items,)`` int64, and each item's attribute ids."""
    data, path = _read_json_object(root, ITEM_FILE)
    parsed: list[tuple[int, np.ndarray]] = []
    for key, entry in data.items():
        item_id = _parse_id(key, path, "item")
        entry = _entry_object(entry, path, key, "item", "feature_index")
        features = _int_array(
            entry["feature_index"], path, f"item {key!r} 'feature_index'", non_negative=True
        )
        parsed.append((item_id, features))
    if not parsed:
        raise ValueError(f"SCPR data file {path} lists no items")
    parsed.sort(key=lambda pair: pair[0])
    item_ids = np.array([item_id for item_id, _ in parsed], dtype=np.int64)
    item_ids.setflags(write=False)
    return item_ids, [features for _, features in parsed]


def _read_tag_map(root: Path) -> tuple[dict[int, str], int]:
    """Attribute id -> raw tag id (the first raw tag in file order that maps to it), and the
    number of raw tags."""
    data, path = _read_json_object(root, TAG_MAP_FILE)
    names: dict[int, str] = {}
    for raw_tag, attribute in data.items():
        if type(attribute) is not int or attribute < 0:
            raise ValueError(
                f"{path}: raw tag {raw_tag!r} maps to {attribute!r}, "
                "not a non-negative integer attribute id"
            )
        if attribute > _INT64_MAX:
            raise ValueError(
                f"{path}: raw tag {raw_tag!r} maps to {attribute}, outside the int64 range"
            )
        names.setdefault(attribute, raw_tag)
    return names, len(data)


def _attribute_vocabulary(
    root: Path,
    attribute_map: dict[int, str],
    n_raw_tags: int,
    item_ids: np.ndarray,
    feature_lists: list[np.ndarray],
    user_likes: dict[int, np.ndarray],
) -> int:
    """The number of attribute columns, ``max(attribute id) + 1``, once every attribute id is
    checked to lie below the vocabulary size (see :func:`load_scpr`); else a ``ValueError``
    naming the file, the key and the id."""
    arrays = [np.fromiter(attribute_map, np.int64, len(attribute_map)), *feature_lists]
    used = np.unique(np.concatenate([*arrays, *user_likes.values()]))
    if used.size == 0:
        raise ValueError(f"SCPR data folder {root} defines no attributes")
    size = max(n_raw_tags, int(used.size))

    def refuse(file: str, where: str, attribute: int) -> ValueError:
        return ValueError(
            f"{root / file}: {where} has the attribute id {attribute}, outside the vocabulary "
            f"0..{size - 1}: attribute ids number the vocabulary from 0, and it has {size} "
            f"entries (the larger of the {n_raw_tags} raw tags in {TAG_MAP_FILE} and the "
            f"{used.size} distinct attribute ids the files use)"
        )

    for attribute, raw_tag in attribute_map.items():
        if attribute >= size:
            raise refuse(TAG_MAP_FILE, f"raw tag {raw_tag!r}", attribute)
    for item_id, features in zip(item_ids.tolist(), feature_lists, strict=True):
        if features.size and int(features.max()) >= size:
            raise refuse(ITEM_FILE, f"item '{item_id}' 'feature_index'", int(features.max()))
    for user_id, likes in user_likes.items():
        if likes.size and int(likes.max()) >= size:
            raise refuse(USER_FILE, f"user '{user_id}' 'like'", int(likes.max()))
    return int(used[-1]) + 1


def _read_users(root: Path) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """User id -> liked attribute ids, and user id -> friend user ids, both sorted by user id."""
    data, path = _read_json_object(root, USER_FILE)
    likes: dict[int, np.ndarray] = {}
    friends: dict[int, np.ndarray] = {}
    for key, entry in data.items():
        user_id = _parse_id(key, path, "user")
        entry = _entry_object(entry, path, key, "user", "like")
        likes[user_id] = _int_array(entry["like"], path, f"user {key!r} 'like'", non_negative=True)
        friends[user_id] = _int_array(entry.get("friends", []), path, f"user {key!r} 'friends'")
    order = sorted(likes)
    return {u: likes[u] for u in order}, {u: friends[u] for u in order}


def is_file_in_folder(name: object) -> bool:
    """Whether ``name`` names a file inside a data folder: a non-empty relative path (``"x.json"``,
    ``"splits/x.json"``) with no ``..`` part and no root or drive, so that ``folder / name``
    cannot leave the folder (``"../x.json"`` and ``"/etc/passwd"`` do not qualify)."""
    if not isinstance(name, str) or not name or "\0" in name:
        return False
    path = PurePath(name)
    return not path.anchor and ".." not in path.parts and bool(path.parts)


def read_interactions(root: Path, name: str, item_ids: np.ndarray) -> dict[int, np.ndarray]:
    """User id -> item rows (``item_ids`` is sorted), sorted by user id, file order within.

    ``name`` must name a file inside ``root`` (:func:`is_file_in_folder`), else ``ValueError``.
    """
    if not is_file_in_folder(name):
        raise ValueError(
            f"{name!r} does not name a file inside the SCPR data folder {root}: give a relative "
            "path without '..' (such as 'review_dict_test.json')"
        )
    data, path = _read_json_object(root, name)
    interactions: dict[int, np.ndarray] = {}
    for key, value in data.items():
        user_id = _parse_id(key, path, "user")
        ids = _int_array(value, path, f"user {key!r}")
        rows = np.minimum(np.searchsorted(item_ids, ids), len(item_ids) - 1)
        known = item_ids[rows] == ids
        if not known.all():
            raise ValueError(
                f"{path}: user {user_id} has item id {int(ids[~known][0])}, "
                f"which is not in {ITEM_FILE}"
            )
        rows = rows.astype(np.int64, copy=False)
        rows.setflags(write=False)
        interactions[user_id] = rows
    return dict(sorted(interactions.items()))


# --------------------------------------------------------------------------------------------
# Deriving the catalog fields.


def _attribute_matrix(feature_lists: list[np.ndarray], n_attributes: int) -> sp.csr_array:
    """``(n_items, n_attributes)`` int8 multi-hot CSR matrix, sorted indices, no duplicates."""
    n_items = len(feature_lists)
    lengths = np.fromiter(map(len, feature_lists), dtype=np.int64, count=n_items)
    columns = np.concatenate(feature_lists) if lengths.sum() else np.empty(0, dtype=np.int64)
    rows = np.repeat(np.arange(n_items, dtype=np.int64), lengths)
    matrix = sp.csr_array(
        (np.ones(len(columns), dtype=np.int32), (rows, columns)), shape=(n_items, n_attributes)
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    matrix.data[:] = 1
    return matrix.astype(np.int8)


def _topics(
    item_attributes: sp.csr_array, attribute_names: tuple[str, ...], n_topics: int, root: Path
) -> tuple[tuple[str, ...], np.ndarray]:
    """Topic names and the ``(n_items, n_topics)`` float32 item-topic matrix (rows sum to 1)."""
    n_items, n_attributes = item_attributes.shape
    frequency = np.bincount(item_attributes.indices, minlength=n_attributes)
    n_named = n_topics - 1
    n_used = int(np.count_nonzero(frequency))
    if n_named > n_used:
        raise ValueError(
            f"n_topics={n_topics} needs {n_named} attributes as named topics, but only {n_used} "
            f"attributes label any item of SCPR data folder {root}"
        )
    # Stable sort on -frequency: ties keep ascending column order, i.e. the lower column wins.
    chosen = np.argsort(-frequency, kind="stable")[:n_named]
    topics = np.zeros((n_items, n_topics), dtype=np.float64)
    if n_named:
        named = item_attributes[:, chosen].toarray().astype(np.float64)
        counts = named.sum(axis=1)
        topics[:, :n_named] = named / np.maximum(counts, 1.0)[:, None]
        topics[counts == 0, n_named] = 1.0
    else:
        topics[:, 0] = 1.0
    names = (*(attribute_names[j] for j in chosen), OTHER_TOPIC)
    return names, topics.astype(np.float32)


def _lsa_embeddings(
    item_attributes: sp.csr_array, dim: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_items, dim)`` float32 unit-norm embeddings: truncated SVD of the TF-IDF matrix."""
    n_items, n_attributes = item_attributes.shape
    frequency = np.bincount(item_attributes.indices, minlength=n_attributes)
    idf = np.log((1.0 + n_items) / (1.0 + frequency)) + 1.0
    tfidf = item_attributes.astype(np.float64)
    tfidf.data = idf[tfidf.indices]
    row_of_entry = np.repeat(np.arange(n_items), np.diff(tfidf.indptr))
    row_norms = np.sqrt(np.bincount(row_of_entry, weights=tfidf.data**2, minlength=n_items))
    tfidf.data /= row_norms[row_of_entry]

    # Drawn whatever the SVD path, so the random fallback vectors below depend only on the seed.
    v0 = rng.standard_normal(min(n_items, n_attributes))
    if n_items * n_attributes <= _DENSE_SVD_MAX_CELLS:
        u, s, _ = np.linalg.svd(tfidf.toarray(), full_matrices=False)
        u, s = u[:, :dim], s[:dim]
    else:
        u, s, _ = svds(tfidf, k=dim, v0=v0, solver="arpack")
        order = np.argsort(-s, kind="stable")
        u, s = u[:, order], s[order]
    pivots = np.argmax(np.abs(u), axis=0)
    signs = np.sign(u[pivots, np.arange(dim)])
    signs[signs == 0] = 1.0
    embeddings = u * (s * signs)[None, :]

    norms = np.linalg.norm(embeddings, axis=1)
    empty = norms < 1e-8
    embeddings[~empty] /= norms[~empty, None]
    if empty.any():
        fallback = rng.standard_normal((int(empty.sum()), dim))
        embeddings[empty] = fallback / np.linalg.norm(fallback, axis=1, keepdims=True)
    return embeddings.astype(np.float32)


def _popularity_and_quality(
    train: dict[int, np.ndarray], n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(n_items,)`` float32 popularity (add-one training counts, sums to 1) and quality."""
    rows = [r for r in train.values() if r.size]
    counts = np.bincount(np.concatenate(rows), minlength=n_items) if rows else np.zeros(n_items)
    smoothed = counts.astype(np.float64) + 1.0
    popularity = smoothed / smoothed.sum()
    # Rank 0 = most popular; ties share their average rank, so equal counts give equal quality.
    rank = rankdata(-counts, method="average") - 1.0
    position = 1.0 - rank / (n_items - 1) if n_items > 1 else np.ones(n_items)
    quality = 0.25 + 0.5 * position
    return popularity.astype(np.float32), quality.astype(np.float32)
