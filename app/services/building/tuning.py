"""Which model a rebuild serves: automatic selection on the store's own events (ALGORITHM=auto,
every TUNE_EVERY rebuilds), else the last tuned winner or the configured model."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.recommender.evaluation import Events, select_model
from app.recommender.registry import DEFAULT_MODEL, DEFAULT_PARAMS
from app.shop import ConfidenceConfig
from app.store.event_arrays import EventArrays

log = logging.getLogger(__name__)

DEFAULT_ALGORITHM = DEFAULT_MODEL  # served until a selection ran (README, Models)


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


def tuning_due(settings: Settings, runs_since_tuning: int | None) -> bool:
    """With ALGORITHM=auto, select the model on the first rebuild and then every TUNE_EVERY."""
    if settings.algorithm != "auto" or settings.tune_every == 0:
        return False
    return runs_since_tuning is None or runs_since_tuning >= settings.tune_every


def try_choose(
    events: EventArrays, settings: Settings, base: ConfidenceConfig
) -> tuple[Choice | None, str | None]:
    """Model selection, or (None, why) when the events cannot be split into a past and a future."""
    try:
        return choose_model(events, settings, base), None
    except ValueError as exc:
        log.warning("model selection skipped: %s", exc)
        return None, str(exc)


def resolve_algorithm(
    setting: str, last_tuned: tuple[str, dict[str, Any], dict[str, Any]] | None, base: ConfidenceConfig
) -> tuple[str, dict[str, Any], ConfidenceConfig, dict[str, Any]]:
    """`ALGORITHM=auto` serves the last tuned winner (model, parameters and confidence weights),
    else the default; any other name is served with its default parameters."""
    if setting != "auto":
        return setting, dict(DEFAULT_PARAMS.get(setting, {})), base, {}
    if last_tuned is not None:
        algorithm, params, metrics = last_tuned
        confidence = metrics.get("confidence") or {}
        return algorithm, params, dataclasses.replace(base, **confidence), metrics
    return DEFAULT_ALGORITHM, dict(DEFAULT_PARAMS.get(DEFAULT_ALGORITHM, {})), base, {}
