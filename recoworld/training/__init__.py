"""Training: PPO with Stable-Baselines3 for RecoWorld, and the Bayesian GRU slate recommender
(:mod:`recoworld.training.slate_gru`) for SlateRec-v0.

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
from recoworld.training.slate_gru import (
    evaluate_slate_gru,
    fit_slate_gru,
    load_slate_gru,
    save_slate_gru,
    train_slate_gru,
)

__all__ = [
    "CandidateFeaturesExtractor",
    "CandidateScorerPolicy",
    "RankerActions",
    "RankerFeaturesExtractor",
    "SB3Agent",
    "TrainConfig",
    "evaluate_slate_gru",
    "fit_slate_gru",
    "load_sb3_agent",
    "load_slate_gru",
    "save_slate_gru",
    "train_ppo",
    "train_slate_gru",
]
