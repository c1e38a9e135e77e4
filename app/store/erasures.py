"""Erasure records: which shoppers were erased since the stored model was built."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from app.store.models import Erasure


def record(session: Session, user_id: str, now: datetime) -> int:
    """Record an erasure in the caller's transaction (the one deleting the rows); its id."""
    return int(
        session.execute(
            insert(Erasure).values(user_id=user_id, erased_at=now).returning(Erasure.id)
        ).scalar_one()
    )


def after(connection: Connection, erasure_id: int) -> list[tuple[int, str]]:
    """(id, user_id) of the erasures newer than `erasure_id`, oldest first."""
    rows = connection.execute(
        select(Erasure.id, Erasure.user_id).where(Erasure.id > erasure_id).order_by(Erasure.id)
    )
    return [(int(i), u) for i, u in rows]


def newest_id(connection: Connection) -> int:
    return int(connection.scalar(select(func.max(Erasure.id))) or 0)


def forget_covered(session: Session, erasure_id: int) -> None:
    """Delete the records a stored model now covers: the erased ids are kept no longer than needed."""
    session.execute(delete(Erasure).where(Erasure.id <= erasure_id))
