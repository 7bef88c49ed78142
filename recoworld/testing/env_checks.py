"""Conformance of one environment: Gymnasium's and SB3's checkers plus the library's contracts.

The contracts (see the design notes): spaces are built once; ``reset(seed=...)`` reproduces its
observation and info, and unseeded resets continue the seeded stream; every action inside the
action space is a legal move; an action outside it raises ``ValueError``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.testing._compare import first_difference, jsonable, short_repr, snapshot
from recoworld.testing.errors import ConformanceError

__all__ = [
    "DEFAULT_IGNORED_INFO_KEYS",
    "EnvSource",
    "action_type_variants",
    "check_env_conformance",
    "describe_env",
    "make_env",
    "out_of_space_actions",
]

EnvSource = str | gym.Env | Callable[[], gym.Env]
"""An env to check: a registered id (made with ``gym.make(id, **env_kwargs)``), an env
instance, or a zero-argument factory returning a fresh env."""

DEFAULT_IGNORED_INFO_KEYS: tuple[str, ...] = ("usage.latency_s",)
"""Info entries left out of reproducibility comparisons: wall-clock measurements (the latency
of language-model calls), which no seed can fix."""


def describe_env(source: Any, env_kwargs: dict[str, Any] | None = None) -> str:
    """A short name for messages: ``"ConvRec-v0(action_mode='ask_or_recommend')"``."""
    if isinstance(source, str):
        name = source
    elif isinstance(source, gym.Env):
        spec = getattr(source, "spec", None)
        name = spec.id if spec is not None else type(source.unwrapped).__name__
    else:
        name = getattr(source, "__qualname__", None) or short_repr(source, 40)
    if env_kwargs:
        arguments = ", ".join(f"{k}={short_repr(v, 40)}" for k, v in env_kwargs.items())
        name = f"{name}({arguments})"
    return name


def make_env(source: EnvSource, env_kwargs: dict[str, Any]) -> tuple[gym.Env, bool]:
    """``(env, made)``: the env of ``source`` and whether this call made it (so should close it).

    Raises:
        ValueError: ``env_kwargs`` given with an env instance or factory, or ``source`` is
            none of an id, an env and a factory.
    """
    if isinstance(source, str):
        return gym.make(source, **env_kwargs).unwrapped, True
    if env_kwargs:
        raise ValueError(
            f"env keyword arguments {sorted(env_kwargs)} are used with an env id only; "
            "configure an env instance or factory yourself"
        )
    if isinstance(source, gym.Env):
        return source, False
    if callable(source):
        env = source()
        if not isinstance(env, gym.Env):
            raise ValueError(f"the env factory {source!r} returned {env!r}, not a gymnasium.Env")
        return env, True
    raise ValueError(f"{source!r} is not an env id, a gymnasium.Env or a zero-argument factory")


def check_env_conformance(
    env_or_id: EnvSource,
    *,
    seed: int = 0,
    steps: int = 50,
    skip_sb3: bool = False,
    skip_render_check: bool = False,
    ignore_info_keys: tuple[str, ...] = DEFAULT_IGNORED_INFO_KEYS,
    strict_contains: bool = False,
    **env_kwargs: Any,
) -> None:
    """Check one env against Gymnasium's and SB3's checkers and the library's env contracts.

    In order:

    1. ``gymnasium.utils.env_checker.check_env`` (on ``env.unwrapped`` when made from an id).
    2. ``stable_baselines3.common.env_checker.check_env`` when Stable-Baselines3 is importable
       (an optional extra) and ``skip_sb3`` is False.
    3. Spaces built once: ``observation_space`` and ``action_space`` are the same objects on
       every access, before and after ``reset`` and ``step``.
    4. Seeded resets: ``reset(seed=seed)`` twice gives equal observations and JSON-able infos,
       and so does a seeded reset followed by two unseeded ones (the stream continues).
    5. Every sampled action is legal: ``steps`` actions sampled from the action space (seeded
       with ``seed``) step without error, with observations inside the observation space, a
       finite real reward, bool ``terminated``/``truncated``, a dict info, and an
       ``info["action_mask"]``, where given, of bools or 0/1 integers.
    6. Every action from :func:`out_of_space_actions` (wrong shape, out of range, NaN, bad keys
       or text) makes ``step`` raise ``ValueError``, each tried right after a reset.
    7. What ``action_space.contains`` accepts, ``step`` accepts: a sampled action recast as
       other types (:func:`action_type_variants`: a bool, a float, a 0-d array, a list,
       ``None``, ...) is a legal move whenever ``contains`` accepts it, each tried right after
       a reset. With ``strict_contains``, the converse too: a variant that ``contains``
       refuses makes ``step`` raise ``ValueError`` and leaves the env as it was (the next
       step, with the sampled action, gives what it gives right after a reset). Many
       Gymnasium envs cast what they are given (``Pendulum-v1`` takes an ``int64`` array its
       ``float32`` box does not contain), so the converse is asked for only on request; the
       library's own envs promise it (:func:`~recoworld.testing.check_registry` asks it of
       them).

    Args:
        env_or_id: a registered id (made with ``gym.make(env_or_id, **env_kwargs)``), an env
            instance (checked as given and left open), or a zero-argument factory.
        seed: the seed of every reset and of the action sampling.
        steps: sampled actions stepped in check 5.
        skip_sb3: leave out SB3's checker.
        skip_render_check: passed to Gymnasium's checker.
        ignore_info_keys: dotted info paths left out of the reset and step comparisons
            (wall-clock).
        strict_contains: in check 7, also require that every variant ``contains`` refuses is
            refused by ``step`` with ``ValueError``, leaving the env unchanged.
        env_kwargs: constructor arguments, with an env id only.

    Raises:
        ConformanceError: a check fails; the message names the env and the check.
        ValueError: bad arguments to this function.
    """
    env, made = make_env(env_or_id, env_kwargs)
    name = describe_env(env_or_id, env_kwargs)
    try:
        _run_external_checkers(env, name, skip_sb3=skip_sb3, skip_render_check=skip_render_check)
        observation_space, action_space = env.observation_space, env.action_space
        _check_spaces_fixed(env, name, observation_space, action_space, "on construction")
        _check_seeded_resets(env, name, seed, ignore_info_keys)
        _check_spaces_fixed(env, name, observation_space, action_space, "after reset")
        _check_sampled_actions(env, name, seed, steps)
        _check_spaces_fixed(env, name, observation_space, action_space, "after step")
        _check_out_of_space_actions(env, name, seed)
        _check_contains_agrees_with_step(
            env, name, seed, strict=strict_contains, ignore_info_keys=ignore_info_keys
        )
    finally:
        if made:
            env.close()


def _run_external_checkers(
    env: gym.Env, name: str, *, skip_sb3: bool, skip_render_check: bool
) -> None:
    from gymnasium.utils.env_checker import check_env as gym_check_env

    try:
        gym_check_env(env, skip_render_check=skip_render_check)
    except Exception as error:
        raise ConformanceError(
            f"{name}: Gymnasium's check_env failed: {type(error).__name__}: {error}"
        ) from error
    if skip_sb3:
        return
    try:
        from stable_baselines3.common.env_checker import check_env as sb3_check_env
    except ImportError:
        return
    try:
        sb3_check_env(env, warn=True)
    except Exception as error:
        raise ConformanceError(
            f"{name}: Stable-Baselines3's check_env failed: {type(error).__name__}: {error}"
        ) from error


def _check_spaces_fixed(
    env: gym.Env,
    name: str,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    when: str,
) -> None:
    for attribute, first in (
        ("observation_space", observation_space),
        ("action_space", action_space),
    ):
        again = getattr(env, attribute)
        if again is not first or getattr(env, attribute) is not again:
            raise ConformanceError(
                f"{name}: {attribute} is not the same object on every access ({when}); build "
                "the spaces once in __init__ and return the same objects"
            )


def _check_seeded_resets(
    env: gym.Env, name: str, seed: int, ignore_info_keys: tuple[str, ...]
) -> None:
    def resets() -> list[tuple[Any, Any]]:
        records = []
        for i in range(3):
            obs, info = env.reset(seed=seed) if i == 0 else env.reset()
            records.append((snapshot(obs), jsonable(info, ignore_info_keys)))
        return records

    first, second = resets(), resets()
    labels = (f"reset(seed={seed})", "the first unseeded reset after it", "the second one")
    for label, (obs_a, info_a), (obs_b, info_b) in zip(labels, first, second, strict=True):
        for part, a, b in (("observation", obs_a, obs_b), ("info", info_a, info_b)):
            found = first_difference(a, b)
            if found:
                raise ConformanceError(
                    f"{name}: {label} is not reproducible: two runs differ in the {part} at "
                    f"{found}; draw all randomness from self.np_random"
                )


def _check_sampled_actions(env: gym.Env, name: str, seed: int, steps: int) -> None:
    env.action_space.seed(seed)
    env.reset(seed=seed)
    for step in range(steps):
        action = env.action_space.sample()
        try:
            obs, reward, terminated, truncated, info = env.step(action)
        except Exception as error:
            raise ConformanceError(
                f"{name}: step {step} raised {type(error).__name__} for the in-space action "
                f"{short_repr(action)}: {error}; every action inside the action space must be "
                "a legal move"
            ) from error
        where = f"{name}: step {step} (action {short_repr(action)})"
        if not env.observation_space.contains(obs):
            raise ConformanceError(f"{where} returned an observation outside the space")
        if (
            isinstance(reward, bool | np.bool_)
            or not isinstance(reward, int | float | np.integer | np.floating)
            or not math.isfinite(float(reward))
        ):
            raise ConformanceError(f"{where} returned reward {reward!r}, not a finite number")
        for label, flag in (("terminated", terminated), ("truncated", truncated)):
            if not isinstance(flag, bool | np.bool_):
                raise ConformanceError(f"{where} returned {label}={flag!r}, not a bool")
        if not isinstance(info, dict):
            raise ConformanceError(f"{where} returned info of type {type(info).__name__}")
        if "action_mask" in info:
            mask = np.asarray(info["action_mask"])
            if not (
                mask.dtype == np.bool_ or (mask.dtype.kind in "iu" and np.isin(mask, (0, 1)).all())
            ):
                raise ConformanceError(
                    f"{where} returned info['action_mask'] of dtype {mask.dtype}; a mask holds "
                    "bools (or 0/1 integers)"
                )
        if terminated or truncated:
            env.reset()


def _check_out_of_space_actions(env: gym.Env, name: str, seed: int) -> None:
    for kind, action in out_of_space_actions(env.action_space):
        env.reset(seed=seed)
        try:
            env.step(action)
        except ValueError:
            continue
        except Exception as error:
            raise ConformanceError(
                f"{name}: the out-of-space action {short_repr(action)} ({kind}) raised "
                f"{type(error).__name__} ({error}); it must raise ValueError naming the value"
            ) from error
        raise ConformanceError(
            f"{name}: the out-of-space action {short_repr(action)} ({kind}) was accepted; an "
            "action outside the action space must raise ValueError naming the value"
        )


def _check_contains_agrees_with_step(
    env: gym.Env, name: str, seed: int, *, strict: bool, ignore_info_keys: tuple[str, ...]
) -> None:
    space = env.action_space
    space.seed(seed)
    env.reset(seed=seed)
    sampled = space.sample()
    clean = None
    if strict:  # the sampled action's step right after a reset
        env.reset(seed=seed)
        clean = _step_record(env, sampled, ignore_info_keys)
    for kind, action in action_type_variants(space, sampled):
        inside = _contains(space, action)
        if not inside and not strict:
            continue
        env.reset(seed=seed)
        try:
            env.step(action)
        except Exception as error:
            if not inside and isinstance(error, ValueError):
                assert clean is not None  # strict
                _check_unchanged(env, name, sampled, ignore_info_keys, clean, action, kind)
                continue
            verdict = "accepts" if inside else "refuses"
            must = "be a legal move" if inside else "raise ValueError"
            raise ConformanceError(
                f"{name}: action_space.contains {verdict} the action {short_repr(action)} "
                f"({kind}), but step raised {type(error).__name__} ({error}); it must {must}: "
                "contains and step must agree"
            ) from error
        if not inside:
            raise ConformanceError(
                f"{name}: step accepted the action {short_repr(action)} ({kind}), which "
                "action_space.contains refuses; with strict_contains, contains and step must "
                "agree (refuse it with ValueError, or accept it in the space)"
            )


def _step_record(env: gym.Env, action: Any, ignore_info_keys: tuple[str, ...]) -> tuple[Any, ...]:
    """A comparable record of ``env.step(action)``."""
    obs, reward, terminated, truncated, info = env.step(action)
    return (
        snapshot(obs),
        float(reward),
        bool(terminated),
        bool(truncated),
        jsonable(info, ignore_info_keys),
    )


def _check_unchanged(
    env: gym.Env,
    name: str,
    sampled: Any,
    ignore_info_keys: tuple[str, ...],
    clean: tuple[Any, ...],
    refused: Any,
    kind: str,
) -> None:
    """After ``refused`` was refused, stepping ``sampled`` gives the ``clean`` record."""
    after = _step_record(env, sampled, ignore_info_keys)
    found = first_difference(clean, after)
    if found:
        raise ConformanceError(
            f"{name}: step refused the action {short_repr(refused)} ({kind}) but changed the "
            f"env: the next step differs from a clean one at {found}; a refused action must "
            "leave the env as it was"
        )


def action_type_variants(space: spaces.Space, action: Any) -> list[tuple[str, Any]]:
    """``(kind, variant)`` pairs: ``action``, an action inside ``space``, recast as other types.

    For ``Discrete`` spaces: a Python ``int``, a numpy ``int64``, a 0-d integer array, a Python
    and a numpy bool, a Python and a numpy float, a 0-d float array, a one-element list, a
    string and ``None``. For array actions (``MultiDiscrete``, ``MultiBinary``, ``Box``): bool,
    int64, int32, float64, float32 and object arrays and a nested list. Other spaces give none.
    Some variants are inside the space and some are not; an env's ``step`` must treat each as
    its ``action_space.contains`` says (see :func:`check_env_conformance`).

    >>> [kind for kind, _ in action_type_variants(spaces.Discrete(3), 2)][:4]
    ['Python int', 'numpy int64', '0-d integer array', 'Python bool']
    """
    if isinstance(space, spaces.Discrete):
        value = int(action)
        return [
            ("Python int", value),
            ("numpy int64", np.int64(value)),
            ("0-d integer array", np.array(value, dtype=np.int64)),
            ("Python bool", bool(value)),
            ("numpy bool", np.bool_(value)),
            ("Python float", float(value)),
            ("numpy float64", np.float64(value)),
            ("0-d float array", np.array(float(value))),
            ("one-element list", [value]),
            ("string", str(value)),
            ("None", None),
        ]
    if isinstance(space, spaces.MultiDiscrete | spaces.MultiBinary | spaces.Box):
        array = np.asarray(action)
        return [
            ("bool array", array.astype(np.bool_)),
            ("int64 array", array.astype(np.int64)),
            ("int32 array", array.astype(np.int32)),
            ("float64 array", array.astype(np.float64)),
            ("float32 array", array.astype(np.float32)),
            ("object array", array.astype(object)),
            ("nested list", array.tolist()),
        ]
    return []


def out_of_space_actions(space: spaces.Space) -> list[tuple[str, Any]]:
    """``(kind, action)`` pairs of actions outside ``space``, each of a kind ``space`` allows
    constructing: a wrong shape, a value past the bounds, NaN, a missing or unknown key, a bad
    text. Every returned action is checked not to be in ``space``.

    Spaces of other types (``Graph``, ``Sequence``, custom spaces) give no actions.

    >>> [kind for kind, _ in out_of_space_actions(spaces.Discrete(3))]
    ['wrong shape', 'value past the upper bound', 'value below the lower bound']
    """
    return [(kind, action) for kind, action in _candidates(space) if not _contains(space, action)]


def _contains(space: spaces.Space, action: Any) -> bool:
    try:
        return bool(space.contains(action))
    except Exception:  # a malformed action can make contains itself fail
        return False


def _candidates(space: spaces.Space) -> Iterator[tuple[str, Any]]:
    if isinstance(space, spaces.Discrete):
        start, n = int(space.start), int(space.n)
        yield "wrong shape", np.array([start, start], dtype=np.int64)
        yield "value past the upper bound", start + n
        yield "value below the lower bound", start - 1
    elif isinstance(space, spaces.MultiDiscrete):
        low = np.asarray(space.start, dtype=space.dtype)
        yield "wrong shape", _grow_last_axis(low)
        yield "value past the upper bound", (low + space.nvec).astype(space.dtype)
        yield "value below the lower bound", (low - 1).astype(space.dtype)
    elif isinstance(space, spaces.MultiBinary):
        zeros = np.zeros(space.shape, dtype=space.dtype)
        yield "wrong shape", _grow_last_axis(zeros)
        yield "value past the upper bound", np.full(space.shape, 2, dtype=space.dtype)
    elif isinstance(space, spaces.Box):
        inside = np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high)
        yield "wrong shape", _grow_last_axis(inside)
        if np.issubdtype(space.dtype, np.floating):
            yield "NaN", np.full(space.shape, np.nan, dtype=space.dtype)
        if np.all(np.isfinite(space.high)):
            yield "value past the upper bound", (space.high + 1).astype(space.dtype)
        if np.all(np.isfinite(space.low)):
            yield "value below the lower bound", (space.low - 1).astype(space.dtype)
    elif isinstance(space, spaces.Text):
        charset = "".join(space.character_set)
        filler = charset[0] if charset else "a"
        yield "text of the wrong type", 3
        yield "text too long", filler * (space.max_length + 1)
        if space.min_length > 0:
            yield "text too short", filler * (space.min_length - 1)
        outside = next((c for c in "\x00é€\U0001f600" if c not in space.character_set), None)
        if outside is not None and space.max_length >= 1:
            yield "character outside the charset", outside
    elif isinstance(space, spaces.Dict):
        inside = _inside(space)
        if inside is None:
            return
        keys = list(space.spaces)
        if keys:
            yield f"missing key {keys[0]!r}", {k: v for k, v in inside.items() if k != keys[0]}
        yield "unknown key", {**inside, "__unknown_key__": 0}
        for key, subspace in space.spaces.items():
            for kind, bad in _candidates(subspace):
                yield f"{kind} in [{key!r}]", {**inside, key: bad}
    elif isinstance(space, spaces.Tuple):
        inside = _inside(space)
        if inside is None:
            return
        yield "wrong length", (*inside, inside[0]) if inside else (0,)
        for i, subspace in enumerate(space.spaces):
            for kind, bad in _candidates(subspace):
                yield f"{kind} in [{i}]", (*inside[:i], bad, *inside[i + 1 :])


def _grow_last_axis(array: np.ndarray) -> np.ndarray:
    if array.ndim == 0:
        return np.stack([array, array])
    pad = [(0, 0)] * (array.ndim - 1) + [(0, 1)]
    return np.pad(array, pad, mode="edge")


def _inside(space: spaces.Space) -> Any:
    """A deterministic action inside a composite ``space`` (sampled with a fixed seed)."""
    try:
        probe = copy.deepcopy(space)
        probe.seed(0)
        return probe.sample()
    except Exception:
        return None
