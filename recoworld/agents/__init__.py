"""Agents (policies) behind one :class:`Agent` protocol, and a registry to build them by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recoworld.agents.base import Agent, ObservationLayout, top_slate
from recoworld.agents.baselines import (
    GreedyAgent,
    InstructionAwareGreedyAgent,
    MostPopularAgent,
    OracleAgent,
    RandomAgent,
)
from recoworld.agents.convrec import (
    CONVREC_AGENTS,
    AbsGreedyAgent,
    ConvRandomAgent,
    MaxEntropyAgent,
    make_convrec_agent,
)

AGENTS: dict[str, Callable[[Any, int | None], Agent]] = {
    "random": lambda env, seed: RandomAgent(ObservationLayout.of(env), seed=seed),
    "popular": lambda env, seed: MostPopularAgent(ObservationLayout.of(env)),
    "greedy": lambda env, seed: GreedyAgent(ObservationLayout.of(env)),
    "instruction-greedy": lambda env, seed: InstructionAwareGreedyAgent(ObservationLayout.of(env)),
    "oracle": lambda env, seed: OracleAgent(env),
}
"""Agent factories by name; each takes the env it will act in and a seed."""


def make_agent(name: str, env: Any, seed: int | None = None) -> Agent:
    """Build the agent called ``name`` for ``env``.

    Names come from :data:`AGENTS` for ``RecoWorld-v0`` and from :data:`CONVREC_AGENTS` for
    ``ConvRec-v0`` (chosen by the type of ``env.unwrapped``).
    """
    from recoworld.envs.convrec_env import ConvRecEnv

    registry = CONVREC_AGENTS if isinstance(env.unwrapped, ConvRecEnv) else AGENTS
    if name not in registry:
        raise ValueError(f"unknown agent {name!r}; choose one of {sorted(registry)}")
    return registry[name](env, seed)


__all__ = [
    "AGENTS",
    "CONVREC_AGENTS",
    "AbsGreedyAgent",
    "Agent",
    "ConvRandomAgent",
    "GreedyAgent",
    "InstructionAwareGreedyAgent",
    "MaxEntropyAgent",
    "MostPopularAgent",
    "ObservationLayout",
    "OracleAgent",
    "RandomAgent",
    "make_agent",
    "make_convrec_agent",
    "top_slate",
]
