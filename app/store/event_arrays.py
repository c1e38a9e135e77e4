"""The rebuild's bulk read: every event as columns, ids coded through one vocabulary.

PostgreSQL sends each column of a range of events as one value (binary arrays, joined ids), so
neither side of the wire does per-row work; SQLite reads rows with the type already coded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from app.shop import EVENT_TYPES
from app.store.events import max_event_id
from app.vocabulary import Vocabulary, VocabularyBuilder


@dataclass(frozen=True)
class EventArrays:
    """Events as columns, ordered by id: what a rebuild turns into the interaction matrix.

    Users and items come integer-coded: ``users`` is the vocabulary of the distinct user ids
    (code point order) and ``user_codes[k]`` indexes it; the same for items.
    """

    users: Vocabulary
    items: Vocabulary
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
    user_coder, item_coder = VocabularyBuilder(), VocabularyBuilder()
    user_coder.add(list(users))
    item_coder.add(list(items))
    (user_vocabulary, user_codes), (item_vocabulary, item_codes) = user_coder.finish(), item_coder.finish()
    return EventArrays(
        users=user_vocabulary,
        items=item_vocabulary,
        user_codes=user_codes,
        item_codes=item_codes,
        type_codes=np.array(types, dtype=np.int8),
        values=np.array(values, dtype=np.float32),
        timestamps=np.array(ts, dtype=np.float64),
        last_event_id=int(ids[-1]),
    )


def _empty_arrays() -> EventArrays:
    return EventArrays(
        users=Vocabulary([]),
        items=Vocabulary([]),
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

    users, items = VocabularyBuilder(), VocabularyBuilder()
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
    user_vocabulary, user_codes = users.finish()
    item_vocabulary, item_codes = items.finish()
    columns = [user_codes, item_codes, *(np.concatenate(c) for c in (types, values, timestamps))]
    if not (np.diff(event_ids) > 0).all():  # aggregated in scan order, usually id order already
        order = np.argsort(event_ids, kind="stable")
        event_ids, columns = event_ids[order], [c[order] for c in columns]
    user_codes, item_codes, type_column, value_column, time_column = columns
    return EventArrays(
        user_vocabulary, item_vocabulary, user_codes, item_codes, type_column, value_column, time_column,
        last_event_id=int(event_ids[-1]),
    )


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
