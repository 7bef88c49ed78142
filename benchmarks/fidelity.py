"""Fidelity of user simulators on MovieLens 100K or LastFM* (UserMirrorer scenes).

    python benchmarks/fidelity.py [--dataset movielens|scpr] [--data FOLDER] [--scenes N]
        [--n-choices 5] [--negatives popularity,uniform] [--simulators random,popularity]
        [--llm MODEL [--api-base URL]] [--checkpoint NAME=DIR ...] [--seed 0] [--json FILE]

Data sets (``--data`` defaults to the folder under ``../shared/data``):

* ``movielens`` (``ml-100k``): the scenes are the valid split's ratings (4,715), a scene's
  history is every rating in the folder before it, and simulators are fitted on
  ``ratings_train.tsv``.
* ``scpr`` (LastFM*, ``lastfm_star``): the scenes are the valid interactions (11,891), a scene's
  history is the user's train interactions (the logs have no time and no ratings), and
  simulators are fitted on the train interactions. The data has no item names: an item's text
  (what the ``llm`` simulator reads) is ``"item <id>"`` and its attribute ids (``tag:<raw id>``),
  so a language model has little but popularity and co-occurrence to go on there.

What it does (all seeded by ``--seed``):

1. loads the folder (:func:`recoworld.fidelity.load_scene_data`);
2. fits every simulator of ``--simulators`` on the train log, or loads it from a folder saved
   by its ``save`` (``--checkpoint NAME=DIR``, e.g. ``llm-aligned=runs/aligned``; the name is
   added to the simulators when missing); ``--llm MODEL`` runs the ``llm`` simulator (added
   when missing) with that litellm model string (``openai/...`` with ``--api-base`` for a
   server such as ``recoworld llm serve``) and gives it to ``llm-aligned`` as its rationale
   model;
3. for each negative sampler, builds the scenes once (all, or ``--scenes`` drawn with the
   seed), so every simulator answers the same scenes (paired), and asks each simulator once;
4. scores each simulator (:func:`recoworld.fidelity.fidelity_report`, with the language-model
   usage of that set of scenes for the LLM simulators) and the paired difference of each
   simulator's per-scene accuracy from the first simulator's (mean and Student-t 95% interval);
5. prints one table (accuracy with its Wilson 95% interval, chance, log-likelihood, ECE,
   accuracy by activity tercile, the paired difference, LLM requests and cost) and writes
   everything as JSON.

Exits with code 2 and one line when the data folder is absent or an option is bad.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from recoworld.catalog import Catalog, Interactions
from recoworld.evaluation.files import check_output_option
from recoworld.evaluation.metrics import mean_ci95
from recoworld.fidelity import (
    DATASETS,
    NEGATIVE_SAMPLERS,
    Scenes,
    fidelity_report,
    load_scene_data,
    make_simulator,
    scenes,
    simulator_names,
    simulator_options,
)
from recoworld.fidelity.metrics import scene_accuracy
from recoworld.llm import Usage

DATA_FILES: dict[str, tuple[str, ...]] = {
    "movielens": (
        "ratings_train.tsv", "ratings_valid.tsv", "u.item", "u.user", "u.genre", "u.occupation"
    ),
    "scpr": (
        "item_dict.json", "user_dict.json", "original_tag_map.json", "review_dict_train.json",
        "review_dict_valid.json",
    ),
}  # fmt: skip
"""Files of each data folder this benchmark reads."""

DEFAULT_DATA = {"movielens": "../shared/data/ml-100k", "scpr": "../shared/data/lastfm_star"}
"""Where ``--data`` points by default, per ``--dataset``."""

DATASET_NAMES = {"movielens": "MovieLens 100K", "scpr": "LastFM* (SCPR format)"}


def check_data_folder(dataset: str, data: str) -> None:
    """Exit with code 2 and one line naming the folder unless it holds the data set's files."""
    folder = Path(data)
    missing = [name for name in DATA_FILES[dataset] if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        fail(
            f"the {DATASET_NAMES[dataset]} data folder {folder} {what}; it is not shipped with "
            "recoworld: pass --data PATH to a copy with the train/valid splits"
        )


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


@dataclass
class Answered:
    """One simulator's answers to one set of scenes, asked once (a language model is not asked
    twice for the report and the paired difference)."""

    name: str
    probabilities: np.ndarray
    failed_scenes: int

    def fit(self, history: Interactions, catalog: Catalog) -> Answered:
        return self

    def predict(self, scenes: Scenes) -> np.ndarray:
        return self.probabilities


def checkpoints(items: list[str]) -> dict[str, str]:
    """``{simulator: folder}`` of the ``--checkpoint NAME=DIR`` options."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not folder:
            fail(f"--checkpoint {item!r} is not NAME=DIR")
        if name not in simulator_names():
            fail(f"--checkpoint {item!r}: choose NAME from {', '.join(simulator_names())}")
        if "checkpoint" not in simulator_options(name):
            fail(f"--checkpoint {item!r}: {name} is not a fitted simulator")
        if not Path(folder).is_dir():
            fail(f"--checkpoint {item!r}: {folder} is not a folder")
        out[name] = folder
    return out


def names(text: str, allowed: tuple[str, ...] | list[str], option: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in allowed]
    if not chosen or unknown:
        fail(f"{option} {text!r}: choose from {', '.join(allowed)}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="movielens", choices=DATASETS)
    parser.add_argument("--data", default=None, help="default: the data set's shared folder")
    parser.add_argument("--scenes", type=int, default=None, help="default: every valid rating")
    parser.add_argument("--n-choices", type=int, default=5)
    parser.add_argument("--negatives", default="popularity,uniform")
    parser.add_argument(
        "--simulators",
        # llm answers about one scene per 5 s on 2 cores: ask for it with --scenes 200 or so;
        # llm-aligned needs the align extra and trains for long: score it with --checkpoint
        default=",".join(name for name in simulator_names() if "llm" not in name),
    )
    parser.add_argument("--llm", default=None, metavar="MODEL", help="the llm simulator's model")
    parser.add_argument("--api-base", default=None, metavar="URL", help="server of --llm")
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="NAME=DIR", help="a saved simulator"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)
    data_folder = args.data if args.data is not None else DEFAULT_DATA[args.dataset]
    check_data_folder(args.dataset, data_folder)
    samplers = names(args.negatives, NEGATIVE_SAMPLERS, "--negatives")
    simulators = names(args.simulators, simulator_names(), "--simulators")
    saved = checkpoints(args.checkpoint)
    if args.api_base is not None and args.llm is None:
        fail("--api-base is the server of --llm MODEL: give --llm too")
    llm: dict[str, Any] | None = None
    if args.llm is not None:
        llm = {"model": args.llm, "api_base": args.api_base}
        simulators += [] if "llm" in simulators else ["llm"]
    simulators += [name for name in saved if name not in simulators]

    started = time.perf_counter()
    data = load_scene_data(args.dataset, data_folder, seed=args.seed)
    load_s = time.perf_counter() - started
    fitted: dict[str, Any] = {}
    fit_s: dict[str, float] = {}
    for name in simulators:
        t0 = time.perf_counter()
        # A loaded llm-aligned checkpoint is scored as it is: no rationale model to pass.
        takes_llm = "llm" in simulator_options(name) and name not in saved
        simulator = make_simulator(
            name,
            seed=args.seed,
            llm=llm if takes_llm else None,
            checkpoint=saved.get(name),
        )
        fitted[name] = simulator.fit(data.train, data.catalog)  # a loaded one checks the catalog
        fit_s[name] = time.perf_counter() - t0
    results: dict[str, dict[str, object]] = {}
    table = Table(
        title=f"Fidelity on {DATASET_NAMES[args.dataset]} ({data_folder}, valid split), "
        f"{args.n_choices} choices"
    )
    for column in ("negatives", "simulator", "scenes", "accuracy [95% CI]", "chance"):
        table.add_column(column, justify="right" if column != "simulator" else "left")
    for column in ("log-lik", "ECE", "acc low/mid/high", f"acc - {simulators[0]} [95% CI]"):
        table.add_column(column, justify="right")
    if any(hasattr(simulator, "usage") for simulator in fitted.values()):
        table.add_column("LLM calls (failed) / $", justify="right")
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
        answered: dict[str, Answered] = {}
        usages: dict[str, Usage | None] = {}
        predict_s: dict[str, float] = {}
        for name, simulator in fitted.items():
            usage_before = getattr(simulator, "usage", None)
            failed_before = int(getattr(simulator, "failed_scenes", 0))
            t1 = time.perf_counter()
            probabilities = simulator.predict(built)
            predict_s[name] = time.perf_counter() - t1
            failed = int(getattr(simulator, "failed_scenes", 0)) - failed_before
            answered[name] = Answered(name, probabilities, failed)
            usage_after = getattr(simulator, "usage", None)
            usages[name] = None if usage_after is None else usage_after - (usage_before or Usage())
        reference = scene_accuracy(answered[simulators[0]].probabilities, built.answers)
        for name, answers in answered.items():
            config = {"dataset": args.dataset, "dataset_path": data_folder}
            if name in saved:
                config["checkpoint"] = saved[name]
            if llm is not None and "llm" in simulator_options(name) and name not in saved:
                config["llm"] = args.llm
            report = fidelity_report(answers, built, config, usage=usages[name])
            per_scene = scene_accuracy(answers.probabilities, built.answers)
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
                "fit_s": fit_s[name],
                "predict_s": predict_s[name],
            }
            cells = [
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
            ]
            if len(table.columns) > len(cells):
                cells.append(
                    "-"
                    if "llm_calls" not in m
                    else f"{int(m['llm_calls']):,} ({int(m['llm_failed_calls']):,}) / "
                    f"{m['cost_usd']:.4f}"
                )
            table.add_row(*cells)
    wall_s = time.perf_counter() - started
    console = Console(width=160)
    console.print(table)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in fit_s.items())
    console.print(
        f"Loaded in {load_s:.2f} s; fitted/loaded: {timings}; total {wall_s:.2f} s "
        f"(seed {args.seed})."
    )
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
