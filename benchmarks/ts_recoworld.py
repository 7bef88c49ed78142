"""Benchmark: Thompson sampling (``ts``) against greedy rankers on multi-session ``RecoWorld-v0``.

    python benchmarks/ts_recoworld.py --episodes 100 --seeds 3 --json ts_recoworld.json

Plays ``greedy`` (cosine to the watch history), ``bayes-greedy`` (the Bayesian click model of
:mod:`recoworld.agents.thompson` ranked by its posterior mean), ``ts`` (the same model ranked by a
posterior sample) and ``random`` (the floor) with :func:`recoworld.evaluation.evaluate` on
multi-session episodes (``multi_session=True``: up to ``max_sessions`` sessions, so the
retention reward, i.e. whether and how soon the user comes back, is part of the return).

Seeds are paired: block ``k`` of ``--seeds`` plays episodes with reset seeds
``EVAL_SEED_OFFSET + k * episodes + i``, and every agent meets the same user on the same seed (the
agents are reset with that seed too). The table gives each agent's mean and 95% t-interval over
all episodes; then the paired differences ``ts - bayes-greedy`` (what exploration adds, the
model held fixed), ``ts - greedy`` and ``bayes-greedy - greedy`` of the return, pooled and per
block.

Then a sweep over user-model settings (``user_config=UserModelConfig(...)``, see
:data:`SWEEP`) where exploration should matter more (several or spread-out interests, tastes that
stay put, patient users) or less (one interest, fast drift, picky users), each with
``--sweep-episodes`` paired episodes of greedy, bayes-greedy and ts, and the verdict on
``ts - bayes-greedy``: ``ts wins`` / ``ts loses`` when its 95% interval excludes 0, else
``ts ties``.

The default run (100 episodes x 3 blocks, a sweep of 100 episodes per setting) took 4.6 minutes
on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

import recoworld  # noqa: F401  (registers the environments)
from recoworld.evaluation import EvaluationReport, evaluate
from recoworld.evaluation.files import check_output_option
from recoworld.evaluation.report import json_safe
from recoworld.simulators import UserModelConfig
from recoworld.validation import check_int, check_number

ENV_ID = "RecoWorld-v0"
EVAL_SEED_OFFSET = 2_000_000
AGENTS = ("greedy", "bayes-greedy", "ts", "random")
SWEEP_AGENTS = ("greedy", "bayes-greedy", "ts")
BAYESIAN = ("bayes-greedy", "ts")
TABLE_METRICS = (
    "return",
    "clicks",
    "sessions",
    "session_length",
    "return_gap_days",
    "churn_rate",
    "intra_list_diversity",
)
PAIRS = (("ts", "bayes-greedy"), ("ts", "greedy"), ("bayes-greedy", "greedy"))

SWEEP: dict[str, tuple[dict[str, Any], str]] = {
    "default": ({}, "the default population (3 interests, spread 0.5)"),
    "one interest": ({"n_interests": 1}, "less to discover: exploration should matter less"),
    "six interests": ({"n_interests": 6}, "more to discover: exploration should matter more"),
    "wide interests": (
        {"interest_spread": 1.0},
        "interests far from the topic centroids: harder to guess from topics",
    ),
    "no drift": ({"drift_rate": 0.0}, "tastes stay put: what is learned stays true"),
    "fast drift": ({"drift_rate": 0.2}, "tastes follow what is shown: less to learn"),
    "picky": (
        {"no_click_utility": 4.5},
        "few clicks: little feedback and every miss costs patience",
    ),
    "easy": ({"no_click_utility": 2.5}, "many clicks: much feedback, misses are cheap"),
    "patient": (
        {"fatigue": 0.02, "empty_turn_penalty": 0.0},
        "exploration is cheap: a poor slate costs little patience",
    ),
}
"""Sweep settings: name -> (UserModelConfig fields, why exploration should matter more or
less)."""


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval over the finite ``values``."""
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan
    return mean, float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def play(
    agents: tuple[str, ...],
    episodes: int,
    seed: int,
    env_kwargs: dict[str, Any],
    agent_options: dict[str, Any],
) -> tuple[dict[str, EvaluationReport], dict[str, float]]:
    """Evaluate every agent on the same seeds; the reports and each agent's seconds."""
    reports, seconds = {}, {}
    for name in agents:
        started = time.perf_counter()
        reports[name] = evaluate(
            name,
            ENV_ID,
            episodes,
            seed,
            agent_options=agent_options if name in BAYESIAN else None,
            **env_kwargs,
        )
        seconds[name] = time.perf_counter() - started
    return reports, seconds


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """The paired difference ``a - b``: mean, 95% interval and the verdict on its sign."""
    mean, half = t_interval(a - b)
    low, high = mean - half, mean + half
    verdict = "wins" if low > 0 else "loses" if high < 0 else "ties"
    return {"mean": mean, "ci95": [low, high], "verdict": verdict}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="episodes per seed block")
    parser.add_argument("--seeds", type=int, default=3, help="seed blocks (disjoint users)")
    parser.add_argument(
        "--sweep-episodes", type=int, default=100, help="episodes per sweep setting (0: no sweep)"
    )
    parser.add_argument("--max-sessions", type=int, default=5, help="sessions per episode")
    parser.add_argument("--prior-variance", type=float, default=None, help="ts/bayes-greedy option")
    parser.add_argument("--noise-variance", type=float, default=None, help="ts/bayes-greedy option")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    args = parser.parse_args(argv)
    check_output_option(parser, "--json", args.json, overwrite=args.overwrite)
    try:
        episodes = check_int("--episodes", args.episodes, 1)
        blocks = check_int("--seeds", args.seeds, 1)
        sweep_episodes = check_int("--sweep-episodes", args.sweep_episodes, 0)
        env_kwargs: dict[str, Any] = {
            "multi_session": True,
            "max_sessions": check_int("--max-sessions", args.max_sessions, 1),
        }
        agent_options: dict[str, Any] = {}
        for name in ("prior_variance", "noise_variance"):
            value = getattr(args, name)
            if value is not None:
                agent_options[name] = check_number(f"--{name.replace('_', '-')}", value, 0.0)
    except ValueError as error:
        parser.error(str(error))

    started = time.perf_counter()
    per_episode: dict[str, dict[str, list[float]]] = {
        name: {metric: [] for metric in TABLE_METRICS} for name in AGENTS
    }
    seconds = dict.fromkeys(AGENTS, 0.0)
    block_differences: dict[str, list[float]] = {f"{a} - {b}": [] for a, b in PAIRS}
    for block in range(blocks):
        seed = EVAL_SEED_OFFSET + block * episodes
        reports, took = play(AGENTS, episodes, seed, env_kwargs, agent_options)
        for name, report in reports.items():
            seconds[name] += took[name]
            for metric in TABLE_METRICS:
                per_episode[name][metric] += report.per_episode[metric].tolist()
        for a, b in PAIRS:
            difference = reports[a].per_episode["return"] - reports[b].per_episode["return"]
            block_differences[f"{a} - {b}"].append(float(difference.mean()))
    values = {
        name: {metric: np.array(v) for metric, v in metrics.items()}
        for name, metrics in per_episode.items()
    }

    total = episodes * blocks
    print(
        f"{ENV_ID} multi-session (max_sessions={env_kwargs['max_sessions']}), {total} paired "
        f"episodes per agent ({blocks} blocks of {episodes}, seeds {EVAL_SEED_OFFSET}.."
        f"{EVAL_SEED_OFFSET + total - 1}); ts/bayes-greedy options {agent_options or 'default'}"
    )
    header = "".join(f"{metric[:14]:>17}" for metric in TABLE_METRICS)
    print(f"{'agent':<14}{header}{'s/episode':>11}")
    table: dict[str, dict[str, Any]] = {}
    for name in AGENTS:
        row = {}
        cells = []
        for metric in TABLE_METRICS:
            mean, half = t_interval(values[name][metric])
            row[metric] = {"mean": mean, "ci95": [mean - half, mean + half]}
            cells.append(f"{mean:>9.2f} ±{half:6.2f}")
        table[name] = {**row, "seconds_per_episode": seconds[name] / total}
        print(f"{name:<14}{''.join(cells)}{seconds[name] / total:>11.3f}")
    differences = {}
    for a, b in PAIRS:
        key = f"{a} - {b}"
        result = paired(values[a]["return"], values[b]["return"])
        result["per_block"] = block_differences[key]
        differences[key] = result
        low, high = result["ci95"]
        blocks_text = ", ".join(f"{d:+.1f}" for d in result["per_block"])
        print(
            f"paired return {key:<24}{result['mean']:+8.2f}  95% CI [{low:+8.2f}, {high:+8.2f}]"
            f"  per block: {blocks_text}"
        )

    sweep: dict[str, Any] = {}
    if sweep_episodes:
        print(
            f"\nsweep over user models, {sweep_episodes} paired episodes each (seeds "
            f"{EVAL_SEED_OFFSET + total}..): mean return, then ts - bayes-greedy"
        )
        print(
            f"{'setting':<16}{'greedy':>9}{'bayes-gr':>9}{'ts':>9}{'ts - bayes-greedy':>28}"
            f"{'ts - greedy':>12}  verdict"
        )
        for setting, (fields, why) in SWEEP.items():
            kwargs = {**env_kwargs, "user_config": UserModelConfig(**fields)}
            reports, _ = play(
                SWEEP_AGENTS, sweep_episodes, EVAL_SEED_OFFSET + total, kwargs, agent_options
            )
            returns = {name: reports[name].per_episode["return"] for name in SWEEP_AGENTS}
            versus_mean = paired(returns["ts"], returns["bayes-greedy"])
            versus_greedy = paired(returns["ts"], returns["greedy"])
            low, high = versus_mean["ci95"]
            print(
                f"{setting:<16}"
                + "".join(f"{float(returns[name].mean()):>9.1f}" for name in SWEEP_AGENTS)
                + f"{versus_mean['mean']:>+9.1f} [{low:+7.1f}, {high:+7.1f}]"
                + f"{versus_greedy['mean']:>+12.1f}  ts {versus_mean['verdict']}"
            )
            sweep[setting] = {
                "user_config": fields,
                "why": why,
                "return": {name: {"mean": float(returns[name].mean())} for name in SWEEP_AGENTS},
                "clicks": {name: float(reports[name].metrics["clicks"]) for name in SWEEP_AGENTS},
                "churn_rate": {
                    name: float(reports[name].metrics["churn_rate"]) for name in SWEEP_AGENTS
                },
                "ts - bayes-greedy": versus_mean,
                "ts - greedy": versus_greedy,
            }
    elapsed = time.perf_counter() - started
    print(f"\ntook {elapsed:.0f} s")
    result = {
        "env_id": ENV_ID,
        "env_kwargs": env_kwargs,
        "agent_options": agent_options,
        "episodes": episodes,
        "seeds": blocks,
        "eval_seeds": [EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + total - 1],
        "agents": table,
        "paired_return": differences,
        "sweep_episodes": sweep_episodes,
        "sweep": sweep,
        "seconds": round(elapsed, 1),
    }
    if args.json is not None:
        # NaN (an interval of fewer than two values) is written as null.
        args.json.write_text(json.dumps(json_safe(result), indent=2, allow_nan=False) + "\n")
    return result


if __name__ == "__main__":
    main()
