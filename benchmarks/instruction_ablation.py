"""Does the reflective instruction carry information? An ablation on RecoWorld-v0.

    python benchmarks/instruction_ablation.py [--episodes 300] [--seed 0] [--json FILE]

The same agent (greedy on history affinity, re-ranked by the user's standing instruction) is run
twice on the same users (paired seeds): once reading the instruction, once with it hidden. The
gain in return, with its paired 95% interval, is what the instruction is worth. Both the
single-session env and the multi-session env (where the retention term matters more) are run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

from recoworld.agents import GreedyAgent, InstructionAwareGreedyAgent, ObservationLayout
from recoworld.evaluation import compare, mean_ci95
from recoworld.evaluation.files import check_output_option


def hidden_instruction_agent(env: gym.Env) -> GreedyAgent:
    agent = GreedyAgent(ObservationLayout.of(env), use_instruction=False)
    agent.name = "greedy (instruction hidden)"
    return agent


def instruction_agent(env: gym.Env) -> InstructionAwareGreedyAgent:
    return InstructionAwareGreedyAgent(ObservationLayout.of(env))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)

    settings = {"single session": {}, "multi-session (5)": {"multi_session": True}}
    results = {}
    print(
        f"{'setting':<20} {'metric':<16} {'instruction read':>22} {'instruction hidden':>22} "
        f"{'paired gain':>24}"
    )
    for label, env_kwargs in settings.items():
        reports = compare(
            [instruction_agent, hidden_instruction_agent],
            "RecoWorld-v0",
            episodes=args.episodes,
            seed=args.seed,
            **env_kwargs,
        )
        with_instruction, hidden = reports.values()
        results[label] = {}
        for metric in ("return", "session_length", "return_gap_days", "instructions"):
            a = with_instruction.per_episode[metric]
            b = hidden.per_episode[metric]
            both = np.isfinite(a) & np.isfinite(b)
            gain, lo, hi = mean_ci95(a[both] - b[both])
            cell_a = f"{with_instruction.metrics[metric]:.2f} {_ci(with_instruction.ci95[metric])}"
            cell_b = f"{hidden.metrics[metric]:.2f} {_ci(hidden.ci95[metric])}"
            print(
                f"{label:<20} {metric:<16} {cell_a:>22} {cell_b:>22} "
                f"{gain:>+8.2f} [{lo:+.2f}, {hi:+.2f}]"
            )
            results[label][metric] = {
                "instruction_read": with_instruction.metrics[metric],
                "instruction_read_ci95": list(with_instruction.ci95[metric]),
                "instruction_hidden": hidden.metrics[metric],
                "instruction_hidden_ci95": list(hidden.ci95[metric]),
                "paired_gain": gain,
                "paired_gain_ci95": [lo, hi],
            }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"results": results, "config": {"episodes": args.episodes, "seed": args.seed}}
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.2f}, {interval[1]:.2f}]"


if __name__ == "__main__":
    main()
