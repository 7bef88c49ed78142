"""Run agents on an environment for many seeded episodes and report metrics with 95% intervals.

:func:`evaluate` plays one agent, :func:`compare` several on the same seeds (episode ``i`` draws
the same user for every agent, so differences are paired), and :class:`EvaluationReport` holds
the numbers, renders them as a rich table and writes them as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.table import Table

from recoworld.agents import Agent, make_agent
from recoworld.evaluation.metrics import (
    bootstrap_ci95,
    catalog_coverage,
    gini,
    intra_list_diversity,
    mean_ci95,
    novelty,
)
from recoworld.evaluation.trajectories import TrajectoryWriter
from recoworld.llm import CostCapExceeded, Usage

AgentSpec = str | Agent | Callable[[gym.Env], Agent]
"""An agent to evaluate: a registered name, an instance, or a factory called with the env."""

TrajectoryTarget = str | os.PathLike[str] | TrajectoryWriter
"""Where :func:`evaluate` writes trajectories: a ``.jsonl`` path (created, or emptied), or an open
:class:`~recoworld.evaluation.trajectories.TrajectoryWriter` that the caller closes."""

EPISODE_METRICS: dict[str, str] = {
    "return": "sum of rewards over the episode",
    "clicks": "items clicked over the episode",
    "ctr": "clicks / non-empty slots shown",
    "watch_time": "minutes watched over the episode",
    "session_length": "turns per session (mean over the episode's sessions)",
    "sessions": "sessions in the episode (one user per episode)",
    "return_gap_days": "mean drawn return gap over the sessions that ended (days)",
    "churn_rate": "1 if the user churned during the episode, else 0",
    "intra_list_diversity": "mean over slates of the mean pairwise cosine distance",
    "novelty": "mean self-information -log2(popularity) of shown items (bits)",
    "wasted_slots": "empty slots (repeated candidates) over the episode",
    "instructions": "reflective instructions the user gave over the episode",
}
"""Metrics computed per episode, with their definitions; reported as mean and t-interval.

An episode where a metric is undefined (no session ended, so no return gap; no non-empty slot)
records NaN and does not contribute to the mean.
"""

RUN_METRICS: dict[str, str] = {
    "coverage": "fraction of catalog items shown at least once over the run",
    "exposure_gini": "Gini coefficient of item exposure counts over the run",
}
"""Metrics computed over the whole run, reported with percentile-bootstrap intervals.

Resampling episodes with replacement repeats some and drops others, so a resample sees fewer
distinct items than the run: the coverage interval sits mostly below the run's value (and the
Gini interval mostly above). Read these intervals as the spread due to which users were drawn.
"""

METRIC_LABELS: dict[str, str] = {
    "return": "Return",
    "clicks": "Clicks",
    "ctr": "CTR",
    "watch_time": "Watch time (min)",
    "session_length": "Session length (turns)",
    "sessions": "Sessions",
    "return_gap_days": "Return gap (days)",
    "churn_rate": "Churn rate",
    "intra_list_diversity": "Diversity (ILD)",
    "novelty": "Novelty (bits)",
    "wasted_slots": "Wasted slots",
    "instructions": "Instructions",
    "coverage": "Coverage",
    "exposure_gini": "Exposure Gini",
}

COMPARISON_METRICS: tuple[str, ...] = (
    "return",
    "clicks",
    "ctr",
    "watch_time",
    "session_length",
    "return_gap_days",
    "intra_list_diversity",
    "coverage",
    "exposure_gini",
)
"""The metrics :func:`comparison_table` shows by default."""

_REQUIRED_INFO = ("slate", "clicks", "watch_time", "session_ended", "return_gap_days", "churned")


USAGE_LABELS: dict[str, str] = {
    "calls": "LLM calls",
    "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Completion tokens",
    "cost_usd": "LLM cost (USD)",
    "latency_s": "LLM latency (s)",
    "cache_hits": "LLM cache hits",
    "calls_per_step": "LLM calls / step",
    "tokens_per_step": "LLM tokens / step",
}
"""Row labels of the language-model usage in report tables."""

_USAGE_FIELDS = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_s",
    "cache_hits",
)


@dataclass(frozen=True)
class UsageTotals:
    """Language-model usage summed over the resets and steps of a run.

    Built from the ``info["usage"]`` dicts the env reports (RecoWorld-v0 reports what each step
    cost; envs that report none count as zeros). ``steps`` counts the ``env.step`` calls that
    returned, including those of an episode cut short by a cost cap: their calls were paid for.
    ``latency_s`` is the sum of the calls' wall-clock latencies (calls that overlap each count
    in full).

    >>> totals = UsageTotals(calls=3, prompt_tokens=40, completion_tokens=20, steps=2)
    >>> totals.calls_per_step, totals.tokens_per_step
    (1.5, 30.0)
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cache_hits: int = 0
    steps: int = 0

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def calls_per_step(self) -> float:
        """Mean LLM calls per env step (NaN when no step was played)."""
        return self.calls / self.steps if self.steps else float("nan")

    @property
    def tokens_per_step(self) -> float:
        """Mean prompt plus completion tokens per env step (NaN when no step was played)."""
        return self.tokens / self.steps if self.steps else float("nan")

    def as_dict(self) -> dict[str, int | float]:
        """The totals, ``steps`` and the per-step means, as a plain dict."""
        return {
            **{name: getattr(self, name) for name in _USAGE_FIELDS},
            "steps": self.steps,
            "calls_per_step": self.calls_per_step,
            "tokens_per_step": self.tokens_per_step,
        }


