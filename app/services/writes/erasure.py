"""Erasing a shopper: their rows and an erasure record in one transaction, then this process
stops serving them at once; every other process reads the record at its next poll (or at start)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.services.serving.runtime import Runtime
from app.store import erasures as erasure_store
from app.store import events as event_store
from app.store import users as user_store
from app.store.models import utcnow


def erase_user(runtime: Runtime, session: Session, user_id: str) -> bool:
    """Erase the user and all their events, durably; False if there is no such user.

    The erasure is recorded in the deletion's transaction, so a crash right after the answer
    cannot bring the shopper back from the stored model; the rebuild this requests replaces that
    model with one built without them (only the newest model is ever kept)."""
    event_store.lock_shopper_for_erasure(session, user_id)  # writes naming them commit first
    event_store.delete_for_user(session, user_id)
    if not user_store.delete_user(session, user_id):
        session.rollback()
        return False
    erasure_id = erasure_store.record(session, user_id, utcnow())
    session.commit()
    runtime.forget(user_id, erasure_id)
    if runtime.background is not None:
        runtime.background.request_erasure_rebuild(erasure_id)
    return True
