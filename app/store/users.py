"""User queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.store.models import User


def upsert_user(session: Session, user_id: str, attributes: dict[str, Any], now: datetime) -> User:
    user = session.get(User, user_id)
    if user is None:
        user = User(user_id=user_id, attributes=attributes, created_at=now, updated_at=now)
        session.add(user)
    else:
        user.attributes = attributes
        user.updated_at = now
    session.flush()
    return user


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def delete_user(session: Session, user_id: str) -> bool:
    return bool(session.execute(delete(User).where(User.user_id == user_id)).rowcount)
