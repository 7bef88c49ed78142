"""SCPR's ask-or-recommend decision: the policy protocol, the Q-network, and policies backed by
the library's own DQN or by Stable-Baselines3; the flat observation they read."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from recoworld.agents.scpr.threads import one_torch_thread

__all__ = [
    "ASK",
    "ENV_ID",
    "OBSERVATION_KEYS",
    "RECOMMEND",
    "SB3_ALGOS",
    "AskRecommendPolicy",
    "DQNPolicy",
    "QNetwork",
    "SB3Policy",
    "flatten_observation",
]

ENV_ID = "ConvRec-v0"
ASK, RECOMMEND = 0, 1
"""The two actions of ``action_mode="ask_or_recommend"``."""

OBSERVATION_KEYS: tuple[str, ...] = ("candidate_count", "context", "entropy", "history")
"""The ``ConvRec-v0`` observation entries in the order :func:`flatten_observation` (and
gymnasium's ``FlattenObservation``, which sorts ``Dict`` keys) concatenates them."""

SB3_ALGOS: tuple[str, ...] = ("dqn", "ppo")


def flatten_observation(observation: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``ConvRec-v0`` observation as one float32 vector (``candidate_count``, ``context``,
    ``entropy``, ``history``), the layout of gymnasium's ``FlattenObservation``."""
    return np.concatenate(
        [np.asarray(observation[key], dtype=np.float32).ravel() for key in OBSERVATION_KEYS]
    )


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
    @one_torch_thread()
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

    @one_torch_thread()
    def decide(self, observation: np.ndarray) -> int:
        action, _ = self.model.predict(np.asarray(observation, np.float32), deterministic=True)
        return int(np.asarray(action).item())

    def save(self, path: str | os.PathLike[str]) -> None:
        self.model.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str], algo: str) -> SB3Policy:
        if algo not in SB3_ALGOS:
            raise ValueError(f"algo={algo!r} must be one of {SB3_ALGOS}")
        return cls(sb3_class(algo).load(os.fspath(path), device="cpu"), algo)


def sb3_class(algo: str) -> Any:
    from stable_baselines3 import DQN, PPO

    return {"dqn": DQN, "ppo": PPO}[algo]
