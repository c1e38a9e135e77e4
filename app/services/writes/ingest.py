"""Event ingestion: validated batches stored in one transaction, idempotent on `event_id`.

A shopper or item an event names is created on the fly, in the batch's transaction, after the
batch has taken its shoppers' write locks (`store.events.lock_shoppers_for_writing`): an erasure of
one of them either committed before (the batch creates the shopper anew, the start of a new
history for that id) or waits for the batch to commit (and erases its events with the rest).
Items the live catalog already holds skip that upsert: items are never deleted, only hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import metrics
from app.shop import EventRecord, shopper_key
from app.store import events as event_store
from app.store.models import utcnow

if TYPE_CHECKING:  # the serving stack (numpy, scipy) stays out of file imports
    from app.services.serving.runtime import Runtime

ATTEMPTS = 3  # a batch that lost a deadlock is stored again
IMPORT_BATCH = 5000  # events per statement of a file import on SQLite


class WriteConflict(Exception):
    """The batch kept conflicting with concurrent writes (deadlocks): nothing was stored, and
    sending it again is safe."""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    rows: list[tuple[int, str, str, str, float, datetime]]  # what was stored, for the real-time indexes
    received_by_type: dict[str, int]  # every event of the batch, duplicates included


def record_events(runtime: Runtime, session: Session, events: Sequence[EventRecord]) -> IngestResult:
    """Store a batch and commit it (a returned result is durable), then publish it to this
    process's real-time index. All or nothing; raises WriteConflict if every attempt conflicted."""
    for _ in range(ATTEMPTS):
        try:
            result = store_events(session, events, catalog=runtime.catalog.categories)
            session.commit()
            break
        except DBAPIError as exc:
            session.rollback()
            if not event_store.is_write_conflict(exc):
                raise
    else:
        raise WriteConflict(
            f"the batch conflicted with concurrent writes {ATTEMPTS} times; nothing was stored, send it again"
        )
    publish(runtime, result)
    return result


def store_events(
    session: Session, events: Sequence[EventRecord], *, catalog: Container[str] = ()
) -> IngestResult:
    """Store a batch (all or nothing: the caller's transaction commits or rolls back). Items in
    `catalog` are known to be stored already and are not upserted."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for e in events:
        if e.event_id is not None:
            if e.event_id in seen_ids:
                continue
            seen_ids.add(e.event_id)
        rows.append(
            {
                "event_id": e.event_id,
                "user_id": shopper_key(e.user_id, e.session_id),
                "item_id": e.item_id,
                "type": e.type,
                "value": e.value,
                "ts": e.timestamp or now,
                "received_at": now,
            }
        )
    # One order for every batch, like the users and items: two overlapping batches (a retry racing
    # its first attempt) inserted in different orders wait on each other's event_ids, a deadlock.
    rows.sort(key=lambda r: r["event_id"] or "")
    users = sorted({r["user_id"] for r in rows})
    items = [i for i in {r["item_id"] for r in rows} if i not in catalog]
    event_store.lock_shoppers_for_writing(session, users)
    event_store.ensure_users_and_items(session, users, items, now)
    stored = event_store.insert_events(session, rows)
    return IngestResult(
        accepted=len(stored),
        duplicates=len(events) - len(stored),
        rows=stored,
        received_by_type=Counter(e.type for e in events),
    )


def import_events(session: Session, events: Iterable[EventRecord]) -> int:
    """Store a file's events in the session's transaction (all or nothing), skipping event ids
    already stored or repeated; returns how many were stored. On PostgreSQL: one COPY into a
    staging table, then set-based inserts, with no per-batch round trip; elsewhere in batches."""
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        rows = (
            (e.event_id, shopper_key(e.user_id, e.session_id), e.item_id, e.type, e.value, e.timestamp or now)
            + (now,)
            for e in events
        )
        return event_store.copy_events(session, rows, now)
    stored = 0
    batch: list[EventRecord] = []
    for event in events:
        batch.append(event)
        if len(batch) == IMPORT_BATCH:
            stored += store_events(session, batch).accepted
            batch.clear()
    if batch:
        stored += store_events(session, batch).accepted
    return stored


def publish(runtime: Runtime, result: IngestResult) -> None:
    """After commit: make the events count for this shopper's next answer at once."""
    runtime.record_own_events(result.rows)
    accepted = Counter(row[3] for row in result.rows)
    outcomes: dict[tuple[str, str], int] = {}
    for event_type, received in result.received_by_type.items():
        outcomes[event_type, "accepted"] = accepted[event_type]
        outcomes[event_type, "duplicate"] = received - accepted[event_type]
    metrics.record_events(outcomes)
    catalog = runtime.catalog
    for row in result.rows:
        if row[2] not in catalog.categories:  # created on the fly by this batch
            catalog.apply(row[2], available=True, deleted=False, categories=())
