"""Plots of evaluation reports (matplotlib, rendered off-screen to PNG)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from recoworld.evaluation.metric_sets import metric_label, metric_set_for
from recoworld.evaluation.report import EvaluationReport


def plot_report(
    report_or_reports: EvaluationReport | Mapping[str, EvaluationReport],
    path: str | Path,
    metrics: Sequence[str] | None = None,
) -> Path:
    """Bar charts of ``metrics``, one panel per metric and one bar per agent, with 95% CI bars.

    ``report_or_reports`` is one :class:`EvaluationReport` or the ``{name: report}`` mapping that
    :func:`~recoworld.evaluation.compare` returns. Metrics have different units, so each gets its
    own panel and y-axis. The figure is drawn with matplotlib's Agg canvas directly (no
    ``pyplot``), so it works without a display and leaves the process's matplotlib backend
    alone. ``metrics`` defaults to the comparison metrics of the reports' env. Matplotlib comes
    with the ``plots`` extra; without it, ``ImportError`` says how to install it. Writes a PNG to
    ``path`` (parent folders are created) and returns the path.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"plots need matplotlib ({error}); install it with: pip install 'recoworld[plots]'"
        ) from error

    if isinstance(report_or_reports, EvaluationReport):
        reports: Mapping[str, EvaluationReport] = {report_or_reports.agent: report_or_reports}
    else:
        reports = report_or_reports
    if not reports:
        raise ValueError("plot_report needs at least one report")
    if metrics is None:
        metrics = metric_set_for(str(next(iter(reports.values())).config["env_id"])).comparison
    shown = [m for m in metrics if any(m in r.metrics for r in reports.values())]
    if not shown:
        raise ValueError(f"none of the metrics {list(metrics)} is in the reports")

    columns = min(3, len(shown))
    rows = math.ceil(len(shown) / columns)
    names = list(reports)
    figure = Figure(figsize=(4.0 * columns, 3.0 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colors = [f"C{i % 10}" for i in range(len(names))]
    for ax, metric in zip(axes, shown, strict=False):
        means, lower, upper = [], [], []
        for report in reports.values():
            value = report.metrics.get(metric, math.nan)
            lo, hi = report.ci95.get(metric, (math.nan, math.nan))
            finite = math.isfinite(value) and math.isfinite(lo) and math.isfinite(hi)
            means.append(value if math.isfinite(value) else 0.0)
            lower.append(max(value - lo, 0.0) if finite else 0.0)
            upper.append(max(hi - value, 0.0) if finite else 0.0)
        positions = range(len(names))
        ax.bar(positions, means, yerr=[lower, upper], color=colors, capsize=3)
        ax.set_title(metric_label(metric), fontsize=10)
        ax.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    first = next(iter(reports.values())).config
    figure.suptitle(
        f"{first['env_id']}, {first['episodes']} episodes, seed {first['seed']} (bars: 95% CI)"
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100, format="png")
    return target
