"""SCPR (Lei et al., KDD 2020): path reasoning, weighted entropy and a learned ask-or-recommend.

SCPR splits each turn of a multi-round conversation into two decisions:

* **what** to ask or recommend. Path reasoning on the user–item–attribute graph keeps as
  candidate attributes only those adjacent to the candidate items (``ConvRec-v0`` already
  reports them as ``info["candidate_attributes"]``); among them SCPR asks the one of largest
  *weighted entropy* (:func:`weighted_entropy`): the binary entropy of the share of the
  candidates' FM score mass (after a sigmoid) held by the items that have the attribute. A
  recommendation is the ``top_k`` candidates by the FM item score
  (:class:`~recoworld.agents.fm.FMScorer`).
* **whether** to ask or to recommend: a policy over the conversation state (the history of
  turn outcomes and the candidate count), trained by reinforcement learning through
  ``ConvRec-v0`` with ``action_mode="ask_or_recommend"``, where action ``0`` asks the attribute
  chosen by the env's ``attribute_scorer`` (here :class:`WeightedEntropyScorer`) and ``1``
  recommends by the env's ``item_scorer`` (here the FM).

The decision is a swappable policy object (:class:`AskRecommendPolicy`): :class:`DQNPolicy`, a
DQN written here (a :class:`QNetwork`, a :class:`ReplayBuffer` returning
:class:`ReplaySamples`, a target network and epsilon-greedy exploration; see
:func:`train_scpr_dqn`), or :class:`SB3Policy`, the same decision learned by Stable-Baselines3's
DQN or PPO through the same env (:func:`train_scpr_sb3`). :class:`SCPRAgent` plays either in
``ConvRec-v0`` and :func:`make_scpr_agent` builds it for an env, from a checkpoint written by
:func:`save_scpr` or by training one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import FlattenObservation
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from recoworld.agents.fm import FMConfig, FMScorer, accepted_attributes_of, train_fm
from recoworld.graph import AttributeGraph, attribute_entropy

__all__ = [
    "OBSERVATION_KEYS",
    "SB3_ALGOS",
    "AskRecommendPolicy",
    "DQNConfig",
    "DQNPolicy",
    "QNetwork",
    "ReplayBuffer",
    "ReplaySamples",
    "SB3Config",
    "SB3Policy",
    "SCPRAgent",
    "WeightedEntropyScorer",
    "flatten_observation",
    "install_scorers",
    "load_scpr",
    "make_scpr_agent",
    "save_scpr",
    "scpr_env_kwargs",
    "train_scpr_dqn",
    "train_scpr_sb3",
    "weighted_entropy",
]

ENV_ID = "ConvRec-v0"
ASK, RECOMMEND = 0, 1
"""The two actions of ``action_mode="ask_or_recommend"``."""

OBSERVATION_KEYS: tuple[str, ...] = ("candidate_count", "context", "entropy", "history")
"""The ``ConvRec-v0`` observation entries in the order :func:`flatten_observation` (and
gymnasium's ``FlattenObservation``, which sorts ``Dict`` keys) concatenates them."""

SB3_ALGOS: tuple[str, ...] = ("dqn", "ppo")

CHECKPOINT_MANIFEST = "scpr.json"
CHECKPOINT_FORMAT = "recoworld.SCPR/1"


def flatten_observation(observation: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``ConvRec-v0`` observation as one float32 vector (``candidate_count``, ``context``,
    ``entropy``, ``history``), the layout of gymnasium's ``FlattenObservation``."""
    return np.concatenate(
        [np.asarray(observation[key], dtype=np.float32).ravel() for key in OBSERVATION_KEYS]
    )


# ------------------------------------------------------------------------ weighted entropy


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
    exactly from the candidates (:func:`~recoworld.agents.fm.accepted_attributes_of`), so the
    item scores are the ones the env's FM ``item_scorer`` would rank by.
    """

    def __init__(self, fm: FMScorer, graph: AttributeGraph) -> None:
        _check_sizes(fm, graph)
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


def _check_sizes(fm: FMScorer, graph: AttributeGraph) -> None:
    if (fm.n_items, fm.n_attributes) != (graph.n_items, graph.n_attributes):
        raise ValueError(
            f"the FM scorer knows {fm.n_items} items and {fm.n_attributes} attributes, the env's "
            f"graph has {graph.n_items} and {graph.n_attributes}: it was trained on other data"
        )


def install_scorers(env: gym.Env, fm: FMScorer) -> None:
    """Make ``env`` (a ``ConvRec-v0``) recommend by the FM and, in ``"ask_or_recommend"`` mode,
    ask by weighted entropy, as SCPR does."""
    core = env.unwrapped
    _check_sizes(fm, core.graph)
    core.item_scorer = fm.item_scorer()
    if core.action_mode == "ask_or_recommend":
        core.attribute_scorer = WeightedEntropyScorer(fm, core.graph)


def scpr_env_kwargs(env_kwargs: Mapping[str, Any], fm: FMScorer) -> dict[str, Any]:
    """``env_kwargs`` for SCPR's policy env: ``action_mode="ask_or_recommend"``, the FM as
    ``item_scorer`` and weighted entropy as ``attribute_scorer`` (the graph is built once here
    to size-check the scorer and to count attributes)."""
    kwargs = dict(env_kwargs)
    for name in ("item_scorer", "attribute_scorer"):
        kwargs.pop(name, None)
    kwargs["action_mode"] = "ask_or_recommend"
    kwargs["render_mode"] = None
    probe = gym.make(ENV_ID, **kwargs)
    try:
        graph = probe.unwrapped.graph
    finally:
        probe.close()
    _check_sizes(fm, graph)
    kwargs["item_scorer"] = fm.item_scorer()
    kwargs["attribute_scorer"] = WeightedEntropyScorer(fm, graph)
    return kwargs


# ------------------------------------------------------------------------------ policies


@runtime_checkable
class AskRecommendPolicy(Protocol):
    """SCPR's high-level decision: ``decide(flat observation) -> 0`` (ask) or ``1``
    (recommend). ``observation`` is :func:`flatten_observation`'s vector."""

    def decide(self, observation: np.ndarray) -> int: ...


class QNetwork(nn.Module):
    """MLP ``(B, observation_dim) -> (B, 2)`` action values (ask, recommend)."""

    def __init__(self, observation_dim: int, hidden_sizes: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.observation_dim = int(observation_dim)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        layers: list[nn.Module] = []
        width = self.observation_dim
        for hidden in self.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 2))
        self.layers = nn.Sequential(*layers)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.layers(observations)


class DQNPolicy:
    """Greedy ask-or-recommend decisions of a trained :class:`QNetwork`."""

    def __init__(self, q_network: QNetwork) -> None:
        self.q_network = q_network.eval()
        self.training_log: dict[str, list[float]] = {}
        """Filled by :func:`train_scpr_dqn`: per-episode ``return`` and ``success``, and
        ``loss`` per logged update."""

    @torch.no_grad()
    def q_values(self, observation: np.ndarray) -> np.ndarray:
        """``(2,)`` action values (ask, recommend) of one flat observation."""
        tensor = torch.as_tensor(np.asarray(observation, dtype=np.float32))[None]
        return self.q_network(tensor)[0].numpy()

    def decide(self, observation: np.ndarray) -> int:
        return int(np.argmax(self.q_values(observation)))

    def save(self, path: str | os.PathLike[str]) -> None:
        torch.save(
            {
                "format": "recoworld.SCPR-DQN/1",
                "observation_dim": self.q_network.observation_dim,
                "hidden_sizes": list(self.q_network.hidden_sizes),
                "state_dict": self.q_network.state_dict(),
            },
            os.fspath(path),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DQNPolicy:
        payload = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != "recoworld.SCPR-DQN/1":
            raise ValueError(f"{path} is not a DQN checkpoint written by DQNPolicy.save")
        network = QNetwork(int(payload["observation_dim"]), payload["hidden_sizes"])
        network.load_state_dict(payload["state_dict"])
        return cls(network)


class SB3Policy:
    """The ask-or-recommend decision of a Stable-Baselines3 ``DQN`` or ``PPO`` model trained on
    the flattened ``ConvRec-v0`` observation (:func:`train_scpr_sb3`)."""

    def __init__(self, model: Any, algo: str) -> None:
        if algo not in SB3_ALGOS:
            raise ValueError(f"algo={algo!r} must be one of {SB3_ALGOS}")
        self.model = model
        self.algo = algo

    def decide(self, observation: np.ndarray) -> int:
        action, _ = self.model.predict(np.asarray(observation, np.float32), deterministic=True)
        return int(np.asarray(action).item())

    def save(self, path: str | os.PathLike[str]) -> None:
        self.model.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str], algo: str) -> SB3Policy:
        if algo not in SB3_ALGOS:
            raise ValueError(f"algo={algo!r} must be one of {SB3_ALGOS}")
        return cls(_sb3_class(algo).load(os.fspath(path), device="cpu"), algo)


