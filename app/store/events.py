"""Event queries: idempotent batch inserts, a user's history, and bulk reads for rebuilds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.store.models import EVENT_TYPES, Event, Item, User


def _insert_ignoring_conflicts(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def ensure_users_and_items(
    session: Session, user_ids: Sequence[str], item_ids: Sequence[str], now: datetime
) -> None:
    """Create the users and items an event batch names, leaving existing rows untouched."""
    users = sorted(set(user_ids))
    items = sorted(set(item_ids))  # sorted: concurrent batches lock rows in one order
    if session.get_bind().dialect.name == "postgresql":
        # One statement per table with the ids as one array: no per-row parameters to bind.
        if users:
            session.execute(_PG_ENSURE_USERS, {"ids": users, "now": now})
        if items:
            session.execute(_PG_ENSURE_ITEMS, {"ids": items, "now": now})
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


_PG_ENSURE_USERS = text(
    "INSERT INTO users (user_id, attributes, created_at, updated_at) "
    "SELECT u, '{}', :now, :now FROM unnest(CAST(:ids AS text[])) AS u "
    "ON CONFLICT DO NOTHING"
)
_PG_ENSURE_ITEMS = text(
    "INSERT INTO items (item_id, categories, tags, available, attributes, created_at, updated_at) "
    "SELECT i, '[]', '[]', true, '{}', :now, :now FROM unnest(CAST(:ids AS text[])) AS i "
    "ON CONFLICT DO NOTHING"
)
# A batch as one array per column: one statement and one round trip, whatever the batch size.
_PG_INSERT_EVENTS = text(
    "INSERT INTO events (event_id, user_id, item_id, type, value, ts, received_at) "
    "SELECT * FROM unnest(CAST(:event_id AS text[]), CAST(:user_id AS text[]), CAST(:item_id AS text[]), "
    "CAST(:type AS text[]), CAST(:value AS float8[]), CAST(:ts AS timestamptz[]), "
    "CAST(:received_at AS timestamptz[])) "
    "ON CONFLICT DO NOTHING RETURNING id, user_id, item_id, type, value"
)
_EVENT_COLUMNS = ("event_id", "user_id", "item_id", "type", "value", "ts", "received_at")


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str, str, float]]:
    """Insert events, skipping those whose event_id is already stored.

    Returns (id, user_id, item_id, type, value) of each stored row, for the real-time index.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        columns = {c: [r[c] for r in rows] for c in _EVENT_COLUMNS}
        return [tuple(r) for r in session.execute(_PG_INSERT_EVENTS, columns).all()]  # type: ignore[misc]
    stmt = _insert_ignoring_conflicts(session, Event).returning(
        Event.id, Event.user_id, Event.item_id, Event.type, Event.value
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
    return session.execute(delete(Event).where(Event.user_id == user_id)).rowcount or 0


def count_after(session: Session, last_event_id: int) -> int:
    return session.scalar(select(func.count()).where(Event.id > last_event_id)) or 0


def total(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


@dataclass(frozen=True)
class EventArrays:
    """Events as columns, ordered by id: what a rebuild turns into the interaction matrix."""

    user_ids: np.ndarray  # object array of str
    item_ids: np.ndarray  # object array of str
    type_codes: np.ndarray  # int8, index into EVENT_TYPES
    values: np.ndarray  # float32
    timestamps: np.ndarray  # float64 seconds since the epoch
    last_event_id: int

    def __len__(self) -> int:
        return len(self.values)


def _epoch_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "extract(epoch from ts)::float8"
    return "(julianday(ts) - 2440587.5) * 86400.0"


_TYPE_CASE = "CASE type WHEN 'view' THEN 0 WHEN 'add_to_cart' THEN 1 WHEN 'purchase' THEN 2 ELSE 3 END"


def read_event_arrays(connection: Connection) -> EventArrays:
    """Read every event column-wise, without building ORM objects."""
    dialect = connection.dialect.name
    sql = f"SELECT id, user_id, item_id, {_TYPE_CASE}, value, {_epoch_sql(dialect)} FROM events ORDER BY id"
    if dialect == "postgresql":
        return _read_postgres_copy(connection, sql)
    rows = connection.exec_driver_sql(sql).fetchall()
    return _arrays_from_rows(rows)


def _arrays_from_rows(rows: Sequence[Sequence[Any]]) -> EventArrays:
    n = len(rows)
    if n == 0:
        return _empty_arrays()
    ids, users, items, types, values, ts = zip(*rows, strict=True)
    return EventArrays(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        type_codes=np.array(types, dtype=np.int8),
        values=np.array(values, dtype=np.float32),
        timestamps=np.array(ts, dtype=np.float64),
        last_event_id=int(ids[-1]),
    )


def _empty_arrays() -> EventArrays:
    return EventArrays(
        user_ids=np.empty(0, dtype=object),
        item_ids=np.empty(0, dtype=object),
        type_codes=np.empty(0, dtype=np.int8),
        values=np.empty(0, dtype=np.float32),
        timestamps=np.empty(0, dtype=np.float64),
        last_event_id=0,
    )


def _read_postgres_copy(connection: Connection, sql: str) -> EventArrays:
    """COPY the query out as text and split it column-wise: far faster than row fetching.

    The text is parsed in chunks of about COPY_CHUNK_BYTES, so the memory of the read is the arrays
    plus one chunk; each user and item id is kept once (a shopper's 500 events share one str).
    """
    raw = connection.connection.driver_connection
    assert raw is not None
    columns = _CopyColumns()
    chunk = bytearray()
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT") as copy:
        for block in copy:  # one row per block, so a chunk ends on a row boundary
            # Copied at once: keeping the blocks alive holds libpq's buffers, 3x slower.
            chunk += block
            if len(chunk) >= COPY_CHUNK_BYTES:
                columns.add(chunk)
                chunk.clear()
    if chunk:
        columns.add(chunk)
    return columns.arrays()


COPY_CHUNK_BYTES = 16 << 20


class _CopyColumns:
    """The columns of a COPY text stream (id, user, item, type code, value, epoch), chunk by chunk."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}  # every distinct user and item id once
        self.users: list[np.ndarray] = []
        self.items: list[np.ndarray] = []
        self.types: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.timestamps: list[np.ndarray] = []
        self.last_event_id = 0

    def add(self, data: bytearray) -> None:
        text = data.decode("utf-8")
        fields = text.replace("\n", "\t").split("\t")
        if fields[-1] == "":
            fields.pop()
        users, items = fields[1::6], fields[2::6]
        if "\\" in text:
            users, items = [_unescape(u) for u in users], [_unescape(i) for i in items]
        canonical = self.ids.setdefault
        # map() with two iterables calls setdefault(x, x) in C: duplicates become one shared str.
        self.users.append(np.array(list(map(canonical, users, users)), dtype=object))
        self.items.append(np.array(list(map(canonical, items, items)), dtype=object))
        self.types.append(_parse_numbers(fields[3::6], np.int8))
        self.values.append(_parse_numbers(fields[4::6], np.float32))
        self.timestamps.append(_parse_numbers(fields[5::6], np.float64))
        self.last_event_id = int(fields[-6])

    def arrays(self) -> EventArrays:
        if not self.users:
            return _empty_arrays()
        return EventArrays(
            user_ids=np.concatenate(self.users),
            item_ids=np.concatenate(self.items),
            type_codes=np.concatenate(self.types),
            values=np.concatenate(self.values),
            timestamps=np.concatenate(self.timestamps),
            last_event_id=self.last_event_id,
        )


def _parse_numbers(column: list[str], dtype: type) -> np.ndarray:
    # numpy's text parser reads a space-separated string in C, no Python float per value.
    return np.fromstring(" ".join(column), dtype=np.float64, sep=" ").astype(dtype)


def _unescape(field: str) -> str:
    # COPY text format escapes backslashes (ids cannot hold tabs or newlines: they are validated).
    return field.replace("\\\\", "\\") if "\\" in field else field


def read_events_after(connection: Connection, after_id: int, limit: int) -> list[Any]:
    """New events for the real-time tail, in id order."""
    return list(
        connection.execute(
            text(
                "SELECT id, user_id, item_id, type, value FROM events "
                "WHERE id > :after ORDER BY id LIMIT :limit"
            ),
            {"after": after_id, "limit": limit},
        ).all()
    )


def max_event_id(connection: Connection) -> int:
    return connection.scalar(text("SELECT max(id) FROM events")) or 0
