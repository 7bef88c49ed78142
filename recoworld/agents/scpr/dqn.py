"""The library's own DQN for SCPR's ask-or-recommend decision: a replay buffer returning typed
samples, double DQN with a target network and epsilon-greedy exploration, trained through
``ConvRec-v0`` with ``action_mode="ask_or_recommend"``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from recoworld.agents.scpr.policy import (
    ASK,
    ENV_ID,
    RECOMMEND,
    DQNPolicy,
    QNetwork,
    flatten_observation,
)
from recoworld.agents.scpr.threads import one_torch_thread
from recoworld.seeding import spawn_rng

__all__ = ["DQNConfig", "ReplayBuffer", "ReplaySamples", "train_scpr_dqn"]


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


def policy_env(env_kwargs: Mapping[str, Any], pairs: np.ndarray | None) -> gym.Env:
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
            # Never seeded: a child of the env's own generator (Gymnasium's rule for an
            # unseeded env), so no draw comes from outside the env's random stream.
            self._pair_rng = spawn_rng(self.env.unwrapped.np_random)[0]
        options = dict(options or {})
        if "pair" not in options:
            user, item = self.pairs[self._pair_rng.integers(len(self.pairs))]
            options["pair"] = (int(user), int(item))
        return self.env.reset(seed=seed, options=options)


@one_torch_thread()
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
    env = policy_env(env_kwargs, pairs)
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
            observation, step_reward, terminated, truncated, info = env.step(action)
            reward = float(step_reward)  # ConvRec-v0 returns a Python float already
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
