"""LLM users in the batched RecoWorld env: concurrent calls, same dynamics, per-user language."""

from __future__ import annotations

import asyncio
import re

import gymnasium as gym
import numpy as np

import recoworld  # noqa: F401
from recoworld.llm import ScriptedChatModel, Usage
from recoworld.text import HashingTextEncoder

_INSTRUCT = re.compile(r"less (.+?) and more (.+?)\. Name both")


def answer(messages):
    found = _INSTRUCT.search(messages[-1]["content"])
    if found:
        return f"Less {found.group(1)}, more {found.group(2)} please."
    return "Some of it was fun."


class SlowScripted(ScriptedChatModel):
    """A scripted model whose async path waits, recording how many calls were in flight."""

    def __init__(self) -> None:
        super().__init__(answer)
        self.in_flight = 0
        self.most_in_flight = 0

    async def _agenerate(self, messages, params, schema) -> tuple[str, Usage]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        return self._generate(messages, params, schema)


def make(num_envs, **kwargs):
    return gym.make_vec(
        "RecoWorld-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )


def run(envs, steps, seed=0):
    obs, infos = envs.reset(seed=seed)
    rng = np.random.default_rng(0)
    records = [(obs, infos)]
    for _ in range(steps):
        actions = np.stack([rng.permutation(100)[:10] for _ in range(envs.num_envs)])
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        records.append((obs, infos, rewards, terminations | truncations))
    return records


def test_llm_users_keep_the_latent_dynamics_and_call_concurrently():
    model = SlowScripted()
    plain = run(make(6), 40)
    llm = run(make(6, user_model="llm", llm=model), 40)
    for a, b in zip(plain[1:], llm[1:], strict=True):
        np.testing.assert_array_equal(a[1]["click_counts"], b[1]["click_counts"])
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_array_equal(a[1]["instructed"], b[1]["instructed"])
    assert model.most_in_flight > 1, "the users' calls should overlap on the async path"
    spoken = 0
    for obs, infos, _, done in llm[1:]:
        assert infos["mindset"].shape == (6,)
        assert "instruction" not in obs and obs["instruction_text"].shape == (6, 64)
        for row in np.flatnonzero(infos["instructed"]):
            if infos["instruction"][row] is not None:
                spoken += 1
                assert infos["instruction"][row].startswith("Less ")
        assert infos["usage"]["calls"] >= int((~done).sum()) - 6
    assert spoken > 0


def test_instruction_text_stands_per_user_until_the_session_ends():
    envs = make(4, text_encoder=HashingTextEncoder(dim=16))
    records = run(envs, 60)
    encoder = HashingTextEncoder(dim=16)
    standing = [None] * 4
    saw = False
    for obs, infos, _, done in records[1:]:
        for row in range(4):
            if infos["session_ended"][row] or done[row]:
                standing[row] = None
            if infos["instruction"][row] is not None:
                standing[row] = infos["instruction"][row]
            if standing[row] is not None and not done[row]:
                saw = True
                np.testing.assert_array_equal(
                    obs["instruction_text"][row], encoder.encode([standing[row]])[0]
                )
    assert saw
    # With the latent user, the structured instruction stays in the observation.
    assert "instruction" in records[-1][0]


def test_seeded_llm_population_repeats():
    first = run(make(3, user_model="llm", llm=ScriptedChatModel(answer)), 20, seed=5)
    second = run(make(3, user_model="llm", llm=ScriptedChatModel(answer)), 20, seed=5)
    for a, b in zip(first[1:], second[1:], strict=True):
        assert list(a[1]["instruction"]) == list(b[1]["instruction"])
        assert list(a[1]["mindset"]) == list(b[1]["mindset"])
        np.testing.assert_array_equal(a[2], b[2])
