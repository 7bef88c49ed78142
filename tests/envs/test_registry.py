"""Conformance of every environment the package registers."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recoworld
from recoworld.llm import ScriptedChatModel


def _scripted_ailo_answer(messages) -> str:
    """A deterministic AILO answer, so the checkers' determinism checks hold without an LLM."""
    return json.dumps(
        {"expectation": "a question", "reason": "fine", "satisfaction": 3, "reply": "Maybe.",
         "leave": False}
    )  # fmt: skip


CHECK_VARIANTS: dict[str, list[dict]] = {
    "RecoWorld-v0": [
        {},
        {"action_type": "scores"},
        {"multi_session": True},
        {"observation_mode": "ids"},
    ],
    "ConvRec-v0": [{}, {"action_mode": "ask_or_recommend"}],
    "RecoChat-v0": [
        {},
        {"n_items": 50, "top_k": 1, "max_turns": 2},
        {"user": "ailo", "llm": ScriptedChatModel(_scripted_ailo_answer), "n_items": 200},
    ],
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
    # RecoChat-v0's action is a Dict with a Text entry. SB3's checker accepts it: it warns that
    # Dict action spaces are not supported by its algorithms, runs its reset/step checks with a
    # sampled action, and skips its NaN check (VecCheckNan raises NotImplementedError for dict
    # actions, which check_env catches). So no env needs skipping; SB3 cannot *train* on it.
    sb3_check_env(env.unwrapped)
