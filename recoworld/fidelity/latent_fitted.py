"""``latent-fitted``: the library's latent user model fitted to logged feedback.

The choice a user makes in a scene is scored with the latent user model's own utility
(:func:`recoworld.simulators.latent.item_utilities`, the function the RecoWorld users click by)::

    utility = affinity_scale * max_k(cos(item, interest_k) + interest_weight_scale * log(K w_k))
              + quality_weight * (quality - 0.5) - boredom_weight * (topics . boredom)
              + novelty_weight * (1 - topics . familiarity)
              + popularity_weight * log(1 + train count)

and the user picks listed item ``i`` with probability ``softmax(utility / temperature)`` over the
scene's exposure list. The no-click option of the latent model (``sigmoid(utility -
no_click_utility)``) is a constant shared by every listed item, so it cancels in a forced choice
among the list and is not fitted (a scene has no "chose nothing" outcome). The popularity term is
an extension the latent model lacks (its users know nothing of the crowd); it is the one term
that is not part of :func:`item_utilities`.

What is fitted, and from what:

* **Item side** (:meth:`LatentFittedSimulator.fit`, from the catalog and the train log): the
  catalog's embeddings, topics and quality. With ``collaborative_dims > 0`` the embeddings are
  refined from the train interactions: the item factors of a truncated SVD of the binary
  user x item train matrix (``collaborative_dims`` of them, rows L2-normalised) are joined to the
  content embedding, weighted ``sqrt(1 - collaborative_share)`` and ``sqrt(collaborative_share)``,
  and the joined vector is L2-normalised (two items' cosine is then the share-weighted mix of
  their content and co-rating cosines). Popularity is ``log(1 + count)`` over the train log.
* **User side**, per scene, from *that scene's history only*: the user's ``K`` interest vectors
  are a weighted spherical k-means (``kmeans_restarts`` k-means++ starts drawn from the seed,
  ``kmeans_iterations`` Lloyd steps, the best fit kept; with ``K = 1``, the default, simply the
  weighted mean direction) of the embeddings of the items in the history, each weighted by its
  rating (``rating / 5``; 1 where the log has no rating) times ``0.5 ** (age /
  recency_half_life)`` (``age`` = how many history items came strictly later in time: ties share
  an age, and a log without times has no recency); the weight ``w_k`` of an interest is its
  cluster's share of the weight. Boredom and familiarity are the latent model's transitions
  (:func:`~recoworld.simulators.latent.boredom_after`,
  :func:`~recoworld.simulators.latent.familiarity_after`, one consumed item per turn, in closed
  form) replayed over the history; the novelty propensity is 1 for everyone (not fitted per
  user). All of this is vectorized over scenes. A scene with an empty
  history has no interests (its affinity term is 0) and is scored by the other terms.
* **Global parameters** by maximum likelihood: ``fit`` builds scenes from the train log itself
  (:func:`recoworld.fidelity.scenes`, history split in time: a scene's history is the user's
  train rows before the target), ``fit_scenes`` targets with at least ``fit_min_history`` earlier
  rows drawn from the seed, an equal share with
  each sampler of ``fit_negatives``, and maximises the log-likelihood of the real choices over the
  linear weights of the five terms (a convex multinomial logit, L-BFGS). The affinity weight
  gives the temperature, ``temperature = affinity_scale / weight`` (the affinity scale stays the
  latent model's, :class:`~recoworld.simulators.config.UserModelConfig`), and the other weights
  times the temperature are the utility weights (:class:`FittedChoice`). While fitting, the
  item side is built without the fit scenes' target rows, so no target enters the features that
  score it; :meth:`fit` then rebuilds the item side from the whole train log for scoring.

No target information enters a prediction: a scene's interests, boredom and familiarity come from
its history (rows before the target), the item side and the global weights from the train log
passed to :meth:`fit`.

For a world of fitted users, :meth:`LatentFittedSimulator.users_from_log` fits every user's
latent state from their whole log, :meth:`LatentFittedSimulator.user_model_config` gives the
latent model's config with the fitted weights, and :attr:`LatentFittedSimulator.catalog` the
refined catalog: together what :func:`~recoworld.simulators.latent.step_users` needs.

A fitted simulator is kept with :meth:`LatentFittedSimulator.save` (a folder: ``simulator.json``
with the format, the options and the fit's log-likelihood; ``arrays.npz`` with the refined
catalog, the log popularity and the choice weights) and read back with
:meth:`LatentFittedSimulator.load` (or ``LatentFittedSimulator(checkpoint=folder)``), which
answers every scene exactly as the saved simulator did.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from recoworld.catalog import Catalog, Interactions
from recoworld.fidelity.scene import NEGATIVE_SAMPLERS, SceneConfig, Scenes, train_scenes
from recoworld.fidelity.simulators import (
    METADATA_FILE,
    check_scenes,
    read_arrays,
    read_metadata,
    refuse_options_beside_checkpoint,
    write_simulator_folder,
)
from recoworld.seeding import spawn_rng
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import LatentUserState, item_utilities
from recoworld.validation import check_choice, check_int, check_number, check_seed

__all__ = ["FEATURES", "FittedChoice", "LatentFittedSimulator", "fit_interests"]

FEATURES = ("affinity", "quality", "boredom", "novelty", "popularity")
"""The utility terms whose weights are fitted, in the order of :attr:`FittedChoice.weights`."""

_CHUNK_ROWS = 200_000
"""History rows scored against the interests at once in the k-means (bounds the memory)."""

CHECKPOINT_FORMAT = "recoworld.fidelity.LatentFittedSimulator"
"""The ``format`` of a saved latent-fitted folder's metadata."""
CHECKPOINT_VERSION = 1
"""The folder layout version :meth:`LatentFittedSimulator.load` reads."""
ARRAYS_FILE = "arrays.npz"
"""The arrays of a saved latent-fitted folder."""


