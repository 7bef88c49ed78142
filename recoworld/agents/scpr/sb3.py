"""SCPR's ask-or-recommend decision learned by Stable-Baselines3's DQN or PPO through the same
env as the library's own DQN."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.wrappers import FlattenObservation

from recoworld.agents.scpr.dqn import policy_env
from recoworld.agents.scpr.policy import SB3_ALGOS, SB3Policy, sb3_class
from recoworld.agents.scpr.threads import one_torch_thread

__all__ = ["SB3Config", "train_scpr_sb3"]


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

    env = Monitor(FlattenObservation(policy_env(env_kwargs, pairs)))
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
    model = sb3_class(algo)("MlpPolicy", env, **kwargs)
    try:
        with one_torch_thread():
            model.learn(total_timesteps=config.total_timesteps, progress_bar=progress)
    finally:
        env.close()
    return SB3Policy(model, algo)
