"""Rule-based agents for ``ConvRec-v0``: random, Abs Greedy and Max Entropy.

They see only the observation and ``info`` (``action_mask``, ``candidates``,
``candidate_attributes``, ``candidate_attribute_counts``, ``turns_left``) and act through the
env's ``Discrete`` action: in ``action_mode="attribute"`` an attribute column asks it and the
last action recommends the ``top_k`` candidates ranked by the env's item scorer; in
``action_mode="ask_or_recommend"`` ``0`` asks (the env picks the attribute) and ``1``
recommends. The recommend action is the last one in both modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recoworld.graph import attribute_entropy

__all__ = ["AbsGreedyAgent", "ConvRandomAgent", "MaxEntropyAgent"]

_MODES = ("attribute", "ask_or_recommend")


def _check_mode(action_mode: str) -> str:
    if action_mode not in _MODES:
        raise ValueError(f"action_mode={action_mode!r} must be one of {_MODES}")
    return action_mode


def _recommend_action(info: dict[str, Any]) -> int:
    return len(info["action_mask"]) - 1


class ConvRandomAgent:
    """Recommends with probability ``recommend_prob``, else asks a random candidate attribute.

    The attribute is drawn uniformly from ``info["candidate_attributes"]`` (the useful asks);
    with none left it recommends. In ``"ask_or_recommend"`` mode an ask is action 0. Draws come
    from a generator seeded by ``reset(seed=)`` (or the constructor's ``seed``).
    """

    name = "random"

    def __init__(
        self, action_mode: str = "attribute", recommend_prob: float = 0.5, seed: int | None = None
    ) -> None:
        self.action_mode = _check_mode(action_mode)
        if not isinstance(recommend_prob, int | float) or not 0.0 <= recommend_prob <= 1.0:
            raise ValueError(f"recommend_prob={recommend_prob!r} must be a number in [0, 1]")
        self.recommend_prob = float(recommend_prob)
        self._rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, observation: Any, info: dict[str, Any]) -> int:
        attributes = info["candidate_attributes"]
        if self._rng.random() < self.recommend_prob or len(attributes) == 0:
            return _recommend_action(info)
        if self.action_mode == "ask_or_recommend":
            return 0
        return int(attributes[self._rng.integers(len(attributes))])


class AbsGreedyAgent:
    """Abs Greedy (Christakopoulou et al., KDD 2016, as a CRS baseline in EAR/SCPR): it never
    asks; every turn it recommends the ``top_k`` candidates, and rejected items leave the
    candidate set, so each turn shows the next best ones."""

    name = "abs-greedy"

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Any, info: dict[str, Any]) -> int:
        return _recommend_action(info)


class MaxEntropyAgent:
    """Max Entropy (the rule-based baseline of CRM/EAR/SCPR): ask the attribute that best
    splits the candidates, recommend with a probability that grows as they shrink.

    Each turn, with ``n`` candidate items, it recommends with probability
    ``min(1, recommend_size / n)`` (``recommend_size`` = 10, the list length: certain once one
    list covers every candidate). EAR describes this baseline as recommending "with a certain
    probability" that rises as the candidate set shrinks; the formula is the one of the
    published rule-agent code of this line of work (``rec_prob = rec_prob_para / max(n,
    rec_prob_para)`` with ``rec_prob_para = 10``). Otherwise it asks the candidate attribute
    with the largest binary entropy over the candidates,
    :func:`~recoworld.graph.attribute_entropy` (ties to the lower attribute column). Under this
    protocol a rejected attribute does not filter, so the expected number of candidates an
    accepted answer removes, ``n p (1 - p)``, has the same order as the entropy. One deviation:
    when no candidate attribute splits the candidates (the largest entropy is 0) it recommends
    instead of asking a question that cannot change them.

    The draws come from a generator seeded by ``reset(seed=)`` (or the constructor's ``seed``).
    """

    name = "max-entropy"

    def __init__(
        self, action_mode: str = "attribute", recommend_size: int = 10, seed: int | None = None
    ) -> None:
        self.action_mode = _check_mode(action_mode)
        if (
            isinstance(recommend_size, bool)
            or not isinstance(recommend_size, int)
            or recommend_size < 1
        ):
            raise ValueError(f"recommend_size={recommend_size!r} must be a positive integer")
        self.recommend_size = recommend_size
        self._rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, observation: Any, info: dict[str, Any]) -> int:
        n_candidates = len(info["candidates"])
        attributes = info["candidate_attributes"]
        recommend_prob = self.recommend_size / max(n_candidates, self.recommend_size)
        if self._rng.random() < recommend_prob or len(attributes) == 0:
            return _recommend_action(info)
        entropy = attribute_entropy(info["candidate_attribute_counts"], n_candidates)
        best = int(np.argmax(entropy))
        if entropy[best] <= 0.0:
            return _recommend_action(info)
        if self.action_mode == "ask_or_recommend":
            return 0
        return int(attributes[best])
