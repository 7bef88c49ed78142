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

AGENTS: dict[str, Callable[[Any, int | None], Agent]] = {
    "random": lambda env, seed: RandomAgent(ObservationLayout.of(env), seed=seed),
    "popular": lambda env, seed: MostPopularAgent(ObservationLayout.of(env)),
    "greedy": lambda env, seed: GreedyAgent(ObservationLayout.of(env)),
    "instruction-greedy": lambda env, seed: InstructionAwareGreedyAgent(ObservationLayout.of(env)),
    "oracle": lambda env, seed: OracleAgent(env),
}
"""Agent factories by name; each takes the env it will act in and a seed."""


def make_agent(name: str, env: Any, seed: int | None = None) -> Agent:
    """Build the agent called ``name`` for ``env`` (see :data:`AGENTS` for the names)."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {sorted(AGENTS)}")
    return AGENTS[name](env, seed)


__all__ = [
    "AGENTS",
    "Agent",
    "GreedyAgent",
    "InstructionAwareGreedyAgent",
    "MostPopularAgent",
    "ObservationLayout",
    "OracleAgent",
    "RandomAgent",
    "make_agent",
    "top_slate",
]
