"""LLM users over a batch of latent users: what the single and the vector RecoWorld env share.

:class:`LLMUserBatch` gives every user of a :class:`~recoworld.envs.core.RecoWorldCore` an
:class:`~recoworld.simulators.LLMUser` (one chat model shared by all), builds what each is shown,
runs their model calls (one after another for a single user; concurrently on the model's async
path for a batch, so a population waits on the model at once), keeps the standing instruction
sentences and encodes them for the observation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

import numpy as np

from recoworld.envs.core import RecoWorldCore, StepResult
from recoworld.llm.base import ChatModel, Usage
from recoworld.simulators import InstructionVoice
from recoworld.simulators.latent import item_utilities, topic_preferences
from recoworld.simulators.llm_user import Decision, LLMUser, TurnView, template_mindset


class LLMUserBatch:
    """One :class:`~recoworld.simulators.LLMUser` per user of ``core``.

    Args:
        core: The engine whose users get a language side.
        model: The chat model all users share.
        concurrent: Run a step's calls concurrently on the model's async path (the vector env);
            otherwise call the sync path one user after another (the single env, which must
            also work inside a running event loop, e.g. a notebook).
        **user_kwargs: :class:`~recoworld.simulators.LLMUser` settings (``decision_mode``,
            ``hybrid_click_bounds``, ``on_llm_error``, ``fallback_voice``...).
    """

    def __init__(
        self,
        core: RecoWorldCore,
        model: ChatModel,
        *,
        concurrent: bool = False,
        fallback_voice: InstructionVoice | None = None,
        **user_kwargs: Any,
    ) -> None:
        self.core = core
        self.model = model
        self.concurrent = concurrent
        self.users = [
            LLMUser(model, fallback_voice=fallback_voice, **user_kwargs)
            for _ in range(core.n_users)
        ]
        self.decision_mode = self.users[0].decision_mode
        self.standing: list[str | None] = [None] * core.n_users
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ state
    @property
    def usage(self) -> Usage:
        """Total model usage of every user so far."""
        total = Usage()
        for user in self.users:
            total = total + user.usage
        return total

    def mindsets(self, rows: Sequence[int]) -> list[str]:
        return [self.users[row].mindset for row in rows]

    def template_mindsets(self, rows: Sequence[int]) -> list[str]:
        """Mindsets written from the latent state alone (session starts and failed turns)."""
        core = self.core
        rows = np.asarray(rows, np.int64)
        if rows.size == 0:
            return []
        preferences = topic_preferences(core.state.take(rows), core.catalog, core.user_config)
        threshold = core.user_config.instruction_threshold
        names = core.catalog.topic_names
        return [
            template_mindset(preferences[i], names, float(core.state.patience[row]), threshold)
            for i, row in enumerate(rows)
        ]

    def begin(self, rows: Sequence[int]) -> None:
        """Users at ``rows`` start (a new user, or a new session): template mindset, no
        standing instruction."""
        for row, mindset in zip(rows, self.template_mindsets(rows), strict=True):
            self.users[row].begin(mindset)
            self.standing[row] = None

    def views(self, slots: np.ndarray, rows: Sequence[int]) -> list[TurnView]:
        """What the users at ``rows`` are shown for the slots ``(n, S)`` (``-1`` = empty)."""
        core = self.core
        rows = np.asarray(rows, np.int64)
        if rows.size == 0:
            return []
        picked = slots[rows]
        items = np.where(
            picked >= 0, np.take_along_axis(core.candidates[rows], np.maximum(picked, 0), 1), -1
        )
        utility = item_utilities(core.state.take(rows), core.catalog, items, core.user_config)
        with np.errstate(over="ignore"):
            probability = np.where(
                items >= 0, 1.0 / (1.0 + np.exp(core.user_config.no_click_utility - utility)), 0.0
            )
        descriptions = core.catalog.descriptions
        threshold = core.user_config.instruction_threshold
        return [
            TurnView(
                items=tuple(descriptions[item] if item >= 0 else "" for item in items[i]),
                click_probability=probability[i],
                patience=float(core.state.patience[row]),
                instruction_threshold=threshold,
            )
            for i, row in enumerate(rows)
        ]

    # ------------------------------------------------------------------ calls
    def _gather(self, coroutines: list[Coroutine[Any, Any, Any]]) -> list[Any]:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()

        async def gather() -> list[Any]:
            return await asyncio.gather(*coroutines, return_exceptions=True)

        # Every user's call finishes (none is left pending) before the first error is raised.
        results = self._loop.run_until_complete(gather())
        for value in results:
            if isinstance(value, BaseException):
                raise value
        return results

    def decide(
        self,
        views: list[TurnView],
        rows: Sequence[int],
        rng: np.random.Generator,
        fallbacks: list[str],
    ) -> list[Decision]:
        """The users' decisions (``"hybrid"``/``"llm"`` mode; latent decisions otherwise)."""
        rngs = _spawn(rng, len(rows))
        if self.concurrent and len(rows) > 1 and self.decision_mode != "latent":
            return self._gather(
                [
                    self.users[row].adecide(view, r, fallback)
                    for row, view, r, fallback in zip(rows, views, rngs, fallbacks, strict=True)
                ]
            )
        return [
            self.users[row].decide(view, r, fallback)
            for row, view, r, fallback in zip(rows, views, rngs, fallbacks, strict=True)
        ]

    def reflect(
        self,
        views: list[TurnView],
        rows: Sequence[int],
        result: StepResult,
        rng: np.random.Generator,
        fallbacks: list[str],
    ) -> None:
        """Mindset updates after a latent-decided turn (``"latent"`` mode)."""
        rngs = _spawn(rng, len(rows))
        jobs = [
            (
                self.users[row],
                (
                    view,
                    result.examined[row],
                    result.clicks[row],
                    result.watch_fraction[row],
                    r,
                    fallback,
                ),
            )
            for row, view, r, fallback in zip(rows, views, rngs, fallbacks, strict=True)
        ]
        if self.concurrent and len(jobs) > 1:
            self._gather([user.areflect(*args) for user, args in jobs])
        else:
            for user, args in jobs:
                user.reflect(*args)

    def instruct(self, rows: Sequence[int], rng: np.random.Generator) -> list[str]:
        """Instruction sentences of the users at ``rows`` (who instructed this turn)."""
        instructions = [self.core.instruction(int(row)) for row in rows]
        rngs = _spawn(rng, len(rows))
        if self.concurrent and len(rows) > 1:
            texts = self._gather(
                [
                    self.users[row].ainstruct(instruction, r)
                    for row, instruction, r in zip(rows, instructions, rngs, strict=True)
                ]
            )
        else:
            texts = [
                self.users[row].instruct(instruction, r)
                for row, instruction, r in zip(rows, instructions, rngs, strict=True)
            ]
        for row, text in zip(rows, texts, strict=True):
            self.standing[row] = text
        return texts

    def turn(
        self, slots: np.ndarray, rows: Sequence[int], rng: np.random.Generator
    ) -> tuple[list[TurnView], list[str], list[Decision]]:
        """Before the latent step: views, fallback mindsets and decisions of ``rows``."""
        views = self.views(slots, rows)
        fallbacks = self.template_mindsets(rows)
        return views, fallbacks, self.decide(views, rows, rng, fallbacks)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None


class UsageSince:
    """Model usage of the language sources of an env (voice, LLM users) since the last read."""

    def __init__(self, *sources: object) -> None:
        self.sources = sources
        self._reported = Usage()

    def step(self) -> dict[str, int | float]:
        """Usage since the previous call, as ``info["usage"]`` (zeros without a model)."""
        total = Usage()
        for source in self.sources:
            usage = getattr(source, "usage", None)
            if isinstance(usage, Usage):
                total = total + usage
        before = self._reported.as_dict()
        self._reported = total
        return {key: value - before[key] for key, value in total.as_dict().items()}


def _spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` generators drawn in user order from ``rng``, so concurrency never changes seeds."""
    return [np.random.default_rng(int(seed)) for seed in rng.integers(2**63, size=n)]
