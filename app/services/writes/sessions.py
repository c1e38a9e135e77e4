"""Anonymous sessions on login: `merge` gives a session's events to the shopper.

A session is kept as a shopper under `app.shop.session_key(session_id)`, so everything built for
shoppers (the real-time index, the rebuild, erasure) serves sessions unchanged. Expiry runs in the
background worker (`building/expiry.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.services.serving.runtime import Runtime
from app.shop import session_key
from app.store import events as event_store
from app.store import sessions as session_store
from app.store.models import utcnow


@dataclass(frozen=True)
class Merged:
    user_id: str
    session_id: str
    merged: int  # events moved by this call (0 when repeated)


def merge(session: Session, user_id: str, session_id: str) -> tuple[Merged, list[Any]]:
    """Move the session's events to the shopper (created if new), in the caller's transaction."""
    event_store.ensure_users_and_items(session, [user_id], [], utcnow())
    moved = session_store.move_events(session, session_key(session_id), user_id)
    return Merged(user_id, session_id, len(moved)), moved


def publish_merge(runtime: Runtime, merged: Merged, rows: list[Any]) -> None:
    """After commit: the shopper's next answer counts the session's events, here at once.

    Events the serving model already holds under the session would be skipped by the real-time
    index (it keeps what is newer than the model), so they are stamped just past the model's
    last event: the next model holds them under the shopper and the stamp lets them go."""
    key = session_key(merged.session_id)
    runtime.activity.forget(key)
    runtime.purchases.forget(key)
    runtime.answers.forget(key)
    if rows:
        floor = runtime.model.meta.last_event_id + 1
        # Activity only: the events are counted for trending items already (under the session).
        runtime.record_activity([(max(r[0], floor), merged.user_id, r[2], r[3], r[4]) for r in rows])
    runtime.answers.forget(merged.user_id)
