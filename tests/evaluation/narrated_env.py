"""An LLM-backed RecoWorld env for the evaluation tests: every step makes one metered call.

A helper module, not a conftest: ``tests/conftest.py`` is imported by name (``from conftest
import ...``) elsewhere, so a second conftest would shadow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from recoworld.envs import RecoWorldEnv
from recoworld.llm import MeteredChatModel, ScriptedChatModel, UsageMeter

NARRATED_ENV_ID = "NarratedRecoWorld-v0"

PROMPT = [{"role": "user", "content": "narrate this slate"}]
"""The one request the env makes: 3 prompt tokens (whitespace words, as the scripted model
counts them)."""

ANSWER = "a fine slate"
"""The scripted answer: 3 completion tokens."""


class NarratedRecoWorld(RecoWorldEnv):
    """RecoWorld-v0 that asks a chat model to narrate every slate (and, with ``call_on_reset``,
    every reset), and reports that call's usage as ``info["usage"]``.

    A spent cost cap makes ``model.complete`` raise ``CostCapExceeded`` from inside ``step`` or
    ``reset``, as an LLM-backed user would. With ``fail_at_step`` the env raises RuntimeError on
    that step of the whole run (1-based), to stand for any other failure.
    """

    def __init__(
        self,
        model: Any,
        call_on_reset: bool = False,
        fail_at_step: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.call_on_reset = call_on_reset
        self.fail_at_step = fail_at_step
        self.steps_taken = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        observation, info = super().reset(seed=seed, options=options)
        if self.call_on_reset:
            info["usage"] = self.model.complete(PROMPT).usage.as_dict()
        return observation, info

    def step(self, action: Any):
        self.steps_taken += 1
        if self.steps_taken == self.fail_at_step:
            raise RuntimeError(f"the simulator broke at step {self.steps_taken}")
        observation, reward, terminated, truncated, info = super().step(action)
        response = self.model.complete(PROMPT)
        info["usage"] = response.usage.as_dict()
        info["utterance"] = response.text
        return observation, reward, terminated, truncated, info


if NARRATED_ENV_ID not in gym.registry:
    gym.register(NARRATED_ENV_ID, entry_point=NarratedRecoWorld)


@dataclass(frozen=True)
class NarratedWorld:
    """What a test needs to run the narrated env: its id and a metered model maker."""

    env_id: str = NARRATED_ENV_ID
    tokens_per_call: int = 6
    price_per_token: float = 0.001

    @property
    def cost_per_call(self) -> float:
        return self.tokens_per_call * self.price_per_token

    def metered(self, cap_usd: float | None = None) -> tuple[MeteredChatModel, UsageMeter]:
        """A scripted model, priced per token, behind a meter with the given cost cap."""
        meter = UsageMeter(cost_cap_usd=cap_usd)
        model = ScriptedChatModel(lambda messages: ANSWER, cost_per_token_usd=self.price_per_token)
        return MeteredChatModel(model, meter), meter
