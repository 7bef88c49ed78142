"""LLM users over a batch of latent users: what the single and the vector RecoWorld env share.

:class:`LLMUserBatch` gives every user of a :class:`~recoworld.envs.recoworld.core.RecoWorldCore` an
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

from recoworld.envs.recoworld.core import RecoWorldCore, StepResult
from recoworld.llm.base import ChatModel, Usage
from recoworld.seeding import spawn_rng
from recoworld.simulators import InstructionVoice
from recoworld.simulators.latent import item_utilities, topic_preferences
from recoworld.simulators.llm_user import Decision, LLMUser, TurnView, template_mindset

Rows = Sequence[int] | np.ndarray
"""Batch rows: a list of ints or an integer array."""


class LLMUserBatch:
    """One :class:`~recoworld.simulators.LLMUser` per user of ``core``.

    The users' settings come from ``core.config`` (a
    :class:`~recoworld.envs.recoworld.config.RecoWorldConfig`): its ``llm`` settings build the
    one chat model all users share (so one cache and one cost cap cover the batch), and
    ``decision_mode``, ``hybrid_click_bounds``, ``prompt_version`` and
    ``instruction_max_tokens`` go to every user. ``llm.temperature`` and ``llm.max_tokens`` of
    None keep the LLM user's own defaults.

    Args:
        core: The engine whose users get a language side.
        concurrent: Run a step's calls concurrently on the model's async path (the vector env);
            otherwise call the sync path one user after another (the single env, which must
            also work inside a running event loop, e.g. a notebook).
        fallback_voice: Voice of instructions whose sentence fails the check (template voice).
    """

    def __init__(
        self,
        core: RecoWorldCore,
        *,
        concurrent: bool = False,
        fallback_voice: InstructionVoice | None = None,
    ) -> None:
        config = core.config
        settings = config.llm
        sampling: dict[str, Any] = {}
        if settings.temperature is not None:
            sampling["temperature"] = settings.temperature
        if settings.max_tokens is not None:
            sampling["max_tokens"] = settings.max_tokens
        self.core = core
        self.model: ChatModel = settings.build()
        self.concurrent = concurrent
        self.users = [
            LLMUser(
                self.model,
                decision_mode=config.decision_mode,
                hybrid_click_bounds=config.hybrid_click_bounds,
                on_llm_error=settings.on_error_or("raise"),
                fallback_voice=fallback_voice,
                prompt_version=config.prompt_version,
                instruction_max_tokens=config.instruction_max_tokens,
                **sampling,
            )
            for _ in range(core.n_users)
        ]
        self.decision_mode = config.decision_mode
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

    def checkpoint(self) -> tuple[list[tuple[Any, ...]], list[str | None]]:
        """Every user's mindset and counters and the standing sentences, for :meth:`restore`
        (usage is not rolled back: a call that was sent stays counted)."""
        return [user.checkpoint() for user in self.users], list(self.standing)

    def restore(self, checkpoint: tuple[list[tuple[Any, ...]], list[str | None]]) -> None:
        """Put the users back as they were at :meth:`checkpoint`."""
        states, standing = checkpoint
        for user, state in zip(self.users, states, strict=True):
            user.restore(state)
        self.standing = list(standing)

    def mindsets(self, rows: Rows) -> list[str]:
        return [self.users[row].mindset for row in rows]

    def template_mindsets(self, rows: Rows) -> list[str]:
        """Mindsets written from the latent state alone (session starts and failed turns)."""
        core = self.core
        picked = np.asarray(rows, np.int64)
        if picked.size == 0:
            return []
        preferences = topic_preferences(core.state.take(picked), core.catalog, core.user_config)
        threshold = core.user_config.instruction_threshold
        names = core.catalog.topic_names
        return [
            template_mindset(preferences[i], names, float(core.state.patience[row]), threshold)
            for i, row in enumerate(picked)
        ]

    def begin(self, rows: Rows) -> None:
        """Users at ``rows`` start (a new user, or a new session): template mindset, no
        standing instruction."""
        for row, mindset in zip(rows, self.template_mindsets(rows), strict=True):
            self.users[row].begin(mindset)
            self.standing[row] = None

    def views(self, slots: np.ndarray, rows: Rows) -> list[TurnView]:
        """What the users at ``rows`` are shown for the slots ``(n, S)`` (``-1`` = empty)."""
        core = self.core
        indices = np.asarray(rows, np.int64)
        if indices.size == 0:
            return []
        picked = slots[indices]
        items = np.where(
            picked >= 0, np.take_along_axis(core.candidates[indices], np.maximum(picked, 0), 1), -1
        )
        utility = item_utilities(core.state.take(indices), core.catalog, items, core.user_config)
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
            for i, row in enumerate(indices)
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
        rows: Rows,
        rng: np.random.Generator,
        fallbacks: list[str],
    ) -> list[Decision]:
        """The users' decisions (``"hybrid"``/``"llm"`` mode; latent decisions otherwise)."""
        rngs = spawn_rng(rng, len(rows))
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
        rows: Rows,
        result: StepResult,
        rng: np.random.Generator,
        fallbacks: list[str],
    ) -> None:
        """Mindset updates after a latent-decided turn (``"latent"`` mode)."""
        rngs = spawn_rng(rng, len(rows))
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

    def instruct(self, rows: Rows, rng: np.random.Generator) -> list[str]:
        """Instruction sentences of the users at ``rows`` (who instructed this turn)."""
        instructions = [self.core.standing_instruction(int(row)) for row in rows]
        rngs = spawn_rng(rng, len(rows))
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
        self, slots: np.ndarray, rows: Rows, rng: np.random.Generator
    ) -> tuple[list[TurnView], list[str], list[Decision]]:
        """Before the latent step: views, fallback mindsets and decisions of ``rows``."""
        views = self.views(slots, rows)
        fallbacks = self.template_mindsets(rows)
        return views, fallbacks, self.decide(views, rows, rng, fallbacks)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None


_NO_USAGE = Usage().as_dict()


class UsageSince:
    """Model usage of the language sources of an env (voice, LLM users) since the last read.

    A source counts if it has a ``usage`` attribute (a :class:`~recoworld.llm.Usage`) when the
    env is built; the template voice has none, so an env without a model skips the accounting
    and reports zeros at the cost of a dict copy.
    """

    def __init__(self, *sources: object) -> None:
        self.sources = tuple(source for source in sources if hasattr(source, "usage"))
        self._reported = Usage()

    def step(self) -> dict[str, int | float]:
        """Usage since the previous call, as ``info["usage"]`` (zeros without a model)."""
        if not self.sources:
            return _NO_USAGE.copy()
        total = Usage()
        for source in self.sources:
            usage = getattr(source, "usage", None)
            if isinstance(usage, Usage):
                total = total + usage
        since, self._reported = total - self._reported, total
        return since.as_dict()
