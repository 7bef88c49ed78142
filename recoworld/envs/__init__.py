"""Gymnasium environments that adapt the simulators, one folder per family."""

from recoworld.envs.convrec import ConvRecConfig, ConvRecEnv
from recoworld.envs.recochat import RecoChatConfig, RecoChatEnv
from recoworld.envs.recoworld import (
    RecoWorldConfig,
    RecoWorldCore,
    RecoWorldEnv,
    RecoWorldVectorEnv,
)
from recoworld.envs.slaterec import SlateRecConfig, SlateRecEnv

__all__ = [
    "ConvRecConfig",
    "ConvRecEnv",
    "RecoChatConfig",
    "RecoChatEnv",
    "RecoWorldConfig",
    "RecoWorldCore",
    "RecoWorldEnv",
    "RecoWorldVectorEnv",
    "SlateRecConfig",
    "SlateRecEnv",
]
