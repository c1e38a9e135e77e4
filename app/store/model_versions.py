"""Model versions, rebuild runs and evaluation tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, func, select, update
from sqlalchemy.orm import Session

from app.store import erasures
from app.store.models import Evaluation, ModelVersion, RebuildRun

HEARTBEAT_SECONDS = 5.0  # a running rebuild refreshes its run's heartbeat this often
KEEP_ARTIFACTS = 1  # only the serving version: an erased shopper's data must not linger


def latest_version_number(connection: Connection) -> int | None:
    return connection.scalar(
        select(ModelVersion.version)
        .where(ModelVersion.artifact.is_not(None))
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


def load_version(session: Session, version: int) -> ModelVersion | None:
    return session.get(ModelVersion, version)


def last_tuned(session: Session) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(algorithm, params, metrics) of the version the last tuning run built, if any."""
    row = session.execute(
        select(ModelVersion.algorithm, ModelVersion.params, ModelVersion.metrics)
        .join(RebuildRun, RebuildRun.version == ModelVersion.version)
        .where(RebuildRun.tune.is_(True), RebuildRun.status == "succeeded")
        .order_by(ModelVersion.version.desc())
        .limit(1)
    ).first()
    return (row.algorithm, dict(row.params), dict(row.metrics)) if row else None


def runs_since_tuning(session: Session) -> int | None:
    """Succeeded rebuilds since the last succeeded tuning run; None if none ever succeeded."""
    last = session.scalar(
        select(func.max(RebuildRun.id)).where(RebuildRun.tune.is_(True), RebuildRun.status == "succeeded")
    )
    if last is None:
        return None
    return (
        session.scalar(
            select(func.count())
            .select_from(RebuildRun)
            .where(RebuildRun.id > last, RebuildRun.status == "succeeded")
        )
        or 0
    )


def save_version(session: Session, version: ModelVersion) -> int:
    session.add(version)
    session.flush()
    stale = session.scalars(
        select(ModelVersion.version)
        .where(ModelVersion.artifact.is_not(None))
        .order_by(ModelVersion.version.desc())
        .offset(KEEP_ARTIFACTS)
    ).all()
    if stale:
        session.execute(update(ModelVersion).where(ModelVersion.version.in_(stale)).values(artifact=None))
    # In this transaction: a process that finds an erasure record gone finds this model instead.
    erasures.forget_covered(session, version.last_erasure_id)
    return version.version


def fail_running_runs(session: Session, *, now: datetime, error: str) -> int:
    """Mark every run still 'running' as failed (the caller holds the rebuild lock, so they are
    dead); returns how many there were."""
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(RebuildRun)
            .where(RebuildRun.status == "running")
            .values(status="failed", error=error, finished_at=now)
        ),
    )
    return result.rowcount or 0


def record_dead_run(session: Session, *, tune: bool, now: datetime, error: str) -> None:
    """A rebuild process died: fail its run, or record one if it died before starting it."""
    if not fail_running_runs(session, now=now, error=error):
        session.add(RebuildRun(status="failed", tune=tune, started_at=now, finished_at=now, error=error))


def start_run(session: Session, *, tune: bool, now: datetime) -> int:
    fail_running_runs(session, now=now, error="interrupted (the rebuild process stopped)")
    run = RebuildRun(status="running", tune=tune, started_at=now, heartbeat_at=now)
    session.add(run)
    session.flush()
    return run.id


def beat(session: Session, run_id: int, *, now: datetime) -> None:
    session.execute(update(RebuildRun).where(RebuildRun.id == run_id).values(heartbeat_at=now))


def fail_dead_run(session: Session, run: RebuildRun, *, now: datetime, error: str) -> None:
    """Fail a run known to be dead (its process gone), if it still says 'running'."""
    session.execute(
        update(RebuildRun)
        .where(RebuildRun.id == run.id, RebuildRun.status == "running")
        .values(status="failed", error=error, finished_at=now)
    )


def finish_run(
    session: Session, run_id: int, *, now: datetime, version: int | None, error: str | None
) -> None:
    session.execute(
        update(RebuildRun)
        .where(RebuildRun.id == run_id)
        .values(
            status="failed" if error else "succeeded",
            finished_at=now,
            version=version,
            error=error,
        )
    )


def last_run(session: Session) -> RebuildRun | None:
    return session.scalars(select(RebuildRun).order_by(RebuildRun.id.desc()).limit(1)).first()


def save_evaluation(
    session: Session, settings: dict[str, Any], rows: list[dict[str, Any]], now: datetime
) -> None:
    session.add(Evaluation(settings=settings, rows=rows, created_at=now))


def last_evaluation(session: Session) -> Evaluation | None:
    return session.scalars(select(Evaluation).order_by(Evaluation.id.desc()).limit(1)).first()


def history(session: Session, limit: int) -> list[Any]:
    """The newest `limit` versions' metadata (never their artifacts), newest first."""
    return list(
        session.execute(
            select(
                ModelVersion.version,
                ModelVersion.algorithm,
                ModelVersion.params,
                ModelVersion.metrics,
                ModelVersion.stages,
                ModelVersion.built_at,
                ModelVersion.build_seconds,
                ModelVersion.n_events,
            )
            .order_by(ModelVersion.version.desc())
            .limit(limit)
        ).all()
    )
