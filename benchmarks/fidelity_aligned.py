"""llm-aligned against its base model on MovieLens 100K scenes (UserMirrorer SFT + DPO).

    python benchmarks/fidelity_aligned.py [--data ../shared/data/ml-100k] [--minutes 60]
        [--train-scenes 64] [--scenes 500] [--seed 0] [--out DIR [--overwrite]] [--json FILE]
        [--rationale-llm local] [--n-choices 5] [--negatives popularity,uniform] [--threads 2]

What it does (all seeded by ``--seed``):

1. loads the folder (:func:`recoworld.fidelity.load_scene_data`: simulators learn from
   ``ratings_train.tsv``, the scenes are the valid split's ratings);
2. trains ``llm-aligned`` (:class:`recoworld.fidelity.aligned.AlignedSceneSimulator`) from the
   embedded SmolLM2-135M-Instruct on the train log: ``--train-scenes`` train scenes, rationales
   from ``--rationale-llm`` (default the embedded model through llama.cpp), then SFT and DPO
   within ``--minutes`` of training time (the rationale calls come before and are not part of
   the budget; about 7 s per call with the embedded model, 5 calls per train scene). Progress
   lines are printed as it goes. Scoring costs one forward pass per scene and model: about
   3-4.5 s per MovieLens scene (about 700 prompt tokens) on two busy cores. The checkpoint
   goes to ``--out`` (default: a new folder under the user cache dir, printed);
3. for each negative sampler builds the same valid scenes once (``--scenes`` drawn with the
   seed) and scores the *base* model and the *aligned* model on them with the same prompt and the
   same scoring (the letter probabilities after ``{"choice": "``, one forward pass per scene);
4. prints one table (accuracy with its Wilson 95% interval, chance, log-likelihood, ECE, the
   paired accuracy difference aligned - base with its Student-t 95% interval, seconds per scene)
   and writes everything, with the training metadata, as JSON (``--json``).

Exits with code 2 and one line when the data folder is absent or an option is bad.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from recoworld.evaluation.files import check_output_option
from recoworld.evaluation.metrics import mean_ci95
from recoworld.fidelity import NEGATIVE_SAMPLERS, fidelity_report, load_scene_data, scenes
from recoworld.fidelity.metrics import scene_accuracy

DATA_FILES = ("ratings_train.tsv", "ratings_valid.tsv", "u.item", "u.user", "u.genre")
"""Files of the MovieLens folder this benchmark reads."""


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/ml-100k")
    parser.add_argument("--minutes", type=float, default=60.0, help="SFT + DPO training time")
    parser.add_argument("--train-scenes", type=int, default=64)
    parser.add_argument("--scenes", type=int, default=500, help="valid scenes per sampler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rationale-llm", default="local", metavar="MODEL")
    parser.add_argument("--n-choices", type=int, default=5)
    parser.add_argument("--negatives", default="popularity,uniform")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)

    folder = Path(args.data)
    missing = [name for name in DATA_FILES if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        fail(
            f"the MovieLens 100K data folder {folder} {what}; it is not shipped with recoworld: "
            "pass --data PATH to a copy with the train/valid splits"
        )
    samplers = [name.strip() for name in args.negatives.split(",") if name.strip()]
    if not samplers or any(name not in NEGATIVE_SAMPLERS for name in samplers):
        fail(f"--negatives {args.negatives!r}: choose from {', '.join(NEGATIVE_SAMPLERS)}")
    if args.minutes <= 0:
        fail(f"--minutes {args.minutes} must be > 0")
    if args.scenes < 1 or args.train_scenes < 1:
        fail("--scenes and --train-scenes must be >= 1")
    try:
        from recoworld.fidelity.aligned import AlignedSceneSimulator
        from recoworld.training.dpo import embedded_hf_model
    except ImportError as error:
        fail(f"llm-aligned needs the align extra ({error}): pip install -e '.[align]'")

    console = Console(width=160)
    started = time.perf_counter()

    def progress(line: str) -> None:
        console.print(f"[{time.perf_counter() - started:7.1f} s] {line}", highlight=False)

    data = load_scene_data("movielens", folder, seed=args.seed)
    progress(f"loaded {folder}: {len(data.train):,} train ratings")
    base_dir = embedded_hf_model()
    progress(f"base model folder: {base_dir}")
    try:
        aligned = AlignedSceneSimulator(
            seed=args.seed,
            rationale_llm=args.rationale_llm,
            out=args.out,
            overwrite=args.overwrite,
            base_model=base_dir,
            train_scenes=args.train_scenes,
            n_choices=args.n_choices,
            time_budget_s=args.minutes * 60.0,
            threads=args.threads,
            on_progress=progress,
        )
    except (ValueError, OSError) as error:
        fail(str(error))
    t0 = time.perf_counter()
    aligned.fit(data.train, data.catalog)
    train_s = time.perf_counter() - t0
    metadata = aligned.metadata or {}
    base = AlignedSceneSimulator.untrained(
        base_dir, max_history=aligned.max_history, threads=args.threads
    ).fit(data.train, data.catalog)

    table = Table(
        title=f"llm-aligned vs its base model on MovieLens 100K ({folder}, valid split), "
        f"{args.n_choices} choices"
    )
    for column in ("negatives", "model", "scenes", "accuracy [95% CI]", "chance", "log-lik"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for column in ("ECE", "acc aligned - base [95% CI]", "s / scene"):
        table.add_column(column, justify="right")
    results: dict[str, Any] = {}
    for negatives in samplers:
        built = scenes(
            data.history,
            data.targets,
            data.catalog,
            n_choices=args.n_choices,
            negatives=negatives,  # type: ignore[arg-type]
            seed=args.seed,
            limit=min(args.scenes, len(data.targets)),
        )
        answers: dict[str, np.ndarray] = {}
        for name, simulator in (("base", base), ("aligned", aligned)):
            before = simulator.usage
            t1 = time.perf_counter()
            probabilities = simulator.predict(built)
            seconds = time.perf_counter() - t1
            progress(f"{negatives}: scored {len(built)} scenes with {name} in {seconds:.1f} s")
            answers[name] = probabilities
            report = fidelity_report(
                _Fixed(f"llm-aligned ({name})", probabilities),
                built,
                {"dataset": "movielens", "dataset_path": str(folder), "model": name},
                usage=simulator.usage - before,
            )
            m, ci = report.metrics, report.ci95
            diff_cell = "-"
            paired: dict[str, Any] | None = None
            if name == "aligned":
                per_scene = scene_accuracy(probabilities, built.answers) - scene_accuracy(
                    answers["base"], built.answers
                )
                diff, lo, hi = mean_ci95(per_scene)
                diff_cell = f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                paired = {"against": "base", "accuracy": diff, "ci95": [lo, hi]}
            results[f"{negatives}/{name}"] = {
                **report.to_dict(),
                "paired_difference": paired,
                "predict_s": seconds,
                "seconds_per_scene": seconds / len(built),
            }
            table.add_row(
                negatives,
                name,
                f"{len(built):,}",
                f"{m['accuracy']:.3f} [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}]",
                f"{m['chance']:.3f}",
                f"{m['log_likelihood']:.3f}",
                f"{m['ece']:.3f}",
                diff_cell,
                f"{seconds / len(built):.3f}",
            )
    wall_s = time.perf_counter() - started
    console.print(table)
    sft, dpo = metadata.get("sft") or {}, metadata.get("dpo") or {}
    usage = metadata.get("rationale_usage", {})
    console.print(
        f"Training: {metadata.get('train_scenes')} train scenes, {usage.get('calls')} rationale "
        f"calls ({metadata.get('failed_rationales')} failed), {metadata.get('kept_scenes')} kept, "
        f"{metadata.get('sft_examples')} SFT examples / {sft.get('steps')} steps in "
        f"{sft.get('seconds', 0):.0f} s, {metadata.get('dpo_pairs')} DPO pairs / "
        f"{dpo.get('steps', 0)} steps in {dpo.get('seconds', 0):.0f} s; fit {train_s:.0f} s; "
        f"checkpoint {aligned.checkpoint_dir}; total {wall_s:.0f} s (seed {args.seed})."
    )
    if args.json is not None:
        payload = {
            "results": results,
            "training": metadata,
            "fit_s": train_s,
            "checkpoint": str(aligned.checkpoint_dir),
            "args": {key: str(value) for key, value in vars(args).items()},
            "wall_s": wall_s,
            "python": platform.python_version(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {args.json}")


class _Fixed:
    """Probabilities already computed, as a simulator for :func:`fidelity_report` (each model
    is asked once per set of scenes)."""

    def __init__(self, name: str, probabilities: np.ndarray) -> None:
        self.name = name
        self.probabilities = probabilities

    def fit(self, history: Any, catalog: Any) -> _Fixed:
        return self

    def predict(self, scenes: Any) -> np.ndarray:
        return self.probabilities


if __name__ == "__main__":
    main()
