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
from recoworld.agents.chat import (
    RECOCHAT_AGENTS,
    AttributeChatAgent,
    LLMChatRecommender,
    RandomChatAgent,
    make_recochat_agent,
)
from recoworld.agents.convrec import (
    CONVREC_AGENTS,
    AbsGreedyAgent,
    ConvRandomAgent,
    MaxEntropyAgent,
    make_convrec_agent,
)
from recoworld.agents.instruction_text import TextInstructionGreedyAgent, parse_instruction
from recoworld.agents.llm_ranker import LLMRankerAgent

AGENTS: dict[str, Callable[[Any, int | None], Agent]] = {
    "random": lambda env, seed: RandomAgent(ObservationLayout.of(env), seed=seed),
    "popular": lambda env, seed: MostPopularAgent(ObservationLayout.of(env)),
    "greedy": lambda env, seed: GreedyAgent(ObservationLayout.of(env)),
    "instruction-greedy": lambda env, seed: InstructionAwareGreedyAgent(ObservationLayout.of(env)),
    "oracle": lambda env, seed: OracleAgent(env),
    "text-instruction-greedy": lambda env, seed: TextInstructionGreedyAgent(env),
    "llm-ranker": lambda env, seed: LLMRankerAgent(env, seed=seed),
}
"""Agent factories by name; each takes the env it will act in and a seed."""


def make_agent(name: str, env: Any, seed: int | None = None) -> Agent:
    """Build the agent called ``name`` for ``env``.

    Names come from :data:`AGENTS` for ``RecoWorld-v0``, from :data:`CONVREC_AGENTS` for
    ``ConvRec-v0`` and from :data:`RECOCHAT_AGENTS` for ``RecoChat-v0`` (chosen by the type of
    ``env.unwrapped``).
    """
    from recoworld.envs.convrec_env import ConvRecEnv
    from recoworld.envs.recochat_env import RecoChatEnv

    if isinstance(env.unwrapped, RecoChatEnv):
        registry = RECOCHAT_AGENTS
    elif isinstance(env.unwrapped, ConvRecEnv):
        registry = CONVREC_AGENTS
    else:
        registry = AGENTS
    if name not in registry:
        raise ValueError(f"unknown agent {name!r}; choose one of {sorted(registry)}")
    return registry[name](env, seed)


__all__ = [
    "AGENTS",
    "CONVREC_AGENTS",
    "RECOCHAT_AGENTS",
    "AbsGreedyAgent",
    "Agent",
    "AttributeChatAgent",
    "ConvRandomAgent",
    "GreedyAgent",
    "InstructionAwareGreedyAgent",
    "LLMChatRecommender",
    "LLMRankerAgent",
    "MaxEntropyAgent",
    "MostPopularAgent",
    "ObservationLayout",
    "OracleAgent",
    "RandomAgent",
    "RandomChatAgent",
    "TextInstructionGreedyAgent",
    "make_agent",
    "make_convrec_agent",
    "make_recochat_agent",
    "parse_instruction",
    "top_slate",
]
