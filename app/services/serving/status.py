"""What `GET /model` and `GET /model/evaluation` report."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.services.serving.runtime import Runtime
from app.store import events as event_store
from app.store import model_versions as versions


def describe(runtime: Runtime, session: Session, *, building_here: bool) -> dict[str, Any]:
    model = runtime.model
    meta = model.meta
    run = versions.last_run(session)
    building = building_here or (run is not None and run.status == "running")
    if building:
        status = "building"
    elif meta.version is None:
        status = "empty"
    else:
        status = "ready"
    return {
        "version": meta.version,
        "status": status,
        "built_at": meta.built_at,
        "build_seconds": meta.build_seconds,
        "algorithm": meta.algorithm,
        "params": meta.params,
        "metrics": meta.metrics,
        "n_users": model.n_users,
        "n_items": model.n_items,
        "n_events": meta.n_events,
        "events_since_build": event_store.count_after(session, meta.last_event_id),
        "last_error": run.error if run is not None and run.status == "failed" else None,
    }


def last_evaluation(runtime: Runtime) -> dict[str, Any]:
    with runtime.sessions() as session:
        evaluation = versions.last_evaluation(session)
        if evaluation is None:
            return {"created_at": None, "settings": {}, "rows": []}
        return {
            "created_at": evaluation.created_at,
            "settings": evaluation.settings,
            "rows": evaluation.rows,
        }
