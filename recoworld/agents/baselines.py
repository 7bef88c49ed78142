"""Baseline agents for ``RecoWorld-v0``: random, most-popular, greedy, instruction-aware, oracle.

All of them return slate actions (candidate indices) and prefer available candidates (not shown
this session, not consumed before), falling back to others only when too few are available.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recoworld.agents.base import ObservationLayout, top_slate
from recoworld.simulators import item_utilities

Observation = dict[str, np.ndarray]


class RandomAgent:
    """A uniformly random slate of distinct available candidates."""

    name = "random"

    def __init__(self, layout: ObservationLayout, seed: int | None = None) -> None:
        self.layout = layout
        self.rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        candidates = self.layout.candidates(observation)
        scores = self.rng.random(int(candidates.shape[0]))
        return top_slate(scores, candidates[:, self.layout.available], self.layout.slate_size)


class MostPopularAgent:
    """Ranks candidates by catalog popularity (the same list for every user)."""

    name = "popular"

    def __init__(self, layout: ObservationLayout) -> None:
        self.layout = layout

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        candidates = self.layout.candidates(observation)
        return top_slate(
            candidates[:, self.layout.popularity],
            candidates[:, self.layout.available],
            self.layout.slate_size,
        )


class GreedyAgent:
    """Greedy on embedding affinity to the user's watch history.

    ``score = cos(candidate, history embedding) + quality_weight * quality``; before the user has
    watched anything it ranks by quality and popularity. With ``use_instruction=True`` (the
    :class:`InstructionAwareGreedyAgent`) it also re-ranks by the standing reflective
    instruction.
    """

    name = "greedy"

    def __init__(
        self,
        layout: ObservationLayout,
        *,
        quality_weight: float = 0.3,
        use_instruction: bool = False,
        instruction_weight: float = 1.0,
    ) -> None:
        self.layout = layout
        self.quality_weight = quality_weight
        self.use_instruction = use_instruction
        self.instruction_weight = instruction_weight

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def scores(self, observation: Observation) -> np.ndarray:
        layout = self.layout
        candidates = self.layout.candidates(observation)
        embeddings = candidates[:, : layout.embedding_dim]
        history = observation["history"][: layout.embedding_dim]
        norm = float(np.linalg.norm(history))
        quality = candidates[:, layout.quality]
        if norm > 0:
            scores = embeddings @ (history / norm) + self.quality_weight * quality
        else:
            scores = quality + 0.5 * candidates[:, layout.popularity]
        if self.use_instruction:
            instruction = observation["instruction"]
            t = layout.n_topics
            topics = candidates[:, layout.topics]
            steer = topics @ instruction[:t] - topics @ instruction[t:]
            scores = scores + self.instruction_weight * steer
        return scores

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        available = self.layout.candidates(observation)[:, self.layout.available]
        return top_slate(self.scores(observation), available, self.layout.slate_size)


class InstructionAwareGreedyAgent(GreedyAgent):
    """Greedy on affinity, re-ranked by the user's reflective instruction.

    Adds ``instruction_weight * (mass on the topic asked for - mass on the topic asked against)``
    to each candidate's greedy score, for as long as the instruction stands (the session).
    """

    name = "instruction-greedy"

    def __init__(
        self,
        layout: ObservationLayout,
        *,
        quality_weight: float = 0.3,
        instruction_weight: float = 1.0,
    ) -> None:
        super().__init__(
            layout,
            quality_weight=quality_weight,
            use_instruction=True,
            instruction_weight=instruction_weight,
        )


class OracleAgent:
    """Reads the user's hidden latent state and ranks by true click probability.

    Named an oracle because no real recommender can see this; it is an upper reference for
    myopic ranking (it does not plan for retention).
    """

    name = "oracle"

    def __init__(self, env: Any) -> None:
        self.env = env.unwrapped
        self.layout = ObservationLayout.of(env)

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        core = self.env.core
        utility = item_utilities(
            core.state, core.catalog, info["candidates"][None, :], core.user_config
        )
        # Click probability is monotone in utility, so ranking by utility ranks by it.
        available = self.layout.candidates(observation)[:, self.layout.available]
        return top_slate(utility[0], available, self.layout.slate_size)
