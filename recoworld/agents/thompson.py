"""Thompson sampling for ``RecoWorld-v0``: a Bayesian user model learned online, ranked by a
posterior sample (``ts``) or by the posterior mean (``bayes-greedy``, its greedy twin).

Why: a greedy ranker shows what its current estimate likes best and never learns about the
rest of a user's tastes; a user with several interests, shown only the first one found, gets
bored of it and leaves. Thompson sampling ranks by one draw from the posterior of the user
model instead, so candidates the model is unsure about get shown in proportion to the chance
that they are in fact the best, and what the user does with them sharpens the posterior. The
``bayes-greedy`` agent keeps the very same model and updates but ranks by the posterior mean,
so comparing the two isolates what exploration adds.

The user model
--------------

A Bayesian linear regression of a click (1) or a skip (0) on the candidate's features ``x``
(:data:`FEATURE_GROUPS`, chosen with ``features=``, always with an intercept):

``click = w . x + noise``, ``noise ~ N(0, noise_variance)``, prior ``w ~ N(m0,
prior_variance * I)``.

After observations ``(x_i, y_i)`` with examination weights ``a_i`` the posterior is Gaussian
with precision ``P = I / prior_variance + sum_i a_i x_i x_i^T / noise_variance`` and mean
``P^-1 (m0 / prior_variance + sum_i a_i y_i x_i / noise_variance)``: the exact conjugate
update (a weight ``a`` is an observation whose noise variance is ``noise_variance / a``). The
model keeps the precision and the precision-weighted mean and adds each turn's slate as one
rank-``slate_size`` update (:meth:`BayesianLinearModel.update`); the mean and a sample come
from one Cholesky factor of the precision, computed once per turn (the model has a few dozen
weights: a turn of the agent takes well under a millisecond).

The prior mean ``m0`` is ``prior_mean="greedy"``: the weights of the ``greedy`` agent's scorer
on the features it uses (affinity 1, quality 0.3, popularity 0.15, so that before the user has
watched anything it ranks by ``quality + 0.5 * popularity`` as ``greedy`` does), zero on the
rest; or ``prior_mean="zero"``.

What the agent learns from
--------------------------

Only what a real recommender sees: the candidate features of the observation (or the catalog's
public feature table with ``observation_mode="ids"``), the user's watch-history summary
(``observation["history"]``), the standing instruction (``observation["instruction"]``, for the
``instruction`` feature), and, after each step, which items of its slate were clicked
(``info["slate"]`` and ``info["clicks"]``). Which items the user *examined* is not shown: the
user reads the slate top-down and may stop anywhere. Every slot down to the last click (the top
slot at least) was examined; a slot ``k`` places below that counts with weight
``examine_decay ** k``, the recommender's own position-bias assumption (``1.0``, the default:
every shown item was examined). The model is the user's: it starts from the prior at
every episode (one user) and learns over all of that user's sessions.

Measured (``benchmarks/ts_recoworld.py``, 300 paired multi-session users, default options)
------------------------------------------------------------------------------------------

The learned model is what helps: ``bayes-greedy`` returns 392 and ``ts`` 365 against 305 for
``greedy`` (paired ``ts - greedy`` +60, 95% CI [+39, +81]). Exploration itself does not pay on
the default users: ``ts - bayes-greedy`` is -27 [-46, -8]. Over the user-model sweep ``ts``
ties its greedy twin where exploration is cheap or has more to find (six interests +27
[-5, +59], many clicks +19 [-5, +42], patient users +6 [-10, +21]) and loses where it has
little to find or the linear model cannot express what it would find (one interest -44
[-68, -19], interests far from their topics -51 [-91, -10]). Exploring costs patience (a poor
slate is an empty turn), while each turn's slate already brings ten labelled items and a fresh
candidate block, and the users' boredom already pushes the mean ranker to diversify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import scipy.linalg

from recoworld.agents.base import ObservationLayout, top_slate
from recoworld.seeding import tagged_rng
from recoworld.validation import check_choice, check_int, check_number

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURE_GROUPS",
    "PRIOR_MEANS",
    "BayesGreedyAgent",
    "BayesianLinearModel",
    "CandidateFeatures",
    "ThompsonSamplingAgent",
]

Observation = dict[str, np.ndarray]

FEATURE_GROUPS: tuple[str, ...] = (
    "embedding",
    "topics",
    "quality",
    "popularity",
    "duration",
    "affinity",
    "interaction",
    "instruction",
)
"""Feature groups of a candidate: ``embedding`` (``d`` columns), ``topics`` (topic mass, ``T``),
``quality``, ``popularity`` and ``duration`` (the scaled catalog columns), ``affinity`` (cosine of
the candidate's embedding with the watch history's, the greedy score; 0 before any watch),
``interaction`` (the candidate's embedding times the unit history embedding, elementwise: ``d``
columns that let the model weigh affinity per dimension) and ``instruction`` (topic mass on the
topic the standing instruction asks more of minus that on the topic it asks less of)."""

DEFAULT_FEATURES: tuple[str, ...] = ("embedding", "topics", "quality", "popularity", "affinity")
"""The feature groups used unless ``features=`` says otherwise."""

PRIOR_MEANS: tuple[str, ...] = ("greedy", "zero")
"""Prior means of the weights (see the module docstring)."""

GREEDY_PRIOR: dict[str, float] = {"affinity": 1.0, "quality": 0.3, "popularity": 0.15}
"""The ``greedy`` scorer's weights, the prior mean of the single-column features it uses."""


