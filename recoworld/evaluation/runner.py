"""One episode runner for every registered env: seeded episodes, an env's metric set, one report.

:func:`evaluate` plays one agent, :func:`compare` several on the same seeds (episode ``i`` draws
the same user, target or conversation for every agent, so differences are paired). The env's
metrics come from its :class:`~recoworld.evaluation.metric_sets.MetricSet`; agents are
registered per env (:func:`recoworld.agents.register_agent`); trajectories, LLM usage totals and
cost caps work the same for every env.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from recoworld.agents.base import Agent
from recoworld.agents.registry import agent_entry
from recoworld.evaluation.metric_sets import Recorder, metric_set_for
from recoworld.evaluation.report import EvaluationReport, UsageTally, UsageTotals, json_safe
from recoworld.evaluation.trajectories import TrajectoryWriter
from recoworld.llm import CostCapExceeded, Usage
from recoworld.validation import check_int

__all__ = ["AgentSpec", "ResetOptions", "TrajectoryTarget", "compare", "evaluate"]

AgentSpec = str | Agent | Callable[[gym.Env], Agent]
"""An agent to evaluate: a name registered for the env id, an instance, or a factory called with
the env."""

TrajectoryTarget = str | os.PathLike[str] | TrajectoryWriter
"""Where trajectories go: a ``.jsonl`` path (a new file; an existing one is refused unless
``overwrite=True``), or an open :class:`~recoworld.evaluation.trajectories.TrajectoryWriter` that
the caller closes."""

ResetOptions = Sequence[Mapping[str, Any] | None] | Callable[[int], Mapping[str, Any] | None]
"""Per-episode ``reset`` options: a sequence (episode ``i`` gets item ``i``) or a function of the
episode index. ``ConvRec-v0`` takes ``{"pair": (user, item)}`` to play an exact evaluation set;
``RecoChat-v0`` takes ``{"target": item}``."""


def evaluate(
    agent: AgentSpec,
    env_id: str = "RecoWorld-v0",
    episodes: int | None = None,
    seed: int = 0,
    *,
    progress: bool = False,
    trajectories: TrajectoryTarget | None = None,
    overwrite: bool = False,
    agent_options: Mapping[str, Any] | None = None,
    reset_options: ResetOptions | None = None,
    **env_kwargs: Any,
) -> EvaluationReport:
    """Play ``agent`` for ``episodes`` episodes of ``gym.make(env_id, **env_kwargs)``.

    Episode ``i`` calls ``env.reset(seed=seed + i)`` (with ``reset_options`` for episode ``i``
    when given) and ``agent.reset(seed=seed + i)``, so a run is reproducible and every agent
    meets the same users on the same seeds. ``agent`` is a name registered for ``env_id``
    (:func:`~recoworld.agents.agent_names`; built on this run's env, with ``agent_options``
    such as ``{"checkpoint": path}``, and with the env settings the agent needs, e.g. a saved
    policy's action type), an :class:`~recoworld.agents.Agent`, or a callable ``env -> Agent``.
    ``episodes`` defaults to the length of a ``reset_options`` sequence, else 100.

    The metrics are the env's metric set (:func:`~recoworld.evaluation.metric_set_for`:
    engagement and retention for ``RecoWorld-v0``, SR@k/AT/hDCG for ``ConvRec-v0``, success
    rate/turns/satisfaction for ``RecoChat-v0``, return and length for any other env), each
    with a 95% interval. ``report.usage`` sums the ``info["usage"]`` the env reports at every
    reset and step (the simulated user's language-model calls, tokens, cost, latency, cache
    hits); ``report.agent_usage`` sums the agent's own calls (an agent with a ``usage``
    attribute). ``progress=True`` shows a rich progress bar on stderr.

    With ``trajectories`` (a ``.jsonl`` path, or a
    :class:`~recoworld.evaluation.trajectories.TrajectoryWriter`) every reset and step is
    written to disk as the run goes, and flushed after each episode; see
    :mod:`recoworld.evaluation.trajectories` for the record format. A path that names an
    existing file is refused (``FileExistsError``) unless ``overwrite=True``; the file is
    created when the first episode begins, so a run that fails while making the env or the
    agent leaves the disk as it was.

    A :class:`~recoworld.llm.CostCapExceeded` raised while an episode plays (by the env or the
    agent) stops the run cleanly: the episodes already completed make the report, which says
    ``stopped_early`` and why; the episode cut short is left out of the metrics and written to
    the trajectories marked incomplete. Any other exception propagates, after the trajectories
    written so far (and the cut-short episode, marked incomplete) are flushed to disk.

    Raises:
        ValueError: ``episodes`` is not a positive integer, ``seed`` is not a non-negative
            integer, the agent name is unknown for ``env_id``, an agent option is unknown,
            ``reset_options`` has fewer entries than episodes, ``trajectories`` is neither a
            path nor a writer, or the env lacks the ``info`` keys its metric set reads or
            reports a malformed ``info["usage"]``.
        FileExistsError: ``trajectories`` names an existing file and ``overwrite`` is false.
    """
    episodes = _episodes(episodes, reset_options)
    seed = check_int("seed", seed, 0)
    with _open_trajectories(trajectories, overwrite) as writer:
        if progress:
            with _progress_bar() as bar:
                task = bar.add_task(_agent_label(agent), total=episodes)
                return _evaluate(
                    agent,
                    env_id,
                    episodes,
                    seed,
                    env_kwargs,
                    agent_options,
                    reset_options,
                    lambda: bar.advance(task),
                    writer,
                )
        return _evaluate(
            agent, env_id, episodes, seed, env_kwargs, agent_options, reset_options, None, writer
        )


def compare(
    agents: Sequence[AgentSpec],
    env_id: str = "RecoWorld-v0",
    episodes: int | None = None,
    seed: int = 0,
    *,
    progress: bool = False,
    trajectories: TrajectoryTarget | None = None,
    overwrite: bool = False,
    agent_options: Mapping[str, Mapping[str, Any]] | None = None,
    reset_options: ResetOptions | None = None,
    **env_kwargs: Any,
) -> dict[str, EvaluationReport]:
    """:func:`evaluate` each agent on the same seeds; reports keyed by agent name, in order.

    ``agent_options`` maps an agent name to its options. A name that occurs twice gets a
    suffix (``greedy``, ``greedy#2``). All agents' trajectories go to the one ``trajectories``
    file (each record names its agent). When a cost cap stops an agent's run, the comparison
    stops there too (the cap is spent for every agent that would follow): the reports returned
    are those of the agents played so far, the last of them ``stopped_early``.
    """
    if isinstance(agents, str) or not agents:
        raise ValueError(f"agents={agents!r} must be a non-empty list of agents")
    episodes = _episodes(episodes, reset_options)
    seed = check_int("seed", seed, 0)
    options_by_name = dict(agent_options or {})
    unknown = sorted(set(options_by_name) - {a for a in agents if isinstance(a, str)})
    if unknown:
        raise ValueError(f"agent_options names {unknown}, which are not among the agents")
    reports: dict[str, EvaluationReport] = {}

    def run(
        agent: AgentSpec, advance: Callable[[], None] | None, writer: TrajectoryWriter | None
    ) -> bool:
        options = options_by_name.get(agent) if isinstance(agent, str) else None
        report = _evaluate(
            agent, env_id, episodes, seed, env_kwargs, options, reset_options, advance, writer
        )
        key, copy = report.agent, 2
        while key in reports:
            key, copy = f"{report.agent}#{copy}", copy + 1
        reports[key] = report
        return not report.stopped_early

    with _open_trajectories(trajectories, overwrite) as writer:
        if progress:
            with _progress_bar() as bar:
                tasks = [
                    bar.add_task(_agent_label(agent), total=episodes, start=False)
                    for agent in agents
                ]
                for agent, task in zip(agents, tasks, strict=True):
                    bar.start_task(task)
                    go_on = run(agent, functools.partial(bar.advance, task), writer)
                    bar.stop_task(task)
                    if not go_on:
                        break
        else:
            for agent in agents:
                if not run(agent, None, writer):
                    break
    return reports


# --------------------------------------------------------------------------- internals


def _episodes(episodes: Any, reset_options: ResetOptions | None) -> int:
    if episodes is None:
        if reset_options is not None and not callable(reset_options):
            return check_int("episodes (the number of reset_options)", len(reset_options), 1)
        return 100
    episodes = check_int("episodes", episodes, 1)
    if reset_options is not None and not callable(reset_options):
        if len(reset_options) < episodes:
            raise ValueError(
                f"episodes={episodes} exceeds the {len(reset_options)} reset_options given"
            )
    return episodes


def _options_for(reset_options: ResetOptions | None, episode: int) -> dict[str, Any] | None:
    if reset_options is None:
        return None
    options = reset_options(episode) if callable(reset_options) else reset_options[episode]
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise ValueError(f"reset_options for episode {episode} = {options!r} must be a dict")
    return dict(options)


@contextmanager
def _open_trajectories(
    target: TrajectoryTarget | None, overwrite: bool = False
) -> Iterator[TrajectoryWriter | None]:
    """The writer for ``target``: opened and closed here for a path (an existing file only
    with ``overwrite``), lent for a writer."""
    if target is None:
        yield None
    elif isinstance(target, TrajectoryWriter):
        if target.closed:
            raise ValueError(f"trajectories={target!r} is closed")
        try:
            yield target
        finally:
            target.end_episode(complete=False)
            target.flush()
    elif isinstance(target, str | os.PathLike):
        with TrajectoryWriter(target, overwrite=overwrite) as writer:
            yield writer
    else:
        raise ValueError(f"trajectories={target!r} must be a .jsonl path or a TrajectoryWriter")


@dataclass(frozen=True)
class _RunOutcome:
    """How a loop of :func:`_run_episodes` ended."""

    episodes_completed: int
    usage: UsageTotals
    stop_reason: str | None = None
    incomplete_episode: int | None = None


def _run_episodes(
    env: gym.Env,
    agent: Agent,
    episodes: int,
    seed: int,
    recorder: Recorder,
    *,
    advance: Callable[[], None] | None = None,
    writer: TrajectoryWriter | None = None,
    reset_options: ResetOptions | None = None,
) -> _RunOutcome:
    """Play seeded episodes; give each whole one to ``recorder``.

    Sums ``info["usage"]``, records trajectories, and stops cleanly on
    :class:`~recoworld.llm.CostCapExceeded` (the episode it cut short is not recorded); any
    other exception propagates after the writer has the cut-short episode (marked incomplete)
    on disk.
    """
    tally = UsageTally()
    for episode in range(episodes):
        episode_seed = seed + episode
        if writer is not None:
            writer.begin_episode(episode, episode_seed, agent.name)
        rewards: list[float] = []
        infos: list[dict[str, Any]] = []
        try:
            options = _options_for(reset_options, episode)
            observation, info = env.reset(seed=episode_seed, options=options)
            tally.add(info, step=False)
            if writer is not None:
                writer.record_reset(info)
            agent.reset(seed=episode_seed)
            done = False
            while not done:
                action = agent.act(observation, info)
                observation, reward, terminated, truncated, info = env.step(action)
                tally.add(info, step=True)
                if writer is not None:
                    writer.record_step(action, float(reward), terminated, truncated, info)
                rewards.append(float(reward))
                infos.append(info)
                done = bool(terminated or truncated)
        except CostCapExceeded as error:
            if writer is not None:
                writer.end_episode(complete=False)
            return _RunOutcome(episode, tally.totals(), str(error), episode)
        except BaseException:
            if writer is not None:
                writer.end_episode(complete=False)
            raise
        if writer is not None:
            writer.end_episode(complete=True)
        recorder.record(episode, rewards, infos)
        if advance is not None:
            advance()
    return _RunOutcome(episodes, tally.totals())


def _make_env_and_agent(
    spec: AgentSpec,
    env_id: str,
    seed: int,
    env_kwargs: Mapping[str, Any],
    agent_options: Mapping[str, Any] | None,
) -> tuple[gym.Env, Agent, dict[str, Any]]:
    """The env (with the settings a registered agent needs), the agent, and the env kwargs."""
    if isinstance(spec, str):
        entry = agent_entry(env_id, spec)
        kwargs, options = entry.prepare_env(dict(agent_options or {}), env_kwargs, seed)
        env = gym.make(env_id, **kwargs)
        try:
            return env, entry.build(env, seed, options), kwargs
        except BaseException:
            env.close()
            raise
    if agent_options:
        raise ValueError(
            f"agent_options={dict(agent_options)!r} apply to an agent given by name, not {spec!r}"
        )
    env = gym.make(env_id, **env_kwargs)
    try:
        if isinstance(spec, Agent) and not isinstance(spec, type):
            return env, spec, dict(env_kwargs)
        if callable(spec):
            agent = spec(env)
            if not isinstance(agent, Agent):
                raise ValueError(
                    f"agent factory {spec!r} returned {agent!r}, which lacks the Agent protocol "
                    "(name, reset(seed=), act(observation, info))"
                )
            return env, agent, dict(env_kwargs)
        raise ValueError(
            f"agent={spec!r} is not an agent name, an Agent or a callable env -> Agent"
        )
    except BaseException:
        env.close()
        raise


def _evaluate(
    agent_spec: AgentSpec,
    env_id: str,
    episodes: int,
    seed: int,
    env_kwargs: Mapping[str, Any],
    agent_options: Mapping[str, Any] | None,
    reset_options: ResetOptions | None,
    advance: Callable[[], None] | None,
    writer: TrajectoryWriter | None,
) -> EvaluationReport:
    env, agent, used_kwargs = _make_env_and_agent(
        agent_spec, env_id, seed, env_kwargs, agent_options
    )
    metric_set = metric_set_for(env_id)
    try:
        recorder = metric_set.make_recorder(env, episodes)
        agent_usage_before = _agent_usage(agent)
        outcome = _run_episodes(
            env,
            agent,
            episodes,
            seed,
            recorder,
            advance=advance,
            writer=writer,
            reset_options=reset_options,
        )
        agent_usage = _agent_usage(agent) - agent_usage_before
    finally:
        env.close()
    completed = outcome.episodes_completed
    summary = metric_set.finish(recorder.summarize(completed, seed), completed)
    config: dict[str, Any] = {
        "env_id": env_id,
        "agent": agent.name,
        "episodes": episodes,
        "seed": seed,
        **summary.config,
        "env_kwargs": json_safe(dict(used_kwargs)),
    }
    if agent_options:
        config["agent_options"] = json_safe(dict(agent_options))
    return EvaluationReport(
        metrics=summary.metrics,
        ci95=summary.ci95,
        config=config,
        per_episode=summary.per_episode,
        usage=outcome.usage,
        agent_usage=UsageTotals.of(agent_usage, outcome.usage.steps),
        episodes_completed=completed,
        stop_reason=outcome.stop_reason,
        incomplete_episode=outcome.incomplete_episode,
    )


def _agent_usage(agent: Agent) -> Usage:
    """The agent's cumulative model usage (its ``usage`` attribute; zeros without one)."""
    usage = getattr(agent, "usage", None)
    return usage if isinstance(usage, Usage) else Usage()


def _agent_label(spec: AgentSpec) -> str:
    if isinstance(spec, str):
        return spec
    return str(getattr(spec, "name", getattr(spec, "__name__", type(spec).__name__)))


@contextmanager
def _progress_bar() -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        yield bar