def _sb3_class(algo: str) -> Any:
    from stable_baselines3 import DQN, PPO

    return {"dqn": DQN, "ppo": PPO}[algo]


# -------------------------------------------------------------------------- replay buffer


class ReplaySamples(NamedTuple):
    """A batch of transitions; ``B`` rows each."""

    observations: torch.Tensor
    """``(B, observation_dim)`` float32."""
    actions: torch.Tensor
    """``(B,)`` int64, 0 ask or 1 recommend."""
    rewards: torch.Tensor
    """``(B,)`` float32."""
    next_observations: torch.Tensor
    """``(B, observation_dim)`` float32."""
    dones: torch.Tensor
    """``(B,)`` float32, 1 when the conversation ended with the transition."""


class ReplayBuffer:
    """A ring buffer of the latest ``capacity`` transitions, sampled uniformly."""

    def __init__(self, capacity: int, observation_dim: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity={capacity!r} must be a positive integer")
        self.capacity = capacity
        self.observations = np.zeros((capacity, observation_dim), np.float32)
        self.next_observations = np.zeros((capacity, observation_dim), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self._position = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(
        self,
        observation: np.ndarray,
        action: int,
        reward: float,
        next_observation: np.ndarray,
        done: bool,
    ) -> None:
        i = self._position
        self.observations[i] = observation
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_observations[i] = next_observation
        self.dones[i] = float(done)
        self._position = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplaySamples:
        """``batch_size`` transitions drawn uniformly with replacement by ``rng``."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        rows = rng.integers(0, self._size, size=batch_size)
        return ReplaySamples(
            observations=torch.from_numpy(self.observations[rows]),
            actions=torch.from_numpy(self.actions[rows]),
            rewards=torch.from_numpy(self.rewards[rows]),
            next_observations=torch.from_numpy(self.next_observations[rows]),
            dones=torch.from_numpy(self.dones[rows]),
        )


# ---------------------------------------------------------------------------- DQN training


@dataclass(frozen=True)
class DQNConfig:
    """Hyperparameters of SCPR's ask-or-recommend DQN (validated on creation)."""

    total_steps: int = 20_000
    """Env steps (turns) of training."""
    buffer_size: int = 20_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Transitions per gradient step."""
    learning_rate: float = 5e-4
    """Adam step size."""
    gamma: float = 0.99
    """Discount per turn."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the Q-network's hidden layers."""
    learning_starts: int = 1_000
    """Env steps of pure exploration before the first update."""
    train_frequency: int = 1
    """Env steps per gradient step."""
    target_update_interval: int = 500
    """Env steps between copies of the online network into the target network."""
    exploration_initial: float = 1.0
    """Epsilon at the start."""
    exploration_final: float = 0.05
    """Epsilon after the decay."""
    exploration_fraction: float = 0.3
    """Share of ``total_steps`` over which epsilon decays linearly."""
    max_grad_norm: float = 10.0
    """Gradient-norm clip."""
    double_dqn: bool = True
    """Pick the next action with the online network, value it with the target network."""

    def __post_init__(self) -> None:
        for name in (
            "total_steps",
            "buffer_size",
            "batch_size",
            "train_frequency",
            "target_update_interval",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DQNConfig.{name}={value!r} must be a positive integer")
        value = self.learning_starts
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"DQNConfig.learning_starts={value!r} must be an integer >= 0")
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise ValueError(
                f"DQNConfig.hidden_sizes={self.hidden_sizes!r} must be positive integers"
            )
        for name, low, high in (
            ("learning_rate", 0.0, math.inf),
            ("gamma", 0.0, 1.0),
            ("exploration_initial", 0.0, 1.0),
            ("exploration_final", 0.0, 1.0),
            ("exploration_fraction", 0.0, 1.0),
            ("max_grad_norm", 0.0, math.inf),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low <= value <= high
                or (name in ("learning_rate", "max_grad_norm") and value == 0)
            ):
                raise ValueError(f"DQNConfig.{name}={value!r} must be a number in [{low}, {high}]")

    def epsilon(self, step: int) -> float:
        """The exploration rate at env step ``step``."""
        span = self.exploration_fraction * self.total_steps
        progress = 1.0 if span <= 0 else min(1.0, step / span)
        return self.exploration_initial + progress * (
            self.exploration_final - self.exploration_initial
        )


def _policy_env(env_kwargs: Mapping[str, Any], pairs: np.ndarray | None) -> gym.Env:
    kwargs = dict(env_kwargs)
    mode = kwargs.setdefault("action_mode", "ask_or_recommend")
    if mode != "ask_or_recommend":
        raise ValueError(
            f"SCPR's policy decides ask or recommend: env_kwargs action_mode={mode!r} must be "
            "'ask_or_recommend'"
        )
    env = gym.make(ENV_ID, **kwargs)
    if pairs is not None:
        env = _PairResetWrapper(env, pairs)
    return env


class _PairResetWrapper(gym.Wrapper):
    """Resets to a ``(user, item)`` pair drawn (with ``np_random``) from a given set, so a
    policy trains on pairs kept apart from its evaluation pairs."""

    def __init__(self, env: gym.Env, pairs: np.ndarray) -> None:
        super().__init__(env)
        array = np.asarray(pairs)
        if array.ndim != 2 or array.shape[1] != 2 or array.dtype.kind not in "iu" or not len(array):
            raise ValueError(f"pairs must be a non-empty (n, 2) integer array, got {array.shape}")
        self.pairs = array.astype(np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._pair_rng = np.random.default_rng(seed)
        elif not hasattr(self, "_pair_rng"):
            self._pair_rng = np.random.default_rng()
        options = dict(options or {})
        if "pair" not in options:
            user, item = self.pairs[self._pair_rng.integers(len(self.pairs))]
            options["pair"] = (int(user), int(item))
        return self.env.reset(seed=seed, options=options)


def train_scpr_dqn(
    env_kwargs: Mapping[str, Any],
    config: DQNConfig | None = None,
    seed: int = 0,
    *,
    pairs: np.ndarray | None = None,
    progress: bool = True,
) -> DQNPolicy:
    """Train SCPR's ask-or-recommend DQN by playing ``gym.make("ConvRec-v0", **env_kwargs)``.

    Args:
        env_kwargs: the env's arguments; ``action_mode`` must be (or defaults to)
            ``"ask_or_recommend"``. For SCPR pass the FM scorers (:func:`scpr_env_kwargs`).
        config: hyperparameters (default :class:`DQNConfig`).
        seed: seeds the network, the env resets, exploration and replay sampling.
        pairs: ``(n, 2)`` ``(user id, item row)`` pairs to train on instead of the env's pairs
            (keep them apart from the evaluation pairs).
        progress: show a tqdm bar with epsilon and the recent success rate.

    A conversation that ends (success or the user quitting at the last turn) is terminal:
    the turn counter is part of the observation, so the quit is part of the MDP.
    """
    config = config or DQNConfig()
    if not isinstance(config, DQNConfig):
        raise ValueError(f"config={config!r} must be a DQNConfig")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    env = _policy_env(env_kwargs, pairs)
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        observation, info = env.reset(seed=int(rng.integers(2**31)))
        flat = flatten_observation(observation)
        q_network = QNetwork(flat.size, config.hidden_sizes)
        target_network = QNetwork(flat.size, config.hidden_sizes)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=config.learning_rate)
    buffer = ReplayBuffer(config.buffer_size, flat.size)
    log: dict[str, list[float]] = {"return": [], "success": [], "loss": []}
    episode_return = 0.0

    bar = tqdm(range(config.total_steps), desc="SCPR DQN", unit="turn", disable=not progress)
    try:
        for step in bar:
            can_ask = bool(info["action_mask"][ASK])
            if not can_ask:
                action = RECOMMEND
            elif rng.random() < config.epsilon(step):
                action = int(rng.integers(2))
            else:
                with torch.no_grad():
                    action = int(q_network(torch.from_numpy(flat)[None]).argmax(1).item())
            observation, reward, terminated, truncated, info = env.step(action)
            next_flat = flatten_observation(observation)
            done = terminated or truncated
            buffer.add(flat, action, reward, next_flat, done)
            episode_return += reward
            flat = next_flat
            if done:
                log["return"].append(episode_return)
                log["success"].append(float(info["success"]))
                episode_return = 0.0
                observation, info = env.reset(seed=int(rng.integers(2**31)))
                flat = flatten_observation(observation)
                if progress and len(log["success"]) % 50 == 0:
                    bar.set_postfix(
                        eps=f"{config.epsilon(step):.2f}",
                        success=f"{np.mean(log['success'][-200:]):.3f}",
                    )

            if step >= config.learning_starts and step % config.train_frequency == 0:
                loss = _dqn_update(q_network, target_network, optimizer, buffer, config, rng)
                if step % 100 == 0:
                    log["loss"].append(loss)
            if step % config.target_update_interval == 0:
                target_network.load_state_dict(q_network.state_dict())
    finally:
        env.close()
    policy = DQNPolicy(q_network)
    policy.training_log = log
    return policy


def _dqn_update(
    q_network: QNetwork,
    target_network: QNetwork,
    optimizer: torch.optim.Optimizer,
    buffer: ReplayBuffer,
    config: DQNConfig,
    rng: np.random.Generator,
) -> float:
    batch = buffer.sample(config.batch_size, rng)
    with torch.no_grad():
        next_target = target_network(batch.next_observations)
        if config.double_dqn:
            next_action = q_network(batch.next_observations).argmax(1, keepdim=True)
            next_value = next_target.gather(1, next_action).squeeze(1)
        else:
            next_value = next_target.max(1).values
        target = batch.rewards + config.gamma * (1.0 - batch.dones) * next_value
    q_network.train()
    value = q_network(batch.observations).gather(1, batch.actions[:, None]).squeeze(1)
    loss = F.smooth_l1_loss(value, target)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(q_network.parameters(), config.max_grad_norm)
    optimizer.step()
    q_network.eval()
    return float(loss.detach())


# ---------------------------------------------------------------------------- SB3 training


@dataclass(frozen=True)
class SB3Config:
    """Budget and network of :func:`train_scpr_sb3` (the algorithms' other settings are SB3's
    defaults, except DQN's exploration and target-update schedule, set for short budgets)."""

    total_timesteps: int = 20_000
    """Env steps (turns) of training."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the policy (and value) network's hidden layers."""
    learning_rate: float = 5e-4
    """Adam step size."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further keyword arguments for the SB3 algorithm's constructor."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.total_timesteps, bool)
            or not isinstance(self.total_timesteps, int)
            or self.total_timesteps < 1
        ):
            raise ValueError(
                f"SB3Config.total_timesteps={self.total_timesteps!r} must be a positive integer"
            )
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise ValueError(
                f"SB3Config.hidden_sizes={self.hidden_sizes!r} must be positive integers"
            )
        if not isinstance(self.learning_rate, int | float) or not self.learning_rate > 0:
            raise ValueError(f"SB3Config.learning_rate={self.learning_rate!r} must be > 0")


def train_scpr_sb3(
    env_kwargs: Mapping[str, Any],
    algo: str = "dqn",
    config: SB3Config | None = None,
    seed: int = 0,
    *,
    pairs: np.ndarray | None = None,
    progress: bool = True,
) -> SB3Policy:
    """Learn the same ask-or-recommend decision with Stable-Baselines3 ``DQN`` or ``PPO``.

    The env is ``gym.make("ConvRec-v0", **env_kwargs)`` (``action_mode="ask_or_recommend"``)
    behind gymnasium's ``FlattenObservation``, so the model sees :func:`flatten_observation`'s
    vector. ``pairs`` restricts the training conversations as in :func:`train_scpr_dqn`.
    """
    if algo not in SB3_ALGOS:
        raise ValueError(f"algo={algo!r} must be one of {SB3_ALGOS}")
    config = config or SB3Config()
    from stable_baselines3.common.monitor import Monitor

    env = Monitor(FlattenObservation(_policy_env(env_kwargs, pairs)))
    kwargs: dict[str, Any] = {
        "policy_kwargs": {"net_arch": list(config.hidden_sizes)},
        "learning_rate": config.learning_rate,
        "seed": int(seed),
        "device": "cpu",
        "verbose": 0,
    }
    if algo == "dqn":
        steps = config.total_timesteps
        kwargs |= {
            "learning_starts": min(1_000, max(steps // 10, 1)),
            "exploration_fraction": 0.3,
            "target_update_interval": 500,
            "buffer_size": max(steps, 1_000),
            "train_freq": 1,
            "batch_size": 64,
            "gamma": 0.99,
        }
    else:
        kwargs |= {"n_steps": 512, "batch_size": 64, "gamma": 0.99, "ent_coef": 0.01}
    kwargs |= config.extra
    model = _sb3_class(algo)("MlpPolicy", env, **kwargs)
    try:
        model.learn(total_timesteps=config.total_timesteps, progress_bar=progress)
    finally:
        env.close()
    return SB3Policy(model, algo)


# ----------------------------------------------------------------------------------- agent


class SCPRAgent:
    """SCPR in ``ConvRec-v0``: the policy decides ask or recommend, weighted entropy picks the
    attribute, the FM ranks the recommendation.

    In ``action_mode="ask_or_recommend"`` the agent returns the policy's ``0``/``1`` and the env
    asks by its ``attribute_scorer`` and recommends by its ``item_scorer`` (set both with
    :func:`install_scorers` or :func:`scpr_env_kwargs`). In ``action_mode="attribute"`` an ask
    returns the attribute column of largest weighted entropy (needs ``chooser``) and a
    recommendation the last action (the env's ``item_scorer`` ranks). With no candidate
    attribute left it always recommends.
    """

    name = "scpr"

    def __init__(
        self, policy: AskRecommendPolicy, chooser: WeightedEntropyScorer | None = None
    ) -> None:
        if not isinstance(policy, AskRecommendPolicy):
            raise ValueError(f"policy={policy!r} has no decide(observation) method")
        self.policy = policy
        self.chooser = chooser

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Any, info: dict[str, Any]) -> int:
        recommend = len(info["action_mask"]) - 1
        attributes = info["candidate_attributes"]
        if len(attributes) == 0:
            return recommend
        if self.policy.decide(flatten_observation(observation)) == RECOMMEND:
            return recommend
        if recommend == RECOMMEND:  # ask_or_recommend: the env picks the attribute
            return ASK
        if self.chooser is None:
            raise ValueError(
                "SCPRAgent in action_mode='attribute' needs a chooser (WeightedEntropyScorer) "
                "to pick the attribute it asks"
            )
        return self.chooser.choose(
            int(info["user"]), info["candidates"], attributes, info["accepted_attributes"]
        )


# ----------------------------------------------------------------------------- checkpoints


def save_scpr(
    directory: str | os.PathLike[str], fm: FMScorer, policy: DQNPolicy | SB3Policy
) -> Path:
    """Write an SCPR checkpoint folder: ``fm.pt``, the policy (``dqn.pt`` or
    ``sb3_<algo>.zip``) and the manifest ``scpr.json``. Returns the folder."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    fm.save(root / "fm.pt")
    if isinstance(policy, DQNPolicy):
        entry = {"kind": "dqn", "file": "dqn.pt"}
        policy.save(root / entry["file"])
    elif isinstance(policy, SB3Policy):
        entry = {"kind": "sb3", "algo": policy.algo, "file": f"sb3_{policy.algo}.zip"}
        policy.save(root / entry["file"])
    else:
        raise ValueError(f"policy={policy!r} is neither a DQNPolicy nor an SB3Policy")
    manifest = {"format": CHECKPOINT_FORMAT, "fm": "fm.pt", "policy": entry}
    (root / CHECKPOINT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def load_scpr(directory: str | os.PathLike[str]) -> tuple[FMScorer, DQNPolicy | SB3Policy]:
    """The FM scorer and the policy of a folder written by :func:`save_scpr`."""
    root = Path(directory)
    manifest_path = root / CHECKPOINT_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} does not exist: not an SCPR checkpoint folder")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{manifest_path} is not an SCPR checkpoint manifest")
    fm = FMScorer.load(root / manifest["fm"])
    entry = manifest["policy"]
    if entry["kind"] == "dqn":
        policy: DQNPolicy | SB3Policy = DQNPolicy.load(root / entry["file"])
    elif entry["kind"] == "sb3":
        policy = SB3Policy.load(root / entry["file"], entry["algo"])
    else:
        raise ValueError(f"{manifest_path}: unknown policy kind {entry['kind']!r}")
    return fm, policy


def _graph_interactions(graph: AttributeGraph) -> dict[int, np.ndarray]:
    indptr, indices = graph.user_items.indptr, graph.user_items.indices
    return {
        int(user): indices[indptr[row] : indptr[row + 1]].astype(np.int64)
        for row, user in enumerate(graph.user_ids.tolist())
    }


def make_scpr_agent(
    env: gym.Env,
    checkpoint: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    *,
    fm_config: FMConfig | None = None,
    dqn_config: DQNConfig | None = None,
    progress: bool = True,
) -> SCPRAgent:
    """SCPR for ``env`` (a ``ConvRec-v0``), ready for ``evaluate_convrec``.

    With ``checkpoint`` (a :func:`save_scpr` folder) the scorer and the policy are loaded;
    without, the FM is trained on the interactions of the env's graph (the training split for a
    ``dataset_path`` env) and the DQN through a copy of the env made from ``env.spec.kwargs``,
    both with progress bars and seeded by ``seed`` (default 0). The FM then becomes ``env``'s
    item scorer, and in ``"ask_or_recommend"`` mode weighted entropy its attribute scorer
    (:func:`install_scorers`): SCPR recommends by its own scorer.
    """
    core = env.unwrapped
    if checkpoint is not None:
        fm, policy = load_scpr(checkpoint)
    else:
        seed = 0 if seed is None else int(seed)
        fm = train_fm(
            (core.catalog, _graph_interactions(core.graph)), fm_config, seed, progress=progress
        )
        if env.spec is None:
            raise ValueError("training SCPR without a checkpoint needs an env made by gym.make")
        policy = train_scpr_dqn(
            scpr_env_kwargs(env.spec.kwargs, fm), dqn_config, seed, progress=progress
        )
    install_scorers(env, fm)
    return SCPRAgent(policy, WeightedEntropyScorer(fm, core.graph))
