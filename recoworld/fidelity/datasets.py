"""The interactions a fidelity run needs from a data folder: history, held-out targets, train."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from recoworld.catalog import Catalog, Interactions
from recoworld.validation import check_choice

__all__ = ["DATASETS", "SceneData", "load_scene_data"]

Dataset = Literal["movielens", "scpr"]
DATASETS: tuple[Dataset, ...] = ("movielens", "scpr")
"""Data folder formats :func:`load_scene_data` reads."""


@dataclass(frozen=True, eq=False)
class SceneData:
    """What :func:`~recoworld.fidelity.scenes` and a simulator's ``fit`` need from a folder.

    Attributes:
        catalog: the items.
        history: every interaction a scene's history may draw on (rows at or after a target
            never enter its scene).
        targets: the held-out interactions, one scene each.
        train: the interactions simulators are fitted on (none of the targets).
        dataset: ``"movielens"`` or ``"scpr"``.
        path: the data folder.
        split: the split named on input (a name or a file).
    """

    catalog: Catalog
    history: Interactions
    targets: Interactions
    train: Interactions
    dataset: str
    path: str
    split: str


def load_scene_data(
    dataset: Dataset, path: str | os.PathLike[str], split: str | None = None, *, seed: int = 0
) -> SceneData:
    """Read a data folder for a fidelity run.

    * ``"movielens"`` (:func:`recoworld.catalog.movielens.load_movielens`): the targets are the
      ratings of ``split`` (a file in the folder's format, by path or by name; default the
      folder's valid file), the history is every rating in the folder (train and valid), and
      simulators are fitted on the train file.
    * ``"scpr"`` (:func:`recoworld.catalog.load_scpr`, e.g. LastFM*): the logs have no time and
      no ratings. The history is the user's train interactions, the targets the ``(user, item)``
      pairs of ``split`` (``"valid"``, the default, or a JSON file of the same format inside the
      folder); to say "all of train came before", history rows get timestamp 0 and targets
      timestamp 1, and ratings are ``nan``. Users are numbered by their sorted JSON ids.

    ``seed`` seeds the loader (the SCPR catalog's SVD, the MovieLens catalog's embeddings).

    Raises:
        ValueError, OSError: as the loaders do (naming the file, line and field), or a split
            that is not held out from train (``"train"``).
    """
    dataset = check_choice("dataset", dataset, DATASETS)
    if dataset == "movielens":
        return _movielens(path, split, seed)
    return _scpr(path, split, seed)


def _movielens(path: str | os.PathLike[str], split: str | None, seed: int) -> SceneData:
    from recoworld.catalog.movielens import load_movielens

    data = load_movielens(path, seed=seed)
    targets = data.valid if split is None else data.read_ratings(split)
    history = Interactions.concatenate([data.train, data.valid])
    return SceneData(
        catalog=data.catalog,
        history=history,
        targets=targets,
        train=data.train,
        dataset="movielens",
        path=str(path),
        split=split if split is not None else "valid",
    )


def _scpr(path: str | os.PathLike[str], split: str | None, seed: int) -> SceneData:
    from recoworld.catalog import load_scpr
    from recoworld.catalog.scpr import read_interactions

    name = "valid" if split is None else split
    if name == "train":
        raise ValueError(
            "split='train': the targets must be held out from the train interactions the "
            "history and the simulators use; name 'valid' or another review file"
        )
    data = load_scpr(path, seed=seed)
    if name == "valid":
        held_out = data.valid
    else:
        held_out = read_interactions(data.root, name, data.catalog.item_ids)
    train_pairs = data.pairs("train")
    target_pairs = _pairs(held_out)
    user_ids = np.unique(np.concatenate([train_pairs[:, 0], target_pairs[:, 0]]))

    def table(pairs: np.ndarray, time: int, source: str) -> Interactions:
        n = len(pairs)
        return Interactions(
            np.searchsorted(user_ids, pairs[:, 0]),
            pairs[:, 1],
            np.full(n, np.nan, dtype=np.float32),
            np.full(n, time, dtype=np.int64),
            source,
        )

    train = table(train_pairs, 0, "review_dict_train.json")
    targets = table(target_pairs, 1, "review_dict_valid.json" if name == "valid" else name)
    return SceneData(
        catalog=data.catalog,
        history=train,
        targets=targets,
        train=train,
        dataset="scpr",
        path=str(Path(path)),
        split=name,
    )


def _pairs(interactions: dict[int, np.ndarray]) -> np.ndarray:
    """``(n, 2)`` int64 (user id, item row) of a user id -> item rows mapping."""
    users = sorted(interactions)
    if not users:
        return np.empty((0, 2), dtype=np.int64)
    counts = np.fromiter((len(interactions[u]) for u in users), dtype=np.int64, count=len(users))
    return np.stack(
        [
            np.repeat(np.asarray(users, dtype=np.int64), counts),
            np.concatenate([interactions[u] for u in users]).astype(np.int64),
        ],
        axis=1,
    )
