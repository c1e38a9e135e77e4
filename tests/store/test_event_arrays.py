"""read_event_arrays: every event once, in id order, with ids coded in sorted order, on the
dialect under test (PostgreSQL reads ranges of ids as packed columns, SQLite reads rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, delete, update

from app.shop import EVENT_TYPES
from app.store import event_arrays
from app.store import events as event_store
from app.store.db import make_engine, make_session_factory
from app.store.event_arrays import read_event_arrays
from app.store.models import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Ids that sort differently by code point than by a locale; one with a backslash.
USERS = ["u-b", "U-a", "u-ä", "u\\x", "u-10", "u-9"]
ITEMS = ["i-2", "i-10", "I-1", "i-é"]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "event_id": f"e-{k}",
            "user_id": USERS[k % len(USERS)],
            "item_id": ITEMS[(k * 7) % len(ITEMS)],
            "type": EVENT_TYPES[k % len(EVENT_TYPES)],
            "value": 1.0 + (k % 5) / 2,
            "ts": T0 + timedelta(seconds=k * 90.5),
            "received_at": T0,
        }
        for k in range(n)
    ]


def test_every_event_in_id_order_with_sorted_codes(engine: Engine, monkeypatch) -> None:
    rows = _rows(53)
    with make_session_factory(engine).begin() as session:
        event_store.ensure_users_and_items(session, USERS, ITEMS, T0)
        event_store.insert_events(session, rows)
        # An erased stretch: a whole range of ids is empty on PostgreSQL's ranged read.
        session.execute(delete(Event).where(Event.id.between(11, 25)))
        # Updated rows move to the end of a PostgreSQL heap: scan order is no longer id order.
        session.execute(update(Event).where(Event.id <= 4).values(value=Event.value))
    kept = rows[:10] + rows[25:]
    monkeypatch.setattr(event_arrays, "READ_CHUNK_EVENTS", 8)  # many ranges, some empty

    with engine.connect() as connection:
        arrays = read_event_arrays(connection)

    assert len(arrays) == len(kept) and arrays.last_event_id == 53
    assert arrays.users.ids == sorted({r["user_id"] for r in kept})  # code point order, like sorted()
    assert arrays.items.ids == sorted({r["item_id"] for r in kept})
    assert [arrays.users.ids[c] for c in arrays.user_codes] == [r["user_id"] for r in kept]
    assert [arrays.items.ids[c] for c in arrays.item_codes] == [r["item_id"] for r in kept]
    assert [EVENT_TYPES[c] for c in arrays.type_codes] == [r["type"] for r in kept]
    np.testing.assert_allclose(arrays.values, [r["value"] for r in kept])
    np.testing.assert_allclose(arrays.timestamps, [r["ts"].timestamp() for r in kept])  # type: ignore[union-attr]
    assert arrays.user_codes.dtype == np.int32 and arrays.item_codes.dtype == np.int32


def test_an_empty_store(engine: Engine) -> None:
    with engine.connect() as connection:
        arrays = read_event_arrays(connection)
    assert len(arrays) == 0 and arrays.users.ids == [] and arrays.last_event_id == 0
