"""Event queries inside a request's transaction: idempotent batch inserts (creating the users and
items they name), a user's history and counts, erasure, and the real-time tail's reads.

The rebuild's bulk read of every event is `app.store.event_arrays`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.shop import EVENT_TYPES
from app.store.models import Event, Item, User
from app.store.upsert import insert


def _insert_ignoring_conflicts(session: Session, table: Any) -> Any:
    return insert(session, table).on_conflict_do_nothing()


def ensure_users_and_items(
    session: Session, user_ids: Sequence[str], item_ids: Sequence[str], now: datetime
) -> None:
    """Create the users and items an event batch names, leaving existing rows untouched."""
    users = sorted(set(user_ids))
    items = sorted(set(item_ids))  # sorted: concurrent batches lock rows in one order
    if session.get_bind().dialect.name == "postgresql":
        # One statement per table with the ids as one array: no per-row parameters to bind.
        if users:
            session.connection().exec_driver_sql(_PG_ENSURE_USERS, {"ids": users, "now": now})
        if items:
            session.connection().exec_driver_sql(_PG_ENSURE_ITEMS, {"ids": items, "now": now})
        return
    if users:
        session.execute(
            _insert_ignoring_conflicts(session, User),
            [{"user_id": u, "attributes": {}, "created_at": now, "updated_at": now} for u in users],
        )
    if items:
        session.execute(
            _insert_ignoring_conflicts(session, Item),
            [
                {
                    "item_id": i,
                    "categories": [],
                    "tags": [],
                    "available": True,
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in items
            ],
        )


# PostgreSQL statements (in psycopg's own placeholders, through exec_driver_sql) take each column as
# one array sent in binary (%(name)b): psycopg's text form quotes every element through a regular
# expression, 3x slower for a batch of 1,000.
_PG_ENSURE_USERS = (
    "INSERT INTO users (user_id, attributes, created_at, updated_at) "
    "SELECT u, '{}', %(now)b, %(now)b FROM unnest(%(ids)b::text[]) AS u "
    "ON CONFLICT DO NOTHING"
)
_PG_ENSURE_ITEMS = (
    "INSERT INTO items (item_id, categories, tags, available, attributes, created_at, updated_at) "
    "SELECT i, '[]', '[]', true, '{}', %(now)b, %(now)b FROM unnest(%(ids)b::text[]) AS i "
    "ON CONFLICT DO NOTHING"
)
# A batch as one array per column: one statement and one round trip, whatever the batch size.
_PG_INSERT_EVENTS = (
    "INSERT INTO events (event_id, user_id, item_id, type, value, ts, received_at) "
    "SELECT * FROM unnest(%(event_id)b::text[], %(user_id)b::text[], %(item_id)b::text[], "
    "%(type)b::text[], %(value)b::float8[], %(ts)b::timestamptz[], %(received_at)b::timestamptz[]) "
    "ON CONFLICT DO NOTHING RETURNING id, user_id, item_id, type, value, ts"
)
_EVENT_COLUMNS = ("event_id", "user_id", "item_id", "type", "value", "ts", "received_at")


def insert_events(
    session: Session, rows: list[dict[str, Any]]
) -> list[tuple[int, str, str, str, float, datetime]]:
    """Insert events, skipping those whose event_id is already stored.

    Returns (id, user_id, item_id, type, value, ts) of each stored row, for the real-time indexes.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        columns = {c: [r[c] for r in rows] for c in _EVENT_COLUMNS}
        stored = session.connection().exec_driver_sql(_PG_INSERT_EVENTS, columns)
        return [tuple(r) for r in stored.all()]  # type: ignore[misc]
    stmt = _insert_ignoring_conflicts(session, Event).returning(
        Event.id, Event.user_id, Event.item_id, Event.type, Event.value, Event.ts
    )
    return [tuple(r) for r in session.execute(stmt, rows).all()]  # type: ignore[misc]


