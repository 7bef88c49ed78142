"""Batched ``RecoWorld-v0``: many users stepped in one vectorized call.

``gym.make_vec("RecoWorld-v0", num_envs=N, vectorization_mode="vector_entry_point")`` builds a
:class:`RecoWorldVectorEnv`: one :class:`~recoworld.envs.core.RecoWorldCore` holding all ``N``
users, so a step costs a handful of numpy calls over ``(N, ...)`` arrays instead of ``N`` Python
env steps. The dynamics are the single env's (same core, same user model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recoworld.catalog import Catalog
from recoworld.envs.core import StepResult
from recoworld.envs.llm_users import LLMUserBatch, UsageSince
from recoworld.envs.recoworld_env import (
    ObsType,
    action_space,
    build_core,
    check_language_settings,
    check_llm_options,
    slate_action_slots,
    slots_from_scores,
    text_observation_space,
    validate_scores,
)
from recoworld.llm.base import ChatModel
from recoworld.llm.cache import ResponseCache
from recoworld.llm.factory import make_chat_model
from recoworld.simulators import InstructionVoice, UserModelConfig
from recoworld.text import TextEncoder


class RecoWorldVectorEnv(VectorEnv[ObsType, np.ndarray, np.ndarray]):
    """``num_envs`` independent RecoWorld users stepped together (next-step autoreset).

    Arguments are those of :class:`~recoworld.envs.RecoWorldEnv` plus ``num_envs``. Actions are
    batched: ``(num_envs, slate_size)`` candidate indices (or ``(num_envs, num_candidates)``
    scores). ``infos`` holds arrays over users: ``action_mask`` ``(N, C)``, ``clicks`` and
    ``watch_time`` per user, ``instructed``, ``session_ended``, ``return_gap_days`` (NaN where no
    session ended), ``churned``, ``wasted_slots``. Instruction sentences are not rendered by
    default (it would cost a Python call per instructing user); the encoded instruction is in
    the observation.

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
        num_candidates: int = 100,
        slate_size: int = 10,
        *,
        catalog: Catalog | None = None,
        n_items: int = 1000,
        catalog_seed: int = 0,
        user_config: UserModelConfig | None = None,
        multi_session: bool = False,
        max_sessions: int = 5,
        max_session_turns: int = 50,
        click_weight: float = 1.0,
        watch_weight: float = 0.1,
        continue_weight: float = 0.1,
        return_weight: float = 1.0,
        return_horizon_days: float = 7.0,
        action_type: str = "slate",
        observation_mode: str = "features",
        voice: InstructionVoice | None = None,
        user_model: str = "latent",
        llm: str | ChatModel = "local",
        decision_mode: str = "latent",
        on_llm_error: str = "raise",
        llm_cache: bool | str | ResponseCache | None = None,
        cost_cap_usd: float | None = None,
        hybrid_click_bounds: tuple[float, float] = (0.1, 0.9),
        llm_options: dict[str, Any] | None = None,
        text_encoder: TextEncoder | None = None,
        structured_instruction: bool | None = None,
        copy: bool = True,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be a positive integer")
        text_encoder, structured_instruction = check_language_settings(
            user_model, decision_mode, text_encoder, structured_instruction
        )
        self.core = build_core(
            num_envs,
            num_candidates=num_candidates,
            slate_size=slate_size,
            catalog=catalog,
            n_items=n_items,
            catalog_seed=catalog_seed,
            user_config=user_config,
            multi_session=multi_session,
            max_sessions=max_sessions,
            max_session_turns=max_session_turns,
            click_weight=click_weight,
            watch_weight=watch_weight,
            continue_weight=continue_weight,
            return_weight=return_weight,
            return_horizon_days=return_horizon_days,
            action_type=action_type,
            observation_mode=observation_mode,
            voice=voice,
        )
        if not isinstance(copy, bool):
            raise ValueError(f"copy={copy!r} must be True or False")
        self.core.reuse_buffers = not copy
        self.num_envs = num_envs
        self.catalog = self.core.catalog
        self.config = self.core.config
        self.text_encoder = text_encoder
        self.structured_instruction = structured_instruction
        self.llm_users: LLMUserBatch | None = None
        if user_model == "llm":
            self.llm_users = LLMUserBatch(
                self.core,
                make_chat_model(llm, cache=llm_cache, cost_cap_usd=cost_cap_usd),
                concurrent=True,
                decision_mode=decision_mode,
                hybrid_click_bounds=hybrid_click_bounds,
                on_llm_error=on_llm_error,
                fallback_voice=voice,
                **check_llm_options(llm_options),
            )
        self._language = self.llm_users is not None or text_encoder is not None
        self._standing: list[str | None] = [None] * num_envs
        self._usage = UsageSince(self.core.voice, self.llm_users)
        self.single_observation_space = text_observation_space(
            self.core.observation_space, text_encoder, structured_instruction
        )
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._needs_reset = np.zeros(num_envs, bool)
        self._started = False

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if isinstance(seed, list):
            raise ValueError(
                "RecoWorldVectorEnv.reset takes one int seed for the whole batch, not a list"
            )
        super().reset(seed=seed)
        self.core.reset(self.np_random, reseeded=seed is not None)
        self._needs_reset[:] = False
        self._started = True
        obs, mask = self.core.observe()
        infos: dict[str, Any] = {"action_mask": mask}
        if self._language:
            self._voice_rng = np.random.default_rng(
                self.np_random.bit_generator.seed_seq.spawn(1)[0]
            )
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
        array = np.asarray(actions)
        if cfg.action_type == "slate":
            slots = slate_action_slots(array, (n, cfg.slate_size), cfg.num_candidates)
        else:
            validate_scores(array, (n, cfg.num_candidates))
            slots = slots_from_scores(array, cfg.slate_size)

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
                    self.core.voice.render(self.core.instruction(int(row)), self._voice_rng)
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
        watch = result.watch_minutes.sum(axis=1)
        ended = result.session_ended.copy()
        gap = result.return_gap_days.copy()
        clicks[reset] = 0
        watch[reset] = 0.0
        ended[reset] = False
        gap[reset] = np.nan
        keep = np.ones(self.num_envs, bool)
        keep[reset] = False
        return {
            "action_mask": mask,
            "clicks": clicks,
            "watch_time": watch,
            "wasted_slots": (result.items < 0).sum(axis=1),
            "instructed": result.instructed & keep,
            "session_ended": ended,
            "return_gap_days": gap,
            "churned": result.churned & keep,
        }
