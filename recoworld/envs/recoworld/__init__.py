"""``RecoWorld-v0``: ranked slates for simulated users who review them, lose patience, instruct
the recommender and come back after a gap; the single env and its batched twin share one
engine (:class:`RecoWorldCore`)."""

from recoworld.envs.recoworld.config import RecoWorldConfig
from recoworld.envs.recoworld.core import RecoWorldCore, StepResult
from recoworld.envs.recoworld.env import RecoWorldEnv
from recoworld.envs.recoworld.vector import RecoWorldVectorEnv

__all__ = ["RecoWorldConfig", "RecoWorldCore", "RecoWorldEnv", "RecoWorldVectorEnv", "StepResult"]
