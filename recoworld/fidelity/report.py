"""The fidelity report of one simulator on a set of scenes: metrics, intervals, table, plot."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from recoworld.evaluation.report import format_number, json_safe
from recoworld.fidelity.metrics import (
    ReliabilityBins,
    accuracy_by_tercile,
    check_probabilities,
    expected_calibration_error,
    log_likelihood_ci95,
    log_likelihoods,
    scene_accuracy,
    wilson_ci95,
)
from recoworld.fidelity.scene import Scenes
from recoworld.fidelity.simulators import SceneSimulator
from recoworld.llm.base import Usage

__all__ = [
    "RATIONALE_METRICS",
    "USAGE_METRICS",
    "FidelityReport",
    "fidelity_report",
    "plot_fidelity",
]

METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy (real choice on top)",
    "chance": "Chance (1 / choices)",
    "log_likelihood": "Log-likelihood of the real choice",
    "ece": "Expected calibration error",
    "accuracy_tercile_low": "Accuracy, least active third",
    "accuracy_tercile_mid": "Accuracy, middle third",
    "accuracy_tercile_high": "Accuracy, most active third",
    "scenes": "Scenes",
    "llm_calls": "LLM requests sent",
    "llm_failed_calls": "LLM requests that failed",
    "llm_cache_hits": "LLM answers from the cache",
    "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Completion tokens",
    "cost_usd": "Cost (USD)",
    "failed_scenes": "Scenes answered by chance (failed)",
    "rationale_calls": "Training: rationale requests sent",
    "rationale_failed_calls": "Training: rationale requests that failed",
    "rationale_cache_hits": "Training: rationales from the cache",
    "rationale_prompt_tokens": "Training: rationale prompt tokens",
    "rationale_completion_tokens": "Training: rationale completion tokens",
    "rationale_cost_usd": "Training: rationale cost (USD)",
}

USAGE_METRICS = (
    "llm_calls",
    "llm_failed_calls",
    "llm_cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "failed_scenes",
)
"""Metrics of a simulator that asks a language model: its :class:`~recoworld.llm.Usage` and
the scenes it could not answer (given chance)."""

RATIONALE_METRICS = (
    "rationale_calls",
    "rationale_failed_calls",
    "rationale_cache_hits",
    "rationale_prompt_tokens",
    "rationale_completion_tokens",
    "rationale_cost_usd",
)
"""Metrics of a simulator whose training asked a language model for rationales
(``llm-aligned``): that model's :class:`~recoworld.llm.Usage`, apart from the scoring's."""

_COSTS = frozenset({"cost_usd", "rationale_cost_usd"})
_COUNTS = frozenset({"scenes", *USAGE_METRICS, *RATIONALE_METRICS} - _COSTS)


@dataclass(frozen=True)
class FidelityReport:
    """How closely a simulator's choices match real users' on a set of scenes.

    Attributes:
        simulator: the simulator's name.
        metrics: ``accuracy`` (expected, ties broken uniformly), ``chance`` (mean
            ``1 / n_choices``), ``log_likelihood`` (mean natural log of the real choice's
            probability, floored at 1e-12), ``ece`` (10 bins), ``accuracy_tercile_low/mid/high``
            (by the user's history length) and ``scenes``; for a simulator that asks a language
            model also :data:`USAGE_METRICS`: ``llm_calls`` (requests sent, retries included),
            ``llm_failed_calls``, ``llm_cache_hits``, ``prompt_tokens``, ``completion_tokens``,
            ``cost_usd`` and ``failed_scenes`` (scenes given the uniform row because the model
            failed); for a simulator that also asked a model while it was trained (its
            ``rationale_usage``, llm-aligned) the usage metrics are the scoring's alone and
            :data:`RATIONALE_METRICS` (``rationale_calls``, ``rationale_prompt_tokens``, ...)
            are the training's.
        ci95: 95% intervals: Wilson for the accuracies, Student t for the log-likelihood.
        config: how the scenes were built and where they came from.
        reliability: the ECE bins, for a reliability diagram.
    """

    simulator: str
    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    config: dict[str, Any]
    reliability: ReliabilityBins = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics", "ci95", "config", "reliability"}`` as JSON-safe values (NaN: ``None``)."""
        return {
            "metrics": json_safe(self.metrics),
            "ci95": {name: json_safe(list(pair)) for name, pair in self.ci95.items()},
            "config": json_safe({"simulator": self.simulator, **self.config}),
            "reliability": self.reliability.to_dict(),
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
            title=title
            or f"{self.simulator}: fidelity on {int(self.metrics['scenes']):,} scenes, "
            f"{config.get('n_choices')} choices, {config.get('negatives')} negatives",
        )
        table.add_column("Metric")
        table.add_column("Value", justify="right")
        table.add_column("95% CI", justify="right")
        for name, value in self.metrics.items():
            if name in _COUNTS:
                text = f"{int(value):,}"
            elif name in _COSTS:
                text = f"${value:.4f}"
            else:
                text = format_number(value)
            interval = ""
            if name in self.ci95:
                lo, hi = self.ci95[name]
                interval = f"[{format_number(lo, like=value)}, {format_number(hi, like=value)}]"
            table.add_row(METRIC_LABELS.get(name, name), text, interval)
        return table


def fidelity_report(
    simulator: SceneSimulator,
    scenes: Scenes,
    config: dict[str, Any] | None = None,
    *,
    usage: Usage | None = None,
    rationale_usage: Usage | None = None,
) -> FidelityReport:
    """Ask a fitted ``simulator`` for its choice distribution on ``scenes`` and measure it.

    Args:
        simulator: a fitted simulator.
        scenes: the scenes it answers.
        config: entries added to the report's config (the data set, split, ...); the scene
            arguments are always there.
        usage: the language-model usage of the scoring, reported as :data:`USAGE_METRICS`.
            ``None``: the simulator's own ``usage`` attribute after it answered, where it has
            one (the ``llm`` and ``llm-aligned`` simulators: every request it sent since it was
            made), less its ``rationale_usage`` where it has one; no usage metrics for a
            simulator without one. ``failed_scenes`` is the simulator's attribute of that name
            (0 when it has none).
        rationale_usage: the usage of the model that wrote training rationales, reported as
            :data:`RATIONALE_METRICS`. ``None``: with ``usage=None``, the simulator's own
            ``rationale_usage`` attribute where it has one (``llm-aligned``: the rationale
            calls of its fits); none otherwise.

    Raises:
        ValueError: the simulator's answer is not an ``(n_scenes, n_choices)`` array of
            probabilities with rows summing to 1 (the message names the simulator), or
            ``usage`` or ``rationale_usage`` is not a :class:`~recoworld.llm.Usage`.
    """
    n, n_choices = len(scenes), scenes.n_choices
    if n == 0:
        raise ValueError("fidelity_report needs at least one scene")
    for label, given in (("usage", usage), ("rationale_usage", rationale_usage)):
        if given is not None and not isinstance(given, Usage):
            raise ValueError(f"{label}={given!r} must be a recoworld.llm.Usage or None")
    try:
        probabilities = check_probabilities(simulator.predict(scenes), n, n_choices)
    except ValueError as error:
        raise ValueError(f"simulator {simulator.name!r}: {error}") from None
    accuracy = scene_accuracy(probabilities, scenes.answers)
    log_values = log_likelihoods(probabilities, scenes.answers)
    ece, bins = expected_calibration_error(probabilities, scenes.answers)
    terciles = accuracy_by_tercile(accuracy, scenes.history_lengths)
    mean_log, log_lo, log_hi = log_likelihood_ci95(log_values)

    metrics: dict[str, float] = {
        "accuracy": float(accuracy.mean()),
        "chance": 1.0 / n_choices,
        "log_likelihood": mean_log,
        "ece": ece,
    }
    ci95: dict[str, tuple[float, float]] = {
        "accuracy": wilson_ci95(accuracy),
        "log_likelihood": (log_lo, log_hi),
    }
    for name, (mean, lo, hi, _count) in terciles.items():
        metrics[f"accuracy_tercile_{name}"] = mean
        ci95[f"accuracy_tercile_{name}"] = (lo, hi)
    metrics["scenes"] = float(n)
    if usage is None:
        usage = _usage_attribute(simulator, "usage")
        if usage is not None and rationale_usage is None:
            rationale_usage = _usage_attribute(simulator, "rationale_usage")
            if rationale_usage is not None:
                usage = usage - rationale_usage
    if usage is not None:
        metrics.update(
            {
                "llm_calls": float(usage.calls),
                "llm_failed_calls": float(usage.failed_calls),
                "llm_cache_hits": float(usage.cache_hits),
                "prompt_tokens": float(usage.prompt_tokens),
                "completion_tokens": float(usage.completion_tokens),
                "cost_usd": float(usage.cost_usd),
                "failed_scenes": float(getattr(simulator, "failed_scenes", 0)),
            }
        )
    if rationale_usage is not None:
        metrics.update(
            {
                "rationale_calls": float(rationale_usage.calls),
                "rationale_failed_calls": float(rationale_usage.failed_calls),
                "rationale_cache_hits": float(rationale_usage.cache_hits),
                "rationale_prompt_tokens": float(rationale_usage.prompt_tokens),
                "rationale_completion_tokens": float(rationale_usage.completion_tokens),
                "rationale_cost_usd": float(rationale_usage.cost_usd),
            }
        )
    scene_config = scenes.config
    full_config: dict[str, Any] = {
        "n_choices": scene_config.n_choices,
        "negatives": scene_config.negatives,
        "seed": scene_config.seed,
        "limit": scene_config.limit,
        "tercile_scenes": {name: count for name, (*_, count) in terciles.items()},
        **(config or {}),
    }
    return FidelityReport(
        simulator=simulator.name,
        metrics=metrics,
        ci95=ci95,
        config=full_config,
        reliability=bins,
    )


def _usage_attribute(simulator: SceneSimulator, name: str) -> Usage | None:
    """The simulator's :class:`~recoworld.llm.Usage` attribute ``name`` (``None`` if absent)."""
    value = getattr(simulator, name, None)
    if value is not None and not isinstance(value, Usage):
        raise ValueError(
            f"simulator {simulator.name!r}: its {name} attribute is {type(value).__name__}, "
            "not a recoworld.llm.Usage"
        )
    return value


def plot_fidelity(report: FidelityReport, path: str | Path) -> Path:
    """A reliability diagram (accuracy against confidence per bin, the diagonal, bar widths by
    count) beside accuracy with its 95% interval against chance. Drawn on matplotlib's Agg canvas
    (the ``plots`` extra; without it ``ImportError`` says how to install it). Writes a PNG to
    ``path`` (parent folders are created) and returns the path."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"plots need matplotlib ({error}); install it with: pip install 'recoworld[plots]'"
        ) from error

    bins = report.reliability
    figure = Figure(figsize=(9.0, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    diagram, bars = figure.subplots(1, 2, width_ratios=[1.4, 1.0])
    centres = (bins.edges[:-1] + bins.edges[1:]) / 2
    width = float(bins.edges[1] - bins.edges[0])
    filled = bins.counts > 0
    diagram.bar(
        centres[filled],
        bins.accuracy[filled],
        width=width * 0.9,
        color="C0",
        alpha=0.8,
        label="accuracy in bin",
    )
    diagram.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for x, y, count in zip(
        centres[filled], bins.accuracy[filled], bins.counts[filled], strict=True
    ):
        diagram.annotate(f"n={int(count)}", (x, y), ha="center", va="bottom", fontsize=7)
    diagram.set_xlim(0, 1)
    diagram.set_ylim(0, 1.05)
    diagram.set_xlabel("probability of the top choice")
    diagram.set_ylabel("accuracy")
    diagram.set_title(f"Reliability (ECE {format_number(report.metrics['ece'])})", fontsize=10)
    diagram.legend(fontsize=8, loc="upper left")

    accuracy = report.metrics["accuracy"]
    lo, hi = report.ci95["accuracy"]
    errors = [[max(accuracy - lo, 0.0)], [max(hi - accuracy, 0.0)]]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        errors = [[0.0], [0.0]]
    bars.bar([0], [accuracy], yerr=np.asarray(errors), color="C0", capsize=4)
    bars.bar([1], [report.metrics["chance"]], color="grey")
    bars.set_xticks([0, 1], [report.simulator, "chance"])
    bars.set_ylabel("accuracy")
    bars.set_title("Accuracy (95% CI) vs chance", fontsize=10)
    bars.grid(axis="y", alpha=0.3)
    config = report.config
    figure.suptitle(
        f"{report.simulator}: {int(report.metrics['scenes']):,} scenes, "
        f"{config.get('n_choices')} choices, {config.get('negatives')} negatives"
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100, format="png")
    return target
