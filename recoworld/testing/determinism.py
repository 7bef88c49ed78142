"""Reproducibility checks: seeded rollouts, and a vector env against the single env."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import concatenate, create_empty_array, iterate

from recoworld.testing._compare import first_difference, jsonable, short_repr, snapshot
from recoworld.testing.env_checks import (
    DEFAULT_IGNORED_INFO_KEYS,
    describe_env,
    make_env,
)
from recoworld.testing.errors import ConformanceError

__all__ = ["check_determinism", "check_vector_equivalence"]

Policy = Callable[[Any, dict[str, Any]], Any]
"""``(observation, info) -> action``."""


def check_determinism(
    env_id: str | Callable[[], gym.Env],
    seed: int = 0,
    steps: int | None = None,
    actions: Sequence[Any] | Policy | Any | None = None,
    *,
    ignore_info_keys: tuple[str, ...] = DEFAULT_IGNORED_INFO_KEYS,
    **env_kwargs: Any,
) -> None:
    """Two fresh envs, reset with ``seed`` and given the same actions, give identical rollouts.

    Each rollout resets with ``seed``, then steps ``steps`` times; when an episode ends it
    resets without a seed (the seeded stream continues). Observations are compared exactly
    (shape, dtype and every value), and so are rewards, ``terminated``, ``truncated`` and the
    JSON-able part of every info (numbers, strings, arrays, nested dicts and lists; other
    objects, and the dotted paths in ``ignore_info_keys``, are left out).

    Args:
        env_id: a registered id (made with ``gym.make(env_id, **env_kwargs)``), or a
            zero-argument factory returning a fresh env (called twice).
        seed: the seed of the first reset, and of the sampled actions.
        steps: steps per rollout (default: ``len(actions)`` for a sequence, else 50).
        actions: the actions: a sequence; a policy ``(observation, info) -> action``; an agent
            (``reset(seed=...)`` and ``act(observation, info)``, reset with ``seed`` before each
            rollout); or None to sample from the action space seeded with ``seed``.
        ignore_info_keys: dotted info paths left out (wall-clock measurements).
        env_kwargs: constructor arguments, with an env id only.

    Raises:
        ConformanceError: the rollouts differ; the message names the first step and the key
            (``observation['history']``, ``reward``, ``info['candidates']``, ...) that differ.
    """
    name = describe_env(env_id, env_kwargs)
    if isinstance(actions, np.ndarray):
        actions = list(actions)
    if steps is None:
        steps = len(actions) if isinstance(actions, Sequence) else 50
    if isinstance(actions, Sequence) and len(actions) < steps:
        raise ValueError(f"steps={steps} but only {len(actions)} actions were given")
    if actions is None:
        probe, _ = make_env(env_id, env_kwargs)
        probe.action_space.seed(seed)
        actions = [probe.action_space.sample() for _ in range(steps)]
        probe.close()
    first = _rollout(env_id, env_kwargs, seed, steps, actions, ignore_info_keys)
    second = _rollout(env_id, env_kwargs, seed, steps, actions, ignore_info_keys)
    if len(first) != len(second):
        raise ConformanceError(
            f"{name}: two rollouts with seed {seed} and the same actions have different lengths"
        )
    for (label, record_a), (_, record_b) in zip(first, second, strict=True):
        for part in record_a:
            found = first_difference(record_a[part], record_b[part], part)
            if found:
                raise ConformanceError(
                    f"{name} is not deterministic: two rollouts with seed {seed} and the same "
                    f"actions first differ at {label}, in {found}"
                )


def _rollout(
    env_id: Any,
    env_kwargs: dict[str, Any],
    seed: int,
    steps: int,
    actions: Any,
    ignore: tuple[str, ...],
) -> list[tuple[str, dict[str, Any]]]:
    env, _ = make_env(env_id, env_kwargs)
    agent = actions if hasattr(actions, "act") and hasattr(actions, "reset") else None
    try:
        if agent is not None:
            agent.reset(seed=seed)
        obs, info = env.reset(seed=seed)
        records = [(f"reset(seed={seed})", _record(obs, info, ignore))]
        for step in range(steps):
            if isinstance(actions, Sequence):
                action = actions[step]
            elif agent is not None:
                action = agent.act(obs, info)
            else:
                action = actions(obs, info)
            obs, reward, terminated, truncated, info = env.step(action)
            record = _record(obs, info, ignore)
            record.update(reward=reward, terminated=terminated, truncated=truncated)
            records.append((f"step {step}", record))
            if terminated or truncated:
                obs, info = env.reset()
                records.append((f"the reset after step {step}", _record(obs, info, ignore)))
        return records
    finally:
        env.close()


def _record(obs: Any, info: dict[str, Any], ignore: tuple[str, ...]) -> dict[str, Any]:
    return {"observation": snapshot(obs), "info": jsonable(info, ignore)}


def check_vector_equivalence(
    env_id: str,
    num_envs: int = 4,
    seed: int = 0,
    steps: int = 50,
    *,
    info_keys: Sequence[str] = ("action_mask",),
    **env_kwargs: Any,
) -> None:
    """The env's batched twin (its ``vector_entry_point``) agrees with the single env.

    1. A vector env of one user reproduces the single env step for step: with the same seed
       and the same sampled actions, equal spaces (``single_observation_space``,
       ``single_action_space``), identical observations, rewards, ``terminated`` and
       ``truncated``, and identical ``info`` entries named in ``info_keys`` where both have
       them. When an episode ends, both are reset with the next seed (``seed + 1``, ...), so
       the comparison does not depend on how the batch draws its autoreset users.
    2. A batch of ``num_envs`` users (when ``num_envs > 1``) has the single env's spaces
       batched; every user's observation lies in the single observation space; rewards,
       terminations and truncations are ``(num_envs,)`` arrays; and, with
       ``autoreset_mode`` ``NEXT_STEP`` (Gymnasium's default), the step after a user's
       episode ends gives that user reward 0 and neither flag.

    Args:
        env_id: a registered id whose spec has a ``vector_entry_point``.
        num_envs: the batch size of check 2 (1 skips it).
        seed: the seed of the first reset and of the sampled actions.
        steps: steps of each check.
        info_keys: info entries compared in check 1.
        env_kwargs: constructor arguments of both the single and the vector env.

    Raises:
        ConformanceError: the vector env disagrees; the message names the step and what differs.
        ValueError: ``env_id`` has no ``vector_entry_point``.
    """
    spec = gym.spec(env_id)
    if spec.vector_entry_point is None:
        raise ValueError(f"{env_id} has no vector_entry_point to compare with the single env")
    name = describe_env(env_id, env_kwargs)
    _check_one_user(env_id, name, seed, steps, tuple(info_keys), env_kwargs)
    if num_envs > 1:
        _check_batch(env_id, name, num_envs, seed, steps, env_kwargs)


def _make_vector(env_id: str, num_envs: int, env_kwargs: dict[str, Any]) -> gym.vector.VectorEnv:
    return gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs
    )


def _check_single_spaces(name: str, single: gym.Env, vector: gym.vector.VectorEnv) -> None:
    """The vector env's per-user spaces must equal the single env's."""
    for attribute, ours, theirs in (
        ("observation", single.observation_space, vector.single_observation_space),
        ("action", single.action_space, vector.single_action_space),
    ):
        if ours != theirs:
            raise ConformanceError(
                f"{name}: the vector env's single_{attribute}_space {theirs} is not the "
                f"single env's {attribute}_space {ours}"
            )


def _check_one_user(
    env_id: str,
    name: str,
    seed: int,
    steps: int,
    info_keys: tuple[str, ...],
    env_kwargs: dict[str, Any],
) -> None:
    single = gym.make(env_id, **env_kwargs).unwrapped
    vector = _make_vector(env_id, 1, env_kwargs)
    try:
        _check_single_spaces(name, single, vector)
        space = single.action_space
        space.seed(seed)
        episode = 0
        obs_s, info_s = single.reset(seed=seed)
        obs_v, info_v = vector.reset(seed=seed)
        label = f"reset(seed={seed})"
        for step in range(steps + 1):
            _compare_user(name, label, vector, obs_s, info_s, obs_v, info_v, info_keys)
            if step == steps:
                break
            action = space.sample()
            out: Any = create_empty_array(space, n=1)
            batched = concatenate(space, [action], out)
            obs_s, r_s, te_s, tr_s, info_s = single.step(action)
            obs_v, r_v, te_v, tr_v, info_v = vector.step(batched)
            label = f"step {step} (action {short_repr(action)})"
            for part, a, b in (
                ("reward", float(r_s), float(r_v[0])),
                ("terminated", bool(te_s), bool(te_v[0])),
                ("truncated", bool(tr_s), bool(tr_v[0])),
            ):
                if a != b:
                    raise ConformanceError(
                        f"{name}: the one-user vector env differs from the single env at "
                        f"{label}, in the {part}: the vector env gives {b!r}, the single env {a!r}"
                    )
            if te_s or tr_s:
                _compare_user(name, label, vector, obs_s, info_s, obs_v, info_v, info_keys)
                episode += 1
                obs_s, info_s = single.reset(seed=seed + episode)
                obs_v, info_v = vector.reset(seed=seed + episode)
                label = f"reset(seed={seed + episode}) after step {step}"
    finally:
        single.close()
        vector.close()


def _compare_user(
    name: str,
    label: str,
    vector: gym.vector.VectorEnv,
    obs_s: Any,
    info_s: dict[str, Any],
    obs_v: Any,
    info_v: dict[str, Any],
    info_keys: tuple[str, ...],
) -> None:
    user_obs = next(iter(iterate(vector.observation_space, obs_v)))
    found = first_difference(snapshot(obs_s), snapshot(user_obs), "observation")
    for key in info_keys:
        if found:
            break
        if key not in info_s or key not in info_v:
            continue
        if f"_{key}" in info_v and not np.asarray(info_v[f"_{key}"])[0]:
            continue
        found = first_difference(
            jsonable(info_s[key]), jsonable(np.asarray(info_v[key])[0]), f"info[{key!r}]"
        )
    if found:
        raise ConformanceError(
            f"{name}: the one-user vector env differs from the single env at {label}, in {found}"
        )


def _check_batch(
    env_id: str, name: str, num_envs: int, seed: int, steps: int, env_kwargs: dict[str, Any]
) -> None:
    from gymnasium.vector import AutoresetMode
    from gymnasium.vector.utils import batch_space

    single = gym.make(env_id, **env_kwargs).unwrapped
    envs = _make_vector(env_id, num_envs, env_kwargs)
    try:
        if envs.num_envs != num_envs:
            raise ConformanceError(f"{name}: make_vec(num_envs={num_envs}) has {envs.num_envs}")
        _check_single_spaces(name, single, envs)
        for attribute, ours in (
            ("observation", single.observation_space),
            ("action", single.action_space),
        ):
            batched = getattr(envs, f"{attribute}_space")
            if batched != batch_space(ours, num_envs):
                raise ConformanceError(
                    f"{name}: the vector env's {attribute}_space {batched} is not the single "
                    f"{attribute} space batched {num_envs} times"
                )
        next_step = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP) in (
            AutoresetMode.NEXT_STEP,
            "NextStep",
        )
        envs.action_space.seed(seed)
        obs, _ = envs.reset(seed=seed)
        ended = np.zeros(num_envs, dtype=bool)
        for step in range(steps):
            obs, rewards, terminations, truncations, _ = envs.step(envs.action_space.sample())
            where = f"{name}: batch of {num_envs}, step {step}"
            for part, array in (
                ("rewards", rewards),
                ("terminations", terminations),
                ("truncations", truncations),
            ):
                if np.shape(array) != (num_envs,):
                    raise ConformanceError(
                        f"{where}: {part} has shape {np.shape(array)}, not ({num_envs},)"
                    )
            for user, user_obs in enumerate(iterate(envs.observation_space, obs)):
                if not envs.single_observation_space.contains(user_obs):
                    raise ConformanceError(
                        f"{where}: user {user}'s observation is outside the single "
                        "observation space"
                    )
            if next_step and ended.any():
                users = np.flatnonzero(ended & ((rewards != 0) | terminations | truncations))
                if users.size:
                    raise ConformanceError(
                        f"{where}: user {int(users[0])}'s episode ended on the previous step, "
                        "so this step (a next-step autoreset) must give reward 0 and neither "
                        f"flag; got reward {rewards[users[0]]!r}"
                    )
            ended = np.asarray(terminations) | np.asarray(truncations)
    finally:
        single.close()
        envs.close()