def user_history(session: Session, user_id: str, *, limit: int, before: datetime | None) -> Sequence[Event]:
    stmt = select(Event).where(Event.user_id == user_id)
    if before is not None:
        stmt = stmt.where(Event.ts < before)
    stmt = stmt.order_by(Event.ts.desc(), Event.id.desc()).limit(limit)
    return session.scalars(stmt).all()


def count_by_type(session: Session, user_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Event.type, func.count()).where(Event.user_id == user_id).group_by(Event.type)
    ).all()
    counts = dict.fromkeys(EVENT_TYPES, 0)
    counts.update({t: n for t, n in rows})
    return counts


def delete_for_user(session: Session, user_id: str) -> int:
    result = cast("CursorResult[Any]", session.execute(delete(Event).where(Event.user_id == user_id)))
    return result.rowcount or 0


# Writes and erasures of one shopper exclude each other through transaction-level advisory locks
# on PostgreSQL, one of SHOPPER_LOCKS per shopper (by hash): an event batch takes its shoppers'
# locks shared before it creates them and stores its events, an erasure takes its shopper's lock
# exclusively before it deletes. A batch stored before an erasure is erased with the rest; one
# after it creates the shopper anew; no event outlives its shopper. SQLite has one writer at a
# time: nothing to lock. (The key space is apart from the rebuild lock's single bigint key.)
SHOPPER_LOCK_CLASS = 0x5E0B
SHOPPER_LOCKS = 64
# In one order (the sorted subquery), like the rows of a batch.
_PG_LOCK_SHOPPERS = (
    "SELECT pg_advisory_xact_lock_shared(%(class)s, s) FROM "
    f"(SELECT DISTINCT hashtext(u) & {SHOPPER_LOCKS - 1} AS s FROM unnest(%(ids)b::text[]) AS u "
    "ORDER BY s) AS k"
)
_PG_LOCK_STAGED_SHOPPERS = (
    "SELECT pg_advisory_xact_lock_shared(%(class)s, s) FROM "
    f"(SELECT DISTINCT hashtext(user_id) & {SHOPPER_LOCKS - 1} AS s FROM import_events ORDER BY s) AS k"
)
_PG_LOCK_SHOPPER = f"SELECT pg_advisory_xact_lock(%(class)s, hashtext(%(id)s) & {SHOPPER_LOCKS - 1})"


def lock_shoppers_for_writing(session: Session, user_ids: Sequence[str]) -> None:
    """Wait for any erasure of these shoppers to commit; erasures wait for this transaction."""
    if user_ids and session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(
            _PG_LOCK_SHOPPERS, {"class": SHOPPER_LOCK_CLASS, "ids": list(user_ids)}
        ).all()


