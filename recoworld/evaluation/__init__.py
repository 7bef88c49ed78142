"""Evaluation: metrics with confidence intervals, seeded evaluation runs, reports and plots."""

from recoworld.evaluation.convrec_metrics import CONVREC_METRICS, convrec_metrics, evaluate_convrec
from recoworld.evaluation.evaluate import (
    COMPARISON_METRICS,
    EPISODE_METRICS,
    METRIC_LABELS,
    RUN_METRICS,
    EvaluationReport,
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

__all__ = [
    "COMPARISON_METRICS",
    "CONVREC_METRICS",
    "EPISODE_METRICS",
    "METRIC_LABELS",
    "RUN_METRICS",
    "EvaluationReport",
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
]
