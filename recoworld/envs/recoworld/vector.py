"""Batched ``RecoWorld-v0``: many users stepped in one vectorized call.

``gym.make_vec("RecoWorld-v0", num_envs=N, vectorization_mode="vector_entry_point")`` builds a
:class:`RecoWorldVectorEnv`: one :class:`~recoworld.envs.recoworld.core.RecoWorldCore` holding
all ``N`` users, so a step costs a handful of numpy calls over ``(N, ...)`` arrays instead of
``N`` Python env steps. The dynamics are the single env's (same core, same user model).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recoworld.catalog import Catalog
from recoworld.envs.recoworld.config import RecoWorldConfig, recoworld_config
from recoworld.envs.recoworld.core import StepResult
from recoworld.envs.recoworld.env import (
    ObsType,
    batched_action_space,
    build_parts,
    slate_action_slots,
    slots_from_scores,
    validate_scores,
)
from recoworld.envs.recoworld.llm_users import UsageSince
from recoworld.envs.recoworld.rollback import step_or_roll_back
from recoworld.seeding import spawn_rng
from recoworld.simulators import InstructionVoice, TemplateVoice, UserModelConfig
from recoworld.simulators.population import World
from recoworld.text import TextEncoder
from recoworld.validation import MAX_COUNT, check_bool, check_int, check_seed


class RecoWorldVectorEnv(VectorEnv[ObsType, np.ndarray, np.ndarray]):
    """``num_envs`` independent RecoWorld users stepped together (next-step autoreset).

    Arguments are those of :class:`~recoworld.envs.RecoWorldEnv` (a
    :class:`~recoworld.envs.recoworld.config.RecoWorldConfig` as ``config=`` or as keywords, and the
    ``catalog``, ``user_config``, ``voice`` and ``text_encoder`` objects) plus ``num_envs`` and
    ``copy``, and ``world`` (users drawn from a fitted population; ``infos["user_id"]`` holds each
    row's population user id). Actions are batched: ``(num_envs, slate_size)`` candidate indices (or
    ``(num_envs, num_candidates)`` scores). ``infos`` holds arrays over users: ``action_mask``
    ``(N, C)``, ``click_counts`` (``(N,)`` int: how many items each user clicked; the single env's
    ``info["clicks"]`` holds the clicked item ids instead, a ragged list per user that the batch
    does not build) and ``watch_time`` per user, ``instructed``, ``session_ended``,
    ``return_gap_days`` (NaN where no session ended), ``churned``, ``wasted_slots``. Instruction
    sentences are not rendered by default (it would cost a Python call per instructing user); the
    encoded instruction is in the observation.

    An action outside the batched action space raises ``ValueError`` naming the user row, and
    the batch is left as it was. A step whose language-model call raises (``llm={"on_error":
    "raise"}``, a spent cost cap) leaves the batch as it was too, generators included: the
    same actions can be retried and give what they would have given had the call never failed
    (the failed calls stay counted in the next step's ``infos["usage"]``).

    Language (``text_encoder=``, or ``user_model="llm"`` with the settings of the single env):
    ``infos["instruction"]`` (object array: the sentence said this step, or None),
    ``infos["usage"]`` (model usage of the step, all users), and the observation's
    ``instruction_text`` ``(N, dim)``. With ``user_model="llm"`` every user has an
    :class:`~recoworld.simulators.LLMUser` and each step's model calls of all users run
    concurrently on the model's async path (bounded by the model's own concurrency limit, e.g.
    ``LiteLLMChatModel(max_concurrency=...)``); ``infos["mindset"]`` and
    ``infos["llm_failed"]`` are per user. Users whose episode ended make no calls on the
    autoreset step.

    Autoreset follows Gymnasium's default (next step): after a user's episode ends, the next
    ``step`` ignores that user's action and returns a fresh user's first observation with reward 0.

    ``copy=False`` (as in Gymnasium's ``SyncVectorEnv``) writes every step's observation and
    action mask into the same arrays instead of fresh ones: faster for large batches (no new
    pages to fault in), but an observation is only valid until the next ``step``.

    Threads: a batch of at least 512 users (``core.parallel_min_users``) is stepped on numba's
    threads, with the same arrays to the last bit as the serial kernel.
    ``NUMBA_NUM_THREADS=1`` (or ``numba.set_num_threads(1)``) keeps it on the calling thread.
    recoworld leaves numba's threading layer to numba (TBB, else OpenMP, else ``workqueue``);
    ``workqueue`` aborts if two Python threads step big batches at once, and GNU OpenMP is not
    fork-safe: set ``NUMBA_THREADING_LAYER`` (e.g. ``tbb``) or ``core.parallel_min_users``
    higher where that matters.

    >>> import gymnasium as gym, recoworld
    >>> envs = gym.make_vec("RecoWorld-v0", num_envs=4, vectorization_mode="vector_entry_point")
    >>> obs, infos = envs.reset(seed=0)
    >>> obs["candidates"].shape
    (4, 100, 32)
    >>> obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
    >>> rewards.shape
    (4,)
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        num_envs: int = 1,
        config: RecoWorldConfig | None = None,
        *,
        catalog: Catalog | None = None,
        user_config: UserModelConfig | None = None,
        voice: InstructionVoice | None = None,
        text_encoder: TextEncoder | None = None,
        copy: bool = True,
        world: World | None = None,
        **settings: Any,
    ) -> None:
        num_envs = check_int("num_envs", num_envs, low=1, high=MAX_COUNT)
        copy = check_bool("copy", copy)
        parts = build_parts(
            recoworld_config(config, settings),
            num_envs,
            catalog=catalog,
            user_config=user_config,
            voice=voice,
            text_encoder=text_encoder,
            concurrent=True,
            world=world,
        )
        self.core = parts.core
        self.core.reuse_buffers = not copy
        self.num_envs = num_envs
        self.catalog = self.core.catalog
        self.config = self.core.config
        self.text_encoder = parts.text_encoder
        self.structured_instruction = self.config.keeps_structured_instruction
        self.llm_users = parts.llm_users
        self._language = self.llm_users is not None or self.text_encoder is not None
        self._standing: list[str | None] = [None] * num_envs
        self._usage = UsageSince(self.core.voice, self.llm_users)
        self.single_observation_space = parts.observation_space
        self.single_action_space = parts.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batched_action_space(self.config, num_envs)
        self._needs_reset = np.zeros(num_envs, bool)
        self._started = False
        self._may_raise = self.llm_users is not None or (
            self.text_encoder is not None and type(self.core.voice) is not TemplateVoice
        )
        """A step may raise after the latent step (a language model, or a voice of one's own
        that speaks because a text encoder is set): it is taken on a checkpoint and undone
        when it raises."""

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if isinstance(seed, list):
            raise ValueError(
                "RecoWorldVectorEnv.reset takes one int seed for the whole batch, not a list"
            )
        if seed is not None:  # numpy integers too; a bool or a negative seed is named
            seed = check_seed("seed", seed)
        if options:
            raise ValueError(f"options={options!r}: RecoWorld-v0 takes no reset options")
        super().reset(seed=seed)
        self.core.reset(self.np_random, reseeded=seed is not None)
        self._needs_reset[:] = False
        self._started = True
        obs, mask = self.core.observe()
        infos: dict[str, Any] = {"action_mask": mask}
        if self.core.population is not None:
            infos["user_id"] = self.core.user_ids.copy()
        if self._language:
            (self._voice_rng,) = spawn_rng(self.np_random)
            self._standing = [None] * self.num_envs
            if self.llm_users is not None:
                self.llm_users.begin(range(self.num_envs))
                infos["mindset"] = np.array(self.llm_users.mindsets(range(self.num_envs)), object)
            self._finish_language(obs, infos, None)
        return obs, infos

    def step(
        self, actions: np.ndarray
    ) -> tuple[ObsType, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("RecoWorldVectorEnv.step called before reset")
        cfg, n = self.config, self.num_envs
        if cfg.action_type == "slate":
            slots = slate_action_slots(actions, (n, cfg.slate_size), cfg.num_candidates)
        else:
            scores = validate_scores(actions, (n, cfg.num_candidates))
            slots = slots_from_scores(scores, cfg.slate_size)
        if not self._may_raise:
            return self._step(slots)
        # A language-model call may raise after the latent step: then the batch is put back as
        # it was (see rollback.py), and the same actions can be retried.
        return step_or_roll_back(self, lambda: self._step(slots))

    def _own_checkpoint(self) -> tuple[Any, ...]:
        """What a step changes beyond the engine, the generator and the LLM users."""
        # The voice generator (made at reset when there is language) with its spawn counter.
        voice_rng = copy.deepcopy(getattr(self, "_voice_rng", None))
        return voice_rng, self._needs_reset.copy(), list(self._standing)

    def _restore_own(self, saved: tuple[Any, ...]) -> None:
        voice_rng, self._needs_reset, self._standing = saved
        if voice_rng is not None:
            self._voice_rng = voice_rng

    def _step(
        self, slots: np.ndarray
    ) -> tuple[ObsType, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        n = self.num_envs
        users = self.llm_users
        if users is None:
            result, obs, mask = self.core.step(slots, self.np_random)
        else:
            active = np.flatnonzero(~self._needs_reset)
            views, fallbacks, decisions = users.turn(slots, active, self._voice_rng)
            click_override = np.full(slots.shape, -1, np.int8)
            leave_override = np.full(n, -1, np.int8)
            for row, decision in zip(active, decisions, strict=True):
                click_override[row] = decision.click_override
                leave_override[row] = decision.leave_override
            result, obs, mask = self.core.step(
                slots,
                self.np_random,
                click_override=click_override,
                leave_override=leave_override,
            )
            if users.decision_mode == "latent":
                users.reflect(views, active, result, self._voice_rng, fallbacks)
        rewards = result.reward
        terminations = result.terminated.copy()
        truncations = result.truncated.copy()
        resetting = np.flatnonzero(self._needs_reset)
        if resetting.size:
            self.core.reset_rows(resetting, self.np_random)
            rewards[resetting] = 0.0
            terminations[resetting] = False
            truncations[resetting] = False
        self._needs_reset = terminations | truncations
        if resetting.size:
            self.core.observe(resetting, (obs, mask))
        infos = self._infos(result, mask, resetting)
        if self._language:
            self._step_language(result, resetting, obs, infos)
        return obs, rewards, terminations, truncations, infos

    def _step_language(
        self,
        result: StepResult,
        resetting: np.ndarray,
        obs: ObsType,
        infos: dict[str, Any],
    ) -> None:
        """Instruction sentences, mindsets, session starts and usage of a step (language on)."""
        n = self.num_envs
        users = self.llm_users
        speaking = np.flatnonzero(infos["instructed"] & (self.core.more_of >= 0))
        texts = np.full(n, None, object)
        if speaking.size:
            if users is not None:
                said = users.instruct(speaking, self._voice_rng)
            else:
                said = [
                    self.core.voice.render(
                        self.core.standing_instruction(int(row)), self._voice_rng
                    )
                    for row in speaking
                ]
            for row, text in zip(speaking, said, strict=True):
                texts[row] = text
                self._standing[row] = text
        infos["instruction"] = texts
        if users is not None:
            failed = np.array([user.last_failed for user in users.users])
            failed[resetting] = False
            infos["llm_failed"] = failed
            new_session = np.flatnonzero(
                result.session_ended & ~result.terminated & ~result.truncated
            )
            new_session = np.setdiff1d(new_session, resetting)
            users.begin(np.concatenate([new_session, resetting]))
            infos["mindset"] = np.array(users.mindsets(range(n)), object)
        self._finish_language(obs, infos, resetting)

    def _finish_language(
        self, obs: ObsType, infos: dict[str, Any], resetting: np.ndarray | None
    ) -> None:
        for row in np.flatnonzero(self.core.more_of < 0):
            self._standing[row] = None
        if resetting is not None:
            for row in resetting:
                self._standing[row] = None
        if not self.structured_instruction:
            obs.pop("instruction", None)
        if self.text_encoder is not None:
            obs["instruction_text"] = self.text_encoder.encode(
                [text or "" for text in self._standing]
            )
        infos["usage"] = self._usage.step()

    def close(self, **kwargs: Any) -> None:
        if self.llm_users is not None:
            self.llm_users.close()
        super().close(**kwargs)

    def _infos(self, result: StepResult, mask: np.ndarray, reset: np.ndarray) -> dict[str, Any]:
        clicks = result.clicks.sum(axis=1)
        watch = result.watch_time.copy()
        ended = result.session_ended.copy()
        gap = result.return_gap_days.copy()
        clicks[reset] = 0
        watch[reset] = 0.0
        ended[reset] = False
        gap[reset] = np.nan
        keep = np.ones(self.num_envs, bool)
        keep[reset] = False
        infos = {
            "action_mask": mask,
            "click_counts": clicks,
            "watch_time": watch,
            "wasted_slots": result.wasted_slots.copy(),
            "instructed": result.instructed & keep,
            "session_ended": ended,
            "return_gap_days": gap,
            "churned": result.churned & keep,
        }
        if self.core.population is not None:
            infos["user_id"] = self.core.user_ids.copy()
        return infos
