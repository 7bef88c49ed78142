"""Policies for ``RecoWorld-v0`` with ``action_type="scores"``: a ranker and a candidate scorer.

Both rank candidates by per-candidate *signals* (:func:`candidate_signals`: affinity to the
watch history, quality, instruction match, topic overlap, ...), and both start out ranking like
the greedy baseline.

**Ranker** (:class:`RankerActions`, :class:`RankerFeaturesExtractor`): the PPO action is the
weight vector of a linear ranker over the signals, chosen every turn from the pooled candidate
block and the user's features; the env wrapper turns it into scores. Exploration noise lives in
``len(RANKING_SIGNALS)`` dimensions, so PPO's trust region lets the ranking move quickly.

**Candidate scorer** (:class:`CandidateScorerPolicy`): the PPO action is the score vector
itself. The candidates of a turn are an unordered set, so one shared network scores every
candidate from its features, its signals and the user's features (history, instruction,
context); permuting the candidates permutes the action the same way. The score is
``tanh(0.5 * (prior + residual))``, ``prior`` a linear function of the signals initialised to
the greedy weights and ``residual`` a per-candidate MLP whose output starts near zero. The
value head pools the candidate rows over the available candidates. It is the more expressive
policy but learns slowly: a Gaussian over 100 scores, of which only the top 10 matter, lets
PPO's clipped ratio move each score only a small fraction of its noise per update.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

RANKING_SIGNALS = (
    "affinity",
    "quality",
    "cold_quality",
    "cold_popularity",
    "more_of",
    "less_of",
    "topic_overlap",
    "popularity",
    "duration",
    "unavailable",
)
"""The per-candidate ranking signals, in column order: cosine of the embedding to the
history's embedding, quality (once the user has watched something), quality and popularity
(before), topic mass on the instruction's more-of / less-of topic, topic overlap with the
history, popularity and duration (once the user has watched something), and whether the
candidate is unavailable."""

GREEDY_WEIGHTS = (1.0, 0.3, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, -3.0)
"""Weights that rank like the greedy baseline (``cos + 0.3 * quality``; before any watch
``quality + 0.5 * popularity``) with unavailable candidates pushed down; the instruction, topic
overlap, popularity and duration unused."""

PRIOR_GAIN = 10.0
"""The prior's weights are stored divided by this, so Adam moves them this much faster than the
MLP weights (one learning rate for all parameters, as Stable-Baselines3 sets it)."""

SCORE_TEMPERATURE = 0.5
"""The score is ``tanh(SCORE_TEMPERATURE * logit)``, inside the ``[-1, 1]`` action box."""


def _shape(observation_space: spaces.Dict, key: str) -> tuple[int, ...]:
    """The shape of entry ``key`` of a ``Dict`` observation space (``ValueError`` if none)."""
    shape = observation_space[key].shape
    if shape is None:
        raise ValueError(f"observation_space[{key!r}] = {observation_space[key]!r} has no shape")
    return shape


def _dims(observation_space: spaces.Dict) -> tuple[int, int, int]:
    """``(num_candidates, embedding_dim, n_topics)`` of a RecoWorld observation space."""
    num_candidates = _shape(observation_space, "candidates")[0]
    n_topics = _shape(observation_space, "instruction")[0] // 2
    embedding_dim = _shape(observation_space, "history")[0] - n_topics
    return num_candidates, embedding_dim, n_topics


class CandidateFeaturesExtractor(BaseFeaturesExtractor):
    """Per-candidate rows and the user's features, as one flat ``(batch, features_dim)`` tensor.

    The first ``num_candidates * row_dim`` columns are the candidate rows
    ``[candidate features | prior signals]`` (the :data:`RANKING_SIGNALS`, computed from the
    candidate and the user), the last ``user_dim`` are ``[history | instruction | context]``.
    The user part is kept once rather than copied into every row: the scorer's first layer
    applies to it once per observation. No parameters.
    """

    def __init__(self, observation_space: spaces.Dict) -> None:
        if not isinstance(observation_space, spaces.Dict) or set(observation_space.spaces) != {
            "candidates",
            "history",
            "instruction",
            "context",
        }:
            raise ValueError(
                f"observation_space={observation_space!r} is not a RecoWorld observation space "
                "(a Dict of candidates, history, instruction, context)"
            )
        num_candidates, embedding_dim, n_topics = _dims(observation_space)
        self.num_candidates = num_candidates
        self.embedding_dim = embedding_dim
        self.n_topics = n_topics
        self.candidate_dim = _shape(observation_space, "candidates")[1]
        self.row_dim = self.candidate_dim + len(RANKING_SIGNALS)
        self.user_dim = sum(
            _shape(observation_space, key)[0] for key in ("history", "instruction", "context")
        )
        super().__init__(
            observation_space, features_dim=num_candidates * self.row_dim + self.user_dim
        )

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        candidates = observations["candidates"]
        signals = candidate_signals(
            candidates, observations["history"], observations["instruction"], self.n_topics
        )
        rows = th.cat([candidates, signals], dim=-1)
        user = th.cat(
            [observations["history"], observations["instruction"], observations["context"]],
            dim=-1,
        )
        return th.cat([rows.flatten(1), user], dim=-1)


def candidate_signals(
    candidates: th.Tensor, history: th.Tensor, instruction: th.Tensor, n_topics: int
) -> th.Tensor:
    """The :data:`RANKING_SIGNALS` of every candidate, ``(batch, C, len(RANKING_SIGNALS))``.

    Inputs are batched observation entries: ``candidates`` ``(batch, C, d + T + 4)``,
    ``history`` ``(batch, d + T)``, ``instruction`` ``(batch, 2T)``.
    """
    t = n_topics
    d = history.shape[-1] - t
    embeddings = candidates[..., :d]
    topics = candidates[..., d : d + t]
    quality = candidates[..., d + t]
    popularity = candidates[..., d + t + 1]
    duration = candidates[..., d + t + 2]
    available = candidates[..., d + t + 3]
    taste = history[:, :d]
    norm = taste.norm(dim=-1, keepdim=True)
    watched = (norm > 0).to(candidates.dtype)
    return th.stack(
        [
            th.einsum("bcd,bd->bc", embeddings, taste / norm.clamp_min(1e-8)),
            quality * watched,
            quality * (1.0 - watched),
            popularity * (1.0 - watched),
            th.einsum("bct,bt->bc", topics, instruction[:, :t]),
            th.einsum("bct,bt->bc", topics, instruction[:, t:]),
            th.einsum("bct,bt->bc", topics, history[:, d:]),
            popularity * watched,
            duration * watched,
            1.0 - available,
        ],
        dim=-1,
    )


RANKER_GAIN = 2.0
"""A ranker action ``a`` in ``[-1, 1]^k`` ranks with the signal weights
``GREEDY_WEIGHTS + RANKER_GAIN * a``; the zero action is the greedy ranking."""


def ranker_scores(signals: th.Tensor, action: th.Tensor) -> th.Tensor:
    """Scores ``(batch, C)`` in ``[-1, 1]`` of ranker actions ``(batch, k)`` on ``signals``."""
    weights = th.tensor(GREEDY_WEIGHTS, dtype=signals.dtype) + RANKER_GAIN * action
    return th.tanh(SCORE_TEMPERATURE * th.einsum("bck,bk->bc", signals, weights))


def scores_from_ranker_action(observation: dict[str, np.ndarray], action: np.ndarray) -> np.ndarray:
    """The ``(C,)`` float32 score action of one observation and one ranker action."""
    n_topics = observation["instruction"].shape[-1] // 2
    with th.no_grad():
        signals = candidate_signals(
            th.as_tensor(observation["candidates"])[None],
            th.as_tensor(observation["history"])[None],
            th.as_tensor(observation["instruction"])[None],
            n_topics,
        )
        weights = th.as_tensor(np.clip(action, -1.0, 1.0), dtype=th.float32)[None]
        scores = ranker_scores(signals, weights)
    return scores[0].numpy().astype(np.float32)


def ranker_action_space() -> spaces.Box:
    """``Box(-1, 1, (len(RANKING_SIGNALS),))``: one weight offset per ranking signal."""
    return spaces.Box(-1.0, 1.0, (len(RANKING_SIGNALS),), np.float32)


class RankerActions(gym.Wrapper):
    """Lets an agent act with ranker weights (:func:`ranker_action_space`) on a scores env.

    Every step turns the action into per-candidate scores for the latest observation
    (:func:`scores_from_ranker_action`). Observations, rewards and ``info`` pass unchanged.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Dict):
            raise ValueError(
                "RankerActions needs a RecoWorld Dict observation space, "
                f"got {env.observation_space}"
            )
        candidates = _shape(env.observation_space, "candidates")[0]
        if not isinstance(env.action_space, spaces.Box) or env.action_space.shape != (candidates,):
            raise ValueError(
                f"RankerActions needs a score action space, got {env.action_space}; "
                "make the env with action_type='scores'"
            )
        self.action_space = ranker_action_space()
        self._observation: dict[str, np.ndarray] | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._observation = observation
        return observation, info

    def step(self, action: np.ndarray) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._observation is None:
            raise RuntimeError("RankerActions.step called before reset")
        scores = scores_from_ranker_action(self._observation, action)
        observation, reward, terminated, truncated, info = self.env.step(scores)
        self._observation = observation
        return observation, reward, terminated, truncated, info