@dataclass(frozen=True)
class FittedChoice:
    """The choice model's global parameters, as fitted by maximum likelihood.

    Attributes:
        weights: ``(5,)`` float64 logit weight of each of :data:`FEATURES` (utility / temperature).
        temperature: ``affinity_scale / weights[0]`` (``inf`` when the affinity weight is not
            positive: the user ignores taste).
        quality_weight, boredom_weight, novelty_weight, popularity_weight: the utility weights
            (logit weight times the temperature; ``nan`` with an infinite temperature). Signs are
            free: a negative boredom weight says recent topics attract rather than bore.
        log_likelihood: mean log-likelihood of the real choice on the fit scenes.
        n_scenes: fit scenes.
    """

    weights: np.ndarray
    temperature: float
    quality_weight: float
    boredom_weight: float
    novelty_weight: float
    popularity_weight: float
    log_likelihood: float
    n_scenes: int


@dataclass(frozen=True)
class _ItemSide:
    catalog: Catalog
    log_popularity: np.ndarray


class LatentFittedSimulator:
    """The latent user model with its user side and choice parameters fitted to logs.

    See the module docstring for the model. Arguments (each checked; a bad one raises
    ``ValueError`` naming it). The defaults ``n_interests=1``, ``recency_half_life=5`` were
    chosen by the mean log-likelihood of the 6,000 ml-100k *train* fit scenes
    (:attr:`FittedChoice.log_likelihood`; K = 1, 2, 3 and half-lives 2, 3, 5, 10, 20, none were
    tried): one recency-weighted interest beats several (-0.81 against -0.94 for K = 3, both
    with half-life 10), because the max over interests lets an old taste make unrelated items
    look attractive.

    Args:
        seed: seeds the fit scenes, the SVD start and the k-means++ starts.
        n_interests: ``K``, interest vectors per user.
        collaborative_dims: SVD factors joined to the content embeddings (0: content only).
        collaborative_share: weight of the collaborative part in ``[0, 1]``.
        recency_half_life: history items this many positions back count half (``None``: no
            decay).
        kmeans_iterations: Lloyd steps of the spherical k-means.
        kmeans_restarts: its k-means++ starts (the best fit of each user is kept).
        fit_scenes: train scenes the global parameters are fitted on (at most).
        fit_min_history: a fit scene's target has at least this many earlier train rows of its
            user (the scenes scored later have long histories; an interest fitted from two items
            would only blur the temperature).
        terms: which of :data:`FEATURES` get a fitted weight (the others weigh 0); must hold
            ``"affinity"``.
        fit_negatives: samplers of the fit scenes' other items (an equal share each).
        n_choices: length of the fit scenes' exposure lists.
        config: the latent model whose affinity scale and interest weight scale are kept.
        checkpoint: a folder written by :meth:`save`: the simulator is that one, fitted (its
            options, seed included, are the saved ones, so leave the other arguments at their
            defaults), and :meth:`fit` only checks that it is given the same catalog.

    Raises:
        ValueError: a bad argument, an argument given beside ``checkpoint``, or a checkpoint
            folder whose metadata or arrays are malformed (the message names the file and
            field).
        FileNotFoundError: the checkpoint folder or one of its files does not exist.
    """

    name = "latent-fitted"

    def __init__(
        self,
        *,
        seed: int = 0,
        n_interests: int = 1,
        collaborative_dims: int = 16,
        collaborative_share: float = 0.5,
        recency_half_life: float | None = 5.0,
        kmeans_iterations: int = 10,
        kmeans_restarts: int = 3,
        fit_scenes: int = 6000,
        fit_min_history: int = 10,
        terms: tuple[str, ...] = FEATURES,
        fit_negatives: tuple[str, ...] = ("uniform", "popularity"),
        n_choices: int = 5,
        config: UserModelConfig | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> None:
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        if checkpoint is not None:
            given = {name: value for name, value in locals().items() if name in _OPTIONS}
            refuse_options_beside_checkpoint(given, _DEFAULTS, checkpoint)
            self._load_into(Path(checkpoint))
            return
        self.seed = check_seed("seed", seed)
        self.n_interests = check_int("n_interests", n_interests, 1, 64)
        self.collaborative_dims = check_int("collaborative_dims", collaborative_dims, 0)
        self.collaborative_share = check_number(
            "collaborative_share", collaborative_share, 0.0, 1.0
        )
        if recency_half_life is not None:
            recency_half_life = check_number(
                "recency_half_life", recency_half_life, low=0.0, low_open=True
            )
        self.recency_half_life = recency_half_life
        self.kmeans_iterations = check_int("kmeans_iterations", kmeans_iterations, 0)
        self.kmeans_restarts = check_int("kmeans_restarts", kmeans_restarts, 1)
        self.fit_scenes = check_int("fit_scenes", fit_scenes, 1)
        self.fit_min_history = check_int("fit_min_history", fit_min_history, 0)
        if isinstance(terms, str) or "affinity" not in terms:
            raise ValueError(f"terms={terms!r} must be a tuple of {FEATURES} holding 'affinity'")
        self.terms = tuple(check_choice("terms", term, FEATURES) for term in terms)
        if isinstance(fit_negatives, str) or not fit_negatives:
            raise ValueError(
                f"fit_negatives={fit_negatives!r} must be a non-empty tuple of samplers from "
                f"{NEGATIVE_SAMPLERS}"
            )
        self.fit_negatives = tuple(
            check_choice("fit_negatives", name, NEGATIVE_SAMPLERS) for name in fit_negatives
        )
        self.n_choices = check_int("n_choices", n_choices, 2)
        if config is not None and not isinstance(config, UserModelConfig):
            raise ValueError(f"config={config!r} must be a UserModelConfig or None")
        self.config = config if config is not None else UserModelConfig()
        self.choice: FittedChoice | None = None
        self._items: _ItemSide | None = None

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, history: Interactions, catalog: Catalog) -> LatentFittedSimulator:
        """Fit the item side and the global choice parameters on the train log ``history``.

        A simulator made with ``checkpoint`` learns nothing here: it checks that ``catalog``
        is the one it was fitted on (its number of items and item ids) and returns itself.

        Raises:
            ValueError: bad ``history`` or ``catalog``, no interaction to fit on, or (with a
                checkpoint) another catalog.
        """
        if not isinstance(history, Interactions):
            raise ValueError(f"history must be an Interactions table, got {type(history)!r}")
        if not isinstance(catalog, Catalog):
            raise ValueError(f"catalog must be a Catalog, got {type(catalog)!r}")
        if self.checkpoint is not None and self._items is not None:
            _check_same_catalog(self._items.catalog, catalog, self.checkpoint)
            return self
        if len(history) == 0:
            raise ValueError("history is empty: the simulator needs train interactions to fit")
        if int(history.items.max()) >= catalog.n_items:
            raise ValueError(
                f"history names item row {int(history.items.max())}, outside the catalog's "
                f"0..{catalog.n_items - 1}"
            )
        pick_rng, svd_rng, kmeans_rng = spawn_rng(np.random.default_rng(self.seed), 3)
        built, target_rows = train_scenes(
            history,
            catalog,
            count=self.fit_scenes,
            min_history=self.fit_min_history,
            negatives=self.fit_negatives,
            n_choices=self.n_choices,
            rng=pick_rng,
            min_history_name="fit_min_history",
        )
        keep = np.ones(len(history), dtype=bool)
        keep[target_rows] = False
        fit_items = self._item_side(history.take(keep), catalog, svd_rng)
        features = [self._features(built, fit_items, kmeans_rng)]
        answers = [built.answers]
        active = np.array([name in self.terms for name in FEATURES])
        self.choice = _maximise_likelihood(
            np.concatenate(features), np.concatenate(answers), self.config.affinity_scale, active
        )
        self._items = self._item_side(history, catalog, svd_rng)
        return self

    def predict(self, scenes: Scenes) -> np.ndarray:
        """``(n_scenes, n_choices)`` float64 choice probabilities (rows sum to 1)."""
        if self.choice is None or self._items is None:
            raise ValueError("LatentFittedSimulator.predict: call fit(history, catalog) first")
        check_scenes(scenes, self._items.catalog.n_items)
        (kmeans_rng,) = spawn_rng(np.random.default_rng([self.seed, 1]), 1)
        logits = self._features(scenes, self._items, kmeans_rng) @ self.choice.weights
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities

    @property
    def catalog(self) -> Catalog:
        """The catalog the simulator scores with (embeddings refined from the train log)."""
        if self._items is None:
            raise ValueError("LatentFittedSimulator.catalog: call fit(history, catalog) first")
        return self._items.catalog

    def user_states(self, scenes: Scenes) -> LatentUserState:
        """The latent state of each scene's user, fitted from the scene's history (interests,
        interest bonus, boredom, familiarity; novelty propensity 1, the rest at a session start).
        """
        if self._items is None:
            raise ValueError("LatentFittedSimulator.user_states: call fit(history, catalog) first")
        (kmeans_rng,) = spawn_rng(np.random.default_rng([self.seed, 1]), 1)
        return self._states(scenes, self._items.catalog, kmeans_rng)

    def users_from_log(self, history: Interactions) -> LatentUserState:
        """The latent state of every user row ``0..history.n_users - 1`` fitted from all of
        that user's rows of ``history`` (in time order), as :meth:`user_states` fits a scene's
        user: what a fitted world would start its users from (a user with no rows has no
        interests)."""
        if self._items is None:
            raise ValueError(
                "LatentFittedSimulator.users_from_log: call fit(history, catalog) first"
            )
        if not isinstance(history, Interactions):
            raise ValueError(f"history must be an Interactions table, got {type(history)!r}")
        ordered = history.chronological()
        n = history.n_users
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ordered.users, minlength=n), out=offsets[1:])
        table = Scenes(
            users=np.arange(n, dtype=np.int64),
            history_offsets=offsets,
            history_items=ordered.items,
            history_ratings=ordered.ratings,
            history_timestamps=ordered.timestamps,
            choices=np.zeros((n, 1), dtype=np.int64),
            answers=np.zeros(n, dtype=np.int64),
            target_rows=np.arange(n, dtype=np.int64),
            target_timestamps=np.full(n, -1, dtype=np.int64),
            config=SceneConfig(n_choices=1, negatives="uniform", seed=self.seed, limit=None),
        )
        return self.user_states(table)

    def user_model_config(self) -> UserModelConfig:
        """The latent model's config with the fitted choice weights on the logit scale
        (temperature 1): ``affinity_scale``, ``quality_weight``, ``boredom_weight`` and
        ``novelty_weight`` are the fitted weights (a negative one is set to 0 with a
        warning, since the config does not allow it), ``n_interests`` is ``K``; everything
        else (the no-click utility, the cascade, the dynamics) is the config given to the
        simulator, since
        scenes do not identify it. The popularity term has no place in the latent model and
        is dropped (its fitted weight is in :attr:`choice`)."""
        if self.choice is None:
            raise ValueError(
                "LatentFittedSimulator.user_model_config: call fit(history, catalog) first"
            )
        names = ("affinity_scale", "quality_weight", "boredom_weight", "novelty_weight")
        negative = [
            f"{name}={float(value):.3g}"
            for name, value in zip(names, self.choice.weights[:4], strict=True)
            if value < 0
        ]
        if negative:
            warnings.warn(
                f"user_model_config: the fitted {', '.join(negative)} set to 0 (the latent "
                "model's weights are non-negative)",
                stacklevel=2,
            )
        weights = np.maximum(self.choice.weights, 0.0)
        return UserModelConfig(
            **{
                **_config_fields(self.config),
                "n_interests": self.n_interests,
                "affinity_scale": float(weights[0]),
                "quality_weight": float(weights[1]),
                "boredom_weight": float(weights[2]),
                "novelty_weight": float(weights[3]),
            }
        )

    # -- saving -------------------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """The constructor arguments of this simulator as JSON-safe values (``config`` as the
        dict of its fields)."""
        return {
            "seed": self.seed,
            "n_interests": self.n_interests,
            "collaborative_dims": self.collaborative_dims,
            "collaborative_share": self.collaborative_share,
            "recency_half_life": self.recency_half_life,
            "kmeans_iterations": self.kmeans_iterations,
            "kmeans_restarts": self.kmeans_restarts,
            "fit_scenes": self.fit_scenes,
            "fit_min_history": self.fit_min_history,
            "terms": list(self.terms),
            "fit_negatives": list(self.fit_negatives),
            "n_choices": self.n_choices,
            "config": _config_fields(self.config),
        }

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the fitted simulator to the folder ``path`` (see the module docstring): read it
        back with :meth:`load`. The folder is written beside ``path`` and renamed into place.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.

        Raises:
            ValueError: the simulator is not fitted.
            FileExistsError: ``path`` exists and ``overwrite`` is false (or it is a folder of
                other files, never replaced).
            OSError: the folder cannot be written.
        """
        if self.choice is None or self._items is None:
            raise ValueError("LatentFittedSimulator.save: call fit(history, catalog) first")
        choice, items = self.choice, self._items
        catalog = items.catalog
        attributes = sp.csr_array(catalog.item_attributes)
        arrays: dict[str, np.ndarray] = {
            "choice_weights": np.asarray(choice.weights, dtype=np.float64),
            "log_popularity": items.log_popularity,
            "item_ids": catalog.item_ids,
            "embeddings": catalog.embeddings,
            "item_topics": catalog.item_topics,
            "quality": catalog.quality,
            "popularity": catalog.popularity,
            "duration": catalog.duration,
            "attribute_data": attributes.data,
            "attribute_indices": attributes.indices,
            "attribute_indptr": attributes.indptr,
            "attribute_names": np.array(catalog.attribute_names, dtype=str),
            "topic_names": np.array(catalog.topic_names, dtype=str),
            "titles": np.array(catalog.titles, dtype=str),
            "descriptions": np.array(catalog.descriptions, dtype=str),
        }
        metadata = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "options": self.options(),
            "n_items": catalog.n_items,
            "catalog_name": catalog.name,
            "fit_log_likelihood": choice.log_likelihood,
            "fit_n_scenes": choice.n_scenes,
        }
        return write_simulator_folder(
            path,
            metadata,
            lambda folder: np.savez(folder / ARRAYS_FILE, **arrays),  # type: ignore[arg-type]
            overwrite=overwrite,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatentFittedSimulator:
        """The fitted simulator :meth:`save` wrote to the folder ``path`` (the same as
        ``LatentFittedSimulator(checkpoint=path)``).

        Raises:
            FileNotFoundError: the folder or one of its files does not exist.
            ValueError: the metadata or arrays are malformed (the message names the file and
                field).
        """
        return cls(checkpoint=path)

    def _load_into(self, folder: Path) -> None:
        metadata = read_metadata(
            folder,
            CHECKPOINT_FORMAT,
            CHECKPOINT_VERSION,
            ("options", "n_items", "catalog_name", "fit_log_likelihood", "fit_n_scenes"),
        )
        where = folder / METADATA_FILE
        options = metadata["options"]
        if not isinstance(options, dict) or set(options) != _OPTIONS:
            raise ValueError(
                f"{where}: field 'options' must be an object with the keys "
                f"{sorted(_OPTIONS)}, got {options!r}"
            )
        arguments = dict(options)
        try:
            for name in ("terms", "fit_negatives"):
                if not isinstance(arguments[name], list):
                    raise ValueError(f"{name}={arguments[name]!r} must be a list")
                arguments[name] = tuple(arguments[name])
            config = arguments["config"]
            if not isinstance(config, dict):
                raise ValueError(f"config={config!r} must be an object of UserModelConfig fields")
            known = {field.name for field in dataclasses.fields(UserModelConfig)}
            if "choice_model" not in config:
                # Saved before the user model had a choice model: all users were cascade users.
                config = {**config, "choice_model": "cascade"}
            if set(config) != known:
                odd = sorted(set(config) ^ known)
                raise ValueError(f"config has missing or unknown fields {odd}")
            arguments["config"] = UserModelConfig(**config)
            fresh = LatentFittedSimulator(**arguments)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}: field 'options': {error}") from None
        n_items = metadata["n_items"]
        if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
            raise ValueError(f"{where}: field 'n_items' is {n_items!r}, not a positive integer")
        for name in ("fit_log_likelihood",):
            value = metadata[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}: field {name!r} is {value!r}, not a number")
        fit_n = metadata["fit_n_scenes"]
        if isinstance(fit_n, bool) or not isinstance(fit_n, int) or fit_n < 1:
            raise ValueError(f"{where}: field 'fit_n_scenes' is {fit_n!r}, not a positive integer")
        if not isinstance(metadata["catalog_name"], str):
            raise ValueError(f"{where}: field 'catalog_name' is not a string")
        arrays = read_arrays(folder, ARRAYS_FILE, _ARRAY_LAYOUT)
        file = folder / ARRAYS_FILE
        for name, length in (
            ("choice_weights", len(FEATURES)),
            ("log_popularity", n_items),
            ("item_ids", n_items),
        ):
            if len(arrays[name]) != length:
                raise ValueError(
                    f"{file}: array {name!r} has {len(arrays[name])} entries, expected {length} "
                    f"(n_items={n_items} in {METADATA_FILE})"
                )
        try:
            attributes = sp.csr_array(
                (arrays["attribute_data"], arrays["attribute_indices"], arrays["attribute_indptr"]),
                shape=(n_items, len(arrays["attribute_names"])),
            )
            attributes.check_format(full_check=True)
            catalog = Catalog(
                item_ids=arrays["item_ids"].astype(np.int64),
                attribute_names=tuple(arrays["attribute_names"].tolist()),
                item_attributes=attributes,
                topic_names=tuple(arrays["topic_names"].tolist()),
                item_topics=arrays["item_topics"],
                embeddings=arrays["embeddings"],
                quality=arrays["quality"],
                popularity=arrays["popularity"],
                duration=arrays["duration"],
                titles=tuple(arrays["titles"].tolist()),
                descriptions=tuple(arrays["descriptions"].tolist()),
                name=metadata["catalog_name"],
            )
        except ValueError as error:
            raise ValueError(f"{file}: the saved catalog is malformed: {error}") from None
        self.__dict__.update(fresh.__dict__)
        self.checkpoint = folder
        self._items = _ItemSide(catalog, arrays["log_popularity"].astype(np.float64))
        self.choice = _fitted_choice(
            arrays["choice_weights"].astype(np.float64),
            self.config.affinity_scale,
            float(metadata["fit_log_likelihood"]),
            int(fit_n),
        )

    # -- pieces -------------------------------------------------------------------------------

    def _item_side(
        self, history: Interactions, catalog: Catalog, rng: np.random.Generator
    ) -> _ItemSide:
        counts = np.bincount(history.items, minlength=catalog.n_items).astype(np.float64)
        refined = catalog
        if self.collaborative_dims > 0 and self.collaborative_share > 0.0:
            factors = _collaborative_factors(history, catalog.n_items, self.collaborative_dims, rng)
            share = self.collaborative_share
            joined = np.concatenate(
                [
                    math.sqrt(1.0 - share) * _unit(catalog.embeddings.astype(np.float64)),
                    math.sqrt(share) * factors,
                ],
                axis=1,
            )
            refined = dataclasses.replace(catalog, embeddings=_unit(joined).astype(np.float32))
        return _ItemSide(refined, np.log1p(counts))

    def _states(self, built: Scenes, catalog: Catalog, rng: np.random.Generator) -> LatentUserState:
        n, k = len(built), self.n_interests
        weights = np.where(np.isnan(built.history_ratings), 1.0, built.history_ratings / 5.0)
        weights = np.maximum(weights.astype(np.float64), 1e-3)
        lengths = built.history_lengths
        age = _ages(built.history_offsets, built.history_timestamps)
        if self.recency_half_life is not None:
            weights = weights * 0.5 ** (age / self.recency_half_life)
        interests, shares = fit_interests(
            built.history_offsets,
            catalog.embeddings[built.history_items].astype(np.float64),
            weights,
            k,
            rng,
            iterations=self.kmeans_iterations,
            restarts=self.kmeans_restarts,
            set_keys=_scene_keys(built),
        )
        bonus = self.config.interest_weight_scale * np.log(k * np.maximum(shares, 1e-6))
        bonus[lengths == 0] = 0.0
        # The latent transitions with one consumed item (full watch) per turn, in closed form:
        # boredom_after repeated is sum gain * decay**age * topics; familiarity_after repeated
        # is 1 - exp(-rate * sum topics).
        config = self.config
        segment = np.repeat(np.arange(n), lengths)
        topics = catalog.item_topics[built.history_items].astype(np.float64)
        boredom = np.zeros((n, catalog.n_topics))
        np.add.at(
            boredom, segment, config.boredom_gain * config.boredom_decay ** age[:, None] * topics
        )
        mass = np.zeros((n, catalog.n_topics))
        np.add.at(mass, segment, topics)
        familiarity = 1.0 - np.exp(-config.familiarity_rate * mass)
        n_bytes = (catalog.n_items + 7) // 8
        return LatentUserState(
            interests=interests.astype(np.float32),
            interest_bonus=bonus.astype(np.float32),
            boredom=boredom.astype(np.float32),
            familiarity=familiarity.astype(np.float32),
            novelty_propensity=np.ones(n, np.float32),
            novelty_state=np.zeros(n, np.float32),
            base_patience=np.ones(n, np.float32),
            patience=np.ones(n, np.float32),
            session_skips=np.zeros((n, catalog.n_topics), np.float32),
            session_satisfaction=np.zeros(n, np.float32),
            session_turns=np.zeros(n, np.int32),
            turns_since_instruction=np.full(n, 1 << 20, np.int32),
            seen_bits=np.zeros((n, n_bytes), np.uint8),
            consumed_bits=np.zeros((n, n_bytes), np.uint8),
        )

    def _features(self, built: Scenes, items: _ItemSide, rng: np.random.Generator) -> np.ndarray:
        """``(n, n_choices, 5)`` float64 value of each of :data:`FEATURES` for each listed item,
        each latent term computed by :func:`item_utilities` with only that term's weight on."""
        state = self._states(built, items.catalog, rng)
        terms = ("affinity_scale", "quality_weight", "boredom_weight", "novelty_weight")
        zero: dict[str, Any] = dict.fromkeys((*terms, "seen_penalty", "consumed_penalty"), 0.0)
        columns = []
        for name in terms:
            only = UserModelConfig(**{**_config_fields(self.config), **zero, name: 1.0})
            columns.append(item_utilities(state, items.catalog, built.choices, only))
        columns.append(items.log_popularity[built.choices])
        return np.stack(columns, axis=2)


