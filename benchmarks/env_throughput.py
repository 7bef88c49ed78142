"""Throughput and memory of RecoWorld-v0, against CartPole-v1 measured in the same run.

    python benchmarks/env_throughput.py [--json FILE] [--seconds 3] [--users 10000]

Prints a table and optionally writes JSON. What is measured:

* env steps/s of ``gym.make("RecoWorld-v0", num_candidates=100, slate_size=10)`` (with the
  default wrappers ``gym.make`` adds) stepping valid random slates (distinct random candidate
  indices, drawn up front so the agent costs nothing), resetting when an episode ends;
* the same for ``gym.make("CartPole-v1")`` with valid random actions: on a shared, noisy machine
  the *ratio* of the two is the number to compare across runs;
* user-steps/s of the batched entry point (``gym.make_vec(..., vectorization_mode=
  "vector_entry_point")``) with ``--users`` users, full observations included (per-candidate
  features; again with ``copy=False``; and with ``copy=False, observation_mode="ids"``), and of
  the bare latent user model
  (:func:`recoworld.simulators.step_users`) on the same users;
* bytes of hidden latent state per user, and the process's peak RSS.

Numba kernels are compiled (or loaded from cache) before timing starts.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import recoworld  # noqa: F401  (registers the envs)
from recoworld.simulators import sample_users, step_users


def time_single_env(env_id: str, actions: np.ndarray, seconds: float, **kwargs) -> float:
    """Steps per second of ``gym.make(env_id)`` over pre-drawn actions, resetting on episode end."""
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    for action in actions[:200]:  # warm up (compiles kernels, fills caches)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    env.reset(seed=1)
    steps = 0
    n = len(actions)
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(1000):
            _, _, terminated, truncated, _ = env.step(actions[steps % n])
            steps += 1
            if terminated or truncated:
                env.reset()
        if time.perf_counter() >= deadline:
            break
    return steps / (time.perf_counter() - start)


def time_vector_env(
    n_users: int, seconds: float, observation_mode: str = "features", copy: bool = True
) -> tuple[float, float]:
    """User-steps per second of the batched entry point, and hidden bytes per user."""
    envs = gym.make_vec(
        "RecoWorld-v0",
        num_envs=n_users,
        vectorization_mode="vector_entry_point",
        observation_mode=observation_mode,
        copy=copy,
    )
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = np.argsort(rng.random((4, n_users, 100)), axis=2)[:, :, :10]
    envs.step(actions[0])
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        envs.step(actions[steps % 4])
        steps += 1
    rate = steps * n_users / (time.perf_counter() - start)
    return rate, envs.unwrapped.core.state.nbytes_per_user()


def time_user_model(n_users: int, seconds: float) -> float:
    """User-steps per second of the bare latent user model on ``n_users`` users."""
    env = gym.make("RecoWorld-v0")
    catalog, config = env.unwrapped.catalog, env.unwrapped.core.user_config
    rng = np.random.default_rng(0)
    state = sample_users(n_users, catalog, config, rng)
    items = np.argsort(rng.random((n_users, catalog.n_items)), axis=1)[:, :10]
    step_users(state, catalog, items, config, rng)
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        step_users(state, catalog, items, config, rng)
        steps += 1
    return steps * n_users / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per measure")
    parser.add_argument("--users", type=int, default=10_000, help="users in the batched env")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    slates = np.argsort(rng.random((4096, 100)), axis=1)[:, :10]
    cartpole_actions = rng.integers(0, 2, size=4096)

    recoworld_rate = time_single_env(
        "RecoWorld-v0", slates, args.seconds, num_candidates=100, slate_size=10
    )
    cartpole_rate = time_single_env("CartPole-v1", cartpole_actions, args.seconds)
    vector_rate, bytes_per_user = time_vector_env(args.users, args.seconds)
    vector_nocopy_rate, _ = time_vector_env(args.users, args.seconds, copy=False)
    vector_ids_rate, _ = time_vector_env(
        args.users, args.seconds, observation_mode="ids", copy=False
    )
    model_rate = time_user_model(args.users, args.seconds)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [
        ("RecoWorld-v0 env steps/s (gym.make, C=100, S=10)", recoworld_rate, ">= 20,000"),
        ("CartPole-v1 env steps/s (gym.make)", cartpole_rate, "reference"),
        ("RecoWorld-v0 / CartPole-v1", recoworld_rate / cartpole_rate, ">= 0.44"),
        (f"batched entry point user-steps/s ({args.users:,} users)", vector_rate, ">= 1,000,000"),
        ("  same, copy=False (observation arrays reused)", vector_nocopy_rate, ">= 1,000,000"),
        ("  same, copy=False, observation_mode='ids'", vector_ids_rate, ">= 1,000,000"),
        (f"latent user model user-steps/s ({args.users:,} users)", model_rate, "reference"),
        ("hidden latent state bytes per user", bytes_per_user, "<= 2,048"),
        ("peak RSS MiB", peak_rss_mib, "reference"),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>14}  target")
    for name, value, target in rows:
        shown = f"{value:,.2f}" if value < 10 else f"{value:,.0f}"
        print(f"{name:<{width}}  {shown:>14}  {target}")

    if args.json is not None:
        result = {
            "recoworld_steps_per_s": recoworld_rate,
            "cartpole_steps_per_s": cartpole_rate,
            "ratio_to_cartpole": recoworld_rate / cartpole_rate,
            "vector_user_steps_per_s": vector_rate,
            "vector_nocopy_user_steps_per_s": vector_nocopy_rate,
            "vector_ids_nocopy_user_steps_per_s": vector_ids_rate,
            "user_model_user_steps_per_s": model_rate,
            "bytes_per_user": bytes_per_user,
            "peak_rss_mib": peak_rss_mib,
            "config": {
                "users": args.users,
                "seconds": args.seconds,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "gymnasium": gym.__version__,
                "machine": platform.machine(),
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
