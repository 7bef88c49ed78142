"""Legality and reproducibility of an agent's moves in an env."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.testing._compare import first_difference, short_repr, snapshot
from recoworld.testing.env_checks import describe_env
from recoworld.testing.errors import ConformanceError

__all__ = ["check_agent_legality"]

AgentFactory = Callable[[gym.Env, int], Any]
"""``(env, seed) -> agent``, the signature of the library's agent registries
(:data:`recoworld.agents.AGENTS`, :data:`recoworld.agents.CONVREC_AGENTS`, ...)."""


def check_agent_legality(
    agent_or_factory: Any,
    env: gym.Env | str,
    episodes: int = 3,
    seed: int = 0,
    *,
    respects_action_mask: bool | None = None,
    max_episode_steps: int = 1000,
) -> None:
    """An agent plays legal moves, finishes its episodes, and repeats itself after ``reset``.

    The agent plays ``episodes`` episodes (episode ``i``: ``env.reset(seed=seed + i)`` and
    ``agent.reset(seed=seed + i)``), twice with the same agent, and once more with a fresh
    agent when a factory is given. Checked:

    * the agent follows :class:`recoworld.agents.Agent` (a ``str`` ``name``, ``reset``, ``act``);
    * every action is inside ``env.action_space``;
    * when the agent respects masks (``respects_action_mask``, or else the agent's own
      ``respects_action_mask`` attribute, default False) and the env reports
      ``info["action_mask"]``, every action is marked useful by it: for ``Discrete`` spaces the
      mask entry of the action, for ``MultiDiscrete`` spaces with a 1-D mask the entries of
      every slot;
    * every episode ends (``terminated`` or ``truncated``) within ``max_episode_steps``;
    * the repeated runs choose the same actions (``reset(seed=...)`` makes the agent
      reproducible; this needs a deterministic env, see :func:`check_determinism`).

    Args:
        agent_or_factory: an agent, or a factory ``(env, seed) -> agent``.
        env: the env to play in (used as given), or a registered id.
        episodes: episodes per run.
        seed: the seed of the first episode.
        respects_action_mask: whether to check actions against the mask; None reads the agent.
        max_episode_steps: steps after which an unfinished episode fails the check.

    Raises:
        ConformanceError: a check fails; the message names the agent, the episode and the step.
    """
    made = isinstance(env, str)
    env_name = describe_env(env)
    env = gym.make(env) if isinstance(env, str) else env
    factory = None if _looks_like_agent(agent_or_factory) else agent_or_factory
    if factory is not None and not callable(factory):
        raise ValueError(f"{agent_or_factory!r} is neither an agent nor an agent factory")
    try:
        agent = factory(env, seed) if factory is not None else agent_or_factory
        _check_protocol(agent)
        name = f"agent {agent.name!r} in {env_name}"
        respects = (
            bool(getattr(agent, "respects_action_mask", False))
            if respects_action_mask is None
            else respects_action_mask
        )
        first = _play(agent, env, name, episodes, seed, respects, max_episode_steps)
        runs = [("the same agent, reset again", agent)]
        if factory is not None:
            runs.append(("a fresh agent from the factory", factory(env, seed)))
        for label, player in runs:
            _check_protocol(player)
            again = _play(player, env, name, episodes, seed, respects, max_episode_steps)
            _compare_runs(name, label, seed, first, again)
    finally:
        if made:
            env.close()


def _looks_like_agent(value: Any) -> bool:
    return hasattr(value, "act") and hasattr(value, "reset")


def _check_protocol(agent: Any) -> None:
    missing = [a for a in ("name", "reset", "act") if not hasattr(agent, a)]
    if missing:
        raise ConformanceError(
            f"{agent!r} does not follow the Agent protocol: it has no {', '.join(missing)}"
        )
    if not isinstance(agent.name, str) or not agent.name:
        raise ConformanceError(f"{agent!r}: Agent.name={agent.name!r} must be a non-empty str")
    for method in ("reset", "act"):
        if not callable(getattr(agent, method)):
            raise ConformanceError(f"agent {agent.name!r}: {method} is not callable")


def _play(
    agent: Any,
    env: gym.Env,
    name: str,
    episodes: int,
    seed: int,
    respects_mask: bool,
    max_episode_steps: int,
) -> list[list[Any]]:
    actions: list[list[Any]] = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        agent.reset(seed=seed + episode)
        moves: list[Any] = []
        for step in range(max_episode_steps):
            action = agent.act(obs, info)
            where = f"{name}, episode {episode} (seed {seed + episode}), step {step}"
            if not _contains(env.action_space, action):
                raise ConformanceError(
                    f"{where}: the action {short_repr(action)} is outside the action space "
                    f"{short_repr(env.action_space)}"
                )
            if respects_mask and "action_mask" in info:
                _check_masked(where, env.action_space, action, info["action_mask"])
            moves.append(snapshot(action))
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        else:
            raise ConformanceError(
                f"{name}: episode {episode} (seed {seed + episode}) did not end within "
                f"{max_episode_steps} steps"
            )
        actions.append(moves)
    return actions


def _contains(space: spaces.Space, action: Any) -> bool:
    try:
        return bool(space.contains(action))
    except Exception:
        return False


def _check_masked(where: str, space: spaces.Space, action: Any, mask: Any) -> None:
    mask = np.asarray(mask).astype(bool)
    if isinstance(space, spaces.Discrete) and mask.shape == (int(space.n),):
        useful = bool(mask[int(action) - int(space.start)])
    elif isinstance(space, spaces.MultiDiscrete) and mask.ndim == 1:
        slots = np.asarray(action).ravel() - np.asarray(space.start).ravel()
        useful = bool(np.all((slots < mask.size) & mask[np.minimum(slots, mask.size - 1)]))
    else:
        raise ConformanceError(
            f"{where}: cannot read an action_mask of shape {mask.shape} for the action space "
            f"{short_repr(space)}; pass respects_action_mask=False"
        )
    if not useful:
        raise ConformanceError(
            f"{where}: the agent respects action masks, but its action {short_repr(action)} is "
            "not marked useful by info['action_mask']"
        )


def _compare_runs(
    name: str, label: str, seed: int, first: list[list[Any]], again: list[list[Any]]
) -> None:
    for episode, (moves_a, moves_b) in enumerate(zip(first, again, strict=True)):
        for step in range(max(len(moves_a), len(moves_b))):
            found: str | None
            if step >= len(moves_a) or step >= len(moves_b):
                found = "one run ended earlier"
            else:
                found = first_difference(moves_a[step], moves_b[step], "the action")
            if found:
                raise ConformanceError(
                    f"{name} is not reproducible: with {label}, episode {episode} (seed "
                    f"{seed + episode}) differs at step {step}: {found}; draw the agent's "
                    "randomness from a generator seeded in reset(seed=...)"
                )
