"""Reinforcement-learning training for RecoWorld: PPO with Stable-Baselines3.

>>> from recoworld.training import TrainConfig
>>> TrainConfig(total_timesteps=1024, n_envs=2).action_type
'scores'
"""

from recoworld.training.policies import (
    CandidateFeaturesExtractor,
    CandidateScorerPolicy,
    RankerActions,
    RankerFeaturesExtractor,
)
from recoworld.training.ppo import TrainConfig, train_ppo
from recoworld.training.sb3 import SB3Agent, load_sb3_agent

__all__ = [
    "CandidateFeaturesExtractor",
    "CandidateScorerPolicy",
    "RankerActions",
    "RankerFeaturesExtractor",
    "SB3Agent",
    "TrainConfig",
    "load_sb3_agent",
    "train_ppo",
]
