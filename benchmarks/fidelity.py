"""Fidelity of the baseline simulators on MovieLens 100K (UserMirrorer scenes).

    python benchmarks/fidelity.py [--data ../shared/data/ml-100k] [--scenes N] [--n-choices 5]
        [--negatives popularity,uniform] [--simulators random,popularity] [--seed 0]
        [--json FILE]

What it does (all seeded by ``--seed``):

1. loads the folder (:func:`recoworld.fidelity.load_scene_data`): the scenes are the valid
   split's ratings (4,715 on ml-100k), a scene's history is every rating in the folder before it,
   and simulators are fitted on ``ratings_train.tsv``;
2. for each negative sampler, builds the scenes once (all, or ``--scenes`` drawn with the seed),
   so every simulator answers the same scenes (paired);
3. scores each simulator (:func:`recoworld.fidelity.fidelity_report`) and the paired difference
   of each simulator's per-scene accuracy from the first simulator's (mean and Student-t 95%
   interval);
4. prints one table (accuracy with its Wilson 95% interval, chance, log-likelihood, ECE,
   accuracy by activity tercile, the paired difference) and writes everything as JSON.

Exits with code 2 and one line when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from recoworld.evaluation.metrics import mean_ci95
from recoworld.fidelity import (
    NEGATIVE_SAMPLERS,
    fidelity_report,
    load_scene_data,
    make_simulator,
    scenes,
    simulator_names,
)
from recoworld.fidelity.metrics import scene_accuracy

DATA_FILES = ("ratings_train.tsv", "ratings_valid.tsv", "u.item", "u.user", "u.genre")
"""Files of the MovieLens folder this benchmark reads (u.occupation too)."""


def check_data_folder(data: str) -> None:
    """Exit with code 2 and one line naming the folder unless it holds the MovieLens files."""
    folder = Path(data)
    missing = [name for name in (*DATA_FILES, "u.occupation") if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        print(
            f"error: the MovieLens 100K data folder {folder} {what}; it is not shipped with "
            "recoworld: pass --data PATH to a copy with the train/valid splits "
            "(ratings_train.tsv, ratings_valid.tsv)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def names(text: str, allowed: tuple[str, ...] | list[str], option: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in allowed]
    if not chosen or unknown:
        print(f"error: {option} {text!r}: choose from {', '.join(allowed)}", file=sys.stderr)
        raise SystemExit(2)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/ml-100k")
    parser.add_argument("--scenes", type=int, default=None, help="default: every valid rating")
    parser.add_argument("--n-choices", type=int, default=5)
    parser.add_argument("--negatives", default="popularity,uniform")
    parser.add_argument(
        "--simulators",
        # llm answers about one scene per 5 s on 2 cores: ask for it with --scenes 200 or so
        default=",".join(name for name in simulator_names() if name != "llm"),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    check_data_folder(args.data)
    samplers = names(args.negatives, NEGATIVE_SAMPLERS, "--negatives")
    simulators = names(args.simulators, simulator_names(), "--simulators")

    started = time.perf_counter()
    data = load_scene_data("movielens", args.data, seed=args.seed)
    load_s = time.perf_counter() - started
    fitted = {
        name: make_simulator(name, seed=args.seed).fit(data.train, data.catalog)
        for name in simulators
    }
    results: dict[str, dict[str, object]] = {}
    table = Table(title=f"Fidelity on {args.data} (valid split), {args.n_choices} choices")
    for column in ("negatives", "simulator", "scenes", "accuracy [95% CI]", "chance"):
        table.add_column(column, justify="right" if column != "simulator" else "left")
    for column in ("log-lik", "ECE", "acc low/mid/high", f"acc - {simulators[0]} [95% CI]"):
        table.add_column(column, justify="right")
    for negatives in samplers:
        t0 = time.perf_counter()
        built = scenes(
            data.history,
            data.targets,
            data.catalog,
            n_choices=args.n_choices,
            negatives=negatives,  # type: ignore[arg-type]
            seed=args.seed,
            limit=args.scenes,
        )
        build_s = time.perf_counter() - t0
        reference = scene_accuracy(fitted[simulators[0]].predict(built), built.answers)
        for name, simulator in fitted.items():
            report = fidelity_report(
                simulator, built, {"dataset": "movielens", "dataset_path": args.data}
            )
            per_scene = scene_accuracy(simulator.predict(built), built.answers)
            diff, diff_lo, diff_hi = mean_ci95(per_scene - reference)
            m, ci = report.metrics, report.ci95
            results[f"{negatives}/{name}"] = {
                **report.to_dict(),
                "paired_difference": {
                    "against": simulators[0],
                    "accuracy": diff,
                    "ci95": [diff_lo, diff_hi],
                },
                "scene_build_s": build_s,
            }
            table.add_row(
                negatives,
                name,
                f"{int(m['scenes']):,}",
                f"{m['accuracy']:.3f} [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}]",
                f"{m['chance']:.3f}",
                f"{m['log_likelihood']:.3f}",
                f"{m['ece']:.3f}",
                f"{m['accuracy_tercile_low']:.3f}/{m['accuracy_tercile_mid']:.3f}/"
                f"{m['accuracy_tercile_high']:.3f}",
                "-" if name == simulators[0] else f"{diff:+.3f} [{diff_lo:+.3f}, {diff_hi:+.3f}]",
            )
    wall_s = time.perf_counter() - started
    console = Console(width=160)
    console.print(table)
    console.print(f"Loaded in {load_s:.2f} s; total {wall_s:.2f} s (seed {args.seed}).")
    if args.json is not None:
        payload = {
            "results": results,
            "args": {key: str(value) for key, value in vars(args).items()},
            "wall_s": wall_s,
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
