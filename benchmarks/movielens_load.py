"""Load time of MovieLens 100K with :func:`recoworld.catalog.load_movielens`.

    python benchmarks/movielens_load.py [--path ../shared/data/ml-100k] [--repeats 5] [--json FILE]

Prints, as the best of ``--repeats`` runs in one process (the first run also imports nothing new:
the package is imported before timing starts):

* the whole load (``u.genre``, ``u.occupation``, ``u.item``, ``u.user``, both ratings files, and
  every derived catalog field);
* :meth:`MovieLensDataset.read_ratings` of the train file alone (the vectorized ratings parser);
* for reference, ``np.loadtxt`` of the same file into an int64 array (no validation, no id
  mapping), the obvious alternative.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recoworld.catalog import load_movielens
from recoworld.evaluation.files import check_output_option

DEFAULT_PATH = Path(__file__).resolve().parents[1].parent / "shared/data/ml-100k"


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="the ml-100k folder")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each measure")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)
    if not args.path.is_dir():
        raise SystemExit(f"MovieLens 100K data folder {args.path} is absent")

    dataset = load_movielens(args.path)
    train_path = dataset.root / "ratings_train.tsv"
    figures = {
        "n_items": dataset.catalog.n_items,
        "n_users": len(dataset.users),
        "n_train": len(dataset.train),
        "n_valid": len(dataset.valid),
        "load_movielens_s": best_seconds(lambda: load_movielens(args.path), args.repeats),
        "read_ratings_train_s": best_seconds(
            lambda: dataset.read_ratings("ratings_train.tsv"), args.repeats
        ),
        "np_loadtxt_train_s": best_seconds(
            lambda: np.loadtxt(train_path, dtype=np.int64, delimiter="\t"), args.repeats
        ),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        shown = f"{value * 1000:.1f} ms" if name.endswith("_s") else f"{value:,}"
        print(f"{name:<{width}}  {shown}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
