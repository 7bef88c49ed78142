"""Evaluation: metrics with confidence intervals, seeded evaluation runs, reports and plots,
LLM usage totals and trajectories written to disk as a run goes."""

from recoworld.evaluation.convrec_metrics import CONVREC_METRICS, convrec_metrics, evaluate_convrec
from recoworld.evaluation.evaluate import (
    COMPARISON_METRICS,
    EPISODE_METRICS,
    METRIC_LABELS,
    RUN_METRICS,
    EvaluationReport,
    UsageTotals,
    compare,
    comparison_table,
    evaluate,
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
from recoworld.evaluation.trajectories import TrajectoryWriter, read_trajectories

__all__ = [
    "COMPARISON_METRICS",
    "CONVREC_METRICS",
    "EPISODE_METRICS",
    "METRIC_LABELS",
    "RUN_METRICS",
    "EvaluationReport",
    "TrajectoryWriter",
    "UsageTotals",
    "bootstrap_ci95",
    "catalog_coverage",
    "compare",
    "comparison_table",
    "convrec_metrics",
    "evaluate",
    "evaluate_convrec",
    "gini",
    "intra_list_diversity",
    "mean_ci95",
    "novelty",
    "plot_report",
    "read_trajectories",
]
