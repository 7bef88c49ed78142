"""Agents (policies) behind one :class:`Agent` protocol, registered by name per env id.

``make_agent(name, env, seed)`` builds a registered agent for an env; ``agent_names(env_id)``
lists them; ``register_agent(env_id, name, factory)`` adds your own (see
:mod:`recoworld.agents.registry`). The built-in agents:

* ``RecoWorld-v0``: ``random``, ``popular``, ``greedy``, ``instruction-greedy``, ``oracle``,
  ``text-instruction-greedy``, ``llm-ranker``, ``ts`` and ``bayes-greedy``
  (:mod:`recoworld.agents.thompson`: a Bayesian click model ranked by a posterior sample or
  mean), and ``ppo`` / ``maskable-ppo`` (a saved Stable-Baselines3 policy, option
  ``checkpoint``);
* ``ConvRec-v0``: ``random``, ``abs-greedy``, ``max-entropy`` and ``scpr``
  (:mod:`recoworld.agents.scpr`, option ``checkpoint``);
* ``RecoChat-v0``: ``random``, ``attribute`` and ``llm``;
* ``SlateRec-v0``: ``random`` and ``popular``.
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
from recoworld.agents.slate_baselines import SlatePopularAgent, SlateRandomAgent
from recoworld.agents.thompson import BayesGreedyAgent, ThompsonSamplingAgent

__all__ = [
    "AbsGreedyAgent",
    "Agent",
    "AgentEntry",
    "AttributeChatAgent",
    "BayesGreedyAgent",
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
    "SlatePopularAgent",
    "SlateRandomAgent",
    "TextInstructionGreedyAgent",
    "ThompsonSamplingAgent",
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
