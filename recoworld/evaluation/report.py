"""Evaluation reports: metrics with 95% intervals, language-model usage totals, tables and JSON.

One report type for every env: :class:`EvaluationReport` holds what a run measured (its env's
metric set), the run's config and the usage of every model call; ``to_json`` writes
``{"metrics", "ci95", "config", "usage", "run"}``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from recoworld.evaluation.metric_sets import (
    MIN_EPISODES_FOR_CI,
    metric_label,
    metric_set_for,
    sample_size,
)
from recoworld.llm import Usage

__all__ = [
    "USAGE_LABELS",
    "EvaluationReport",
    "UsageTally",
    "UsageTotals",
    "comparison_table",
    "format_number",
    "format_usage",
    "json_safe",
]


USAGE_LABELS: dict[str, str] = {
    "calls": "LLM calls",
    "failed_calls": "LLM failed calls",
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
    "failed_calls",
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
    failed_calls: int = 0
    """Requests among ``calls`` that gave no usable answer (a provider error, or an answer
    rejected as malformed): sent and paid for all the same."""

    @classmethod
    def of(cls, usage: Usage, steps: int) -> UsageTotals:
        """The totals of ``usage`` over ``steps`` env steps."""
        return cls(
            calls=usage.calls,
            failed_calls=usage.failed_calls,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            latency_s=usage.latency_s,
            cache_hits=usage.cache_hits,
            steps=steps,
        )

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


class UsageTally:
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
        return UsageTotals.of(self._usage, self._steps)


@dataclass(frozen=True, eq=False, repr=False)
class EvaluationReport:
    """The outcome of :func:`evaluate`.

    A run that a :class:`~recoworld.llm.CostCapExceeded` stopped has ``stopped_early`` set: its
    metrics cover the ``episodes_completed`` whole episodes only, ``incomplete_episode`` is the
    index of the episode that was cut short, and ``stop_reason`` is the error's message.

    Attributes:
        metrics: metric name -> value (mean over episodes, or the run-level value).
        ci95: metric name -> ``(lo, hi)`` 95% interval (Student-t for per-episode metrics,
            percentile bootstrap over episodes for ``coverage`` and ``exposure_gini``), clipped
            to the values a bounded metric can take (a rate stays in ``[0, 1]``). A metric with
            fewer than :data:`~recoworld.evaluation.metric_sets.MIN_EPISODES_FOR_CI` (5)
            defined values has no interval: ``(nan, nan)``, shown as "n too small" in tables
            and ``null`` in JSON.
        config: ``env_id``, ``agent``, ``episodes`` (as asked), ``seed``, what the env's metric
            set adds (``max_turns`` for ``ConvRec-v0``), ``env_kwargs`` (JSON-safe; with the
            settings a registered agent needed) and ``agent_options`` when given.
        per_episode: per-episode metric name -> ``(episodes_completed,)`` float array
            (NaN = undefined).
        usage: the env's language-model usage (its simulated user's calls) summed over every
            reset and step played.
        agent_usage: the agent's own language-model usage over the run (zeros for an agent
            without a ``usage`` attribute).
        episodes_completed: whole episodes played (``config["episodes"]`` unless stopped).
        stop_reason: why the run stopped before ``config["episodes"]`` episodes, or ``None``.
        incomplete_episode: index of the episode cut short when the run stopped, or ``None``.
    """

    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    config: dict[str, Any]
    per_episode: dict[str, np.ndarray]
    usage: UsageTotals = field(default_factory=UsageTotals)
    agent_usage: UsageTotals = field(default_factory=UsageTotals)
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

    @property
    def model_ran(self) -> bool:
        """Whether a language model was called (or its cache read) by the env or the agent."""
        return bool(
            self.usage.calls
            or self.usage.cache_hits
            or self.agent_usage.calls
            or self.agent_usage.cache_hits
        )

    def sample_size(self, metric: str) -> int:
        """The values behind ``metric``: its defined per-episode values, or the completed
        episodes for a metric computed over the whole run."""
        return sample_size(self.per_episode, metric, int(self.episodes_completed or 0))

    def interval_text(self, metric: str) -> str:
        """``metric``'s 95% interval as table text: ``[lo, hi]``, or why there is none."""
        value = self.metrics[metric]
        n = self.sample_size(metric)
        if n < MIN_EPISODES_FOR_CI:
            return f"n too small (n={n})"
        lo, hi = self.ci95[metric]
        return f"[{format_number(lo, like=value)}, {format_number(hi, like=value)}]"

    def __repr__(self) -> str:
        """One line: agent, env, episodes and the main metrics (no per-episode arrays)."""
        shown = [m for m in metric_set_for(str(self.config["env_id"])).comparison][:4]
        if not shown:
            shown = list(self.metrics)[:4]
        parts = [
            f"{name}={format_number(self.metrics[name])}" for name in shown if name in self.metrics
        ]
        episodes = f"episodes={self.episodes_completed}"
        if self.stopped_early:
            episodes += f" of {self.episodes_requested}, stopped early"
        return (
            f"EvaluationReport(agent={self.agent!r}, env_id={self.config['env_id']!r}, "
            f"{episodes}, {', '.join(parts)})"
        )

    def __str__(self) -> str:
        """The report as plain text: every metric with its interval, and the model usage when
        a model ran (per-episode values stay in :attr:`per_episode`)."""
        if self.stopped_early:
            episodes = (
                f"stopped early after {self.episodes_completed} of "
                f"{self.episodes_requested} episodes: {self.stop_reason}"
            )
        else:
            episodes = f"{self.episodes_requested} episodes, seed {self.config.get('seed')}"
        lines = [f"{self.agent} on {self.config['env_id']} ({episodes})"]
        labels = {name: metric_label(name) for name in self.metrics}
        width = max((len(label) for label in labels.values()), default=0)
        for name, value in self.metrics.items():
            lines.append(
                f"  {labels[name]:<{width}}  {format_number(value):>9}  {self.interval_text(name)}"
            )
        if self.model_ran:
            for who, usage in (("user", self.usage), ("agent", self.agent_usage)):
                if usage.calls or usage.cache_hits:
                    lines.append(
                        f"  LLM usage ({who}): {usage.calls:,} calls ({usage.failed_calls:,} "
                        f"failed), {usage.tokens:,} tokens, "
                        f"{format_usage('cost_usd', usage.cost_usd)}, "
                        f"{usage.cache_hits:,} cache hits"
                    )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics", "ci95", "config", "usage", "run"}`` as JSON-safe values (NaN becomes
        ``None``); ``usage`` holds the env's (simulated user's) model usage and, under
        ``"agent"``, the agent's own; ``run`` holds ``episodes_requested``, ``episodes_completed``,
        ``stopped_early``, ``stop_reason`` and ``incomplete_episode``."""
        return {
            "metrics": {name: _finite_or_none(value) for name, value in self.metrics.items()},
            "ci95": {
                name: [_finite_or_none(lo), _finite_or_none(hi)]
                for name, (lo, hi) in self.ci95.items()
            },
            "config": json_safe(self.config),
            "usage": json_safe({**self.usage.as_dict(), "agent": self.agent_usage.as_dict()}),
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

    def table(self, title: str | None = None, *, usage: bool | None = None) -> Table:
        """A rich table: one row per metric with its value and 95% interval ("n too small"
        below :data:`~recoworld.evaluation.metric_sets.MIN_EPISODES_FOR_CI` values), then the
        LLM usage (totals and per-step means) when ``usage`` is true, or when ``None`` (the
        default) and a model ran; a stopped run says so in the title and caption."""
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
            table.add_row(metric_label(name), format_number(value), self.interval_text(name))
        if usage is None:
            usage = self.model_ran
        if not usage:
            return table
        if usage is True or self.usage.calls or self.usage.cache_hits:
            table.add_section()
            totals = self.usage.as_dict()
            for name, label in USAGE_LABELS.items():
                kind = "per step" if name.endswith("_per_step") else "total"
                table.add_row(label, format_usage(name, totals[name]), kind)
        if self.agent_usage.calls or self.agent_usage.cache_hits:
            table.add_section()
            agent_usage = self.agent_usage.as_dict()
            for name in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
                table.add_row(
                    f"Agent {USAGE_LABELS[name]}", format_usage(name, agent_usage[name]), "total"
                )
        return table


def comparison_table(
    reports: dict[str, EvaluationReport],
    metrics: Sequence[str] | None = None,
    title: str | None = None,
    *,
    usage: bool | None = None,
) -> Table:
    """A rich table with one row per metric and one column per agent.

    Each cell is ``mean ± half-width`` of the 95% interval; for the bootstrap intervals
    (coverage, Gini) and clipped intervals, which need not be symmetric, the half-width is
    ``(hi - lo) / 2``. A metric with too few values for an interval shows ``mean (n=2)`` and
    the caption says so.
    ``metrics`` defaults to the comparison metrics of the reports' env (its metric set).
    ``usage=True`` adds the language-model usage (calls, tokens, cost and per-step means);
    ``None`` adds it when some agent's run made an LLM call or hit the cache. When a run
    stopped early, a row gives the episodes each agent completed, and the caption says why.
    """
    if not reports:
        raise ValueError("comparison_table needs at least one report")
    first = next(iter(reports.values())).config
    if metrics is None:
        metrics = metric_set_for(str(first["env_id"])).comparison
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
    too_small = False
    for metric in metrics:
        cells = []
        for report in reports.values():
            if metric not in report.metrics:
                cells.append("-")
                continue
            value = report.metrics[metric]
            n = report.sample_size(metric)
            if n < MIN_EPISODES_FOR_CI:
                too_small = True
                cells.append(f"{format_number(value)} (n={n})")
                continue
            lo, hi = report.ci95[metric]
            half = (hi - lo) / 2.0
            cells.append(f"{format_number(value)} ± {format_number(half, like=value)}")
        table.add_row(metric_label(metric), *cells)
    if too_small:
        note = f"(n=...): too few values for a 95% interval (fewer than {MIN_EPISODES_FOR_CI})"
        table.caption = f"{table.caption}; {note}" if table.caption else note
    if usage is None:
        usage = any(r.usage.calls or r.usage.cache_hits for r in reports.values())
    if usage:
        table.add_section()
        for name in ("calls", "failed_calls", "prompt_tokens", "completion_tokens", "cost_usd"):
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
