"""Automatic model selection and offline evaluation on the store's own events."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.recommender.evaluation import Events, select_model
from app.shop import ConfidenceConfig
from app.store.event_arrays import EventArrays


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


def choose_model(arrays: EventArrays, settings: Settings, base: ConfidenceConfig) -> Choice:
    """Compare the candidates with the default on rolling-origin cuts of the store's events,
    within TUNE_BUDGET_SECONDS of estimated work; a challenger must win with confidence."""
    selection = select_model(
        to_events(arrays), settings.tune_budget_seconds, method="auto", base_config=base
    )
    metrics: dict[str, Any] = {
        "holdout": {k: round(float(v), 5) for k, v in selection.metrics.items()},
        "rule": selection.rule,
        "holdout_split": selection.method,
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
