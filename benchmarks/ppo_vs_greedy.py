"""Benchmark: PPO (the default ranker setup) against the baselines on ``RecoWorld-v0``.

    python benchmarks/ppo_vs_greedy.py --total-timesteps 400000 --episodes 100 --seed 0 \\
        --json ppo_vs_greedy.json

Trains :func:`recoworld.training.train_ppo` on the env's engagement-plus-retention reward (or,
with ``--model``, evaluates a model trained before), then plays ``--episodes`` evaluation
episodes per agent with :func:`recoworld.evaluation.evaluate`, reset seeds
``EVAL_SEED_OFFSET + i`` (disjoint from the training envs' seeds ``seed .. seed + n_envs - 1``;
every agent meets the same users). Prints the mean return with its 95% t-interval per agent,
the paired difference PPO - greedy over the same users, and writes everything as JSON.
"ppo (untrained)" is the policy PPO starts from, to show what training added.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from scipy import stats

import recoworld  # noqa: F401  (registers the environments)
from recoworld.evaluation import EvaluationReport, evaluate
from recoworld.evaluation.files import check_output_option
from recoworld.training import SB3Agent, TrainConfig, load_sb3_agent, train_ppo

EVAL_SEED_OFFSET = 1_000_000
BASELINES = ("instruction-greedy", "greedy", "random")


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval: ``t_{0.975, n-1} * std / sqrt(n)``."""
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan
    return mean, float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def untrained_model(config: TrainConfig, output_dir: Path) -> Path:
    """The policy PPO starts from: same seed, one rollout, a learning rate of 1e-12."""
    return train_ppo(
        TrainConfig(
            **{
                **config.__dict__,
                "total_timesteps": 1,
                "n_epochs": 1,
                "learning_rate": 1e-12,
                "output_dir": str(output_dir),
            }
        )
    )


def sb3_agent(path: Path, name: str) -> Callable[[gym.Env], SB3Agent]:
    """An ``env -> agent`` factory for :func:`evaluate` loading the model at ``path``."""

    def build(env: gym.Env) -> SB3Agent:
        agent = load_sb3_agent(path, env)
        agent.name = name
        return agent

    return build


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-timesteps", type=int, default=400_000)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--policy", default="auto", help="ranker, scorer or multi-input")
    parser.add_argument(
        "--log-std-init", type=float, default=None, help="initial log std of the action noise"
    )
    parser.add_argument("--output-dir", default="runs/ppo_vs_greedy")
    parser.add_argument(
        "--model", type=Path, default=None, help="evaluate this saved model.zip, do not train"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    check_output_option(parser, "--json", args.json, overwrite=True)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (Stable-Baselines3 samples from the global RNG)
    torch.set_num_threads(1)

    if args.model is None:
        config = TrainConfig(
            total_timesteps=args.total_timesteps,
            seed=args.seed,
            n_envs=args.n_envs,
            policy=args.policy,
            log_std_init=args.log_std_init,
            output_dir=args.output_dir,
        )
        model_path = train_ppo(config, progress=True)
    else:
        model_path = args.model
    record = json.loads(model_path.with_suffix(".json").read_text())
    config = TrainConfig(**{key: record[key] for key in TrainConfig.__dataclass_fields__})
    train_seconds, timesteps = record["train_seconds"], record["timesteps_trained"]

    untrained_path = untrained_model(config, Path(args.output_dir) / "untrained")
    agents: list[tuple[str, Any, dict[str, Any]]] = [
        ("ppo", sb3_agent(model_path, "ppo"), config.resolved_env_kwargs),
        (
            "ppo (untrained)",
            sb3_agent(untrained_path, "ppo (untrained)"),
            config.resolved_env_kwargs,
        ),
    ]
    slate_kwargs = {**config.env_kwargs, "action_type": "slate"}
    agents += [(name, name, slate_kwargs) for name in BASELINES]
    reports: dict[str, EvaluationReport] = {}
    started = time.perf_counter()
    for name, agent, env_kwargs in agents:
        reports[name] = evaluate(
            agent, config.env_id, args.episodes, EVAL_SEED_OFFSET, **env_kwargs
        )
    evaluation_seconds = time.perf_counter() - started

    print(
        f"{config.env_id}, {args.episodes} evaluation episodes per agent (seeds "
        f"{EVAL_SEED_OFFSET}..{EVAL_SEED_OFFSET + args.episodes - 1}); PPO policy "
        f"{config.resolved_policy!r}, {timesteps} timesteps, trained in {train_seconds:.0f} s "
        f"(evaluation {evaluation_seconds:.0f} s)"
    )
    print(f"{'agent':<20}{'mean return':>12}  {'95% CI':>18}")
    rows = {}
    for name, report in reports.items():
        mean, (lo, hi) = report.metrics["return"], report.ci95["return"]
        rows[name] = {"mean": mean, "ci95": [lo, hi]}
        print(f"{name:<20}{mean:>12.2f}  [{lo:7.2f}, {hi:7.2f}]")
    returns = {name: report.per_episode["return"] for name, report in reports.items()}
    difference, half = t_interval(returns["ppo"] - returns["greedy"])
    print(
        f"paired ppo - greedy: {difference:+.2f}, 95% CI [{difference - half:+.2f}, "
        f"{difference + half:+.2f}]"
    )
    result = {
        "env_id": config.env_id,
        "episodes": args.episodes,
        "eval_seeds": [EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + args.episodes - 1],
        "train_seconds": round(train_seconds, 1),
        "timesteps": timesteps,
        "evaluation_seconds": round(evaluation_seconds, 1),
        "config": record,
        "model": str(model_path),
        "agents": rows,
        "paired_ppo_minus_greedy": {
            "mean": difference,
            "ci95": [difference - half, difference + half],
        },
        "returns": {name: values.tolist() for name, values in returns.items()},
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
