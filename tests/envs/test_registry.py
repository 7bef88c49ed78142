"""Conformance of every environment the package registers."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import recoworld
from recoworld.llm import ScriptedChatModel
from recoworld.testing import check_agent_legality, check_registry

STEPS = 20
"""Steps of each check: enough to cross an episode end in the short variants, and fast."""

SMALL_WORLDS: dict[str, dict] = {"ConvRec-v0": {"n_items": 300, "n_users": 20}}
"""Smaller synthetic worlds where the default one only slows the agent checks down."""


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
    "SlateRec-v0": [{}, {"slate_size": 3, "horizon": 4, "history_length": 2}],
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
    """Gymnasium's and SB3's checkers, the env contracts, seeded determinism and (RecoWorld-v0)
    the batched twin, through the public :func:`recoworld.testing.check_registry`.

    RecoChat-v0's action is a Dict with a Text entry. SB3's checker accepts it: it warns that
    Dict action spaces are not supported by its algorithms, runs its reset/step checks with a
    sampled action, and skips its NaN check (VecCheckNan raises NotImplementedError for dict
    actions, which check_env catches). So no env needs skipping; SB3 cannot *train* on it.
    """
    report = check_registry([env_id], variants={env_id: [kwargs]}, steps=STEPS)
    expected = {"conformance", "determinism"}
    if gym.spec(env_id).vector_entry_point is not None:
        expected.add("vector_equivalence")
    assert {result.check for result in report.results} == expected
    assert report.passed


def _offline_agents() -> list[tuple[str, str]]:
    """Registered agents that need no option, no extra, no env settings and no language model."""
    from recoworld.agents import agent_entry, agent_names

    pairs = []
    for env_id in recoworld.ENV_IDS:
        for name in agent_names(env_id):
            entry = agent_entry(env_id, name)
            if entry.required or entry.extras or entry.prepare or "llm" in name:
                continue
            pairs.append((env_id, name))
    return pairs


@pytest.mark.parametrize(("env_id", "name"), _offline_agents())
def test_registered_agents_play_legal_reproducible_moves(env_id, name):
    from recoworld.agents import make_agent

    env = gym.make(env_id, **SMALL_WORLDS.get(env_id, {}))
    check_agent_legality(lambda env, seed: make_agent(name, env, seed), env, episodes=2, seed=0)
