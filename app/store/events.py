"""Event queries: idempotent batch inserts, a user's history, and bulk reads for rebuilds."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
        stored = session.connection().exec_driver_sql(_PG_INSERT_EVENTS, columns)
        return [tuple(r) for r in stored.all()]  # type: ignore[misc]
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
    """Events as columns, ordered by id: what a rebuild turns into the interaction matrix.

    Users and items come integer-coded: ``users`` holds the distinct user ids in sorted order
    (code point order) and ``user_codes[k]`` indexes it; the same for items.
    """

    users: list[str]
    items: list[str]
    user_codes: np.ndarray  # int32
    item_codes: np.ndarray  # int32
    type_codes: np.ndarray  # int8, index into EVENT_TYPES
    values: np.ndarray  # float32
    timestamps: np.ndarray  # float64 seconds since the epoch
    last_event_id: int

    def __len__(self) -> int:
        return len(self.values)


_TYPE_CASE = "CASE type {} END".format(
    " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(EVENT_TYPES))
)


def read_event_arrays(connection: Connection) -> EventArrays:
    """Read every event column-wise, without building ORM objects."""
    if connection.dialect.name == "postgresql":
        return _read_postgres(connection)
    rows = connection.exec_driver_sql(
        f"SELECT id, user_id, item_id, {_TYPE_CASE}, value, (julianday(ts) - 2440587.5) * 86400.0 "
        "FROM events ORDER BY id"
    ).fetchall()
    if not rows:
        return _empty_arrays()
    ids, users, items, types, values, ts = zip(*rows, strict=True)
    user_coder, item_coder = _Codes(), _Codes()
    user_coder.add(list(users))
    item_coder.add(list(items))
    (user_list, user_codes), (item_list, item_codes) = user_coder.finish(), item_coder.finish()
    return EventArrays(
        users=user_list,
        items=item_list,
        user_codes=user_codes,
        item_codes=item_codes,
        type_codes=np.array(types, dtype=np.int8),
        values=np.array(values, dtype=np.float32),
        timestamps=np.array(ts, dtype=np.float64),
        last_event_id=int(ids[-1]),
    )


def _empty_arrays() -> EventArrays:
    return EventArrays(
        users=[],
        items=[],
        user_codes=np.empty(0, dtype=np.int32),
        item_codes=np.empty(0, dtype=np.int32),
        type_codes=np.empty(0, dtype=np.int8),
        values=np.empty(0, dtype=np.float32),
        timestamps=np.empty(0, dtype=np.float64),
        last_event_id=0,
    )


def _read_postgres(connection: Connection) -> EventArrays:
    """Each column of a range of events as one value, one row per READ_CHUNK_EVENTS ids: ids
    joined by newlines, numbers as binary arrays, no per-row work on either side of the wire.
    The next range is fetched (PostgreSQL working) while this one is decoded (Python working).

    One REPEATABLE READ snapshot for every range when the connection has run nothing yet.
    """
    if not connection.in_transaction():
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    last = max_event_id(connection)
    raw = connection.connection.driver_connection
    assert raw is not None

    def fetch(lo: int) -> Any:
        with raw.cursor() as cur:
            return cur.execute(_PG_COLUMNS, {"lo": lo, "hi": lo + READ_CHUNK_EVENTS}, binary=True).fetchone()

    users, items = _Codes(), _Codes()
    ids: list[np.ndarray] = []
    types: list[np.ndarray] = []
    values: list[np.ndarray] = []
    timestamps: list[np.ndarray] = []
    starts = list(range(0, last, READ_CHUNK_EVENTS))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-events") as pool:
        pending = pool.submit(fetch, starts[0]) if starts else None
        for k in range(len(starts)):
            assert pending is not None
            row = pending.result()  # one connection, one query at a time: the next starts here
            pending = pool.submit(fetch, starts[k + 1]) if k + 1 < len(starts) else None
            if row[0] is None:
                continue  # a range of erased events
            ids.append(_binary_array(row[0], ">i8").astype(np.int64))
            users.add(row[1].split("\n"))
            items.add(row[2].split("\n"))
            types.append(_TYPE_OF_INITIAL[np.frombuffer(row[3].encode("ascii"), dtype=np.uint8)])
            values.append(_binary_array(row[4], ">f8").astype(np.float32))
            timestamps.append(_binary_array(row[5], ">i8") / 1e6 + _PG_EPOCH)
    if not ids:
        return _empty_arrays()
    event_ids = np.concatenate(ids)
    user_list, user_codes = users.finish()
    item_list, item_codes = items.finish()
    columns = [user_codes, item_codes, *(np.concatenate(c) for c in (types, values, timestamps))]
    if not (np.diff(event_ids) > 0).all():  # aggregated in scan order, usually id order already
        order = np.argsort(event_ids, kind="stable")
        event_ids, columns = event_ids[order], [c[order] for c in columns]
    return EventArrays(user_list, item_list, *columns, last_event_id=int(event_ids[-1]))


READ_CHUNK_EVENTS = 100_000  # small enough that fetching and decoding overlap in small stores
# Every aggregate of one query sees the rows in the same order, so the columns stay aligned.
# A timestamptz travels as its binary form: microseconds since 2000-01-01 UTC.
_PG_COLUMNS = (
    "SELECT array_send(array_agg(id)), string_agg(user_id, E'\\n'), string_agg(item_id, E'\\n'), "
    "string_agg(left(type, 1), ''), array_send(array_agg(value)), array_send(array_agg(ts)) "
    "FROM events WHERE id > %(lo)s AND id <= %(hi)s"
)
_PG_EPOCH = 946_684_800.0  # 2000-01-01 in Unix seconds
_TYPE_OF_INITIAL = np.full(256, -1, dtype=np.int8)
_TYPE_OF_INITIAL[[ord(t[0]) for t in EVENT_TYPES]] = np.arange(len(EVENT_TYPES))
assert len({t[0] for t in EVENT_TYPES}) == len(EVENT_TYPES), "event types need distinct initials"


def _binary_array(data: bytes, dtype: str) -> np.ndarray:
    """The elements of a one-dimensional PostgreSQL array without NULLs, from its binary form:
    a header of five int32 (dimensions, null flag, element type, length, lower bound), then each
    element as its int32 length and its bytes."""
    ndim, has_null, _, n, _ = np.frombuffer(data, dtype=">i4", count=5)
    if ndim != 1 or has_null:
        raise RuntimeError("an event column came back as an unexpected array")
    return np.frombuffer(data, dtype=[("length", ">i4"), ("value", dtype)], offset=20, count=n)["value"]


class _Codes:
    """Codes for a stream of ids: each id's first position while reading, then its sorted rank."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.parts: list[np.ndarray] = []
        self.seen = 0

    def add(self, ids: list[str]) -> None:
        n = len(ids)
        # map() with two iterables calls setdefault(id, position) in C, no Python loop.
        first = map(self.first.setdefault, ids, range(self.seen, self.seen + n))
        self.parts.append(np.fromiter(first, dtype=np.int64, count=n))
        self.seen += n

    def finish(self) -> tuple[list[str], np.ndarray]:
        ids = list(self.first)
        positions = np.fromiter(self.first.values(), dtype=np.int64, count=len(ids))  # increasing
        order = sorted(range(len(ids)), key=ids.__getitem__)
        rank = np.empty(len(ids), dtype=np.int32)
        rank[order] = np.arange(len(ids), dtype=np.int32)
        codes = rank[np.searchsorted(positions, np.concatenate(self.parts))]
        return [ids[k] for k in order], codes


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
