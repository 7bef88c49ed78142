"""Evaluation: one seeded episode runner for every env, per-env metric sets, one report type
(metrics with 95% intervals, LLM usage, JSON and tables), plots, and trajectories written to
disk as a run goes."""

from recoworld.evaluation.convrec_metrics import CONVREC_METRICS, convrec_metrics
from recoworld.evaluation.files import check_new_file
from recoworld.evaluation.metric_sets import (
    GENERIC_METRICS,
    RECOCHAT_METRICS,
    RECOWORLD_EPISODE_METRICS,
    RECOWORLD_RUN_METRICS,
    MetricSet,
    MetricSummary,
    Recorder,
    metric_label,
    metric_set_for,
    register_metric_set,
)
from recoworld.evaluation.metrics import (
    bootstrap_ci95,
    catalog_coverage,
    gini,
    intra_list_diversity,
    mean_ci95,
    novelty,
)
from recoworld.evaluation.plots import plot_report
from recoworld.evaluation.report import (
    EvaluationReport,
    UsageTotals,
    comparison_table,
    format_number,
    format_usage,
    json_safe,
)
from recoworld.evaluation.runner import compare, evaluate
from recoworld.evaluation.trajectories import (
    TrajectoryWriter,
    iter_episodes,
    iter_trajectories,
    read_trajectories,
)

__all__ = [
    "CONVREC_METRICS",
    "GENERIC_METRICS",
    "RECOCHAT_METRICS",
    "RECOWORLD_EPISODE_METRICS",
    "RECOWORLD_RUN_METRICS",
    "EvaluationReport",
    "MetricSet",
    "MetricSummary",
    "Recorder",
    "TrajectoryWriter",
    "UsageTotals",
    "bootstrap_ci95",
    "catalog_coverage",
    "check_new_file",
    "compare",
    "comparison_table",
    "convrec_metrics",
    "evaluate",
    "format_number",
    "format_usage",
    "gini",
    "intra_list_diversity",
    "iter_episodes",
    "iter_trajectories",
    "json_safe",
    "mean_ci95",
    "metric_label",
    "metric_set_for",
    "novelty",
    "plot_report",
    "read_trajectories",
    "register_metric_set",
]