class _UsageTally:
    """Adds up ``info["usage"]`` dicts as a run goes; :meth:`totals` reads the sum."""

    def __init__(self) -> None:
        self._usage = Usage()
        self._steps = 0

    def add(self, info: Mapping[str, Any], *, step: bool) -> None:
        """Add the ``usage`` of one ``info`` (from a step when ``step``, else from a reset).

        Raises:
            ValueError: ``info["usage"]`` is not a dict of non-negative numbers.
        """
        if step:
            self._steps += 1
        usage = info.get("usage") if isinstance(info, Mapping) else None
        if usage is None:
            return
        if isinstance(usage, Usage):
            usage = usage.as_dict()
        if not isinstance(usage, Mapping):
            raise ValueError(
                f"info['usage'] must be a dict with keys {list(_USAGE_FIELDS)}, "
                f"got {type(usage).__name__}"
            )
        values: dict[str, Any] = {}
        for name in _USAGE_FIELDS:
            value = usage.get(name, 0)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float | np.integer | np.floating)
                or not value >= 0
            ):
                raise ValueError(
                    f"info['usage'][{name!r}] = {value!r} must be a non-negative number"
                )
            values[name] = float(value) if name in ("cost_usd", "latency_s") else int(value)
        self._usage = self._usage + Usage(**values)

    def totals(self) -> UsageTotals:
        return UsageTotals(**self._usage.as_dict(), steps=self._steps)


