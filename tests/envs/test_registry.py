"""Conformance of every environment the package registers."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recoworld

CHECK_VARIANTS: dict[str, list[dict]] = {
    "RecoWorld-v0": [
        {},
        {"action_type": "scores"},
        {"multi_session": True},
        {"observation_mode": "ids"},
    ],
    "ConvRec-v0": [{}, {"action_mode": "ask_or_recommend"}],
}
"""Constructor variants checked per env id; every registered id must be listed."""


def test_every_registered_env_has_check_variants():
    assert set(recoworld.ENV_IDS) == set(CHECK_VARIANTS)
    for env_id in recoworld.ENV_IDS:
        assert env_id in gym.registry


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [(env_id, kwargs) for env_id, variants in CHECK_VARIANTS.items() for kwargs in variants],
    ids=lambda value: value if isinstance(value, str) else ",".join(value) or "default",
)
def test_checkers_pass(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    gym_check_env(env.unwrapped)
    sb3_check_env(env.unwrapped)
