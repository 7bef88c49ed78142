"""Gymnasium environments that adapt the simulators."""

from recoworld.envs.convrec_env import ConvRecEnv
from recoworld.envs.core import RecoWorldConfig, RecoWorldCore
from recoworld.envs.recochat_env import RecoChatEnv
from recoworld.envs.recoworld_env import RecoWorldEnv
from recoworld.envs.vector import RecoWorldVectorEnv

__all__ = [
    "ConvRecEnv",
    "RecoChatEnv",
    "RecoWorldConfig",
    "RecoWorldCore",
    "RecoWorldEnv",
    "RecoWorldVectorEnv",
]
