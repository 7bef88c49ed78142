"""A greedy ranker that serves a chosen share of the slate from topics new to the user.

The fixed-novelty baselines of hierarchical novelty-seeking RL (Li et al., 2023, "Hierarchical
Reinforcement Learning for Modeling User Novelty-Seeking Intent in Recommender Systems"): a
recommender that always serves the same *novelty share* (0, 0.3, 0.7, ...) whatever the user,
against which an agent that infers each user's novelty-seeking intent is measured. The same
ranker, given a share per session, is a goal-conditioned low level.

What a recommender can see of novelty: the observation's watch-history summary holds a moving
average of the topics the user watched (``history[d:]``). A candidate is *new to the user* when
its main topic (its largest topic share) has a history mass under ``new_topic_mass``; before the
user has watched anything every topic is new.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recoworld.agents.base import ObservationLayout
from recoworld.agents.baselines import GreedyAgent, Observation
from recoworld.validation import check_number

__all__ = ["NoveltyShareAgent"]


class NoveltyShareAgent:
    """Greedy scores, with ``round(novelty_share * slate_size)`` slots given to candidates from
    topics new to the user and the rest to familiar ones.

    Each part takes its best available candidates by the greedy score (embedding affinity to the
    watch history plus quality, :class:`~recoworld.agents.GreedyAgent`); when a part has too few
    available candidates the other part fills its slots (then unavailable ones, as
    :func:`~recoworld.agents.base.top_slate` does), so the slate is always full and never repeats
    a candidate. The slate is ranked by the greedy score.

    Args:
        layout: the env's observation layout.
        novelty_share: share of the slate from new topics, in ``[0, 1]``.
        new_topic_mass: a topic whose history mass is under this is new (in ``(0, 1]``).
        quality_weight: the greedy score's weight of quality.

    Raises:
        ValueError: an argument out of range (named).
    """

    name = "novelty-greedy"

    def __init__(
        self,
        layout: ObservationLayout,
        *,
        novelty_share: float = 0.3,
        new_topic_mass: float = 0.05,
        quality_weight: float = 0.3,
    ) -> None:
        self.layout = layout
        self.novelty_share = check_number("novelty_share", novelty_share, 0.0, 1.0)
        self.new_topic_mass = check_number(
            "new_topic_mass", new_topic_mass, 0.0, 1.0, low_open=True
        )
        self.greedy = GreedyAgent(
            layout, quality_weight=check_number("quality_weight", quality_weight)
        )

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def new_topics(self, observation: Observation) -> np.ndarray:
        """``(C,)`` bool: the candidates whose main topic is new to the user."""
        layout = self.layout
        topics = self.layout.candidates(observation)[:, layout.topics]
        watched = np.asarray(observation["history"])[layout.embedding_dim :]
        return watched[np.argmax(topics, axis=1)] < self.new_topic_mass

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        layout = self.layout
        size = layout.slate_size
        scores = self.greedy.scores(observation)
        available = layout.candidates(observation)[:, layout.available] > 0.5
        new = self.new_topics(observation)
        wanted = round(self.novelty_share * size)
        # Rank keys: available candidates of each part by score, then the unavailable ones.
        order = np.argsort(-np.where(available, scores, scores - 1e9), kind="stable")
        usable = order[available[order]]
        new_first = usable[new[usable]]
        familiar_first = usable[~new[usable]]
        n_new = min(wanted, len(new_first), size)
        n_familiar = min(size - n_new, len(familiar_first))
        n_new = min(size - n_familiar, len(new_first))  # familiar ran short: more new ones
        chosen = np.concatenate([new_first[:n_new], familiar_first[:n_familiar]])
        if len(chosen) < size:  # too few available candidates: fill with the best unavailable
            rest = order[~np.isin(order, chosen)]
            chosen = np.concatenate([chosen, rest[: size - len(chosen)]])
        return chosen[np.argsort(-scores[chosen], kind="stable")].astype(np.int64)