def _scene_keys(built: Scenes) -> np.ndarray:
    """``(n,)`` uint64 key of each scene from what identifies it whatever the batch: its user,
    its target's time and its history's length."""
    user = _mix(built.users.astype(np.uint64))
    time = _mix(user ^ built.target_timestamps.astype(np.int64).astype(np.uint64))
    return _mix(time ^ built.history_lengths.astype(np.uint64))


def fit_interests(
    offsets: np.ndarray,
    vectors: np.ndarray,
    weights: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    iterations: int = 10,
    restarts: int = 3,
    set_keys: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted spherical k-means of many small point sets at once.

    Args:
        offsets: ``(n + 1,)`` CSR offsets; set ``s`` is ``vectors[offsets[s]:offsets[s + 1]]``.
        vectors: ``(total, d)`` points (normalised here).
        weights: ``(total,)`` positive weight of each point.
        k: clusters per set.
        rng: seeds the k-means++ starts (Gumbel-max per set). One number is drawn from it; the
            Gumbel noise of a point is a hash of that number, its set's key, the start, the
            centre and the point's position in its set, so a set's fit does not depend on which
            other sets are fitted with it.
        set_keys: ``(n,)`` integer key of each set (default ``0..n-1``): sets with the same key
            and points get the same fit in any batch.
        iterations: Lloyd steps (assign each point to the most similar centre, then each centre
            is the normalised weighted sum of its points; an emptied centre stays where it was).
        restarts: k-means++ starts; each set keeps the run with the largest weighted sum of
            its points' cosine to their centre.

    Returns:
        ``(n, k, d)`` unit centres (zero for an empty set) and ``(n, k)`` each centre's share of
        its set's weight (zero for an empty set or an empty cluster).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n, total = len(offsets) - 1, int(offsets[-1])
    points = _unit(np.asarray(vectors, dtype=np.float64))
    weights = np.asarray(weights, dtype=np.float64)
    segment = np.repeat(np.arange(n), np.diff(offsets))
    centres = np.zeros((n, k, points.shape[1]))
    if total == 0:
        return centres, np.zeros((n, k))
    keys = np.arange(n, dtype=np.int64) if set_keys is None else np.asarray(set_keys)
    if keys.shape != (n,) or keys.dtype.kind not in "iu":
        raise ValueError(f"set_keys has shape {keys.shape} and dtype {keys.dtype}: ({n},) ints")
    base = np.uint64(rng.integers(0, 2**63))
    position = np.arange(total, dtype=np.int64) - offsets[:-1][segment]
    point_keys = _mix(_mix(base ^ keys.astype(np.uint64)[segment]) ^ position.astype(np.uint64))
    best = np.full(n, -np.inf)
    best_centres = centres
    best_assign = np.zeros(total, dtype=np.int64)
    for start in range(restarts if k > 1 else 1):  # one cluster: the weighted mean direction
        centres, assign = _lloyd(
            points, weights, offsets, segment, k, point_keys, start, iterations if k > 1 else 1
        )
        fit = np.bincount(
            segment,
            weights=weights * _similarity(points, centres, segment).max(axis=1),
            minlength=n,
        )
        better = fit > best
        best = np.where(better, fit, best)
        best_centres = np.where(better[:, None, None], centres, best_centres)
        best_assign = np.where(better[segment], assign, best_assign)
    centres, assign = best_centres, best_assign
    cluster_weight = np.bincount(segment * k + assign, weights=weights, minlength=n * k)
    cluster_weight = cluster_weight.reshape(n, k)
    shares = cluster_weight / np.maximum(cluster_weight.sum(axis=1, keepdims=True), 1e-300)
    return centres, shares


def _lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    segment: np.ndarray,
    k: int,
    point_keys: np.ndarray,
    start: int,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One k-means++ start (number ``start``) and ``iterations`` Lloyd steps: ``(n, k, d)``
    centres and the ``(total,)`` cluster of each point."""
    n, total, d = len(offsets) - 1, len(points), points.shape[1]
    filled = np.diff(offsets) > 0
    centres = np.zeros((n, k, d))
    closeness = np.full(total, -np.inf)
    for j in range(k):
        # k-means++: the next centre is a point drawn with probability ~ weight * distance.
        distance = weights if j == 0 else weights * np.maximum(1.0 - closeness, 1e-9)
        keys = np.log(distance) + _gumbel(point_keys, start * k + j)
        order = np.lexsort((-keys, segment))
        chosen = order[offsets[:-1][filled]]
        centres[filled, j] = points[chosen]
        closeness = np.maximum(closeness, _similarity(points, centres[:, j : j + 1], segment)[:, 0])
    for _ in range(iterations):
        assign = np.argmax(_similarity(points, centres, segment), axis=1)
        member = sp.csr_array(
            (weights, (segment * k + assign, np.arange(total))), shape=(n * k, total)
        )
        sums = (member @ points).reshape(n, k, d)
        norms = np.linalg.norm(sums, axis=2)
        moved = norms > 1e-12
        centres[moved] = sums[moved] / norms[moved][:, None]
    return centres, np.argmax(_similarity(points, centres, segment), axis=1)


def _mix(x: np.ndarray | np.uint64) -> np.ndarray:
    """SplitMix64's finaliser, elementwise on uint64 (wrapping arithmetic): a well-spread hash."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _gumbel(point_keys: np.ndarray, draw: int) -> np.ndarray:
    """Standard Gumbel noise of each point for draw number ``draw``, from its hashed key."""
    bits = _mix(point_keys ^ _mix(np.uint64(draw)))
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    return -np.log(-np.log(uniform))


def _ages(offsets: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """``(total,)`` how many rows of its set come strictly later in time than each row (rows
    of a set in time order): rows with the same timestamp share an age, so a log without
    times (all equal) has no recency."""
    total = len(timestamps)
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    segment = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    starts_group = np.ones(total, dtype=bool)
    starts_group[1:] = (segment[1:] != segment[:-1]) | (timestamps[1:] != timestamps[:-1])
    group = np.cumsum(starts_group) - 1
    group_last = np.flatnonzero(np.append(starts_group[1:], True))  # last row of each group
    return offsets[1:][segment] - 1 - group_last[group]


def _similarity(points: np.ndarray, centres: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``(total, k)`` cosine of each point with each centre of its set, in chunks."""
    out = np.empty((len(points), centres.shape[1]))
    for start in range(0, len(points), _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        out[start:stop] = np.einsum("td,tkd->tk", points[start:stop], centres[segment[start:stop]])
    return out


def _collaborative_factors(
    history: Interactions, n_items: int, dims: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_items, dims)`` unit item factors of a truncated SVD of the binary user x item
    matrix (an item nobody interacted with gets a zero row)."""
    n_users = history.n_users
    matrix = sp.csr_array(
        (np.ones(len(history)), (history.users, history.items)), shape=(n_users, n_items)
    )
    matrix.data[:] = 1.0
    rank = min(dims, min(matrix.shape) - 1)
    if rank < 1:
        return np.zeros((n_items, dims))
    start = rng.standard_normal(min(matrix.shape))
    _, values, vt = spla.svds(matrix.astype(np.float64), k=rank, v0=start, random_state=0)
    factors = np.zeros((n_items, dims))
    factors[:, :rank] = vt.T * values[None, :]
    return _unit(factors)


def _maximise_likelihood(
    features: np.ndarray, answers: np.ndarray, affinity_scale: float, active: np.ndarray
) -> FittedChoice:
    """The multinomial logit weights (zero where not ``active``) maximising the mean
    log-likelihood of ``answers``."""
    features = features * active[None, None, :]
    n, _, p = features.shape
    # Standardise the columns (the fit is invariant to a shift within a scene).
    centred = features - features.mean(axis=1, keepdims=True)
    scale = np.sqrt((centred**2).mean(axis=(0, 1)))
    scale[scale < 1e-12] = 1.0
    x = centred / scale
    rows = np.arange(n)
    ridge = 1e-6

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        logits = x @ beta
        logits -= logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(logits).sum(axis=1))
        probabilities = np.exp(logits - log_z[:, None])
        loss = -(logits[rows, answers] - log_z).mean() + ridge * beta @ beta
        expected = np.einsum("nm,nmp->np", probabilities, x)
        gradient = -(x[rows, answers] - expected).mean(axis=0) + 2 * ridge * beta
        return float(loss), gradient

    bounds = [(None, None) if on else (0.0, 0.0) for on in active]
    result = scipy.optimize.minimize(
        objective, np.zeros(p), jac=True, method="L-BFGS-B", bounds=bounds
    )
    return _fitted_choice(result.x / scale, affinity_scale, -float(result.fun), n)


def _fitted_choice(
    weights: np.ndarray, affinity_scale: float, log_likelihood: float, n_scenes: int
) -> FittedChoice:
    """The :class:`FittedChoice` of the logit ``weights`` (the temperature and utility weights
    follow from them and the latent model's ``affinity_scale``)."""
    affinity = float(weights[0])
    temperature = affinity_scale / affinity if affinity > 0 else math.inf
    utility = weights * temperature if math.isfinite(temperature) else np.full(len(weights), np.nan)
    return FittedChoice(
        weights=weights,
        temperature=temperature,
        quality_weight=float(utility[1]),
        boredom_weight=float(utility[2]),
        novelty_weight=float(utility[3]),
        popularity_weight=float(utility[4]),
        log_likelihood=log_likelihood,
        n_scenes=n_scenes,
    )


def _check_same_catalog(saved: Catalog, given: Catalog, folder: Path) -> None:
    """Refuse ``given`` unless it has the items the checkpoint ``folder`` was fitted on."""
    if given.n_items != saved.n_items:
        raise ValueError(
            f"the simulator loaded from {str(folder)!r} was fitted on a catalog of "
            f"{saved.n_items} items; the catalog given has {given.n_items}"
        )
    if not np.array_equal(given.item_ids, saved.item_ids):
        row = int(np.flatnonzero(given.item_ids != saved.item_ids)[0])
        raise ValueError(
            f"the simulator loaded from {str(folder)!r} was fitted on another catalog: item row "
            f"{row} has id {int(saved.item_ids[row])} there, {int(given.item_ids[row])} here"
        )


def _config_fields(config: UserModelConfig) -> dict[str, Any]:
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(LatentFittedSimulator.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}
"""The constructor's default arguments (options given beside a checkpoint are refused)."""

_OPTIONS = frozenset(_DEFAULTS) - {"checkpoint"}
"""The options a saved simulator keeps."""

_ARRAY_LAYOUT: dict[str, tuple[str, int]] = {
    "choice_weights": ("f", 1),
    "log_popularity": ("f", 1),
    "item_ids": ("iu", 1),
    "embeddings": ("f", 2),
    "item_topics": ("f", 2),
    "quality": ("f", 1),
    "popularity": ("f", 1),
    "duration": ("f", 1),
    "attribute_data": ("biuf", 1),
    "attribute_indices": ("iu", 1),
    "attribute_indptr": ("iu", 1),
    "attribute_names": ("U", 1),
    "topic_names": ("U", 1),
    "titles": ("U", 1),
    "descriptions": ("U", 1),
}
"""The arrays of :data:`ARRAYS_FILE`: name -> (dtype kinds, dimensions)."""
