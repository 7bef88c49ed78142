"""Fidelity of user simulators against logged feedback (the UserMirrorer protocol).

A scene shows a simulator a user's history and a lettered list of items holding the item the
user really chose next (:func:`scenes`); a simulator answers with a distribution over the list
(:class:`SceneSimulator`); :func:`fidelity_report` scores it against the real choices
(accuracy with its 95% interval against chance, log-likelihood, calibration, accuracy by user
activity; for a simulator that asks a language model, its requests, tokens and cost). The fitted
simulators (latent-fitted, sequential, llm-aligned) are saved to a folder with their ``save``
and loaded with ``make_simulator(name, checkpoint=folder)``. ``recoworld fidelity`` runs it on a
data folder. :func:`fit_world` turns the fitted latent model into a world of users for
``gym.make("RecoWorld-v0", world=...)``, and :func:`world_fidelity` compares their activity and
popularity bias with the real log's.

>>> import numpy as np
>>> from recoworld.catalog import Interactions, SyntheticCatalogConfig, generate_catalog
>>> catalog = generate_catalog(SyntheticCatalogConfig(n_items=50), seed=0)
>>> log = Interactions(np.array([0, 0, 0]), np.array([3, 4, 5]), np.ones(3), np.array([1, 2, 3]))
>>> built = scenes(log, log.take(np.array([2])), catalog, n_choices=4, seed=0)
>>> built.history_of(0).tolist(), len(built), built.n_choices
([3, 4], 1, 4)
>>> fidelity_report(make_simulator("random"), built).metrics["accuracy"]
0.25
"""

from recoworld.fidelity.aligned import AlignedSceneSimulator
from recoworld.fidelity.datasets import DATASETS, SceneData, load_scene_data
from recoworld.fidelity.metrics import ReliabilityBins
from recoworld.fidelity.report import FidelityReport, fidelity_report, plot_fidelity
from recoworld.fidelity.scene import NEGATIVE_SAMPLERS, SceneConfig, Scenes, scenes
from recoworld.fidelity.simulators import (
    PopularitySimulator,
    RandomSimulator,
    SceneSimulator,
    make_simulator,
    simulator_description,
    simulator_names,
    simulator_options,
)
from recoworld.fidelity.world import FittedWorld, WorldFidelity, fit_world, world_fidelity

__all__ = [
    "DATASETS",
    "NEGATIVE_SAMPLERS",
    "AlignedSceneSimulator",
    "FidelityReport",
    "FittedWorld",
    "PopularitySimulator",
    "RandomSimulator",
    "ReliabilityBins",
    "SceneConfig",
    "SceneData",
    "SceneSimulator",
    "Scenes",
    "WorldFidelity",
    "fidelity_report",
    "fit_world",
    "load_scene_data",
    "make_simulator",
    "plot_fidelity",
    "scenes",
    "simulator_description",
    "simulator_names",
    "simulator_options",
    "world_fidelity",
]
