"""Simulators that answer scenes: one protocol, the baselines and the registry of names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from recoworld.catalog import Catalog, Interactions
from recoworld.fidelity.scene import Scenes
from recoworld.validation import check_seed

__all__ = [
    "PopularitySimulator",
    "RandomSimulator",
    "SceneSimulator",
    "make_simulator",
    "simulator_description",
    "simulator_names",
]


@runtime_checkable
class SceneSimulator(Protocol):
    """A user simulator measured on scenes: it says how likely the user is to choose each listed
    item.

    ``fit`` learns from logged interactions (the train log: nothing a scene holds out) and
    returns the simulator; ``predict`` returns an ``(n_scenes, n_choices)`` float64 array of
    probabilities over each scene's exposure list (rows sum to 1).
    """

    name: str

    def fit(self, history: Interactions, catalog: Catalog) -> SceneSimulator: ...

    def predict(self, scenes: Scenes) -> np.ndarray: ...


class RandomSimulator:
    """Chance: every listed item is equally likely (``1 / n_choices``), whatever the scene.

    Nothing is drawn (``seed`` is kept only so every registered simulator is made alike), and
    with ties split evenly its accuracy is exactly chance.
    """

    name = "random"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = check_seed("seed", seed)

    def fit(self, history: Interactions, catalog: Catalog) -> RandomSimulator:
        return self

    def predict(self, scenes: Scenes) -> np.ndarray:
        return np.full((len(scenes), scenes.n_choices), 1.0 / scenes.n_choices)


class PopularitySimulator:
    """The user picks a listed item with probability proportional to its smoothed train count.

    ``p(item) = (1 + count) / sum over the list of (1 + count)``, counts taken from the
    interactions given to :meth:`fit` (no softmax, no temperature: the plain popularity share,
    so an item never seen still has a chance). The user's own history is not consulted, and
    nothing is drawn (``seed`` is kept only so every registered simulator is made alike).
    """

    name = "popularity"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = check_seed("seed", seed)
        self.counts: np.ndarray | None = None

    def fit(self, history: Interactions, catalog: Catalog) -> PopularitySimulator:
        if len(history) and int(history.items.max()) >= catalog.n_items:
            raise ValueError(
                f"history names item row {int(history.items.max())}, outside the catalog's "
                f"0..{catalog.n_items - 1}"
            )
        self.counts = np.bincount(history.items, minlength=catalog.n_items).astype(np.float64)
        return self

    def predict(self, scenes: Scenes) -> np.ndarray:
        if self.counts is None:
            raise ValueError("PopularitySimulator.predict: call fit(history, catalog) first")
        if len(scenes) and int(scenes.choices.max()) >= len(self.counts):
            raise ValueError(
                f"scenes list item row {int(scenes.choices.max())}, outside the "
                f"{len(self.counts)} items the simulator was fitted on"
            )
        weights = 1.0 + self.counts[scenes.choices]
        return weights / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., SceneSimulator]
    description: str


def _sequential(*, seed: int = 0) -> SceneSimulator:
    from recoworld.fidelity.sequential import SequentialSimulator

    return SequentialSimulator(seed=seed)


def _latent_fitted(*, seed: int = 0) -> SceneSimulator:
    from recoworld.fidelity.latent_fitted import LatentFittedSimulator

    return LatentFittedSimulator(seed=seed)


def _llm(*, seed: int = 0) -> SceneSimulator:
    from recoworld.fidelity.llm_scene import LLMSceneSimulator

    return LLMSceneSimulator("local", seed=seed)


_REGISTRY: dict[str, _Entry] = {
    "random": _Entry(RandomSimulator, "chance: every listed item equally likely"),
    "popularity": _Entry(
        PopularitySimulator, "probability proportional to 1 + the item's train count"
    ),
    "latent-fitted": _Entry(
        _latent_fitted,
        "the latent user model's utility (recency-weighted interest from the scene history on "
        "SVD-refined embeddings, quality, boredom, novelty, popularity), weights fitted by "
        "maximum likelihood on train scenes",
    ),
    "llm": _Entry(
        _llm,
        "a language model (the embedded SmolLM2-135M) reads the history titles and the "
        "lettered list and names one letter with a rationale (structured output); one-hot on "
        "its choice, uniform where the call failed",
    ),
    "sequential": _Entry(
        _sequential,
        "SASRec-style attention over the last 50 history items, trained on the train log "
        "(full softmax over the catalog; torch, the train extra)",
    ),
}


def simulator_names() -> list[str]:
    """Names :func:`make_simulator` accepts, in registration order."""
    return list(_REGISTRY)


def simulator_description(name: str) -> str:
    """One line saying what simulator ``name`` does."""
    return _entry(name).description


def make_simulator(name: str, *, seed: int = 0) -> SceneSimulator:
    """A new, unfitted simulator of the registered ``name``, seeded with ``seed``."""
    return _entry(name).factory(seed=seed)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise ValueError(f"simulator={name!r} must be one of {tuple(_REGISTRY)}")
    return _REGISTRY[name]
