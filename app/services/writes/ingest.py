"""Event ingestion: validated batches stored in one transaction, idempotent on `event_id`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.services.serving.runtime import Runtime
from app.shop import EventRecord
from app.store import events as event_store
from app.store.models import utcnow


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    rows: list[tuple[int, str, str, str, float]]  # what was stored, for the real-time index


def store_events(session: Session, events: Sequence[EventRecord]) -> IngestResult:
    """Store a batch (all or nothing: the caller's transaction commits or rolls back)."""
    now = utcnow()
    rows = []
    seen_ids: set[str] = set()
    repeated = 0
    for e in events:
        if e.event_id is not None:
            if e.event_id in seen_ids:
                repeated += 1
                continue
            seen_ids.add(e.event_id)
        rows.append(
            {
                "event_id": e.event_id,
                "user_id": e.user_id,
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
    event_store.ensure_users_and_items(
        session, [r["user_id"] for r in rows], [r["item_id"] for r in rows], now
    )
    stored = event_store.insert_events(session, rows)
    return IngestResult(accepted=len(stored), duplicates=len(events) - len(stored), rows=stored)


def publish(runtime: Runtime, result: IngestResult) -> None:
    """After commit: make the events count for this shopper's next answer at once."""
    runtime.record_events(result.rows)
    catalog = runtime.catalog
    for row in result.rows:
        if row[2] not in catalog.categories:  # created on the fly by this batch
            catalog.apply(row[2], available=True, deleted=False, categories=())
