"""SCPR's "what to ask": weighted entropy over the FM's candidate scores, and the env arguments
that make ``ConvRec-v0`` ask and recommend by SCPR's scorers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from recoworld.agents.scpr.fm import FMScorer, accepted_attributes_of
from recoworld.agents.scpr.policy import ENV_ID
from recoworld.graph import AttributeGraph, attribute_entropy

if TYPE_CHECKING:
    from recoworld.envs.convrec import ConvRecEnv

__all__ = [
    "WeightedEntropyScorer",
    "check_scorer_fits",
    "scpr_env_kwargs",
    "weighted_entropy",
]


def weighted_entropy(
    graph: AttributeGraph,
    candidate_items: np.ndarray,
    item_scores: np.ndarray,
    attributes: np.ndarray,
) -> np.ndarray:
    """SCPR's weighted entropy of each of ``attributes`` over the candidate items.

    With ``w_i = σ(s_i)`` the sigmoid of candidate ``i``'s FM score, the share of the weight
    held by the candidates that have attribute ``a`` is ``q_a = Σ_{i∋a} w_i / Σ_i w_i``, and the
    result is the binary entropy ``H(q_a)`` in bits (:func:`~recoworld.graph.attribute_entropy`).
    Unlike the plain entropy, candidates the user is likely to want count more, so the question
    splits the *probable* candidates. Returns ``(len(attributes),)`` float64 in ``[0, 1]``.
    """
    items = np.asarray(candidate_items, dtype=np.int64)
    scores = np.asarray(item_scores, dtype=np.float64)
    if scores.shape != items.shape:
        raise ValueError(f"item_scores has shape {scores.shape}, candidate_items {items.shape}")
    weights = np.zeros(graph.n_items, dtype=np.float64)
    weights[items] = 1.0 / (1.0 + np.exp(-np.clip(scores, -50.0, 50.0)))
    total = float(weights.sum())
    mass = np.bincount(
        graph.item_attr.indices, weights=weights[graph.entry_item], minlength=graph.n_attributes
    )
    return attribute_entropy(mass[np.asarray(attributes, dtype=np.int64)], total)


class WeightedEntropyScorer:
    """``ConvRec-v0``'s ``attribute_scorer`` for SCPR: weighted entropy under the FM scores.

    The env does not pass the accepted attributes to an attribute scorer; they are recovered
    exactly from the candidates (:func:`~recoworld.agents.scpr.fm.accepted_attributes_of`), so the
    item scores are the ones the env's FM ``item_scorer`` would rank by.
    """

    def __init__(self, fm: FMScorer, graph: AttributeGraph) -> None:
        check_scorer_fits(fm, graph)
        self.fm = fm
        self.graph = graph

    def __call__(
        self, user: int, candidate_items: np.ndarray, candidate_attributes: np.ndarray
    ) -> np.ndarray:
        accepted = accepted_attributes_of(self.graph, candidate_items, candidate_attributes)
        return self.scores(user, candidate_items, candidate_attributes, accepted)

    def scores(
        self,
        user: int,
        candidate_items: np.ndarray,
        candidate_attributes: np.ndarray,
        accepted_attributes: np.ndarray,
    ) -> np.ndarray:
        """Weighted entropies when the accepted attributes are known (as in ``info``)."""
        item_scores = self.fm.score_items(user, candidate_items, accepted_attributes)
        return weighted_entropy(self.graph, candidate_items, item_scores, candidate_attributes)

    def choose(
        self,
        user: int,
        candidate_items: np.ndarray,
        candidate_attributes: np.ndarray,
        accepted_attributes: np.ndarray,
    ) -> int:
        """The attribute SCPR asks: largest weighted entropy, ties to the lower column."""
        scores = self.scores(user, candidate_items, candidate_attributes, accepted_attributes)
        return int(np.asarray(candidate_attributes)[int(np.argmax(scores))])


def check_scorer_fits(fm: FMScorer, graph: AttributeGraph) -> None:
    """``ValueError`` unless ``fm`` scores the items and attributes of ``graph``."""
    if (fm.n_items, fm.n_attributes) != (graph.n_items, graph.n_attributes):
        raise ValueError(
            f"the FM scorer knows {fm.n_items} items and {fm.n_attributes} attributes, the env's "
            f"graph has {graph.n_items} and {graph.n_attributes}: it was trained on other data"
        )


def scpr_env_kwargs(
    env_kwargs: Mapping[str, Any], fm: FMScorer, *, action_mode: str | None = "ask_or_recommend"
) -> dict[str, Any]:
    """``env_kwargs`` for a ``ConvRec-v0`` that plays SCPR: the FM as ``item_scorer`` and, in
    ``"ask_or_recommend"`` mode, weighted entropy as ``attribute_scorer``.

    ``action_mode`` is set to the given mode (SCPR's policy env: ``"ask_or_recommend"``), or,
    with ``None``, left as ``env_kwargs`` has it. The graph is built once here to size-check the
    scorer (``ValueError`` if it was trained on other data).
    """
    kwargs = dict(env_kwargs)
    for name in ("item_scorer", "attribute_scorer"):
        kwargs.pop(name, None)
    if action_mode is not None:
        kwargs["action_mode"] = action_mode
    kwargs["render_mode"] = None
    probe = gym.make(ENV_ID, **kwargs)
    try:
        core = cast("ConvRecEnv", probe.unwrapped)
        graph = core.graph
        mode = core.action_mode
    finally:
        probe.close()
    if env_kwargs.get("render_mode") is not None:
        kwargs["render_mode"] = env_kwargs["render_mode"]
    check_scorer_fits(fm, graph)
    kwargs["item_scorer"] = fm.item_scorer()
    if mode == "ask_or_recommend":
        kwargs["attribute_scorer"] = WeightedEntropyScorer(fm, graph)
    return kwargs
