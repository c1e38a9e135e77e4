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


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str, str, float]]:
    """Insert events, skipping those whose event_id is already stored.

    Returns (id, user_id, item_id, type, value) of each stored row, for the real-time index.
    """
    if not rows:
        return []
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


def read_event_arrays(connection: Connection, *, up_to_id: int | None = None) -> EventArrays:
    """Read every event (id <= up_to_id) column-wise, without building ORM objects."""
    dialect = connection.dialect.name
    where = "" if up_to_id is None else f" WHERE id <= {int(up_to_id)}"
    sql = (
        f"SELECT id, user_id, item_id, {_TYPE_CASE}, value, {_epoch_sql(dialect)} "
        f"FROM events{where} ORDER BY id"
    )
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
    """COPY the query out as text and split it column-wise: far faster than row fetching."""
    raw = connection.connection.driver_connection
    assert raw is not None
    chunks: list[bytes] = []
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT") as copy:
        for block in copy:
            chunks.append(bytes(block))
    data = b"".join(chunks)
    if not data:
        return _empty_arrays()
    lines = data.decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    cols = [line.split("\t") for line in lines]
    ids, users, items, types, values, ts = zip(*cols, strict=True)
    return EventArrays(
        user_ids=np.array([_unescape(u) for u in users], dtype=object),
        item_ids=np.array([_unescape(i) for i in items], dtype=object),
        type_codes=np.array(types, dtype=np.int8),
        values=np.array(values, dtype=np.float32),
        timestamps=np.array(ts, dtype=np.float64),
        last_event_id=int(ids[-1]),
    )


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
