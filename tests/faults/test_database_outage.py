"""The database goes away under a running server (PostgreSQL, through a TCP proxy we can cut):
writes answer 503 with Retry-After and store nothing, reads keep being served from memory, and the
server reconnects by itself when the database returns (README, "When the database goes away")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.store.db import make_engine
from app.store.models import Event, User
from tests.conftest import POSTGRES_URL, rebuild, two_taste_events
from tests.faults.proxy import TcpProxy

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="needs PostgreSQL over TCP (set TEST_DATABASE_URL); a SQLite file cannot go away",
)

READS = ("/users/u0/recommendations?limit=5", "/popular?limit=5", "/items/i1/similar?limit=5")


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


def proxied(database_url: str, proxy: TcpProxy) -> str:
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def stored(database_url: str, prefix: str) -> tuple[int, int]:
    """(events whose event_id, users whose user_id start with `prefix`), read past the proxy."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            events = connection.scalar(select(func.count()).where(Event.event_id.like(f"{prefix}%")))
            users = connection.scalar(select(func.count()).where(User.user_id.like(f"{prefix}%")))
            return int(events or 0), int(users or 0)
    finally:
        engine.dispose()


def batch(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{i}",
            "user_id": f"{prefix}-u{i % 50}",
            "item_id": f"i{i % 10}",
            "type": "view",
        }
        for i in range(n)
    ]


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503
    assert "database is unavailable" in body["detail"] and "nothing was stored" in body["detail"]


def test_outage_writes_503_reads_from_memory_and_reconnect(
    database_url: str, proxy: TcpProxy, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(database_url=proxied(database_url, proxy))
    assert client.post("/events", json=two_taste_events()).status_code == 202
    version = rebuild(client)["version"]
    before = {path: client.get(path).json() for path in READS}
    assert before[READS[0]]["items"][0]["item_id"] == "i0"  # u0's one unseen item of its group

    # The link drops in the middle of a large write: the server has already answered part of it.
    proxy.cut_after_reply_bytes(20_000)
    assert_unavailable(client.post("/events", json=batch("mid", 5000)))
    assert proxy.is_cut and proxy.reply_bytes >= 20_000
    assert stored(database_url, "mid") == (0, 0)  # the transaction died whole

    # While it stays down: new connections are refused, every write is a 503 with nothing stored.
    assert_unavailable(client.post("/events", json=batch("down", 10)))
    assert_unavailable(client.post("/events", json={"user_id": "down-u", "item_id": "i1", "type": "view"}))
    assert stored(database_url, "down") == (0, 0)

    # Reads are served from memory, unchanged.
    for path in READS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["items"] == before[path]["items"], path
    assert client.get("/users/u0/recommendations?limit=5").json()["model_version"] == version
    # The probes tell an orchestrator the truth: alive, but not ready.
    assert client.get("/healthz").status_code == 200
    readyz = client.get("/readyz")
    assert readyz.status_code == 503 and readyz.json()["detail"].startswith("database unreachable")

    # The database returns: the very next write succeeds, without restarting anything.
    proxy.restore()
    response = client.post("/events", json=batch("back", 10))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 10, "duplicates": 0}
    assert stored(database_url, "back") == (10, 10)
    assert client.get("/readyz").status_code == 200
    assert client.get("/model").json()["version"] == version
    # ... and it counts for the shopper at once (the real-time path still works).
    assert (
        client.post("/events", json={"user_id": "u0", "item_id": "i0", "type": "purchase"}).status_code == 202
    )
    items = [i["item_id"] for i in client.get("/users/u0/recommendations?limit=5").json()["items"]]
    assert "i0" not in items
