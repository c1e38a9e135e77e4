"""Erasing a shopper: their rows in the store, then what this process serves from them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.services.serving.runtime import Runtime
from app.store import events as event_store
from app.store import users as user_store
from app.store.models import utcnow


def erase_user(session: Session, user_id: str) -> bool:
    """Erase the user and all their events (the caller then starts the rebuild that replaces the
    stored model built from their history; only the newest model is ever kept)."""
    event_store.delete_for_user(session, user_id)
    return user_store.delete_user(session, user_id)


def forget_user(runtime: Runtime, user_id: str) -> None:
    """Their cached list and recent activity stop counting now; the rebuild this requests
    removes their influence on everyone else's recommendations and on item neighbours."""
    runtime.erased[user_id] = utcnow()
    runtime.activity.forget(user_id)
    runtime.answers.forget(user_id)
    if runtime.background is not None:
        runtime.background.request_rebuild()
