"""Train Stable-Baselines3 PPO (or sb3-contrib MaskablePPO) on a RecoWorld environment.

:func:`train_ppo` builds ``n_envs`` seeded copies of the env in a ``DummyVecEnv``, trains, and
writes ``model.zip`` plus ``model.json`` (the resolved config) into ``output_dir``.

Three setups:

* ``algo="ppo"`` with the ``"ranker"`` policy (the default): the env runs with
  ``action_type="scores"`` behind :class:`~recoworld.training.policies.RankerActions`; the
  action is the weight vector of a linear ranker over per-candidate signals, chosen each turn
  by an MLP on the pooled candidates and the user's features. It starts at the greedy ranking
  and, exploring in a 10-dimensional action space, learns fastest.
* ``algo="ppo"`` with the ``"scorer"`` policy: ``action_type="scores"`` and
  :class:`~recoworld.training.policies.CandidateScorerPolicy` scores every candidate with one
  shared network (a Gaussian over 100 scores: PPO's trust region moves each score only a
  little per update, so it learns slowly).
* ``algo="maskable-ppo"`` with the ``"multi-input"`` policy: slate actions (one categorical per
  slot), each slot masked to the available candidates (``info["action_mask"]``). A dense policy
  over the flattened observation; it learns far more slowly than the scorer.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize
from tqdm.auto import tqdm

import recoworld  # noqa: F401  (registers the environments)
from recoworld.training.policies import (
    CandidateScorerPolicy,
    RankerActions,
    RankerFeaturesExtractor,
)

ALGOS = ("ppo", "maskable-ppo")
POLICIES = ("auto", "ranker", "scorer", "multi-input")
MODEL_FILENAME = "model.zip"
"""Name of the saved model in ``output_dir``; its config is the ``.json`` of the same stem."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one PPO training run, validated on construction."""

    env_id: str = "RecoWorld-v0"
    """Gymnasium id of the environment to train on."""
    total_timesteps: int = 300_000
    """Environment steps to train for, summed over the parallel envs."""
    seed: int = 0
    """Seed of the policy initialisation, the sampling and the training envs (seed + i)."""
    n_envs: int = 8
    """Number of parallel training envs (``DummyVecEnv``)."""
    algo: str = "ppo"
    """``"ppo"`` (Stable-Baselines3) or ``"maskable-ppo"`` (sb3-contrib, slate actions)."""
    policy: str = "auto"
    """``"ranker"`` (ranker-weight actions), ``"scorer"`` (a score per candidate from a shared
    network), ``"multi-input"`` (SB3's MultiInputPolicy) or ``"auto"``: ranker for ppo,
    multi-input for maskable-ppo."""
    output_dir: str = "runs/ppo"
    """Folder that receives ``model.zip`` and ``model.json``."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``gym.make``; ``action_type`` defaults to what the policy needs."""
    learning_rate: float = 3e-4
    """Adam learning rate (constant)."""
    n_steps: int = 256
    """Steps per env between two policy updates (rollout length)."""
    batch_size: int = 256
    """Minibatch size of the PPO update."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE bias/variance trade-off."""
    clip_range: float = 0.2
    """PPO ratio clipping."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient norm clipping."""
    target_kl: float | None = None
    """Stop an update's epochs early past this approximate KL (None: never)."""
    hidden_size: int = 64
    """Width of the hidden layers (ranker and scorer policies)."""
    log_std_init: float | None = None
    """Initial log standard deviation of the action noise (None: -1.0 for the ranker's weights,
    -2.5 for the scorer's scores, 0.0 otherwise)."""
    normalize_reward: bool = True
    """Scale rewards by a running estimate of the return's std (``VecNormalize``)."""
    torch_threads: int = 1
    """``torch.set_num_threads`` during training."""
    device: str = "cpu"
    """Torch device of the policy."""
    verbose: int = 0
    """Stable-Baselines3 verbosity (0 silent, 1 training logs)."""

    def __post_init__(self) -> None:
        positive_ints = ("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs")
        for name in (*positive_ints, "hidden_size", "torch_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name}={value!r} must be a positive integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"TrainConfig.seed={self.seed!r} must be a non-negative integer")
        if self.algo not in ALGOS:
            raise ValueError(f"TrainConfig.algo={self.algo!r} must be one of {ALGOS}")
        if self.policy not in POLICIES:
            raise ValueError(f"TrainConfig.policy={self.policy!r} must be one of {POLICIES}")
        if self.algo == "maskable-ppo" and self.policy in ("ranker", "scorer"):
            raise ValueError(
                f"TrainConfig.policy={self.policy!r} needs score actions; maskable-ppo masks "
                "slate actions, use policy='multi-input' or 'auto'"
            )
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"TrainConfig.env_kwargs={self.env_kwargs!r} must be a dict")
        needed = self.action_type
        given = self.env_kwargs.get("action_type", needed)
        if given != needed:
            raise ValueError(
                f"TrainConfig.env_kwargs['action_type']={given!r} does not fit "
                f"algo={self.algo!r}, policy={self.resolved_policy!r}; it needs {needed!r}"
            )
        if self.batch_size > self.n_steps * self.n_envs:
            raise ValueError(
                f"TrainConfig.batch_size={self.batch_size} exceeds the rollout size "
                f"n_steps * n_envs = {self.n_steps * self.n_envs}"
            )
        for name, low, high in (
            ("learning_rate", 0.0, math.inf),
            ("gamma", 0.0, 1.0),
            ("gae_lambda", 0.0, 1.0),
            ("clip_range", 0.0, math.inf),
            ("vf_coef", 0.0, math.inf),
            ("max_grad_norm", 0.0, math.inf),
        ):
            value = getattr(self, name)
            if not _is_number(value) or not low < value <= high:
                raise ValueError(f"TrainConfig.{name}={value!r} must be in ({low}, {high}]")
        if not _is_number(self.ent_coef) or self.ent_coef < 0:
            raise ValueError(f"TrainConfig.ent_coef={self.ent_coef!r} must be >= 0")
        if self.log_std_init is not None and not _is_number(self.log_std_init):
            raise ValueError(f"TrainConfig.log_std_init={self.log_std_init!r} must be finite")
        if self.target_kl is not None and (not _is_number(self.target_kl) or self.target_kl <= 0):
            raise ValueError(f"TrainConfig.target_kl={self.target_kl!r} must be > 0 or None")

    @property
    def resolved_policy(self) -> str:
        """The policy ``"auto"`` stands for: ranker for ppo, multi-input for maskable-ppo."""
        if self.policy != "auto":
            return self.policy
        return "ranker" if self.algo == "ppo" else "multi-input"

    @property
    def action_type(self) -> str:
        """The env's ``action_type`` this setup trains with."""
        if self.algo == "maskable-ppo":
            return "slate"
        if self.resolved_policy in ("ranker", "scorer"):
            return "scores"
        return self.env_kwargs.get("action_type", "slate")

    @property
    def resolved_log_std_init(self) -> float:
        """``log_std_init``, or the default of the policy when it is None."""
        if self.log_std_init is not None:
            return float(self.log_std_init)
        return {"ranker": -1.0, "scorer": -2.5}.get(self.resolved_policy, 0.0)

    @property
    def resolved_env_kwargs(self) -> dict[str, Any]:
        """``env_kwargs`` with the ``action_type`` of this setup filled in."""
        return {**self.env_kwargs, "action_type": self.action_type}


