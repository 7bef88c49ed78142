"""Run agents on an environment for many seeded episodes and report metrics with 95% intervals.

:func:`evaluate` plays one agent, :func:`compare` several on the same seeds (episode ``i`` draws
the same user for every agent, so differences are paired), and :class:`EvaluationReport` holds
the numbers, renders them as a rich table and writes them as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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

AgentSpec = str | Agent | Callable[[gym.Env], Agent]
"""An agent to evaluate: a registered name, an instance, or a factory called with the env."""

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


@dataclass(frozen=True, eq=False)
class EvaluationReport:
    """The outcome of :func:`evaluate`.

    Attributes:
        metrics: metric name -> value (mean over episodes, or the run-level value).
        ci95: metric name -> ``(lo, hi)`` 95% interval (Student-t for per-episode metrics,
            percentile bootstrap over episodes for ``coverage`` and ``exposure_gini``).
        config: ``env_id``, ``agent``, ``episodes``, ``seed`` and ``env_kwargs`` (JSON-safe).
        per_episode: per-episode metric name -> ``(episodes,)`` float array (NaN = undefined).
    """

    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    config: dict[str, Any]
    per_episode: dict[str, np.ndarray]

    @property
    def agent(self) -> str:
        """Name of the evaluated agent."""
        return str(self.config["agent"])

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics", "ci95", "config"}`` as JSON-safe values (NaN becomes ``None``)."""
        return {
            "metrics": {name: _finite_or_none(value) for name, value in self.metrics.items()},
            "ci95": {
                name: [_finite_or_none(lo), _finite_or_none(hi)]
                for name, (lo, hi) in self.ci95.items()
            },
            "config": json_safe(self.config),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (parent folders are created); return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target

    def table(self, title: str | None = None) -> Table:
        """A rich table: one row per metric with its value and 95% interval."""
        config = self.config
        table = Table(
            title=title or f"{self.agent} on {config['env_id']} ({config['episodes']} episodes)"
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
        return table


def evaluate(
    agent: AgentSpec,
    env_id: str = "RecoWorld-v0",
    episodes: int = 100,
    seed: int = 0,
    *,
    progress: bool = False,
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
    run-level ones uses ``numpy.random.default_rng(seed)``. ``progress=True`` shows a rich
    progress bar on stderr.

    Raises:
        ValueError: ``episodes`` is not a positive integer, ``seed`` is not a non-negative
            integer, the agent name is unknown, or the env lacks the ``info`` keys above.
    """
    if progress:
        with _progress_bar() as bar:
            task = bar.add_task(_agent_label(agent), total=episodes)
            return _evaluate(agent, env_id, episodes, seed, env_kwargs, lambda: bar.advance(task))
    return _evaluate(agent, env_id, episodes, seed, env_kwargs, None)


def compare(
    agents: Sequence[AgentSpec],
    env_id: str = "RecoWorld-v0",
    episodes: int = 100,
    seed: int = 0,
    *,
    progress: bool = False,
    **env_kwargs: Any,
) -> dict[str, EvaluationReport]:
    """:func:`evaluate` each agent on the same seeds; reports keyed by agent name, in order.

    A name that occurs twice gets a suffix (``greedy``, ``greedy#2``).
    """
    if not agents:
        raise ValueError("compare needs at least one agent")
    reports: dict[str, EvaluationReport] = {}

    def run(agent: AgentSpec, advance: Callable[[], None] | None) -> None:
        report = _evaluate(agent, env_id, episodes, seed, env_kwargs, advance)
        key, copy = report.agent, 2
        while key in reports:
            key, copy = f"{report.agent}#{copy}", copy + 1
        reports[key] = report

    if progress:
        with _progress_bar() as bar:
            tasks = [
                bar.add_task(_agent_label(agent), total=episodes, start=False) for agent in agents
            ]
            for agent, task in zip(agents, tasks, strict=True):
                bar.start_task(task)
                run(agent, lambda task=task: bar.advance(task))
                bar.stop_task(task)
    else:
        for agent in agents:
            run(agent, None)
    return reports


def comparison_table(
    reports: dict[str, EvaluationReport],
    metrics: Sequence[str] = COMPARISON_METRICS,
    title: str | None = None,
) -> Table:
    """A rich table with one row per metric and one column per agent.

    Each cell is ``mean ± half-width`` of the 95% interval; for the bootstrap intervals
    (coverage, Gini), which need not be symmetric, the half-width is ``(hi - lo) / 2``.
    """
    if not reports:
        raise ValueError("comparison_table needs at least one report")
    first = next(iter(reports.values())).config
    table = Table(
        title=title
        or f"{first['env_id']}: mean ± 95% CI half-width over {first['episodes']} episodes"
    )
    table.add_column("Metric")
    for name in reports:
        table.add_column(name, justify="right")
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


# --------------------------------------------------------------------------- internals


def _evaluate(
    agent_spec: AgentSpec,
    env_id: str,
    episodes: int,
    seed: int,
    env_kwargs: dict[str, Any],
    advance: Callable[[], None] | None,
) -> EvaluationReport:
    if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be a positive integer (at least 1)")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    env = gym.make(env_id, **env_kwargs)
    try:
        agent = build_agent(agent_spec, env, seed)
        per_episode, exposure = _play(env, agent, int(episodes), int(seed), advance)
    finally:
        env.close()

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
        metrics[name] = statistic(exposure)
        ci95[name] = bootstrap_ci95(exposure, statistic, rng)
    config = {
        "env_id": env_id,
        "agent": agent.name,
        "episodes": int(episodes),
        "seed": int(seed),
        "env_kwargs": json_safe(env_kwargs),
    }
    return EvaluationReport(metrics=metrics, ci95=ci95, config=config, per_episode=per_episode)


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


def _play(
    env: gym.Env,
    agent: Agent,
    episodes: int,
    seed: int,
    advance: Callable[[], None] | None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Roll out the episodes; per-episode metric arrays and ``(episodes, n_items)`` exposure."""
    catalog = env.unwrapped.catalog
    n_items = catalog.n_items
    # Row ``n_items`` is a zero embedding, so indexing with an empty slot (-1) finds no item.
    padded_embeddings = np.vstack(
        [catalog.embeddings.astype(np.float64), np.zeros((1, catalog.embedding_dim))]
    )
    popularity = catalog.popularity
    per_episode = {name: np.empty(episodes, np.float64) for name in EPISODE_METRICS}
    exposure = np.zeros((episodes, n_items), np.int32)

    for episode in range(episodes):
        observation, info = env.reset(seed=seed + episode)
        agent.reset(seed=seed + episode)
        total_return = watch_time = 0.0
        clicks = instructions = turns = sessions_ended = 0
        gaps: list[float] = []
        churned = done = False
        slates: list[np.ndarray] = []
        while not done:
            observation, reward, terminated, truncated, info = env.step(
                agent.act(observation, info)
            )
            if turns == 0 and episode == 0:
                _check_info(info)
            turns += 1
            total_return += reward
            slates.append(info["slate"])
            clicks += len(info["clicks"])
            watch_time += info["watch_time"]
            if info["session_ended"]:
                sessions_ended += 1
                if info["return_gap_days"] is not None:
                    gaps.append(info["return_gap_days"])
            churned = churned or info["churned"]
            if info.get("instruction") is not None:
                instructions += 1
            done = terminated or truncated

        slate_rows = np.stack(slates)
        shown = slate_rows[slate_rows >= 0]
        exposure[episode] = np.bincount(shown, minlength=n_items)
        # An episode cut off mid-session (a time limit) still counts that session.
        sessions = sessions_ended + (0 if info["session_ended"] else 1)
        values = per_episode
        values["return"][episode] = total_return
        values["clicks"][episode] = clicks
        values["ctr"][episode] = clicks / shown.size if shown.size else np.nan
        values["watch_time"][episode] = watch_time
        values["session_length"][episode] = turns / sessions
        values["sessions"][episode] = sessions
        values["return_gap_days"][episode] = np.mean(gaps) if gaps else np.nan
        values["churn_rate"][episode] = float(churned)
        values["intra_list_diversity"][episode] = _nanmean(
            intra_list_diversity(padded_embeddings[slate_rows])
        )
        values["novelty"][episode] = novelty(shown, popularity)
        values["wasted_slots"][episode] = slate_rows.size - shown.size
        values["instructions"][episode] = instructions
        if advance is not None:
            advance()
    return per_episode, exposure


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