class RankerFeaturesExtractor(BaseFeaturesExtractor):
    """What the ranker policy sees: the candidate block pooled, and the user's features.

    ``[mean of the rows over available candidates | their max | history | instruction |
    context]``, rows being ``[candidate features | signals]`` (as in
    :class:`CandidateFeaturesExtractor`). Pooling keeps it permutation-invariant. No parameters.
    """

    def __init__(self, observation_space: spaces.Dict) -> None:
        rows = CandidateFeaturesExtractor(observation_space)
        super().__init__(observation_space, features_dim=2 * rows.row_dim + rows.user_dim)
        self.rows = rows

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        features = self.rows(observations)
        size = self.rows.num_candidates * self.rows.row_dim
        rows = features[:, :size].view(features.shape[0], self.rows.num_candidates, -1)
        available = rows[..., self.rows.candidate_dim - 1 : self.rows.candidate_dim]
        mean = (rows * available).sum(dim=1) / available.sum(dim=1).clamp_min(1.0)
        peak = th.where(available > 0.5, rows, th.full_like(rows, -1.0)).amax(dim=1)
        return th.cat([mean, peak, features[:, size:]], dim=-1)


class CandidateScorer(nn.Module):
    """The ``mlp_extractor`` of :class:`CandidateScorerPolicy`.

    ``forward_actor`` maps the features to the action mean ``(batch, C)``: per candidate
    ``tanh(SCORE_TEMPERATURE * (prior(signals) + residual(row, user)))``. ``forward_critic`` maps
    them to a ``(batch, hidden_size)`` latent for the value head from the mean and the max of
    the rows over the available candidates and the user's features.
    """

    def __init__(
        self,
        num_candidates: int,
        row_dim: int,
        candidate_dim: int,
        user_dim: int,
        hidden_size: int,
    ) -> None:
        super().__init__()
        self.num_candidates = num_candidates
        self.row_dim = row_dim
        self.candidate_dim = candidate_dim
        self.latent_dim_pi = num_candidates
        self.latent_dim_vf = hidden_size
        self.prior_weight = nn.Parameter(th.tensor(GREEDY_WEIGHTS) / PRIOR_GAIN)
        self.row_input = _orthogonal(nn.Linear(row_dim, hidden_size))
        self.user_input = _orthogonal(nn.Linear(user_dim, hidden_size, bias=False))
        self.residual = nn.Sequential(
            nn.Tanh(),
            _orthogonal(nn.Linear(hidden_size, hidden_size)),
            nn.Tanh(),
            _orthogonal(nn.Linear(hidden_size, 1), gain=0.01),
        )
        self.value = nn.Sequential(
            _orthogonal(nn.Linear(2 * row_dim + user_dim, hidden_size)),
            nn.Tanh(),
            _orthogonal(nn.Linear(hidden_size, hidden_size)),
            nn.Tanh(),
        )

    def _split(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        size = self.num_candidates * self.row_dim
        rows = features[:, :size].view(features.shape[0], self.num_candidates, self.row_dim)
        return rows, features[:, size:]

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        rows, user = self._split(features)
        signals = rows[..., self.candidate_dim :]
        prior = signals @ (self.prior_weight * PRIOR_GAIN)
        hidden = self.row_input(rows) + self.user_input(user).unsqueeze(1)
        logit = prior + self.residual(hidden).squeeze(-1)
        return th.tanh(SCORE_TEMPERATURE * logit)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        rows, user = self._split(features)
        available = rows[..., self.candidate_dim - 1 : self.candidate_dim]
        mean = (rows * available).sum(dim=1) / available.sum(dim=1).clamp_min(1.0)
        peak = th.where(available > 0.5, rows, th.full_like(rows, -1.0)).amax(dim=1)
        return self.value(th.cat([mean, peak, user], dim=-1))

    @property
    def prior_weights(self) -> dict[str, float]:
        """The current weight of each prior signal (for inspection)."""
        weights = (self.prior_weight.detach() * PRIOR_GAIN).tolist()
        return dict(zip(RANKING_SIGNALS, weights, strict=True))


def _orthogonal(layer: nn.Linear, gain: float = 2**0.5) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class CandidateScorerPolicy(ActorCriticPolicy):
    """PPO policy for score actions: a shared per-candidate scorer, a pooled value head.

    The action distribution is a diagonal Gaussian around the ``(C,)`` scores with one
    learned standard deviation shared by all candidates (a per-index std would break
    permutation equivariance). Needs ``action_type="scores"`` (a ``Box(-1, 1, (C,))`` action
    space) and the RecoWorld ``Dict`` observation.

    :param hidden_size: width of the per-candidate scorer and of the value encoder.
    :param log_std_init: initial log standard deviation of the score noise.
    :param use_sde: must be False (on-policy algorithms pass it; gSDE is not supported).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        hidden_size: int = 64,
        log_std_init: float = -2.5,
        use_sde: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Box) or action_space.shape != (
            _shape(observation_space, "candidates")[0],
        ):
            raise ValueError(
                f"action_space={action_space!r} must be a Box with one score per candidate; "
                "make the env with action_type='scores'"
            )
        if use_sde:
            raise ValueError("use_sde=True is not supported: the score noise is a plain Gaussian")
        self.hidden_size = hidden_size
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=[],
            ortho_init=False,
            log_std_init=log_std_init,
            features_extractor_class=CandidateFeaturesExtractor,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    def _build_mlp_extractor(self) -> None:
        extractor = self.features_extractor
        assert isinstance(extractor, CandidateFeaturesExtractor)
        # SB3 annotates mlp_extractor as MlpExtractor but documents custom extractors (any module
        # with latent_dim_pi/vf and forward_actor/critic) for _build_mlp_extractor overrides.
        self.mlp_extractor = CandidateScorer(  # type: ignore[assignment]
            extractor.num_candidates,
            extractor.row_dim,
            extractor.candidate_dim,
            extractor.user_dim,
            self.hidden_size,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        assert isinstance(self.action_dist, DiagGaussianDistribution)
        self._build_mlp_extractor()
        self.action_net = nn.Identity()
        self.log_std = nn.Parameter(th.full((1,), float(self.log_std_init)))
        self.value_net = _orthogonal(nn.Linear(self.mlp_extractor.latent_dim_vf, 1), gain=1.0)
        # Optimizer's own signature has no lr; its subclasses (Adam, ...) do (as in SB3's _build).
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for key in (
            "net_arch",
            "activation_fn",
            "squash_output",
            "full_std",
            "use_expln",
            "ortho_init",
            "features_extractor_class",
            "features_extractor_kwargs",
            "normalize_images",
        ):
            data.pop(key, None)
        data.update(hidden_size=self.hidden_size)
        return data
