"""Train PPO on ``RecoWorld-v0`` and compare it with the greedy baseline (CleanRL-style script).

    python examples/train_ppo.py --total-timesteps 300000 --eval-episodes 20

Trains :func:`recoworld.training.train_ppo` (by default PPO choosing the weights of a linear
ranker over per-candidate signals each turn), reloads the saved model as an agent, and prints
the mean episode return of that agent and of the greedy baseline on the same evaluation users
(seeds disjoint from the training envs').
"""

from __future__ import annotations

import argparse
import ast
import itertools
import random
import time
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

import recoworld  # noqa: F401  (registers the environments)
from recoworld.evaluation import evaluate
from recoworld.training import TrainConfig, load_sb3_agent, train_ppo


@dataclass
class Args:
    env_id: str = "RecoWorld-v0"
    """Gymnasium id of the environment."""
    total_timesteps: int = 300_000
    """Training environment steps (summed over the parallel envs)."""
    seed: int = 0
    """Seed of python, numpy, torch, the policy and the training envs."""
    n_envs: int = 8
    """Parallel training envs."""
    algo: str = "ppo"
    """``ppo`` (ranker over score actions) or ``maskable-ppo`` (masked slate actions)."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    n_steps: int = 256
    """Rollout steps per env between updates."""
    batch_size: int = 256
    """PPO minibatch size."""
    n_epochs: int = 10
    """PPO epochs per rollout."""
    output_dir: str = "runs/train_ppo"
    """Where ``model.zip`` and ``model.json`` are written."""
    eval_episodes: int = 20
    """Evaluation episodes per agent after training."""
    eval_seed: int = 1_000_000
    """First evaluation seed (episode ``i`` resets with ``eval_seed + i``)."""
    torch_deterministic: bool = True
    """Set ``torch.backends.cudnn.deterministic`` (matters only on a GPU)."""


def field_docs(cls: type) -> dict[str, str]:
    """The one-line docstring under each field of the dataclass ``cls`` in this file."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    body = next(
        node.body
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__
    )
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = str(following.value.value)
    return docs


def parse_args(argv: list[str] | None = None) -> Args:
    """``--kebab-case`` flags built from the fields of :class:`Args`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    docs = field_docs(Args)
    for f in fields(Args):
        flag = "--" + f.name.replace("_", "-")
        kind: Any = {"int": int, "float": float, "str": str, "bool": _boolean}[str(f.type)]
        default = f.default if f.default is not MISSING else None
        parser.add_argument(
            flag, type=kind, default=default, help=f"{docs.get(f.name, '')} (default {default})"
        )
    return Args(**vars(parser.parse_args(argv)))


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean")


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, evaluate, print; return the mean return of each agent by name."""
    args = parse_args(argv)

    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (Stable-Baselines3 samples from the global RNG)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(1)

    config = TrainConfig(
        env_id=args.env_id,
        total_timesteps=args.total_timesteps,
        seed=args.seed,
        n_envs=args.n_envs,
        algo=args.algo,
        learning_rate=args.learning_rate,
        n_steps=args.n_steps,
        batch_size=min(args.batch_size, args.n_steps * args.n_envs),
        n_epochs=args.n_epochs,
        output_dir=args.output_dir,
    )
    started = time.perf_counter()
    model_path = train_ppo(config, progress=True)
    print(f"trained {args.total_timesteps} steps in {time.perf_counter() - started:.0f} s")
    print(f"saved {model_path}")

    slate_kwargs = {**config.env_kwargs, "action_type": "slate"}
    reports = {
        config.algo: evaluate(
            lambda env: load_sb3_agent(model_path, env),
            args.env_id,
            args.eval_episodes,
            args.eval_seed,
            **config.resolved_env_kwargs,
        ),
        "greedy": evaluate(
            "greedy", args.env_id, args.eval_episodes, args.eval_seed, **slate_kwargs
        ),
    }
    means = {}
    for name, report in reports.items():
        mean, (lo, hi) = report.metrics["return"], report.ci95["return"]
        means[name] = mean
        print(
            f"{name:>14}: mean return {mean:7.2f}, 95% CI [{lo:7.2f}, {hi:7.2f}] "
            f"over {args.eval_episodes} episodes"
        )
    return means


if __name__ == "__main__":
    main()
