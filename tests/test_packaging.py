"""The core install stays light: the main job imports no training, LLM or plotting stack."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "litellm", "llama_cpp", "matplotlib")


def test_envs_agents_and_evaluation_import_no_heavy_stack():
    """`pip install recoworld` (no extras) must be enough for gym.make, the baseline agents of
    every env and an evaluation: none of them may import an extra's package."""
    code = (
        "import sys, gymnasium as gym, recoworld\n"
        "from recoworld.evaluation import evaluate, comparison_table\n"
        "from recoworld.agents import agent_names\n"
        "import recoworld.cli, recoworld.testing\n"
        "evaluate('greedy', 'RecoWorld-v0', 1, num_candidates=20, slate_size=3)\n"
        "evaluate('max-entropy', 'ConvRec-v0', 1, n_items=200, n_users=10)\n"
        "evaluate('attribute', 'RecoChat-v0', 1, n_items=200, n_users=10)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_core_dependencies_leave_the_heavy_stacks_to_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    for heavy in (
        "torch",
        "stable-baselines3",
        "sb3-contrib",
        "litellm",
        "llama-cpp",
        "matplotlib",
        "transformers",
        "trl",
    ):
        assert heavy not in core, heavy
    extras = project["optional-dependencies"]
    assert {"train", "llm", "plots", "align", "dev"} <= set(extras)
    assert any(
        all(name in dep for name in ("train", "llm", "plots", "align")) for dep in extras["dev"]
    )
    # the torch range is the one the CPU build satisfies (.ci/run installs torch==2.13.0 first)
    assert all(dep == "torch>=2.2" for dep in extras["train"] + extras["align"] if "torch" in dep)
