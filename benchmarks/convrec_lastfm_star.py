"""SCPR and the rule-based baselines on LastFM*, beside the published numbers.

    python benchmarks/convrec_lastfm_star.py [--data ../shared/data/lastfm_star] [--episodes 1000]
        [--seed 0] [--out runs/convrec] [--json FILE] [--dqn-steps 20000] [--fm-epochs 40]
        [--sb3 none|dqn|ppo]

What it does, in order (all seeded by ``--seed``):

1. loads the data folder and trains the FM scorer (:func:`recoworld.agents.scpr.fm.train_fm`) on
   ``review_dict_train.json``;
2. shuffles the ``(user, item)`` pairs of ``review_dict_valid.json`` (those whose item has an
   attribute); the first ``--episodes`` are the evaluation conversations, the others are the
   conversations SCPR's ask-or-recommend DQN trains on (:func:`recoworld.agents.scpr.
   train_scpr_dqn`), so no evaluation pair is seen in training;
3. saves both under ``--out`` (a :func:`~recoworld.agents.scpr.save_scpr_checkpoint` folder,
   printed);
4. evaluates random, Abs Greedy and Max Entropy (``action_mode="attribute"``) and SCPR
   (``action_mode="ask_or_recommend"``), all recommending by the FM scorer as published, on the
   same evaluation pairs with :func:`~recoworld.evaluation.evaluate`;
   with ``--sb3`` also SCPR whose decision is learned by Stable-Baselines3 DQN or PPO;
5. prints SR@5/10/15, AT and hDCG (95% intervals for SR@15 and AT) beside the published
   SR@15 / AT (test split, so the comparison is indicative), and the total wall time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import recoworld  # noqa: F401  (registers ConvRec-v0)
from recoworld.agents.scpr import (
    DQNConfig,
    SB3Config,
    SCPRAgent,
    WeightedEntropyScorer,
    save_scpr_checkpoint,
    scpr_env_kwargs,
    train_scpr_dqn,
    train_scpr_sb3,
)
from recoworld.agents.scpr.fm import FMConfig, train_fm
from recoworld.catalog import load_scpr
from recoworld.evaluation import evaluate
from recoworld.evaluation.files import check_output_option
from recoworld.graph import AttributeGraph

PUBLISHED: dict[str, tuple[float, float] | None] = {
    "random": None,
    "abs-greedy": (0.635, 8.66),
    "max-entropy": (0.669, 9.33),
    "EAR": (0.595, 10.51),
    "scpr": (0.709, 8.43),
    "UNICORN": (0.788, 7.58),
}
"""SR@15 / AT of Lei et al. (KDD 2020) and Deng et al. (SIGIR 2021) on LastFM* (test split)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--data", default=str(here.parents[1] / "shared" / "data" / "lastfm_star"))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/convrec")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--dqn-steps", type=int, default=DQNConfig().total_steps)
    parser.add_argument("--fm-epochs", type=int, default=FMConfig().epochs)
    parser.add_argument("--sb3", choices=["none", "dqn", "ppo"], default="none")
    parser.add_argument(
        "--dqn-pairs",
        choices=["train", "heldout-valid"],
        default="train",
        help="conversations the ask/recommend policy trains on: the train split's pairs, or the "
        "valid pairs not used for evaluation (the FM never saw those, so its scores are as "
        "good as at evaluation time)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)
    return args


DATA_FILES = (
    "item_dict.json",
    "user_dict.json",
    "review_dict_train.json",
    "review_dict_valid.json",
)
"""Files of the LastFM* folder this benchmark reads."""


def check_data_folder(data: str) -> None:
    """Exit with code 2 and one line naming the folder unless it holds the LastFM* files."""
    folder = Path(data)
    missing = [name for name in DATA_FILES if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        print(
            f"error: the LastFM* data folder {folder} {what}; LastFM* (SCPR's JSON format, "
            "derived from HetRec 2011 Last.fm) is not shipped with recoworld: pass "
            "--data PATH to a copy (see README, Data)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def evaluation_split(
    data: str, episodes: int, seed: int, graph: AttributeGraph, valid_pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(evaluation pairs, DQN training pairs)``: a seeded shuffle of the playable valid pairs."""
    playable = valid_pairs[np.diff(graph.item_attr.indptr)[valid_pairs[:, 1]] > 0]
    order = np.random.default_rng(seed).permutation(len(playable))
    if episodes >= len(playable):
        raise SystemExit(f"--episodes {episodes} leaves no valid pair of {data} for training")
    return playable[order[:episodes]], playable[order[episodes:]]


def main() -> None:
    args = parse_args()
    check_data_folder(args.data)
    torch.set_num_threads(1)
    progress = not args.no_progress
    start = time.perf_counter()
    timings: dict[str, float] = {}

    dataset = load_scpr(args.data)
    graph = AttributeGraph.from_catalog(dataset.catalog, dataset.train, dataset.user_likes)
    eval_pairs, heldout_pairs = evaluation_split(
        args.data, args.episodes, args.seed, graph, dataset.pairs("valid")
    )
    if args.dqn_pairs == "train":
        train_split = dataset.pairs("train")
        train_pairs = train_split[np.diff(graph.item_attr.indptr)[train_split[:, 1]] > 0]
    else:
        train_pairs = heldout_pairs
    print(
        f"{dataset!r}\nevaluation pairs: {len(eval_pairs)}, DQN training pairs: {len(train_pairs)}"
    )

    t = time.perf_counter()
    fm = train_fm(dataset, FMConfig(epochs=args.fm_epochs), seed=args.seed, progress=progress)
    timings["train_fm"] = time.perf_counter() - t

    base_kwargs = {"dataset_path": args.data}
    policy_kwargs = scpr_env_kwargs(base_kwargs, fm)
    t = time.perf_counter()
    dqn = train_scpr_dqn(
        policy_kwargs,
        DQNConfig(total_steps=args.dqn_steps),
        seed=args.seed,
        pairs=train_pairs,
        progress=progress,
    )
    timings["train_dqn"] = time.perf_counter() - t
    checkpoint = save_scpr_checkpoint(Path(args.out) / f"scpr_seed{args.seed}", fm, dqn)
    print(f"checkpoints: {checkpoint.resolve()}")

    policies = {"scpr": dqn}
    if args.sb3 != "none":
        t = time.perf_counter()
        policies[f"scpr-sb3-{args.sb3}"] = train_scpr_sb3(
            policy_kwargs,
            args.sb3,
            SB3Config(total_timesteps=args.dqn_steps),
            seed=args.seed,
            pairs=train_pairs,
            progress=progress,
        )
        timings[f"train_sb3_{args.sb3}"] = time.perf_counter() - t
        save_scpr_checkpoint(
            Path(args.out) / f"scpr_sb3_{args.sb3}_seed{args.seed}",
            fm,
            policies[f"scpr-sb3-{args.sb3}"],
        )

    chooser = WeightedEntropyScorer(fm, graph)
    runs = {
        "random": ("random", {"action_mode": "attribute", "item_scorer": fm.item_scorer()}),
        "abs-greedy": ("abs-greedy", {"action_mode": "attribute", "item_scorer": fm.item_scorer()}),
        "max-entropy": (
            "max-entropy",
            {"action_mode": "attribute", "item_scorer": fm.item_scorer()},
        ),
    }
    for name, policy in policies.items():
        runs[name] = (SCPRAgent(policy, chooser), policy_kwargs)
    results: dict[str, dict[str, float]] = {}
    for name, (agent, kwargs) in runs.items():
        t = time.perf_counter()
        env_kwargs = {**base_kwargs, **{k: v for k, v in kwargs.items() if k != "dataset_path"}}
        report = evaluate(
            agent,
            "ConvRec-v0",
            seed=args.seed,
            reset_options=[{"pair": (int(u), int(i))} for u, i in eval_pairs],
            **env_kwargs,
        )
        timings[f"eval_{name}"] = time.perf_counter() - t
        results[name] = {
            **report.metrics,
            "SR@15_lo": report.ci95["SR@15"][0],
            "SR@15_hi": report.ci95["SR@15"][1],
            "AT_lo": report.ci95["AT"][0],
            "AT_hi": report.ci95["AT"][1],
        }
        print(f"{name}: SR@15 {report.metrics['SR@15']:.3f} AT {report.metrics['AT']:.2f}")
    total = time.perf_counter() - start

    print(
        f"\nConvRec-v0 on LastFM* ({len(eval_pairs)} valid pairs, seed {args.seed}; published: "
        "test split)\n"
    )
    header = (
        f"{'agent':<16}{'SR@5':>7}{'SR@10':>7}{'SR@15':>7}  {'95% CI':<13}{'AT':>6}  "
        f"{'95% CI':<13}{'hDCG':>6}   published SR@15 / AT"
    )
    print(header)
    print("-" * len(header))
    for name in [*runs, "EAR", "UNICORN"]:
        published = PUBLISHED.get(name)
        ref = f"{published[0]:.3f} / {published[1]:.2f}" if published else "-"
        if name not in results:
            print(f"{name:<16}{'':>7}{'':>7}{'':>7}  {'':<13}{'':>6}  {'':<13}{'':>6}   {ref}")
            continue
        m = results[name]
        print(
            f"{name:<16}{m['SR@5']:>7.3f}{m['SR@10']:>7.3f}{m['SR@15']:>7.3f}  "
            f"[{m['SR@15_lo']:.3f},{m['SR@15_hi']:.3f}]{m['AT']:>6.2f}  "
            f"[{m['AT_lo']:.2f},{m['AT_hi']:.2f}]{m['hDCG']:>7.3f}   {ref}"
        )
    print("\ntimings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"total wall time: {total:.0f} s ({total / 60:.1f} min)")

    if args.json:
        payload = {
            "results": results,
            "published": {k: v for k, v in PUBLISHED.items() if v},
            "timings_s": timings,
            "total_s": total,
            "args": vars(args),
            "checkpoint": str(checkpoint.resolve()),
            "python": platform.python_version(),
            "torch": torch.__version__,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
