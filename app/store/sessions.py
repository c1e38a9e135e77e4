"""Session queries: anonymous visitors are shoppers whose key starts with a character no client
id may hold (`services/sessions.py`), so their events live in the events table like any other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from app.store.models import Event, User


def move_events(session: Session, from_user: str, to_user: str) -> list[Any]:
    """Give `from_user`'s events to `to_user`; (id, user_id, item_id, type, value, ts) of those moved."""
    moved = session.execute(
        update(Event)
        .where(Event.user_id == from_user)
        .values(user_id=to_user)
        .returning(Event.id, Event.user_id, Event.item_id, Event.type, Event.value, Event.ts)
    ).all()
    session.execute(delete(User).where(User.user_id == from_user))
    return sorted(moved)


def inactive(session: Session, prefix: str, cutoff: datetime, limit: int) -> list[str]:
    """Keys starting with `prefix` whose newest event arrived before `cutoff` (or that have none)."""
    is_session = func.substr(User.user_id, 1, len(prefix)) == prefix
    newest = (
        select(func.max(Event.received_at))
        .where(Event.user_id == User.user_id)
        .correlate(User)
        .scalar_subquery()
    )
    stmt = select(User.user_id).where(is_session, (newest < cutoff) | newest.is_(None)).limit(limit)
    return list(session.scalars(stmt).all())


def erase(session: Session, keys: Sequence[str]) -> int:
    """Delete the sessions' events and rows; the number of events deleted."""
    if not keys:
        return 0
    result = cast("CursorResult[Any]", session.execute(delete(Event).where(Event.user_id.in_(keys))))
    n = result.rowcount or 0
    session.execute(delete(User).where(User.user_id.in_(keys)))
    return n
