"""Automatic model selection and offline evaluation on the store's own events."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.recommender.evaluation import Events, rolling_splits, select_model
from app.recommender.evaluation.selection import FOLD_FRACTION, FOLDS, MAX_EVENTS, MAX_ITEMS, sample_events
from app.recommender.evaluation.split import SplitMethod
from app.shop import ConfidenceConfig
from app.store.event_arrays import EventArrays

MIN_HOLDOUT_USERS = 300  # below this per cut, a holdout's NDCG differences are mostly noise


@dataclass(frozen=True)
class Choice:
    algorithm: str
    params: dict[str, Any]
    config: ConfidenceConfig
    metrics: dict[str, Any]
    table: list[dict[str, Any]]


def to_events(arrays: EventArrays) -> Events:
    """Store rows as the evaluation package's integer-coded events."""
    return Events.from_arrays(
        arrays.user_codes, arrays.item_codes, arrays.type_codes, arrays.values, arrays.timestamps
    )


def holdout_method(events: Events) -> SplitMethod:
    """Global time cuts mirror serving the future, but a short or bursty history can leave them
    too few shoppers to judge by; then each shopper's latest events are held out instead."""
    try:
        sample = sample_events(events, MAX_EVENTS, MAX_ITEMS)
        cuts = rolling_splits(sample, "global", FOLDS, FOLD_FRACTION)
    except ValueError:
        return "per_user"
    return "global" if min(s.n_eval for s in cuts) >= MIN_HOLDOUT_USERS else "per_user"


def choose_model(arrays: EventArrays, settings: Settings, base: ConfidenceConfig) -> Choice:
    """Compare the candidates with the default on rolling-origin cuts of the store's events,
    within TUNE_BUDGET_SECONDS of estimated work; a challenger must win with confidence."""
    events = to_events(arrays)
    method = holdout_method(events)
    selection = select_model(events, settings.tune_budget_seconds, method=method, base_config=base)
    metrics: dict[str, Any] = {
        "holdout": {k: round(float(v), 5) for k, v in selection.metrics.items()},
        "rule": selection.rule,
        "holdout_split": method,
        "sample": selection.sample,
        "tuned": True,
        "tune_seconds": round(selection.seconds, 2),
        "confidence": dataclasses.asdict(selection.config),
    }
    return Choice(
        algorithm=selection.model,
        params=selection.params,
        config=selection.config,
        metrics=metrics,
        table=[_jsonable(r.row()) for r in selection.table],
    )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()}