def _is_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(float(value))
    )


class SlateActionMasks(gym.Wrapper):
    """Exposes ``action_masks()`` for MaskablePPO on slate actions.

    Each of the ``slate_size`` slots may pick any available candidate (``info["action_mask"]``,
    tiled per slot); repeats across slots stay possible and are shown as wasted slots.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        action_space = env.action_space
        if not isinstance(action_space, spaces.MultiDiscrete):
            raise ValueError(
                f"SlateActionMasks needs a MultiDiscrete slate action space, got {action_space}"
            )
        self.slate_size = len(action_space.nvec)
        self._mask = np.ones(int(action_space.nvec[0]), bool)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._mask = info["action_mask"]
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._mask = info["action_mask"]
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return slate_action_masks(self._mask, self.slate_size)


def slate_action_masks(candidate_mask: np.ndarray, slate_size: int) -> np.ndarray:
    """The flat MultiDiscrete mask ``(slate_size * C,)`` from a ``(C,)`` candidate mask.

    When no candidate is available every candidate is allowed (a slot must pick something).
    """
    mask = np.asarray(candidate_mask, bool)
    if not mask.any():
        mask = np.ones_like(mask)
    return np.tile(mask, slate_size)


def make_env(
    env_id: str, env_kwargs: dict[str, Any], seed: int, wrapper: str | None
) -> Callable[[], gym.Env]:
    """A thunk building one monitored training env (its reset seed is set by the VecEnv).

    ``wrapper``: ``"masks"`` (:class:`SlateActionMasks`), ``"ranker"``
    (:class:`~recoworld.training.policies.RankerActions`) or None.
    """

    def thunk() -> gym.Env:
        env: gym.Env = Monitor(gym.make(env_id, **env_kwargs))
        if wrapper == "masks":
            env = SlateActionMasks(env)
        elif wrapper == "ranker":
            env = RankerActions(env)
        env.action_space.seed(seed)
        return env

    return thunk


def make_vec_env(config: TrainConfig) -> VecEnv:
    """``n_envs`` training envs seeded ``seed, seed + 1, ...``, reward-normalised if asked."""
    wrapper = {"maskable-ppo": "masks"}.get(config.algo)
    if config.resolved_policy == "ranker":
        wrapper = "ranker"
    env_kwargs = config.resolved_env_kwargs
    venv: VecEnv = DummyVecEnv(
        [
            make_env(config.env_id, env_kwargs, config.seed + i, wrapper)
            for i in range(config.n_envs)
        ]
    )
    venv.seed(config.seed)
    if config.normalize_reward:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=config.gamma)
    return venv


class TrainingProgress(BaseCallback):
    """A tqdm bar over the training's environment steps, labelled with the algorithm and env,
    shown from the first step (on stderr)."""

    def __init__(self, total: int, label: str) -> None:
        super().__init__()
        self.total = int(total)
        self.label = label
        self.bar: tqdm[Any] | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.total, desc=self.label, unit="step", unit_scale=True)

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def train_ppo(config: TrainConfig, *, progress: bool = False) -> Path:
    """Train PPO as ``config`` says; save ``model.zip`` and ``model.json``; return the zip path.

    ``progress=True`` shows a tqdm bar on stderr, labelled ``"<ALGO> on <env id>"``, that
    counts environment steps from the start of training.
    """
    set_random_seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.torch_threads)

    venv = make_vec_env(config)
    hyperparameters: dict[str, Any] = dict(
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        target_kl=config.target_kl,
        seed=config.seed,
        device=config.device,
        verbose=config.verbose,
    )
    if config.algo == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        model: OnPolicyAlgorithm = MaskablePPO("MultiInputPolicy", venv, **hyperparameters)
    elif config.resolved_policy == "ranker":
        policy_kwargs = dict(
            features_extractor_class=RankerFeaturesExtractor,
            net_arch=dict(pi=[config.hidden_size] * 2, vf=[config.hidden_size] * 2),
            log_std_init=config.resolved_log_std_init,
        )
        model = PPO("MultiInputPolicy", venv, policy_kwargs=policy_kwargs, **hyperparameters)
    elif config.resolved_policy == "scorer":
        policy_kwargs = dict(
            hidden_size=config.hidden_size, log_std_init=config.resolved_log_std_init
        )
        model = PPO(CandidateScorerPolicy, venv, policy_kwargs=policy_kwargs, **hyperparameters)
    else:
        policy_kwargs = dict(log_std_init=config.resolved_log_std_init)
        model = PPO("MultiInputPolicy", venv, policy_kwargs=policy_kwargs, **hyperparameters)

    started = time.perf_counter()
    callback = (
        TrainingProgress(config.total_timesteps, f"{config.algo.upper()} on {config.env_id}")
        if progress
        else None
    )
    model.learn(total_timesteps=config.total_timesteps, callback=callback)
    train_seconds = time.perf_counter() - started
    venv.close()

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model_path = output_dir / MODEL_FILENAME
    model.save(model_path)
    record = {
        **asdict(config),
        "policy": config.resolved_policy,
        "log_std_init": config.resolved_log_std_init,
        "env_kwargs": config.resolved_env_kwargs,
        "timesteps_trained": int(model.num_timesteps),
        "train_seconds": round(train_seconds, 2),
    }
    model_path.with_suffix(".json").write_text(json.dumps(record, indent=2, default=repr) + "\n")
    return model_path
