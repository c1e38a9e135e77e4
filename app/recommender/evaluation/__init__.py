"""Offline evaluation: temporal splits, top-k metrics, model evaluation and automatic selection.

Pure numpy/scipy like the rest of the recommender package: event arrays in, numbers out.  The
service tunes with `select_model`; `benchmarks/accuracy.py` compares shoprec with references.
"""

from app.recommender.evaluation.evaluate import (
    EvalResult,
    ItemFeatures,
    Scorer,
    evaluate_all,
    evaluate_model,
    evaluate_scorer,
    format_table,
    recommend_users,
    seen_matrix,
    train_matrix,
    training_features,
)
from app.recommender.evaluation.metrics import (
    METRIC_NAMES,
    catalog_coverage,
    evaluate_topk,
    hit_matrix,
    per_user_metrics,
)
from app.recommender.evaluation.selection import (
    SELECTION_RULE,
    Selection,
    confidence_candidates,
    select_model,
)
from app.recommender.evaluation.split import (
    Events,
    Split,
    SplitMethod,
    global_time_split,
    holdout_mask,
    per_user_split,
    rolling_splits,
    temporal_split,
    validation_split,
)

__all__ = [
    "METRIC_NAMES",
    "SELECTION_RULE",
    "EvalResult",
    "Events",
    "ItemFeatures",
    "Scorer",
    "Selection",
    "Split",
    "SplitMethod",
    "catalog_coverage",
    "confidence_candidates",
    "evaluate_all",
    "evaluate_model",
    "evaluate_scorer",
    "evaluate_topk",
    "format_table",
    "global_time_split",
    "hit_matrix",
    "holdout_mask",
    "per_user_metrics",
    "per_user_split",
    "recommend_users",
    "rolling_splits",
    "seen_matrix",
    "select_model",
    "temporal_split",
    "train_matrix",
    "training_features",
    "validation_split",
]
