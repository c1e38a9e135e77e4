"""Shoppers: their attributes, event counts and history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.store import events as event_store
from app.store import users as user_store
from app.store.models import Event, utcnow


def put_user(session: Session, user_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Create or update a user and commit; the user as `user_with_counts` reports it."""
    user_store.upsert_user(session, user_id, attributes, utcnow())
    session.commit()
    user = user_with_counts(session, user_id)
    assert user is not None  # just written, in this session
    return user


def user_with_counts(session: Session, user_id: str) -> dict[str, Any] | None:
    user = user_store.get_user(session, user_id)
    if user is None:
        return None
    return {
        "user_id": user.user_id,
        "attributes": user.attributes,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "event_counts": event_store.count_by_type(session, user_id),
    }


def history(session: Session, user_id: str, *, limit: int, before: datetime | None) -> Sequence[Event]:
    """The user's events, newest first."""
    return event_store.user_history(session, user_id, limit=limit, before=before)
