"""Quickstart: one simulated user, a hand-written agent, then a seeded evaluation of baselines.

python examples/quickstart.py
"""

from __future__ import annotations

import gymnasium as gym
from rich.console import Console

import recoworld  # noqa: F401  (registers RecoWorld-v0)
from recoworld.agents import make_agent
from recoworld.evaluation import compare, comparison_table


def one_session(seed: int = 0) -> None:
    """Play one session with the instruction-aware greedy agent and show what the user does."""
    env = gym.make("RecoWorld-v0", num_candidates=100, slate_size=10)
    agent = make_agent("instruction-greedy", env, seed=seed)
    catalog = env.unwrapped.catalog
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
        total += reward
        clicked = ", ".join(catalog.titles[item] for item in info["clicks"]) or "nothing"
        print(f"turn {info['turn']:2d}: clicked {clicked}")
        if info["instruction"]:
            print(f"         the user says: {info['instruction']!r}")
        if terminated or truncated:
            print(
                f"session over after {info['turn']} turns, return {total:.1f}, "
                f"back in {info['return_gap_days']:.1f} days"
            )
            break


def main() -> None:
    one_session()
    reports = compare(["random", "greedy", "instruction-greedy", "oracle"], episodes=50, seed=0)
    Console().print(comparison_table(reports))


if __name__ == "__main__":
    main()
