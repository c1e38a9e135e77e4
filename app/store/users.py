"""User queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from app.store.models import User
from app.store.upsert import upsert


def upsert_user(session: Session, user_id: str, attributes: dict[str, Any], now: datetime) -> User:
    """Create the user or replace their attributes, atomically (one INSERT ... ON CONFLICT)."""
    row = {"user_id": user_id, "attributes": attributes, "created_at": now, "updated_at": now}
    upsert(session, User, [row], update=("attributes", "updated_at"))
    stmt = select(User).where(User.user_id == user_id).execution_options(populate_existing=True)
    return session.scalars(stmt).one()


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def delete_user(session: Session, user_id: str) -> bool:
    result = cast("CursorResult[Any]", session.execute(delete(User).where(User.user_id == user_id)))
    return bool(result.rowcount)


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
