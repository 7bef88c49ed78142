"""Agents (policies) behind one :class:`Agent` protocol, registered by name per env id.

``make_agent(name, env, seed)`` builds a registered agent for an env; ``agent_names(env_id)``
lists them; ``register_agent(env_id, name, factory)`` adds your own (see
:mod:`recoworld.agents.registry`). The built-in agents:

* ``RecoWorld-v0``: ``random``, ``popular``, ``greedy``, ``instruction-greedy``, ``oracle``,
  ``text-instruction-greedy``, ``llm-ranker``, and ``ppo`` / ``maskable-ppo`` (a saved
  Stable-Baselines3 policy, option ``checkpoint``);
* ``ConvRec-v0``: ``random``, ``abs-greedy``, ``max-entropy`` and ``scpr``
  (:mod:`recoworld.agents.scpr`, option ``checkpoint``);
* ``RecoChat-v0``: ``random``, ``attribute`` and ``llm``.
"""

from __future__ import annotations

from recoworld.agents import builtin as _builtin  # noqa: F401  (registers the built-in agents)
from recoworld.agents.base import Agent, ObservationLayout, top_slate
from recoworld.agents.baselines import (
    GreedyAgent,
    InstructionAwareGreedyAgent,
    MostPopularAgent,
    OracleAgent,
    RandomAgent,
)
from recoworld.agents.chat import AttributeChatAgent, LLMChatRecommender, RandomChatAgent
from recoworld.agents.convrec import AbsGreedyAgent, ConvRandomAgent, MaxEntropyAgent
from recoworld.agents.instruction_text import TextInstructionGreedyAgent, parse_instruction
from recoworld.agents.llm_ranker import LLMRankerAgent
from recoworld.agents.registry import (
    AgentEntry,
    agent_entry,
    agent_names,
    env_id_of,
    make_agent,
    make_env_and_agent,
    register_agent,
    registered_env_ids,
)

__all__ = [
    "AbsGreedyAgent",
    "Agent",
    "AgentEntry",
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
    "agent_entry",
    "agent_names",
    "env_id_of",
    "make_agent",
    "make_env_and_agent",
    "parse_instruction",
    "register_agent",
    "registered_env_ids",
    "top_slate",
]
