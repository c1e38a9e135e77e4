"""What `GET /model` and `GET /model/evaluation` report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.services.serving.runtime import Runtime
from app.store import events as event_store
from app.store import model_versions as versions
from app.store.locks import rebuild_lock
from app.store.model_versions import HEARTBEAT_SECONDS
from app.store.models import RebuildRun, utcnow

# A running rebuild refreshes its heartbeat every HEARTBEAT_SECONDS: six missed beats and its
# process is taken for gone (a host that vanished without closing its connections).
HEARTBEAT_LEASE = timedelta(seconds=6 * HEARTBEAT_SECONDS)


def describe(runtime: Runtime, session: Session, *, building_here: bool) -> dict[str, Any]:
    model = runtime.model
    meta = model.meta
    run = versions.last_run(session)
    if run is not None and run.status == "running" and not building_here:
        run = _unless_dead(runtime, session, run)
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
        "engine": _engine(runtime),
        "n_users": model.n_users,
        "n_items": model.n_items,
        "n_events": meta.n_events,
        "events_since_build": event_store.count_after(session, meta.last_event_id),
        "last_error": run.error if run is not None and run.status == "failed" else None,
    }


def _unless_dead(runtime: Runtime, session: Session, run: RebuildRun) -> RebuildRun | None:
    """A run that says 'running' but whose process is gone is marked failed, and reported so.

    Gone: nobody holds the store-wide rebuild lock (it dies with its process), or the run's
    heartbeat is older than HEARTBEAT_LEASE."""
    now = utcnow()
    error = None
    with rebuild_lock(runtime.engine) as free:
        if free:
            error = "interrupted (the rebuild process is gone)"
    beat = run.heartbeat_at or run.started_at
    if error is None and beat < now - HEARTBEAT_LEASE:
        error = f"interrupted (no heartbeat from the rebuild process since {beat.isoformat()})"
    if error is None:
        return run
    versions.fail_dead_run(session, run, now=now, error=error)
    session.commit()
    session.expire_all()
    return versions.last_run(session)


def _engine(runtime: Runtime) -> str:
    """Which engine built the serving model (the configured one while none is built yet)."""
    meta = runtime.model.meta
    if meta.version is None:
        return runtime.settings.rebuild_engine
    return str(meta.metrics.get("engine", "local"))


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