class BayesianLinearModel:
    """Bayesian linear regression with a Gaussian prior and known noise variance.

    ``y = w . x + N(0, noise_variance)``, ``w ~ N(prior_mean, prior_variance * I)``; the
    posterior after any data is Gaussian and exact (conjugate). The model stores the posterior
    precision ``(p, p)`` and the precision-weighted mean ``(p,)``; :meth:`update` adds a batch
    of observations in one rank-``n`` update.

    Args:
        prior_mean: ``(p,)`` prior mean of the weights.
        prior_variance: prior variance of every weight (> 0).
        noise_variance: variance of an observation's noise (> 0).

    Raises:
        ValueError: ``prior_mean`` is not a finite 1-D array, or a variance is not positive.
    """

    def __init__(
        self, prior_mean: np.ndarray, *, prior_variance: float, noise_variance: float
    ) -> None:
        mean = np.array(prior_mean, dtype=np.float64)
        if mean.ndim != 1 or mean.size == 0 or not np.isfinite(mean).all():
            raise ValueError(f"prior_mean={prior_mean!r} must be a non-empty finite 1-D array")
        self.prior_mean = mean
        self.prior_variance = check_number("prior_variance", prior_variance, 0.0, low_open=True)
        self.noise_variance = check_number("noise_variance", noise_variance, 0.0, low_open=True)
        self.precision = np.eye(mean.size) / self.prior_variance
        """``(p, p)`` posterior precision (inverse covariance)."""
        self.weighted_mean = mean / self.prior_variance
        """``(p,)`` precision times the posterior mean."""
        self._factor: np.ndarray | None = None
        self._mean: np.ndarray | None = None

    @property
    def dim(self) -> int:
        """Number of weights ``p``."""
        return int(self.prior_mean.size)

    def update(
        self, features: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None
    ) -> None:
        """Condition on observations ``targets (n,)`` of ``features (n, p)``.

        ``weights (n,)`` (default ones, each >= 0) scale each observation's precision: weight
        ``a`` means noise variance ``noise_variance / a``; weight 0 ignores the observation.

        Raises:
            ValueError: shapes that do not match, non-finite values or negative weights.
        """
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(targets, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim or y.shape != (x.shape[0],):
            raise ValueError(
                f"features {x.shape} and targets {y.shape} must be (n, {self.dim}) and (n,)"
            )
        a = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        if a.shape != y.shape:
            raise ValueError(f"weights {a.shape} must be {y.shape}, one per observation")
        if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(a).all()):
            raise ValueError("features, targets and weights must be finite")
        if (a < 0).any():
            raise ValueError(f"weights must be >= 0, got {a.min()}")
        scaled = x * (a / self.noise_variance)[:, None]
        self.precision += scaled.T @ x
        self.weighted_mean += scaled.T @ y
        self._factor = self._mean = None

    def discount(self, keep: float) -> None:
        """Keep ``keep`` (in ``(0, 1]``) of what the data taught: the precision and the
        precision-weighted mean move ``1 - keep`` of the way back to the prior's, so old
        observations weigh ``keep`` per call less than new ones.

        Raises:
            ValueError: ``keep`` outside ``(0, 1]``.
        """
        keep = check_number("keep", keep, 0.0, 1.0, low_open=True)
        prior_precision = np.eye(self.dim) / self.prior_variance
        self.precision = keep * self.precision + (1.0 - keep) * prior_precision
        self.weighted_mean = (
            keep * self.weighted_mean + (1.0 - keep) * self.prior_mean / self.prior_variance
        )
        self._factor = self._mean = None

    def _cholesky(self) -> np.ndarray:
        if self._factor is None:
            self._factor = np.linalg.cholesky(self.precision)
        return self._factor

    @property
    def mean(self) -> np.ndarray:
        """``(p,)`` posterior mean of the weights."""
        if self._mean is None:
            self._mean = scipy.linalg.cho_solve(
                (self._cholesky(), True), self.weighted_mean, check_finite=False
            )
        return self._mean

    @property
    def covariance(self) -> np.ndarray:
        """``(p, p)`` posterior covariance of the weights (the inverse precision)."""
        return scipy.linalg.cho_solve((self._cholesky(), True), np.eye(self.dim))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """``(p,)`` one draw of the weights from the posterior, using ``rng``.

        With the precision ``P = L L^T``, ``mean + L^-T z`` for ``z ~ N(0, I)`` has covariance
        ``P^-1``.
        """
        z = rng.standard_normal(self.dim)
        return self.mean + scipy.linalg.solve_triangular(
            self._cholesky(), z, lower=True, trans=1, check_finite=False
        )


