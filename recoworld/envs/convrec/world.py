"""The worlds of the conversational envs (``ConvRec-v0``, ``RecoChat-v0``): a catalog, its
user-item-attribute graph, and the (user, target item) pairs that become episodes, built from a
data folder in the SCPR JSON format or generated from a seed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from recoworld.catalog import Catalog, SyntheticCatalogConfig, generate_catalog, load_scpr
from recoworld.catalog.scpr import SPLIT_FILES, is_file_in_folder, read_interactions
from recoworld.graph import AttributeGraph, synthetic_interactions

__all__ = [
    "DEFAULT_SPLIT_FILE",
    "DEFAULT_SYNTHETIC_ITEMS_PER_USER",
    "build_world",
    "episode_pairs",
    "opening_attribute",
    "synthetic_catalog_config",
]

DEFAULT_SPLIT_FILE = SPLIT_FILES["valid"]
"""The interaction file whose pairs become episodes when only ``dataset_path`` is given."""

DEFAULT_SYNTHETIC_ITEMS_PER_USER = 10


def synthetic_catalog_config(n_items: int) -> SyntheticCatalogConfig:
    """The synthetic default's catalog: the generator's largest attribute vocabulary.

    24 genres and 24 tags (48 attributes), each item with 1 to 10 tags. With the default 2,000
    items the user's opening attribute leaves about 400 candidates on average, more than the 14
    recommendations of a conversation can show (140 items), so, as on LastFM*, neither always
    recommending nor always asking finishes most conversations; with 500 items and the
    generator's default 24 attributes "always recommend" succeeds in every conversation.
    """
    return SyntheticCatalogConfig(n_items=n_items, n_topics=24, n_tags=24, max_tags=10)


def build_world(
    dataset_path: str | os.PathLike[str] | None,
    split_file: str | None,
    catalog: Catalog | None,
    interactions: Mapping[int, Any] | None,
    n_items: int,
    n_users: int,
    catalog_seed: int,
) -> tuple[Catalog, AttributeGraph, Mapping[int, Any]]:
    """The catalog, the graph, and the interactions whose pairs are the episodes."""
    if dataset_path is not None:
        if not isinstance(dataset_path, str | os.PathLike) or not str(dataset_path):
            raise ValueError(f"dataset_path={dataset_path!r} must be the path of a data folder")
        if catalog is not None or interactions is not None:
            raise ValueError(
                "pass either dataset_path or catalog/interactions, not both: the data folder "
                "defines the catalog and the interactions"
            )
        name = DEFAULT_SPLIT_FILE if split_file is None else split_file
        if not is_file_in_folder(name):
            raise ValueError(
                f"split_file={split_file!r} must name a file inside the dataset_path folder: a "
                "relative path without '..' (such as 'review_dict_test.json')"
            )
        dataset = load_scpr(dataset_path)
        split = {file: split for split, file in SPLIT_FILES.items()}.get(name)
        if split is not None:
            episodes: Mapping[int, Any] = dataset.interactions(split)
        else:
            episodes = read_interactions(dataset.root, name, dataset.catalog.item_ids)
        graph = AttributeGraph.from_catalog(dataset.catalog, dataset.train, dataset.user_likes)
        return dataset.catalog, graph, episodes
    if split_file is not None:
        raise ValueError(
            f"split_file={split_file!r} names a file of a data folder; pass dataset_path too"
        )
    if catalog is None:
        if interactions is not None:
            raise ValueError("interactions are item rows of a catalog; pass catalog too")
        catalog = generate_catalog(synthetic_catalog_config(n_items), seed=catalog_seed)
    elif not isinstance(catalog, Catalog):
        raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
    if interactions is None:
        interactions = synthetic_interactions(
            catalog, n_users, DEFAULT_SYNTHETIC_ITEMS_PER_USER, seed=catalog_seed
        )
    elif not isinstance(interactions, Mapping):
        raise ValueError(f"interactions={interactions!r} must map user ids to item rows")
    graph = AttributeGraph.from_catalog(catalog, interactions)
    return catalog, graph, interactions


def episode_pairs(interactions: Mapping[int, Any], graph: AttributeGraph) -> np.ndarray:
    """``(n, 2)`` int64 read-only ``(user id, item row)`` pairs whose item has an attribute.

    Users in ascending id order, each user's items in the given order.
    """
    users = sorted(int(u) for u in interactions)
    rows = [np.asarray(interactions[u], dtype=np.int64).ravel() for u in users]
    if not rows or sum(r.size for r in rows) == 0:
        raise ValueError("the episode interactions hold no (user, item) pair")
    pairs = np.stack(
        [
            np.repeat(np.array(users, np.int64), [r.size for r in rows]),
            np.concatenate(rows),
        ],
        axis=1,
    )
    has_attribute = np.diff(graph.item_attr.indptr) > 0
    pairs = pairs[has_attribute[pairs[:, 1]]]
    if pairs.size == 0:
        raise ValueError("no episode pair has a target item with at least one attribute")
    pairs.setflags(write=False)
    return pairs


def opening_attribute(
    graph: AttributeGraph, target: int, requested: Any, rng: np.random.Generator
) -> int:
    """The attribute the user opens a conversation about ``target`` with: ``requested`` (the
    reset option ``opening_attribute``) when given, which must be one of the target's
    attributes, else one of them drawn with ``rng``."""
    attributes = graph.attributes_of(target)
    if requested is None:
        return int(attributes[rng.integers(len(attributes))])
    if (
        isinstance(requested, bool)
        or not isinstance(requested, int | np.integer)
        or int(requested) not in set(attributes.tolist())
    ):
        raise ValueError(
            f"opening_attribute={requested!r} is not an attribute of target item {target} "
            f"(its attributes: {attributes.tolist()})"
        )
    return int(requested)
