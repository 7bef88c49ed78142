"""Throughput and memory of RecoWorld-v0, against CartPole-v1 measured in the same run.

    python benchmarks/env_throughput.py [--json FILE] [--seconds 2] [--repeats 3] [--users 10000]

Prints a table (each measure with its target, if it has one, and whether the run met it) and
optionally writes JSON. What is measured:

* env steps/s of ``gym.make("RecoWorld-v0", num_candidates=100, slate_size=10)`` (with the
  wrappers ``gym.make`` adds) stepping valid random slates (distinct random candidate indices,
  drawn up front so the agent costs nothing), resetting when an episode ends;
* the same for ``gym.make("CartPole-v1")`` with valid random actions: on a shared, noisy machine
  the *ratio* of the two is the number to compare across runs (target >= 0.25, goal 0.45);
* the same for a no-op env (a ``Dict`` observation, nothing computed) through ``gym.make``: the
  floor that Gymnasium's wrappers and the step loop itself cost;
* user-steps/s of the batched entry point (``gym.make_vec(..., vectorization_mode=
  "vector_entry_point")``) with ``--users`` users: full observations (per-candidate features)
  with fresh arrays every step, the same with ``copy=False`` (arrays reused), and
  ``observation_mode="ids"`` with ``copy=False``; and of the bare latent user model
  (:func:`recoworld.simulators.step_users`) on the same users;
* bytes of hidden latent state per user, and the process's peak RSS.

Every rate is the best of ``--repeats`` timing windows of ``--seconds`` each (the single-env
windows of RecoWorld, CartPole and the no-op env take turns, so a busy spell of the machine
hits all three alike). Numba kernels are compiled (or loaded from cache) before timing starts.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import recoworld  # noqa: F401  (registers the envs)
from recoworld.evaluation.files import check_output_option
from recoworld.simulators import sample_users, step_users

RATIO_TARGET = 0.25
RATIO_GOAL = 0.45
IDS_TARGET = 1_000_000
FEATURES_TARGET = 400_000


class NoOpEnv(gym.Env):
    """Returns the same tiny observation every step: what a step costs around the env."""

    def __init__(self) -> None:
        self.observation_space = spaces.Dict({"context": spaces.Box(0.0, 1.0, (5,), np.float32)})
        self.action_space = spaces.MultiDiscrete(np.full(10, 100))
        self._context = np.zeros(5, np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return {"context": self._context.copy()}, {}

    def step(self, action: np.ndarray):
        return {"context": self._context.copy()}, 0.0, False, False, {}


if "NoOp-v0" not in gym.registry:
    gym.register("NoOp-v0", entry_point=NoOpEnv)


class SingleEnvTimer:
    """Steps/s of ``gym.make(env_id)`` over pre-drawn actions, resetting on episode end."""

    def __init__(self, env_id: str, actions: np.ndarray, **kwargs: Any) -> None:
        self.env = gym.make(env_id, **kwargs)
        self.actions = actions
        self.env.reset(seed=0)
        self.steps = 0
        self.run(min(200, len(actions)))  # warm up (compiles kernels, fills caches)
        self.env.reset(seed=1)

    def run(self, n: int) -> None:
        env, actions, steps = self.env, self.actions, self.steps
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            steps += 1
            if terminated or truncated:
                env.reset()
        self.steps = steps

    def window(self, seconds: float) -> float:
        """Steps/s over one timing window of about ``seconds``."""
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            self.run(1000)
            done += 1000
            if time.perf_counter() >= deadline:
                return done / (time.perf_counter() - start)


def time_vector_env(
    n_users: int,
    seconds: float,
    repeats: int,
    observation_mode: str = "features",
    copy: bool = True,
) -> tuple[float, float]:
    """User-steps per second of the batched entry point (best window), and hidden bytes per
    user."""
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
    best = 0.0
    steps = 0
    for _ in range(repeats):
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            envs.step(actions[steps % 4])
            steps += 1
            done += 1
        best = max(best, done * n_users / (time.perf_counter() - start))
    bytes_per_user = envs.unwrapped.core.state.nbytes_per_user()
    envs.close()
    return best, bytes_per_user


def time_user_model(n_users: int, seconds: float, repeats: int) -> float:
    """User-steps per second of the bare latent user model on ``n_users`` users (best window)."""
    env = gym.make("RecoWorld-v0")
    catalog, config = env.unwrapped.catalog, env.unwrapped.core.user_config
    rng = np.random.default_rng(0)
    state = sample_users(n_users, catalog, config, rng)
    items = np.argsort(rng.random((n_users, catalog.n_items)), axis=1)[:, :10]
    step_users(state, catalog, items, config, rng)
    best = 0.0
    for _ in range(repeats):
        steps = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            step_users(state, catalog, items, config, rng)
            steps += 1
        best = max(best, steps * n_users / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a timing window")
    parser.add_argument("--repeats", type=int, default=3, help="windows per measure (best kept)")
    parser.add_argument("--users", type=int, default=10_000, help="users in the batched env")
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)

    rng = np.random.default_rng(0)
    slates = np.argsort(rng.random((4096, 100)), axis=1)[:, :10]
    cartpole_actions = rng.integers(0, 2, size=4096)

    timers = {
        "recoworld": SingleEnvTimer("RecoWorld-v0", slates, num_candidates=100, slate_size=10),
        "cartpole": SingleEnvTimer("CartPole-v1", cartpole_actions),
        "noop": SingleEnvTimer("NoOp-v0", slates),
    }
    single = dict.fromkeys(timers, 0.0)
    for _ in range(args.repeats):
        for name, timer in timers.items():
            single[name] = max(single[name], timer.window(args.seconds))
    ratio = single["recoworld"] / single["cartpole"]

    vector_rate, bytes_per_user = time_vector_env(args.users, args.seconds, args.repeats)
    vector_nocopy_rate, _ = time_vector_env(args.users, args.seconds, args.repeats, copy=False)
    vector_ids_rate, _ = time_vector_env(
        args.users, args.seconds, args.repeats, observation_mode="ids", copy=False
    )
    model_rate = time_user_model(args.users, args.seconds, args.repeats)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    users = f"{args.users:,} users"
    rows: list[tuple[str, float, float | None, str]] = [
        ("RecoWorld-v0 env steps/s (gym.make, C=100, S=10)", single["recoworld"], None, ""),
        ("CartPole-v1 env steps/s (gym.make)", single["cartpole"], None, "reference"),
        ("no-op Dict env steps/s (gym.make): wrapper floor", single["noop"], None, "reference"),
        (
            "RecoWorld-v0 / CartPole-v1",
            ratio,
            RATIO_TARGET,
            f">= {RATIO_TARGET} (goal {RATIO_GOAL})",
        ),
        (
            f"batched user-steps/s, features ({users})",
            vector_rate,
            FEATURES_TARGET,
            f">= {FEATURES_TARGET:,}",
        ),
        (
            "  same, copy=False (observation arrays reused)",
            vector_nocopy_rate,
            FEATURES_TARGET,
            f">= {FEATURES_TARGET:,}",
        ),
        (
            "  observation_mode='ids', copy=False",
            vector_ids_rate,
            IDS_TARGET,
            f">= {IDS_TARGET:,}",
        ),
        (f"latent user model user-steps/s ({users})", model_rate, None, "reference"),
        ("hidden latent state bytes per user", bytes_per_user, None, "<= 2,048"),
        ("peak RSS MiB", peak_rss_mib, None, "reference"),
    ]
    width = max(len(name) for name, *_ in rows)
    print(f"{'measure':<{width}}  {'value':>14}  {'target':<24}  met")
    for name, value, threshold, target in rows:
        shown = f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
        met = "" if threshold is None else ("yes" if value >= threshold else "no")
        print(f"{name:<{width}}  {shown:>14}  {target:<24}  {met}")

    if args.json is not None:
        result = {
            "recoworld_steps_per_s": single["recoworld"],
            "cartpole_steps_per_s": single["cartpole"],
            "noop_steps_per_s": single["noop"],
            "ratio_to_cartpole": ratio,
            "vector_user_steps_per_s": vector_rate,
            "vector_nocopy_user_steps_per_s": vector_nocopy_rate,
            "vector_ids_nocopy_user_steps_per_s": vector_ids_rate,
            "user_model_user_steps_per_s": model_rate,
            "bytes_per_user": bytes_per_user,
            "peak_rss_mib": peak_rss_mib,
            "targets": {
                "ratio_to_cartpole": {
                    "value": ratio,
                    "target": RATIO_TARGET,
                    "goal": RATIO_GOAL,
                    "met": ratio >= RATIO_TARGET,
                },
                "vector_features_user_steps_per_s": {
                    "value": vector_rate,
                    "target": FEATURES_TARGET,
                    "met": vector_rate >= FEATURES_TARGET,
                },
                "vector_features_nocopy_user_steps_per_s": {
                    "value": vector_nocopy_rate,
                    "target": FEATURES_TARGET,
                    "met": vector_nocopy_rate >= FEATURES_TARGET,
                },
                "vector_ids_nocopy_user_steps_per_s": {
                    "value": vector_ids_rate,
                    "target": IDS_TARGET,
                    "met": vector_ids_rate >= IDS_TARGET,
                },
            },
            "config": {
                "users": args.users,
                "seconds": args.seconds,
                "repeats": args.repeats,
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
