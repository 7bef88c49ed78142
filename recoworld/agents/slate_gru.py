"""A Bayesian GRU slate recommender with in-slate Thompson sampling (Eide, Leslie and Frigessi,
2021, "Dynamic Slate Recommendation with Gated Recurrent Units and Thompson Sampling").

The model (:class:`SlateGRU`) works in the log-index space of the FINN.no slate logs
(:mod:`recoworld.catalog.slate_world`: 0 padding, 1 no click, 2 unknown, real items from 3):

* every index ``i`` has a vector ``v_i`` (``dim`` numbers) with a hierarchical prior by its group
  (``category[i]`` of the logs): ``v_i ~ N(mu_g(i), item_prior_scale^2 I)`` and
  ``mu_g ~ N(0, group_prior_scale^2 I)``;
* a GRU reads the user's steps in order; its input at a step is the vector of the clicked item,
  or the vector ``v_1`` of the no-click index when the user clicked nothing, and padded steps
  (click 0: no interaction) are skipped (the state carries over). The state ``z_t`` before step
  ``t`` (after steps ``0..t-1``; ``z_0`` a learned vector) scores index ``i`` by ``<z_t, v_i>``;
* the no-click option's logit is ``<z_t, v_1> + b[L]``, ``b`` a learned table indexed by the
  slate length ``L`` (the logs' ``slate_lengths``, which count the no-click entry);
* slate likelihood (``likelihood="slate"``): a softmax over the shown items and the no-click
  option; all-items likelihood (``"all"``): a softmax over every index but padding, the no-click
  index taking the no-click logit. A clicked item that is not in its slate (it happens in the
  real data) cannot be scored by the slate likelihood and that step is left out of it.

Inference is stochastic variational (SVI): a mean-field Gaussian posterior over the item vectors
and the group means (reparameterised: one draw of the whole item table per minibatch), point
(MAP with a flat prior) estimates of the GRU weights, ``z_0`` and the length table, trained to
maximise the ELBO with the data term scaled from the minibatch to the full data set
(:func:`recoworld.training.slate_gru.train_slate_gru`). It is written with
``torch.distributions`` (``Normal``, ``kl_divergence``) rather than pyro: the posterior is two
Gaussian tables whose KL to the hierarchical prior has a closed form, so the ELBO is a few lines
of torch, and the library gains no dependency.

The agents (registered for ``SlateRec-v0`` as ``gru-greedy`` and ``gru-ts``) keep the GRU state
of the current user, updated online from the observation, and fill a slate of catalog rows:

* greedy: the ``slate_size`` items of highest posterior-mean score, leaving out the items the
  user clicked this episode;
* in-slate Thompson sampling: ``K`` posterior draws of the scores of every item
  (``K = slate_size`` by default) drawn afresh for every slate from the agent's seeded
  generator (reseeded by ``reset(seed=)``) for the user's state (the GRU run on the
  posterior-mean vectors); the slate is filled position by position, position ``p`` taken by
  draw ``p mod K``, which proposes its best-scoring item not yet in the slate (nor clicked this
  episode). With ``K = slate_size`` every draw places exactly one item; as the posterior
  variance goes to 0 every draw ranks the items as the mean does and the slate equals the
  greedy one. The scores are drawn directly (:meth:`SlateGRU.sample_scores`), not by scoring
  draws of the whole item table: under the mean-field posterior the item vectors are
  independent Gaussians, so for a fixed state ``z`` the scores ``<z, v_i>`` are independent
  Gaussians with mean ``<z, m_i>`` and variance ``sum_d z_d^2 s_id^2`` (``m_i, s_i`` item
  ``i``'s posterior mean and scale), the same distribution from ``K x n_items`` numbers instead
  of ``K x n_items x dim``.

Seeds: an agent's streams (the logs and training of a model it trains itself, its posterior
draws) are derived from its seed by tagged :class:`numpy.random.SeedSequence` s, so none of them
is the stream of an env reset with the same seed.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from recoworld.catalog.slate_world import FIRST_ITEM, NO_CLICK_ITEM, PAD_ITEM, SlateWorld
from recoworld.validation import check_choice, check_int, check_number, check_seed

__all__ = [
    "DEFAULT_TRAIN_EPOCHS",
    "DEFAULT_TRAIN_LEARNING_RATE",
    "DEFAULT_TRAIN_USERS",
    "LIKELIHOODS",
    "SLATE_GRU_OPTIONS",
    "SlateGRU",
    "SlateGRUAgent",
    "SlateGRUConfig",
    "check_model_fits_world",
    "make_slate_gru_agent",
]

LIKELIHOODS: tuple[str, ...] = ("slate", "all")
"""``"slate"``: softmax over the shown items and no click; ``"all"``: over every item."""

POLICIES: tuple[str, ...] = ("greedy", "ts")

DEFAULT_TRAIN_USERS = 2000
"""Users of the logs an agent without a checkpoint generates from the env's world and trains on."""
DEFAULT_TRAIN_EPOCHS = 5
"""Epochs of that training (with a step size of :data:`DEFAULT_TRAIN_LEARNING_RATE`: about 3 s
to generate the logs and 10 s to train on one core for the default synthetic world)."""
DEFAULT_TRAIN_LEARNING_RATE = 0.02
"""Adam's step size of that training."""

