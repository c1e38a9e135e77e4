"""`shoprec evaluate`: every model, default parameters, on a temporal split of the store's events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from app.config import Settings
from app.recommender.evaluation import evaluate_model, format_table, temporal_split
from app.recommender.evaluation.split import SplitMethod
from app.recommender.registry import MODELS
from app.services.building.tuning import to_events
from app.store import model_versions as versions
from app.store.db import make_session_factory
from app.store.event_arrays import read_event_arrays
from app.store.models import utcnow

NEEDS_ITEM_TEXT = frozenset({"content", "hybrid"})


def evaluate_store(
    settings: Settings,
    engine: Engine,
    *,
    k: int = 10,
    split: SplitMethod = "global",
    test_fraction: float = 0.2,
) -> str:
    """Evaluate each model and return the printed table; the rows are saved for GET /model/evaluation."""
    with engine.connect() as connection:
        arrays = read_event_arrays(connection)
    if len(arrays) == 0:
        return "no events to evaluate"
    data = temporal_split(to_events(arrays), split, test_fraction)
    config = settings.confidence_config()
    results = []
    for name in MODELS:
        if name in NEEDS_ITEM_TEXT:
            continue
        try:
            results.append(evaluate_model(name, data, None, config, k=k, label=name))
        except ValueError as exc:  # e.g. EASE above its item limit
            print(f"{name}: skipped ({exc})")
    results.sort(key=lambda r: -r.metrics["ndcg"])
    rows: list[dict[str, Any]] = [
        {k2: (round(v, 5) if isinstance(v, float) else v) for k2, v in r.row().items()} for r in results
    ]
    with make_session_factory(engine).begin() as session:
        versions.save_evaluation(
            session,
            {"kind": "evaluate", "k": k, "split": split, "test_fraction": test_fraction},
            rows,
            utcnow(),
        )
    return format_table(results, k=k)