@dataclass(frozen=True, eq=False)
class EvaluationReport:
    """The outcome of :func:`evaluate`.

    A run that a :class:`~recoworld.llm.CostCapExceeded` stopped has ``stopped_early`` set: its
    metrics cover the ``episodes_completed`` whole episodes only, ``incomplete_episode`` is the
    index of the episode that was cut short, and ``stop_reason`` is the error's message.

    Attributes:
        metrics: metric name -> value (mean over episodes, or the run-level value).
        ci95: metric name -> ``(lo, hi)`` 95% interval (Student-t for per-episode metrics,
            percentile bootstrap over episodes for ``coverage`` and ``exposure_gini``).
        config: ``env_id``, ``agent``, ``episodes`` (as asked), ``seed`` and ``env_kwargs``
            (JSON-safe).
        per_episode: per-episode metric name -> ``(episodes_completed,)`` float array
            (NaN = undefined).
        usage: language-model usage summed over every reset and step played.
        episodes_completed: whole episodes played (``config["episodes"]`` unless stopped).
        stop_reason: why the run stopped before ``config["episodes"]`` episodes, or ``None``.
        incomplete_episode: index of the episode cut short when the run stopped, or ``None``.
    """

    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    config: dict[str, Any]
    per_episode: dict[str, np.ndarray]
    usage: UsageTotals = field(default_factory=UsageTotals)
    episodes_completed: int | None = None
    stop_reason: str | None = None
    incomplete_episode: int | None = None

    def __post_init__(self) -> None:
        if self.episodes_completed is None:
            object.__setattr__(self, "episodes_completed", int(self.config["episodes"]))

    @property
    def agent(self) -> str:
        """Name of the evaluated agent."""
        return str(self.config["agent"])

    @property
    def stopped_early(self) -> bool:
        """Whether the run stopped before playing every episode it was asked for."""
        return self.stop_reason is not None

    @property
    def episodes_requested(self) -> int:
        """Episodes the run was asked to play."""
        return int(self.config["episodes"])

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics", "ci95", "config", "usage", "run"}`` as JSON-safe values (NaN becomes
        ``None``); ``run`` holds ``episodes_requested``, ``episodes_completed``,
        ``stopped_early``, ``stop_reason`` and ``incomplete_episode``."""
        return {
            "metrics": {name: _finite_or_none(value) for name, value in self.metrics.items()},
            "ci95": {
                name: [_finite_or_none(lo), _finite_or_none(hi)]
                for name, (lo, hi) in self.ci95.items()
            },
            "config": json_safe(self.config),
            "usage": json_safe(self.usage.as_dict()),
            "run": {
                "episodes_requested": self.episodes_requested,
                "episodes_completed": self.episodes_completed,
                "stopped_early": self.stopped_early,
                "stop_reason": self.stop_reason,
                "incomplete_episode": self.incomplete_episode,
            },
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (parent folders are created); return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target

    def table(self, title: str | None = None) -> Table:
        """A rich table: one row per metric with its value and 95% interval, then the LLM usage
        (totals and per-step means); a stopped run says so in the title and caption."""
        config = self.config
        if self.stopped_early:
            episodes = (
                f"stopped early after {self.episodes_completed} of {config['episodes']} episodes"
            )
        else:
            episodes = f"{config['episodes']} episodes"
        table = Table(
            title=title or f"{self.agent} on {config['env_id']} ({episodes})",
            caption=f"Stopped early: {self.stop_reason}" if self.stopped_early else None,
        )
        table.add_column("Metric")
        table.add_column("Mean", justify="right")
        table.add_column("95% CI", justify="right")
        for name, value in self.metrics.items():
            lo, hi = self.ci95[name]
            table.add_row(
                METRIC_LABELS.get(name, name),
                format_number(value),
                f"[{format_number(lo, like=value)}, {format_number(hi, like=value)}]",
            )
        table.add_section()
        usage = self.usage.as_dict()
        for name, label in USAGE_LABELS.items():
            kind = "per step" if name.endswith("_per_step") else "total"
            table.add_row(label, format_usage(name, usage[name]), kind)
        return table


def evaluate(
    agent: AgentSpec,
    env_id: str = "RecoWorld-v0",
    episodes: int = 100,
    seed: int = 0,
    *,
    progress: bool = False,
    trajectories: TrajectoryTarget | None = None,
    **env_kwargs: Any,
) -> EvaluationReport:
    """Play ``agent`` for ``episodes`` episodes of ``gym.make(env_id, **env_kwargs)``.

    Episode ``i`` calls ``env.reset(seed=seed + i)`` and ``agent.reset(seed=seed + i)``, so a
    run is reproducible and every agent meets the same users on the same seeds. ``agent`` is an
    :class:`~recoworld.agents.Agent`, a name for :func:`~recoworld.agents.make_agent` (built on
    this run's env, which oracle agents need), or a callable ``env -> Agent``. The env must
    report the RecoWorld ``info`` keys (``slate``, ``clicks``, ``watch_time``,
    ``session_ended``, ``return_gap_days``, ``churned``) and have ``env.unwrapped.catalog``.

    Metrics are listed in :data:`EPISODE_METRICS` and :data:`RUN_METRICS`. The bootstrap for the
    run-level ones uses ``numpy.random.default_rng(seed)``. ``report.usage`` sums the
    ``info["usage"]`` the env reports at every reset and step (language-model calls, tokens,
    cost, latency, cache hits). ``progress=True`` shows a rich progress bar on stderr.

    With ``trajectories`` (a ``.jsonl`` path, or a
    :class:`~recoworld.evaluation.trajectories.TrajectoryWriter`) every reset and step is
    written to disk as the run goes, and flushed after each episode; see
    :mod:`recoworld.evaluation.trajectories` for the record format.

    A :class:`~recoworld.llm.CostCapExceeded` raised while an episode plays (by the env or the
    agent) stops the run cleanly: the episodes already completed make the report, which says
    ``stopped_early`` and why; the episode cut short is left out of the metrics and written to
    the trajectories marked incomplete. Any other exception propagates, after the trajectories
    written so far (and the cut-short episode, marked incomplete) are flushed to disk.

    Raises:
        ValueError: ``episodes`` is not a positive integer, ``seed`` is not a non-negative
            integer, the agent name is unknown, ``trajectories`` is neither a path nor a
            writer, or the env lacks the ``info`` keys above or reports a malformed
            ``info["usage"]``.
    """
    _check_run(episodes, seed)
    with _open_trajectories(trajectories) as writer:
        if progress:
            with _progress_bar() as bar:
                task = bar.add_task(_agent_label(agent), total=episodes)
                return _evaluate(
                    agent, env_id, episodes, seed, env_kwargs, lambda: bar.advance(task), writer
                )
        return _evaluate(agent, env_id, episodes, seed, env_kwargs, None, writer)


def compare(
    agents: Sequence[AgentSpec],
    env_id: str = "RecoWorld-v0",
    episodes: int = 100,
    seed: int = 0,
    *,
    progress: bool = False,
    trajectories: TrajectoryTarget | None = None,
    **env_kwargs: Any,
) -> dict[str, EvaluationReport]:
    """:func:`evaluate` each agent on the same seeds; reports keyed by agent name, in order.

    A name that occurs twice gets a suffix (``greedy``, ``greedy#2``). All agents' trajectories
    go to the one ``trajectories`` file (each record names its agent). When a cost cap stops an
    agent's run, the comparison stops there too (the cap is spent for every agent that would
    follow): the reports returned are those of the agents played so far, the last of them
    ``stopped_early``.
    """
    if not agents:
        raise ValueError("compare needs at least one agent")
    _check_run(episodes, seed)
    reports: dict[str, EvaluationReport] = {}

    def run(
        agent: AgentSpec, advance: Callable[[], None] | None, writer: TrajectoryWriter | None
    ) -> bool:
        report = _evaluate(agent, env_id, episodes, seed, env_kwargs, advance, writer)
        key, copy = report.agent, 2
        while key in reports:
            key, copy = f"{report.agent}#{copy}", copy + 1
        reports[key] = report
        return not report.stopped_early

    with _open_trajectories(trajectories) as writer:
        if progress:
            with _progress_bar() as bar:
                tasks = [
                    bar.add_task(_agent_label(agent), total=episodes, start=False)
                    for agent in agents
                ]
                for agent, task in zip(agents, tasks, strict=True):
                    bar.start_task(task)
                    go_on = run(agent, lambda task=task: bar.advance(task), writer)
                    bar.stop_task(task)
                    if not go_on:
                        break
        else:
            for agent in agents:
                if not run(agent, None, writer):
                    break
    return reports


def comparison_table(
    reports: dict[str, EvaluationReport],
    metrics: Sequence[str] = COMPARISON_METRICS,
    title: str | None = None,
    *,
    usage: bool | None = None,
) -> Table:
    """A rich table with one row per metric and one column per agent.

    Each cell is ``mean ± half-width`` of the 95% interval; for the bootstrap intervals
    (coverage, Gini), which need not be symmetric, the half-width is ``(hi - lo) / 2``.
    ``usage=True`` adds the language-model usage (calls, tokens, cost and per-step means);
    ``None`` adds it when some agent's run made an LLM call or hit the cache. When a run
    stopped early, a row gives the episodes each agent completed, and the caption says why.
    """
    if not reports:
        raise ValueError("comparison_table needs at least one report")
    first = next(iter(reports.values())).config
    stopped = [(name, r) for name, r in reports.items() if r.stopped_early]
    table = Table(
        title=title
        or f"{first['env_id']}: mean ± 95% CI half-width over {first['episodes']} episodes",
        caption="; ".join(f"{name} stopped early: {r.stop_reason}" for name, r in stopped) or None,
    )
    table.add_column("Metric")
    for name in reports:
        table.add_column(name, justify="right")
    if stopped:
        table.add_row("Episodes completed", *(str(r.episodes_completed) for r in reports.values()))
    for metric in metrics:
        cells = []
        for report in reports.values():
            if metric not in report.metrics:
                cells.append("-")
                continue
            value = report.metrics[metric]
            lo, hi = report.ci95[metric]
            half = (hi - lo) / 2.0
            cells.append(f"{format_number(value)} ± {format_number(half, like=value)}")
        table.add_row(METRIC_LABELS.get(metric, metric), *cells)
    if usage is None:
        usage = any(r.usage.calls or r.usage.cache_hits for r in reports.values())
    if usage:
        table.add_section()
        for name in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
            table.add_row(
                USAGE_LABELS[name],
                *(format_usage(name, getattr(r.usage, name)) for r in reports.values()),
            )
        for name in ("calls_per_step", "tokens_per_step"):
            table.add_row(
                USAGE_LABELS[name],
                *(format_usage(name, getattr(r.usage, name)) for r in reports.values()),
            )
    return table


def format_number(value: float, like: float | None = None) -> str:
    """A compact fixed-point rendering; decimals follow the magnitude of ``like`` (or ``value``).

    >>> format_number(103.724), format_number(0.12345), format_number(0.5, like=1.5)
    ('103.7', '0.123', '0.50')
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    scale = abs(value if like is None or not math.isfinite(like) else like)
    decimals = 1 if scale >= 10 else 2 if scale >= 1 else 3
    return f"{value:.{decimals}f}"


def format_usage(name: str, value: float) -> str:
    """One usage figure for a table: counts with thousands separators, cost in dollars to the
    hundredth of a cent, latency in seconds, per-step means as :func:`format_number`.

    >>> format_usage("prompt_tokens", 12345), format_usage("cost_usd", 0.01234)
    ('12,345', '$0.0123')
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    if name == "cost_usd":
        return f"${value:.4f}"
    if name == "latency_s":
        return f"{value:.2f}"
    if name.endswith("_per_step"):
        return format_number(value)
    return f"{int(value):,}"


# --------------------------------------------------------------------------- internals


def _check_run(episodes: Any, seed: Any) -> None:
    if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be a positive integer (at least 1)")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")


@contextmanager
def _open_trajectories(target: TrajectoryTarget | None) -> Iterator[TrajectoryWriter | None]:
    """The writer for ``target``: opened and closed here for a path, lent for a writer."""
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
        with TrajectoryWriter(target) as writer:
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
    on_episode: Callable[[int, list[float], list[dict[str, Any]]], None],
    *,
    advance: Callable[[], None] | None = None,
    writer: TrajectoryWriter | None = None,
    reset_options: Callable[[int], dict[str, Any] | None] | None = None,
) -> _RunOutcome:
    """Play seeded episodes; call ``on_episode(index, rewards, step_infos)`` after each whole one.

    Sums ``info["usage"]``, records trajectories, and stops cleanly on
    :class:`~recoworld.llm.CostCapExceeded` (the episode it cut short is not passed to
    ``on_episode``); any other exception propagates after the writer has the cut-short episode
    (marked incomplete) on disk.
    """
    tally = _UsageTally()
    for episode in range(episodes):
        episode_seed = seed + episode
        if writer is not None:
            writer.begin_episode(episode, episode_seed, agent.name)
        rewards: list[float] = []
        infos: list[dict[str, Any]] = []
        try:
            options = None if reset_options is None else reset_options(episode)
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
                    writer.record_step(action, reward, terminated, truncated, info)
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
        on_episode(episode, rewards, infos)
        if advance is not None:
            advance()
    return _RunOutcome(episodes, tally.totals())


def _evaluate(
    agent_spec: AgentSpec,
    env_id: str,
    episodes: int,
    seed: int,
    env_kwargs: dict[str, Any],
    advance: Callable[[], None] | None,
    writer: TrajectoryWriter | None,
) -> EvaluationReport:
    _check_run(episodes, seed)
    episodes, seed = int(episodes), int(seed)
    env = gym.make(env_id, **env_kwargs)
    try:
        agent = build_agent(agent_spec, env, seed)
        recorder = _RecoWorldRecorder(env.unwrapped.catalog, episodes)
        outcome = _run_episodes(
            env, agent, episodes, seed, recorder.record, advance=advance, writer=writer
        )
    finally:
        env.close()

    completed = outcome.episodes_completed
    per_episode = {name: values[:completed] for name, values in recorder.per_episode.items()}
    exposure = recorder.exposure[:completed]
    metrics: dict[str, float] = {}
    ci95: dict[str, tuple[float, float]] = {}
    for name, values in per_episode.items():
        mean, lo, hi = mean_ci95(values)
        metrics[name], ci95[name] = mean, (lo, hi)
    rng = np.random.default_rng(seed)
    run_statistics: dict[str, Callable[[np.ndarray], float]] = {
        "coverage": lambda counts: catalog_coverage(counts.sum(axis=0)),
        "exposure_gini": lambda counts: gini(counts.sum(axis=0)),
    }
    for name, statistic in run_statistics.items():
        if completed:
            metrics[name] = statistic(exposure)
            ci95[name] = bootstrap_ci95(exposure, statistic, rng)
        else:
            metrics[name], ci95[name] = float("nan"), (float("nan"), float("nan"))
    config = {
        "env_id": env_id,
        "agent": agent.name,
        "episodes": episodes,
        "seed": seed,
        "env_kwargs": json_safe(env_kwargs),
    }
    return EvaluationReport(
        metrics=metrics,
        ci95=ci95,
        config=config,
        per_episode=per_episode,
        usage=outcome.usage,
        episodes_completed=completed,
        stop_reason=outcome.stop_reason,
        incomplete_episode=outcome.incomplete_episode,
    )


def build_agent(spec: AgentSpec, env: gym.Env, seed: int) -> Agent:
    """The agent of ``spec`` (a name for :func:`~recoworld.agents.make_agent`, an Agent, or a
    callable ``env -> Agent``) for ``env``; ValueError if it is none of these."""
    if isinstance(spec, str):
        return make_agent(spec, env, seed)
    if isinstance(spec, Agent) and not isinstance(spec, type):
        return spec
    if callable(spec):
        agent = spec(env)
        if not isinstance(agent, Agent):
            raise ValueError(
                f"agent factory {spec!r} returned {agent!r}, which lacks the Agent protocol "
                "(name, reset(seed=), act(observation, info))"
            )
        return agent
    raise ValueError(f"agent={spec!r} is not an agent name, an Agent or a callable env -> Agent")


class _RecoWorldRecorder:
    """Per-episode RecoWorld metrics and item exposure, filled one whole episode at a time."""

    def __init__(self, catalog: Any, episodes: int) -> None:
        self.n_items = catalog.n_items
        # Row ``n_items`` is a zero embedding, so indexing with an empty slot (-1) finds no item.
        self.padded_embeddings = np.vstack(
            [catalog.embeddings.astype(np.float64), np.zeros((1, catalog.embedding_dim))]
        )
        self.popularity = catalog.popularity
        self.per_episode = {name: np.empty(episodes, np.float64) for name in EPISODE_METRICS}
        self.exposure = np.zeros((episodes, self.n_items), np.int32)
        """``(episodes, n_items)`` times each item was shown in each episode."""

    def record(self, episode: int, rewards: list[float], infos: list[dict[str, Any]]) -> None:
        if episode == 0:
            _check_info(infos[0])
        clicks = instructions = sessions_ended = 0
        watch_time = 0.0
        gaps: list[float] = []
        churned = False
        for info in infos:
            clicks += len(info["clicks"])
            watch_time += info["watch_time"]
            if info["session_ended"]:
                sessions_ended += 1
                if info["return_gap_days"] is not None:
                    gaps.append(info["return_gap_days"])
            churned = churned or info["churned"]
            if info.get("instruction") is not None:
                instructions += 1
        turns = len(infos)
        slate_rows = np.stack([info["slate"] for info in infos])
        shown = slate_rows[slate_rows >= 0]
        self.exposure[episode] = np.bincount(shown, minlength=self.n_items)
        # An episode cut off mid-session (a time limit) still counts that session.
        sessions = sessions_ended + (0 if infos[-1]["session_ended"] else 1)
        values = self.per_episode
        values["return"][episode] = sum(rewards)
        values["clicks"][episode] = clicks
        values["ctr"][episode] = clicks / shown.size if shown.size else np.nan
        values["watch_time"][episode] = watch_time
        values["session_length"][episode] = turns / sessions
        values["sessions"][episode] = sessions
        values["return_gap_days"][episode] = np.mean(gaps) if gaps else np.nan
        values["churn_rate"][episode] = float(churned)
        values["intra_list_diversity"][episode] = _nanmean(
            intra_list_diversity(self.padded_embeddings[slate_rows])
        )
        values["novelty"][episode] = novelty(shown, self.popularity)
        values["wasted_slots"][episode] = slate_rows.size - shown.size
        values["instructions"][episode] = instructions


def _check_info(info: dict[str, Any]) -> None:
    missing = [key for key in _REQUIRED_INFO if key not in info]
    if missing:
        raise ValueError(
            f"the env's step info lacks {missing}; evaluate needs the RecoWorld info keys "
            f"{list(_REQUIRED_INFO)}"
        )


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


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


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` as JSON-compatible data; objects that are not plain data become a short tag."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _finite_or_none(float(value))
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        if all(_is_plain(item) for item in fields.values()):
            return {"type": type(value).__name__, **json_safe(fields)}
    name = getattr(value, "name", None)
    return f"<{type(value).__name__}{f' {name}' if isinstance(name, str) else ''}>"


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | str | int | float | np.integer | np.floating):
        return True
    if isinstance(value, list | tuple):
        return len(value) <= 64 and all(_is_plain(item) for item in value)
    return False