SLATE_GRU_OPTIONS: tuple[str, ...] = ("checkpoint", "model", "samples", "train_users", "epochs")
"""Options of the ``gru-greedy`` and ``gru-ts`` agents (see :func:`make_slate_gru_agent`)."""


@dataclass(frozen=True)
class SlateGRUConfig:
    """Sizes and prior of a :class:`SlateGRU`.

    Attributes:
        n_items: indices of the log-index space, the 3 special ones included.
        n_groups: item groups (categories of the logs, specials included).
        max_slate_length: largest slate length (no-click entry included) the length table covers.
        dim: length of the item vectors and of the GRU state.
        likelihood: the likelihood trained on, ``"slate"`` or ``"all"``.
        item_prior_scale: prior standard deviation of an item vector around its group mean.
        group_prior_scale: prior standard deviation of a group mean around 0.
        initial_posterior_scale: the variational standard deviations at initialisation.
    """

    n_items: int
    n_groups: int
    max_slate_length: int
    dim: int = 16
    likelihood: str = "slate"
    item_prior_scale: float = 0.5
    group_prior_scale: float = 1.0
    initial_posterior_scale: float = 0.05

    def __post_init__(self) -> None:
        check_int("n_items", self.n_items, FIRST_ITEM + 1)
        check_int("n_groups", self.n_groups, 1)
        check_int("max_slate_length", self.max_slate_length, 1)
        check_int("dim", self.dim, 1, 1024)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_number("item_prior_scale", self.item_prior_scale, 0.0, low_open=True)
        check_number("group_prior_scale", self.group_prior_scale, 0.0, low_open=True)
        check_number("initial_posterior_scale", self.initial_posterior_scale, 0.0, low_open=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SlateGRU(nn.Module):
    """The model described in the module docstring.

    Args:
        config: sizes and prior.
        category: ``(n_items,)`` the group of every index (log-index space).
        seed: seeds the initial parameters (drawn inside :func:`torch.random.fork_rng`, so the
            global torch generator is left as it was).

    Raises:
        ValueError: ``category`` has the wrong shape or a group outside ``0..n_groups-1``.
    """

    def __init__(self, config: SlateGRUConfig, category: np.ndarray, *, seed: int = 0) -> None:
        super().__init__()
        seed = check_seed("seed", seed)
        category = np.asarray(category)
        if category.shape != (config.n_items,) or category.dtype.kind not in "iuf":
            raise ValueError(
                f"category must be a numeric array of shape ({config.n_items},), got "
                f"{category.dtype} {category.shape}"
            )
        if category.dtype.kind == "f" and len(category):
            whole = np.isfinite(category) & (category == np.round(category))
            if not whole.all():
                bad = int(np.flatnonzero(~whole)[0])
                raise ValueError(
                    f"category holds {float(category[bad])} at index {bad}: groups must be "
                    "integers (integral floats, as the FINN.no itemattr file stores them, are fine)"
                )
        if len(category) and (category.min() < 0 or category.max() >= config.n_groups):
            raise ValueError(
                f"category holds groups {category.min():g}..{category.max():g}; the model "
                f"has groups 0..{config.n_groups - 1}"
            )
        self.config = config
        d = config.dim
        self.register_buffer("category", torch.as_tensor(category.astype(np.int64)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            log_scale = math.log(config.initial_posterior_scale)
            self.item_loc = nn.Parameter(0.1 * torch.randn(config.n_items, d))
            self.item_log_scale = nn.Parameter(torch.full((config.n_items, d), log_scale))
            self.group_loc = nn.Parameter(torch.zeros(config.n_groups, d))
            self.group_log_scale = nn.Parameter(torch.full((config.n_groups, d), log_scale))
            self.gru = nn.GRUCell(d, d)
            self.initial_state = nn.Parameter(torch.zeros(d))
            self.no_click_bias = nn.Parameter(torch.zeros(config.max_slate_length + 1))

    category: torch.Tensor

    # ------------------------------------------------------------------ posterior and prior

    def item_vectors(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n_items, dim)``: a reparameterised posterior draw of the item vectors (using
        ``generator``), or the posterior mean when ``generator`` is None."""
        if generator is None:
            return self.item_loc
        noise = torch.randn(self.item_loc.shape, generator=generator)
        return self.item_loc + self.item_log_scale.exp() * noise

    def sample_item_vectors(self, n_samples: int, generator: torch.Generator) -> torch.Tensor:
        """``(n_samples, n_items, dim)`` posterior draws (no gradient). To score the draws
        against one state, :meth:`sample_scores` gives the same distribution with ``dim``
        times fewer numbers."""
        with torch.no_grad():
            noise = torch.randn((n_samples, *self.item_loc.shape), generator=generator)
            return self.item_loc + self.item_log_scale.exp() * noise

    def sample_scores(
        self, state: torch.Tensor, n_samples: int, generator: torch.Generator
    ) -> torch.Tensor:
        """``(n_samples, n_items)`` posterior draws of the scores ``<z, v_i>`` of every index
        for the state ``z`` = ``state`` ``(dim,)`` (no gradient).

        The mean-field posterior makes the item vectors independent Gaussians, so each score
        is an independent Gaussian with mean ``<z, m_i>`` and standard deviation
        ``sqrt(sum_d z_d^2 s_id^2)``; a draw is ``mean + sd * eps`` with ``eps``
        ``(n_samples, n_items)`` standard normals from ``generator``: the distribution of
        ``scores(state, sample_item_vectors(n_samples, generator))`` without drawing the
        ``(n_samples, n_items, dim)`` table.
        """
        with torch.no_grad():
            mean = self.item_loc @ state
            sd = torch.sqrt(torch.exp(2 * self.item_log_scale) @ (state * state))
            noise = torch.randn((n_samples, self.config.n_items), generator=generator)
            return mean + sd * noise

    def kl(self) -> torch.Tensor:
        """KL divergence of the variational posterior from the hierarchical prior (a scalar).

        ``KL(q(mu) || p(mu)) + E_q(mu) KL(q(v) || p(v | mu))``; the expectation is closed-form:
        ``KL(q(v) || N(m_g, s^2)) + sigma_g^2 / (2 s^2)`` per coordinate, ``m_g, sigma_g`` the
        posterior mean and scale of the item's group mean and ``s`` the item prior scale.
        """
        config = self.config
        group_scale = self.group_log_scale.exp()
        q_group = Normal(self.group_loc, group_scale)
        kl_group = kl_divergence(q_group, Normal(0.0, config.group_prior_scale)).sum()
        q_item = Normal(self.item_loc, self.item_log_scale.exp())
        prior_loc = self.group_loc[self.category]
        kl_item = kl_divergence(q_item, Normal(prior_loc, config.item_prior_scale)).sum()
        spread = (group_scale[self.category] ** 2).sum() / (2 * config.item_prior_scale**2)
        return kl_group + kl_item + spread

    # ------------------------------------------------------------------------ user states

    def states(self, click: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """``(U, T, dim)``: the state ``z_t`` before every step of ``click`` ``(U, T)``.

        ``z_0`` is the learned initial state; step ``t``'s input is ``vectors[click[:, t]]``
        (the no-click index feeds ``v_1``); a padded step leaves the state unchanged.
        """
        users, steps = click.shape
        state = self.initial_state.expand(users, -1)
        out = []
        for t in range(steps):
            out.append(state)
            if t + 1 == steps:
                break
            items = click[:, t]
            updated = self.gru(vectors[items], state)
            state = torch.where((items != PAD_ITEM)[:, None], updated, state)
        return torch.stack(out, dim=1)

    def next_state(self, state: torch.Tensor, item: int) -> torch.Tensor:
        """The state after one step whose click was log index ``item`` (1: no click) under the
        posterior-mean vectors; ``state`` ``(dim,)``. Padding leaves it unchanged."""
        if item == PAD_ITEM:
            return state
        with torch.no_grad():
            vector = self.item_loc[item][None]
            return self.gru(vector, state[None])[0]

    def start_state(self) -> torch.Tensor:
        """``(dim,)`` the state of a user before any step."""
        return self.initial_state.detach().clone()

    # ------------------------------------------------------------------------ likelihoods

    def no_click_logit(
        self, states: torch.Tensor, vectors: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """``(...)`` the no-click logit ``<z, v_1> + b[L]``, ``lengths`` the slate lengths
        (0 for padded steps).

        Raises:
            ValueError: a length outside the table's ``0..max_slate_length``.
        """
        top = self.config.max_slate_length
        if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > top):
            raise ValueError(
                f"slate lengths run {int(lengths.min())}..{int(lengths.max())}; the model's "
                f"length table covers 0..{top} (max_slate_length={top}): train it on logs with "
                "slates this wide"
            )
        return (states * vectors[NO_CLICK_ITEM]).sum(-1) + self.no_click_bias[lengths]

    def log_likelihood(
        self,
        click: torch.Tensor,
        slate: torch.Tensor,
        lengths: torch.Tensor,
        vectors: torch.Tensor,
        likelihood: str,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step log-probabilities of the clicks and which steps count.

        Args:
            click: ``(U, T)`` clicked log index per step (1 no click, 0 padding).
            slate: ``(U, T, S)`` slate rows (no-click index first, padding 0).
            lengths: ``(U, T)`` slate lengths.
            vectors: ``(n_items, dim)`` item vectors (a posterior draw or the mean).
            likelihood: ``"slate"`` or ``"all"``.

        Returns:
            ``(log_prob, counted)``, both ``(U, T)``; ``log_prob`` is 0 where ``counted`` is
            false (padding, and for the slate likelihood a click outside its slate).

        Raises:
            ValueError: a non-padded step's slate length exceeds ``max_slate_length`` (a
                padded step's length is ignored).
        """
        states = self.states(click, vectors)
        real_step = click != PAD_ITEM
        lengths = torch.where(real_step, lengths, torch.zeros_like(lengths))
        no_click = self.no_click_logit(states, vectors, lengths)
        if likelihood == "slate":
            shown = slate != PAD_ITEM
            shown[..., 0] = False
            logits = torch.einsum("utd,utsd->uts", states, vectors[slate])
            logits = torch.where(shown, logits, torch.full_like(logits, -torch.inf))
            logits = torch.cat([no_click[..., None], logits[..., 1:]], dim=-1)
            matches = (slate == click[..., None]) & shown
            in_slate = matches.any(-1)
            target = torch.where(in_slate, matches.float().argmax(-1), 0)
            clicked = click != NO_CLICK_ITEM
            counted = real_step & (~clicked | in_slate)
        else:
            logits = states @ vectors.T
            logits[..., NO_CLICK_ITEM] = no_click
            logits[..., PAD_ITEM] = -torch.inf
            target = click
            counted = real_step
        log_probs = torch.log_softmax(logits, dim=-1)
        picked = log_probs.gather(-1, target[..., None])[..., 0]
        return torch.where(counted, picked, torch.zeros_like(picked)), counted

    # --------------------------------------------------------------------------- scoring

    def scores(self, state: torch.Tensor, vectors: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``<z, v_i>`` of every index for state(s) ``state`` (``(..., dim)``), under
        ``vectors`` (default the posterior mean); ``(..., n_items)``."""
        table = self.item_loc if vectors is None else vectors
        with torch.no_grad():
            return state @ table.transpose(-1, -2)


# -------------------------------------------------------------------------------- agents


_LOGS_STREAM = 1
"""Tag of the stream of the logs an agent generates to train its own model."""
_TRAIN_STREAM = 2
"""Tag of the seed of that training."""
_DRAW_STREAM = 3
"""Tag of the stream of a Thompson-sampling agent's posterior draws."""


def _stream_seed(seed: int, tag: int) -> int:
    """The seed of stream ``tag`` of ``seed``: a tagged :class:`numpy.random.SeedSequence`, so
    it differs from ``seed`` itself (which seeds, e.g., the env's users)."""
    return int(np.random.SeedSequence([seed, tag]).generate_state(1, np.uint32)[0])


def _top_unused(scores: np.ndarray, excluded: np.ndarray) -> int:
    masked = np.where(excluded, -np.inf, scores)
    return int(np.argmax(masked))


class SlateGRUAgent:
    """A ``SlateRec-v0`` agent that recommends with a trained :class:`SlateGRU`.

    The user state is the GRU state, advanced once per step the env reports: a new click (the
    observation's ``n_clicks`` went up; the click is the last entry of ``clicks``) feeds that
    item's vector, a step without one feeds the no-click vector, as in training.

    Args:
        model: the trained model (its index space must be the world's rows + 3).
        n_items: catalog rows of the env's world.
        slate_size: items per slate.
        policy: ``"greedy"`` or ``"ts"`` (in-slate Thompson sampling).
        samples: posterior draws per slate for ``"ts"`` (default ``slate_size``; refused for
            ``"greedy"``, which draws nothing).
        seed: seeds the draws (through a tagged stream of it); :meth:`reset` with a seed
            reseeds them.

    Raises:
        ValueError: the model's item count does not match ``n_items``, its length table is
            shorter than ``slate_size + 1`` (the slate and its no-click entry), or a bad
            argument.
    """

    def __init__(
        self,
        model: SlateGRU,
        n_items: int,
        slate_size: int,
        *,
        policy: str = "greedy",
        samples: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.policy = check_choice("policy", policy, POLICIES)
        self.n_items = check_int("n_items", n_items, 1)
        self.slate_size = check_int("slate_size", slate_size, 1)
        if model.config.n_items != n_items + FIRST_ITEM:
            raise ValueError(
                f"the model scores {model.config.n_items - FIRST_ITEM} items, the env's world has "
                f"{n_items}: train it on logs of this world (or load its checkpoint)"
            )
        if model.config.max_slate_length < self.slate_size + 1:
            raise ValueError(
                f"slate_size={self.slate_size} makes slates of {self.slate_size + 1} entries with "
                f"the no-click one; the model was trained on slates of at most "
                f"{model.config.max_slate_length} (max_slate_length): train it on logs with "
                "slates this wide"
            )
        if samples is not None and self.policy != "ts":
            raise ValueError(
                f"samples={samples!r} sets the posterior draws of gru-ts; gru-{self.policy} "
                "draws nothing"
            )
        self.samples = self.slate_size if samples is None else check_int("samples", samples, 1)
        self.model = model.eval()
        self.name = f"gru-{policy}"
        self._seed = 0 if seed is None else check_seed("seed", seed)
        self._generator = torch.Generator().manual_seed(_stream_seed(self._seed, _DRAW_STREAM))
        self._state = model.start_state()
        self._clicked = np.zeros(n_items, dtype=bool)
        self._last_step = 0
        self._last_clicks = 0

    def reset(self, *, seed: int | None = None) -> None:
        """Start a new user (and reseed the posterior draws when ``seed`` is given)."""
        if seed is not None:
            self._generator.manual_seed(_stream_seed(check_seed("seed", seed), _DRAW_STREAM))
        self._state = self.model.start_state()
        self._clicked[:] = False
        self._last_step = 0
        self._last_clicks = 0

    def observe(self, observation: Mapping[str, Any]) -> None:
        """Advance the user state by the steps ``observation`` reports since the last call."""
        step = int(observation["step"])
        n_clicks = int(observation["n_clicks"])
        if step < self._last_step:  # a new episode without reset
            self.reset()
        new_steps = step - self._last_step
        new_clicks = n_clicks - self._last_clicks
        history = np.asarray(observation["clicks"]).reshape(-1)
        for k in range(new_steps):
            # The env shows one slate per step; at most one click each, the newest last.
            if k >= new_steps - new_clicks:
                row = int(history[len(history) - (new_steps - k)])
                if 0 <= row < self.n_items:
                    self._clicked[row] = True
                    self._state = self.model.next_state(self._state, row + FIRST_ITEM)
                    continue
            self._state = self.model.next_state(self._state, NO_CLICK_ITEM)
        self._last_step, self._last_clicks = step, n_clicks

    def act(self, observation: Mapping[str, Any], info: dict[str, Any]) -> np.ndarray:
        """A slate of ``slate_size`` distinct catalog rows (``int64``)."""
        self.observe(observation)
        size = min(self.slate_size, self.n_items)
        excluded = self._clicked.copy()
        if excluded.sum() > self.n_items - size:  # too few unclicked items: allow repeats of
            excluded[:] = False  # clicked ones rather than a short slate
        if self.policy == "greedy":
            score_rows = [self.model.scores(self._state).numpy()[FIRST_ITEM:]]
        else:
            draws = self.model.sample_scores(self._state, self.samples, self._generator)
            score_rows = list(draws.numpy()[:, FIRST_ITEM:])
        slate = np.empty(self.slate_size, dtype=np.int64)
        for position in range(self.slate_size):
            if position >= size:  # more slots than items: the rest repeat (wasted slots)
                slate[position] = slate[position % size]
                continue
            row = _top_unused(score_rows[position % len(score_rows)], excluded)
            slate[position] = row
            excluded[row] = True
        return slate


def check_model_fits_world(model: SlateGRU, world: SlateWorld) -> None:
    """``ValueError`` unless ``model`` was trained on logs of ``world``'s items: as many items,
    and every real item of a named category in the world's group of that category (logs of a
    synthetic world of another seed, or of other FINN.no data, fail this)."""
    if model.config.n_items != world.n_items + FIRST_ITEM:
        raise ValueError(
            f"the model scores {model.config.n_items - FIRST_ITEM} items, {world.name} has "
            f"{world.n_items}: train it on logs of this world (or load its checkpoint)"
        )
    category = model.category.numpy()[FIRST_ITEM:]
    named = category >= FIRST_ITEM
    if not np.array_equal(category[named] - FIRST_ITEM, world.groups[named]):
        row = int(np.flatnonzero(named & (category - FIRST_ITEM != world.groups))[0])
        raise ValueError(
            f"the model was trained on other items than {world.name}'s: item row {row} is in "
            f"the model's category {int(category[row])} but in the world's group "
            f"{int(world.groups[row])} (log category {int(world.groups[row]) + FIRST_ITEM}); "
            "train it on logs of this world (same world_seed, n_items, n_groups or data folder)"
        )


def make_slate_gru_agent(
    env: gym.Env, seed: int | None, options: Mapping[str, Any], *, policy: str
) -> SlateGRUAgent:
    """The ``gru-greedy`` / ``gru-ts`` agent for a ``SlateRec-v0`` env.

    Options: ``checkpoint`` (a folder written by
    :func:`recoworld.training.slate_gru.save_slate_gru`), or ``model`` (a :class:`SlateGRU`);
    without either, a model is trained first on ``train_users`` users (default
    :data:`DEFAULT_TRAIN_USERS`) of logs generated from the env's world
    (:func:`recoworld.catalog.slates.generate_slate_logs`, slate rows of the env's
    ``slate_size + 1`` entries, the no-click one included; the logs and the training seeded by
    tagged streams of ``seed``, so the logged users are not the env's users of the same seed)
    for ``epochs`` epochs (default :data:`DEFAULT_TRAIN_EPOCHS`), with 16-dimensional vectors,
    the slate likelihood and a step size of :data:`DEFAULT_TRAIN_LEARNING_RATE`. ``samples``:
    posterior draws per slate for ``gru-ts`` (default the slate size; refused for
    ``gru-greedy``).

    Raises:
        ValueError: an option is out of range, given with a conflicting one or to the wrong
            agent, or the model does not fit the env's world or its slate size.
        OSError: the checkpoint cannot be read.
    """
    world = env.unwrapped.world  # type: ignore[attr-defined]
    slate_size = int(env.unwrapped.config.slate_size)  # type: ignore[attr-defined]
    model = options.get("model")
    checkpoint = options.get("checkpoint")
    training = [name for name in ("train_users", "epochs") if options.get(name) is not None]
    samples = options.get("samples")
    if samples is not None and policy != "ts":  # before any training
        raise ValueError(f"option samples={samples!r} is for gru-ts; gru-{policy} draws nothing")
    if model is not None and checkpoint is not None:
        raise ValueError("give the option model or checkpoint, not both")
    if (model is not None or checkpoint is not None) and training:
        raise ValueError(
            f"option {training[0]!r} trains a new model; it cannot go with model or checkpoint"
        )
    if checkpoint is not None:
        from recoworld.training.slate_gru import load_slate_gru

        model = load_slate_gru(os.fspath(checkpoint))
    elif model is None:
        from recoworld.catalog.slates import generate_slate_logs
        from recoworld.training.slate_gru import train_slate_gru

        users = check_int("train_users", options.get("train_users", DEFAULT_TRAIN_USERS), 2)
        epochs = check_int("epochs", options.get("epochs", DEFAULT_TRAIN_EPOCHS), 1)
        base = 0 if seed is None else check_seed("seed", seed)
        # Rows of the env's items plus the no-click entry; the logging policy's other sizes
        # are widened (or narrowed) only as far as that width needs.
        width = slate_size + 1
        default = inspect.signature(generate_slate_logs).parameters
        logs = generate_slate_logs(
            world,
            users,
            seed=_stream_seed(base, _LOGS_STREAM),
            slate_size=width,
            min_search_length=min(default["min_search_length"].default, width),
            candidates_per_group=max(default["candidates_per_group"].default, slate_size),
            pool_size=max(default["pool_size"].default, slate_size),
        )
        model, _ = train_slate_gru(
            logs,
            seed=_stream_seed(base, _TRAIN_STREAM),
            epochs=epochs,
            learning_rate=DEFAULT_TRAIN_LEARNING_RATE,
        )
    if not isinstance(model, SlateGRU):
        raise ValueError(f"option model={model!r} is not a SlateGRU")
    check_model_fits_world(model, world)
    return SlateGRUAgent(
        model, world.n_items, slate_size, policy=policy, samples=samples, seed=seed
    )