class CandidateFeatures:
    """Builds the regression features ``(C, p)`` of a candidate block from an observation.

    Column 0 is the intercept; then the groups of ``features`` in :data:`FEATURE_GROUPS`
    order. :attr:`names` names every column.

    Args:
        layout: where things sit in the observation.
        features: feature groups, a subset of :data:`FEATURE_GROUPS`.

    Raises:
        ValueError: ``features`` is empty, repeats a group or names an unknown one.
    """

    def __init__(self, layout: ObservationLayout, features: Sequence[str]) -> None:
        if isinstance(features, str) or not isinstance(features, Sequence) or not features:
            raise ValueError(
                f"features={features!r} must be a non-empty list of groups from {FEATURE_GROUPS}"
            )
        for group in features:
            check_choice("features", group, FEATURE_GROUPS)
        if len(set(features)) != len(features):
            raise ValueError(f"features={features!r} names a group twice")
        self.layout = layout
        self.groups = tuple(group for group in FEATURE_GROUPS if group in features)
        d, t = layout.embedding_dim, layout.n_topics
        widths = {"embedding": d, "topics": t, "interaction": d}
        names = ["intercept"]
        for group in self.groups:
            width = widths.get(group, 1)
            names += [group] if width == 1 else [f"{group}[{i}]" for i in range(width)]
        self.names: tuple[str, ...] = tuple(names)
        """Name of every column (``"embedding[3]"``, ``"quality"``...)."""

    @property
    def dim(self) -> int:
        """Number of columns ``p`` (the intercept included)."""
        return len(self.names)

    def prior_mean(self, kind: str) -> np.ndarray:
        """``(p,)`` prior mean of the weights: ``"greedy"`` or ``"zero"`` (see the module)."""
        check_choice("prior_mean", kind, PRIOR_MEANS)
        mean = np.zeros(self.dim)
        if kind == "greedy":
            for name, weight in GREEDY_PRIOR.items():
                if name in self.names:
                    mean[self.names.index(name)] = weight
        return mean

    def __call__(self, observation: Observation) -> np.ndarray:
        """``(C, p)`` features of the candidates of ``observation``."""
        layout = self.layout
        candidates = layout.candidates(observation).astype(np.float64, copy=False)
        d = layout.embedding_dim
        embeddings = candidates[:, :d]
        topics = candidates[:, layout.topics]
        columns = [np.ones((candidates.shape[0], 1))]
        unit_history = np.zeros(d)
        if "affinity" in self.groups or "interaction" in self.groups:
            history = np.asarray(observation["history"][:d], dtype=np.float64)
            norm = float(np.linalg.norm(history))
            if norm > 0:
                unit_history = history / norm
        for group in self.groups:
            if group == "embedding":
                columns.append(embeddings)
            elif group == "topics":
                columns.append(topics)
            elif group == "quality":
                columns.append(candidates[:, layout.quality, None])
            elif group == "popularity":
                columns.append(candidates[:, layout.popularity, None])
            elif group == "duration":
                columns.append(candidates[:, layout.popularity + 1, None])
            elif group == "affinity":
                columns.append((embeddings @ unit_history)[:, None])
            elif group == "interaction":
                columns.append(embeddings * unit_history)
            else:  # instruction
                instruction = np.asarray(observation["instruction"], dtype=np.float64)
                t = layout.n_topics
                steer = topics @ instruction[:t] - topics @ instruction[t:]
                columns.append(steer[:, None])
        return np.concatenate(columns, axis=1)


