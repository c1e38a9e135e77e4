"""Offline evaluation: temporal splits, top-k metrics, model evaluation and automatic selection."""

from app.recommender.evaluation.metrics import (
    METRIC_NAMES,
    catalog_coverage,
    evaluate_topk,
    hit_matrix,
    per_user_metrics,
)
from app.recommender.evaluation.split import (
    Events,
    Split,
    SplitMethod,
    global_time_split,
    per_user_split,
    temporal_split,
    validation_split,
)

__all__ = [
    "METRIC_NAMES",
    "Events",
    "Split",
    "SplitMethod",
    "catalog_coverage",
    "evaluate_topk",
    "global_time_split",
    "hit_matrix",
    "per_user_metrics",
    "per_user_split",
    "temporal_split",
    "validation_split",
]