def lock_shopper_for_erasure(session: Session, user_id: str) -> None:
    """Wait for every write naming this shopper to commit; later ones wait for this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(_PG_LOCK_SHOPPER, {"class": SHOPPER_LOCK_CLASS, "id": user_id})


def count_after(session: Session, last_event_id: int) -> int:
    return session.scalar(select(func.count()).where(Event.id > last_event_id)) or 0


def total(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


def read_events_after(connection: Connection, after_id: int, limit: int) -> list[Any]:
    """New events for the real-time tail, in id order: (id, user_id, item_id, type, value, ts)."""
    stmt = (
        select(Event.id, Event.user_id, Event.item_id, Event.type, Event.value, Event.ts)
        .where(Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    )
    return list(connection.execute(stmt).all())


def read_recent(connection: Connection, since: datetime, upto_id: int, batch: int) -> Iterator[list[Any]]:
    """(id, user_id, item_id, ts) of the events that happened since `since`, with ids up to
    `upto_id`, in batches: what a starting server counts for trending items."""
    after = 0
    while True:
        rows = connection.execute(
            select(Event.id, Event.user_id, Event.item_id, Event.ts)
            .where(Event.ts >= since, Event.id > after, Event.id <= upto_id)
            .order_by(Event.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield list(rows)
        after = rows[-1][0]


def max_event_id(connection: Connection) -> int:
    return connection.scalar(text("SELECT max(id) FROM events")) or 0


# SQLSTATEs of a write that lost a race and may simply run again: a deadlock, a serialization
# failure, or a foreign key violation (a store whose schema still has the events' foreign keys).
_RETRYABLE_STATES = frozenset({"23503", "40P01", "40001"})


def is_write_conflict(exc: DBAPIError) -> bool:
    """Whether a failed write conflicted with a concurrent one (and may be tried again)."""
    state = getattr(exc.orig, "sqlstate", None)
    if state is not None:
        return state in _RETRYABLE_STATES
    return "FOREIGN KEY constraint failed" in str(exc.orig)  # SQLite names no state


# A bulk import on PostgreSQL: COPY into a staging table of the transaction, then set-based
# statements: the shoppers and items it names, then every event not already stored.
_PG_STAGING = (
    "CREATE TEMPORARY TABLE import_events (event_id text, user_id text, item_id text, type text, "
    "value float8, ts timestamptz, received_at timestamptz) ON COMMIT DROP"
)
_PG_STAGED_USERS = (
    "INSERT INTO users (user_id, attributes, created_at, updated_at) "
    "SELECT u, '{}', %(now)s, %(now)s FROM (SELECT DISTINCT user_id FROM import_events) AS s (u) "
    "ORDER BY u ON CONFLICT DO NOTHING"
)
_PG_STAGED_ITEMS = (
    "INSERT INTO items (item_id, categories, tags, available, attributes, created_at, updated_at) "
    "SELECT i, '[]', '[]', true, '{}', %(now)s, %(now)s "
    "FROM (SELECT DISTINCT item_id FROM import_events) AS s (i) ORDER BY i ON CONFLICT DO NOTHING"
)
_PG_STAGED_EVENTS = (
    "INSERT INTO events (event_id, user_id, item_id, type, value, ts, received_at) "
    "SELECT event_id, user_id, item_id, type, value, ts, received_at FROM import_events "
    "ON CONFLICT DO NOTHING"
)


def copy_events(session: Session, rows: Iterable[tuple[Any, ...]], now: datetime) -> int:
    """Store (event_id, user_id, item_id, type, value, ts, received_at) rows on PostgreSQL in the
    session's transaction; those whose event_id is already stored (or repeated) are skipped.
    Returns how many were stored."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(_PG_STAGING)
        with cur.copy(f"COPY import_events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("ANALYZE import_events")
        cur.execute(_PG_LOCK_STAGED_SHOPPERS, {"class": SHOPPER_LOCK_CLASS})
        cur.execute(_PG_STAGED_USERS, {"now": now})
        cur.execute(_PG_STAGED_ITEMS, {"now": now})
        cur.execute(_PG_STAGED_EVENTS)
        stored = cur.rowcount
        cur.execute("DROP TABLE import_events")
    return stored


def hourly_counts(session: Session, since: datetime) -> list[tuple[datetime, str, int]]:
    """(hour, type, events) for the events that happened since `since`, by the hour they happened in
    (UTC), oldest first."""
    if session.get_bind().dialect.name == "postgresql":
        hour: Any = func.date_trunc("hour", func.timezone("UTC", Event.ts))
    else:  # SQLite keeps UTC as text: the hour is its first 13 characters
        hour = func.substr(Event.ts, 1, 13)
    rows = session.execute(
        select(hour.label("hour"), Event.type, func.count())
        .where(Event.ts >= since)
        .group_by(hour, Event.type)
        .order_by(hour)
    ).all()
    out = []
    for when, event_type, n in rows:
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace(" ", "T") + ":00")
        out.append((when.replace(tzinfo=UTC, minute=0, second=0, microsecond=0), event_type, int(n)))
    return out
