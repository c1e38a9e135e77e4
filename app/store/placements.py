"""Placement queries: every PUT adds a version; the highest version of a name is current."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.store.models import Placement


def add_version(
    session: Session, name: str, *, strategy: str, limit: int, rules: list[dict[str, Any]], now: datetime
) -> Placement:
    """Store the next version of `name`. Two writers racing for one number: the primary key lets one
    win and the other fail (its transaction rolls back), never two placements with one version."""
    latest = session.scalar(select(func.max(Placement.version)).where(Placement.name == name)) or 0
    row = Placement(
        name=name, version=latest + 1, strategy=strategy, limit=limit, rules=rules, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def current(session: Session, name: str) -> Placement | None:
    return session.scalars(
        select(Placement).where(Placement.name == name).order_by(Placement.version.desc()).limit(1)
    ).first()


def changed_since(connection: Connection, since: datetime | None) -> list[Any]:
    """The newest version of each placement written at or after `since` (all when None)."""
    stmt = select(Placement.name, Placement.version, Placement.strategy, Placement.limit, Placement.rules)
    if since is not None:
        stmt = stmt.where(Placement.created_at >= since)
    return list(connection.execute(stmt.order_by(Placement.name, Placement.version)).all())