class ThompsonSamplingAgent:
    """Ranks the candidate block by one posterior sample of a Bayesian user model.

    Each step it first conditions the model on the previous slate (which items were clicked,
    see the module docstring), then draws one weight vector from the posterior with its own
    seeded generator and shows the ``slate_size`` best available candidates by the sampled
    score (unavailable ones only when too few are available, as every baseline does).

    Args:
        layout: where things sit in the observation (:meth:`ObservationLayout.of` an env).
        seed: seed of the sampling generator; :meth:`reset` reseeds it per episode.
        prior_variance: prior variance of every weight (> 0); larger explores more at first.
            The default, 0.05, is on the scale of click probabilities (candidates' click
            chances differ by tenths); a variance of 1 makes the first turns' samples nearly
            random, which impatient users punish.
        noise_variance: noise variance of a click observation (> 0); larger trusts each
            observation less, so the posterior narrows more slowly and TS explores longer.
        features: feature groups of the model (:data:`FEATURE_GROUPS`).
        prior_mean: ``"greedy"`` (the greedy scorer's weights) or ``"zero"``.
        examine_decay: in ``[0, 1]``, the weight ratio of each further slot after the last
            click (1: every shown slot counts as examined).
        discount: in ``(0, 1]``, how much of what the model learned it keeps each turn (the
            rest returns to the prior), for users whose tastes move; 1 keeps everything.

    Raises:
        ValueError: an option out of range or of the wrong type, naming it.
    """

    name = "ts"
    sample_weights = True
    """Rank by a posterior sample (False: by the posterior mean)."""

    def __init__(
        self,
        layout: ObservationLayout,
        *,
        seed: int | None = None,
        prior_variance: float = 0.05,
        noise_variance: float = 0.05,
        features: Sequence[str] = DEFAULT_FEATURES,
        prior_mean: str = "greedy",
        examine_decay: float = 1.0,
        discount: float = 1.0,
    ) -> None:
        if not isinstance(layout, ObservationLayout):
            raise ValueError(f"layout={layout!r} must be an ObservationLayout")
        self.layout = layout
        self.features = CandidateFeatures(layout, features)
        self.prior_mean_kind = check_choice("prior_mean", prior_mean, PRIOR_MEANS)
        self.prior_variance = check_number("prior_variance", prior_variance, 0.0, low_open=True)
        self.noise_variance = check_number("noise_variance", noise_variance, 0.0, low_open=True)
        self.examine_decay = check_number("examine_decay", examine_decay, 0.0, 1.0)
        self.discount = check_number("discount", discount, 0.0, 1.0, low_open=True)
        self.seed = None if seed is None else check_int("seed", seed, 0)
        self.rng = np.random.default_rng() if self.seed is None else tagged_rng(self.seed, "ts")
        self.model = self._new_model()
        self._shown: np.ndarray | None = None
        """``(S, p)`` features of the slate shown last, awaiting its feedback."""

    @classmethod
    def for_env(cls, env: Any, *, seed: int | None = None, **options: Any) -> Self:
        """The agent for a (possibly wrapped) ``RecoWorld-v0`` env; ``options`` are the keyword
        options of the constructor.

        Raises:
            ValueError: an option is invalid, or ``features`` has ``instruction`` and the
                env's observation has no structured instruction (the LLM user's, by default).
        """
        features = options.get("features", DEFAULT_FEATURES)
        spaces = getattr(env.observation_space, "spaces", {})
        if not isinstance(features, str) and "instruction" in features:
            if "instruction" not in spaces:
                raise ValueError(
                    f"features={features!r} has 'instruction', but this env's observation has "
                    "no structured instruction (make it with structured_instruction=True)"
                )
        return cls(ObservationLayout.of(env), seed=seed, **options)

    def _new_model(self) -> BayesianLinearModel:
        return BayesianLinearModel(
            self.features.prior_mean(self.prior_mean_kind),
            prior_variance=self.prior_variance,
            noise_variance=self.noise_variance,
        )

    def reset(self, *, seed: int | None = None) -> None:
        """Start a new user: the model goes back to the prior; ``seed`` reseeds sampling."""
        if seed is not None:
            self.rng = tagged_rng(check_int("seed", seed, 0), "ts")
        self.model = self._new_model()
        self._shown = None

    def observe(self, info: dict[str, Any]) -> None:
        """Condition the model on the feedback ``info`` reports for the slate shown last (a
        no-op after a reset, when no slate is awaiting feedback)."""
        shown, self._shown = self._shown, None
        if shown is None or "slate" not in info:
            return
        slate = np.asarray(info["slate"])
        clicks = np.asarray(info["clicks"]).reshape(-1)
        clicked = (slate[:, None] == clicks[None, :]).any(axis=1) & (slate >= 0)
        positions = np.arange(slate.size)
        last_click = int(positions[clicked].max()) if clicked.any() else 0
        beyond = np.maximum(positions - last_click, 0)
        weights = np.where(slate >= 0, self.examine_decay**beyond, 0.0)
        if self.discount < 1.0:
            self.model.discount(self.discount)
        self.model.update(shown, clicked.astype(np.float64), weights)

    def weights(self) -> np.ndarray:
        """``(p,)`` the weights to rank by now: a posterior sample (``ts``, drawn from the
        agent's generator) or the posterior mean (``bayes-greedy``)."""
        return self.model.sample(self.rng) if self.sample_weights else self.model.mean

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        self.observe(info)
        features = self.features(observation)
        weights = self.weights()
        available = self.layout.candidates(observation)[:, self.layout.available]
        slate = top_slate(features @ weights, available, self.layout.slate_size)
        self._shown = features[slate]
        return slate


class BayesGreedyAgent(ThompsonSamplingAgent):
    """The same Bayesian user model and updates as :class:`ThompsonSamplingAgent`, ranked by
    the posterior *mean*: the greedy twin, so that comparing the two isolates exploration.

    Takes the same options (``seed`` too, though it draws nothing).
    """

    name = "bayes-greedy"
    sample_weights = False
