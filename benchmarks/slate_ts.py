"""Benchmark: the Bayesian GRU with in-slate Thompson sampling on ``SlateRec-v0`` (issue 11).

    python benchmarks/slate_ts.py --users 20000 --epochs 3 --episodes 500 --seeds 5 \\
        --json slate_ts.json

1. **Logs.** ``--users`` users of the embedded synthetic slate world (world seed ``--world-seed``)
   answer a logging policy that mixes search and recommendation slates
   (:func:`recoworld.catalog.slates.generate_slate_logs`, seed ``--seed``); 10% of the users are
   held out (:func:`recoworld.catalog.slates.split_users`).
2. **Training.** Two :class:`~recoworld.agents.slate_gru.SlateGRU` models are trained on the
   other users for ``--epochs`` epochs: one with the slate likelihood (the choice among the
   items shown and no click), one with the all-items likelihood. The training time is reported.
3. **Offline.** On the held-out users (the paper's protocol): hit rate (the 20 best items after
   each user's first 5 steps against the user's later clicks) and log-likelihood per
   interaction under both likelihoods; popularity (the 20 items most clicked in training) is the
   hit-rate baseline. Hit rates come with a Wilson 95% interval over later clicks.
4. **Online.** ``random``, ``popular``, ``gru-greedy`` and ``gru-ts`` (both on the slate-likelihood
   model) play ``--episodes`` episodes of ``SlateRec-v0`` in each of ``--seeds`` blocks; episode
   ``i`` of block ``b`` resets with seed ``EVAL_SEED_OFFSET + b * episodes + i`` for every agent,
   so the agents meet the same users (paired seeds). Per agent: clicks per episode, CTR,
   no-click rate, groups per slate and coverage with 95% intervals; then the paired difference
   ``gru-ts - gru-greedy`` in clicks and in groups per slate (Student-t interval over all paired
   episodes, and the mean of each block).

The ``ts`` agent on ``RecoWorld-v0`` (issue 11, part 6) has its own benchmark,
``benchmarks/ts_recoworld.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

import recoworld  # noqa: F401  (registers the environments)
from recoworld.catalog.slate_world import FIRST_ITEM, synthetic_slate_world
from recoworld.catalog.slates import generate_slate_logs, split_users
from recoworld.evaluation import evaluate
from recoworld.evaluation.files import check_output_option
from recoworld.evaluation.metrics import mean_ci95
from recoworld.evaluation.report import json_safe
from recoworld.training.slate_gru import evaluate_slate_gru, train_slate_gru
from recoworld.validation import check_int

EVAL_SEED_OFFSET = 3_000_000
AGENTS = ("random", "popular", "gru-greedy", "gru-ts")
HIT_STEP, TOP_K = 5, 20


def wilson(hits: float, total: float) -> tuple[float, float]:
    """Wilson 95% interval of the proportion ``hits / total``."""
    if total <= 0:
        return math.nan, math.nan
    z, p = 1.959964, hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def popularity_hit_rate(click: np.ndarray, train: np.ndarray, valid: np.ndarray) -> dict:
    """Hit rate of the ``TOP_K`` items most clicked by the train users, on the later clicks
    (steps >= ``HIT_STEP``, real items) of the valid users."""
    train_clicks = np.asarray(click[train]).reshape(-1)
    counts = np.bincount(train_clicks[train_clicks >= FIRST_ITEM])
    top = np.argsort(-counts, kind="stable")[:TOP_K]
    later = np.asarray(click[valid])[:, HIT_STEP:].reshape(-1)
    later = later[later >= FIRST_ITEM]
    hits = float(np.isin(later, top).sum())
    return {"hit_rate": hits / max(len(later), 1), "hits": hits, "later_clicks": float(len(later))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20_000, help="users in the logs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=500, help="episodes per seed block")
    parser.add_argument("--seeds", type=int, default=5, help="seed blocks")
    parser.add_argument("--seed", type=int, default=0, help="logs, split and training seed")
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    args = parser.parse_args(argv)
    check_output_option(parser, "--json", args.json, overwrite=args.overwrite)
    for name in ("users", "epochs", "episodes", "seeds", "threads"):
        try:
            check_int(f"--{name}", getattr(args, name), 1)
        except ValueError as error:
            parser.error(str(error))

    world = synthetic_slate_world(args.world_seed)
    began = time.perf_counter()
    logs = generate_slate_logs(world, args.users, seed=args.seed)
    generated_s = time.perf_counter() - began
    train, valid = split_users(logs.n_users, valid_fraction=0.1, seed=args.seed)
    print(f"logs: {logs.n_users} users, generated in {generated_s:.1f} s")

    offline: dict[str, Any] = {}
    models = {}
    for likelihood in ("slate", "all"):
        began = time.perf_counter()
        model, history = train_slate_gru(
            logs.take(train),
            seed=args.seed,
            epochs=args.epochs,
            likelihood=likelihood,
            threads=args.threads,
            progress=True,
        )
        seconds = time.perf_counter() - began
        metrics = evaluate_slate_gru(model, logs, valid, hit_step=HIT_STEP, top_k=TOP_K)
        metrics["hit_rate_ci95"] = wilson(metrics["hits"], metrics["later_clicks"])
        offline[f"gru ({likelihood} likelihood)"] = {
            **metrics,
            "train_seconds": seconds,
            "final_loss": history[-1]["loss"],
        }
        models[likelihood] = model
    baseline = popularity_hit_rate(logs.click, train, valid)
    baseline["hit_rate_ci95"] = wilson(baseline["hits"], baseline["later_clicks"])
    offline["popularity"] = baseline

    print(f"\nOffline, {len(valid)} held-out users (hit rate: top {TOP_K} after step {HIT_STEP})")
    print(f"{'model':<26}{'hit rate [95% CI]':>26}{'LL slate':>10}{'LL all':>10}{'train s':>9}")
    for name, row in offline.items():
        low, high = row["hit_rate_ci95"]
        ll_slate = row.get("log_likelihood_slate", math.nan)
        ll_all = row.get("log_likelihood_all", math.nan)
        print(
            f"{name:<26}{row['hit_rate']:>9.3f} [{low:.3f}, {high:.3f}]"
            f"{ll_slate:>10.3f}{ll_all:>10.3f}{row.get('train_seconds', math.nan):>9.1f}"
        )

    online: dict[str, Any] = {}
    per_episode: dict[str, dict[str, np.ndarray]] = {}
    for agent in AGENTS:
        options = {"model": models["slate"]} if agent.startswith("gru") else None
        blocks = []
        began = time.perf_counter()
        for block in range(args.seeds):
            report = evaluate(
                agent,
                "SlateRec-v0",
                args.episodes,
                EVAL_SEED_OFFSET + block * args.episodes,
                agent_options=options,
                world=world,
            )
            blocks.append(report)
        seconds = time.perf_counter() - began
        per_episode[agent] = {
            name: np.concatenate([report.per_episode[name] for report in blocks])
            for name in ("clicks", "ctr", "no_click_rate", "groups_per_slate", "episode_length")
        }
        online[agent] = {name: mean_ci95(values) for name, values in per_episode[agent].items()}
        online[agent]["coverage_by_block"] = [r.metrics["coverage"] for r in blocks]
        online[agent]["seconds"] = seconds

    n = args.episodes * args.seeds
    print(f"\nOnline, SlateRec-v0, {args.seeds} x {args.episodes} paired episodes")
    print(
        f"{'agent':<12}{'clicks':>20}{'CTR':>8}{'no-click':>10}{'groups/slate':>14}{'coverage':>10}"
    )
    for agent, row in online.items():
        mean, low, high = row["clicks"]
        print(
            f"{agent:<12}{mean:>8.2f} [{low:.2f}, {high:.2f}]{row['ctr'][0]:>8.3f}"
            f"{row['no_click_rate'][0]:>10.3f}{row['groups_per_slate'][0]:>14.2f}"
            f"{np.mean(row['coverage_by_block']):>10.3f}"
        )
    paired: dict[str, Any] = {}
    for metric in ("clicks", "groups_per_slate"):
        difference = per_episode["gru-ts"][metric] - per_episode["gru-greedy"][metric]
        mean, low, high = mean_ci95(difference)
        blocks = difference.reshape(args.seeds, args.episodes).mean(axis=1)
        paired[metric] = {"mean": mean, "ci95": [low, high], "per_block": blocks.tolist()}
        print(
            f"paired gru-ts - gru-greedy, {metric}: {mean:+.3f} [{low:+.3f}, {high:+.3f}] "
            f"over {n} episodes; per block {', '.join(f'{b:+.2f}' for b in blocks)}"
        )

    result = {
        "config": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}},
        "logs": {"users": logs.n_users, "generated_seconds": generated_s},
        "offline": offline,
        "online": online,
        "paired_ts_minus_greedy": paired,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(json_safe(result), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return result


if __name__ == "__main__":
    main()
