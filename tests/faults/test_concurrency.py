"""Racing clients: the same event_id sent at the same moment by several clients is stored exactly
once, every client gets a 2xx, and the `accepted` counts of the answers sum to one per event."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.store.db import make_engine
from app.store.models import Event
from tests.servers import Server

CLIENTS = 8
ROUNDS = 10
TIMEOUT = 30.0


def stored_event_ids(database_url: str) -> Counter[str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Event.event_id, func.count()).group_by(Event.event_id)).all()
            return Counter({event_id: n for event_id, n in rows})
    finally:
        engine.dispose()


def race(post: Callable[[int, int], Any], clients: int, rounds: int) -> list[list[Any]]:
    """`post(round, client)` from `clients` threads at once (a barrier per round)."""
    barrier = threading.Barrier(clients, timeout=TIMEOUT)

    def one_client(c: int) -> list[Any]:
        answers = []
        for r in range(rounds):
            barrier.wait()
            answers.append(post(r, c))
        return answers

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(one_client, c) for c in range(clients)]
        per_client = [f.result(timeout=TIMEOUT * rounds) for f in futures]
    return [[per_client[c][r] for c in range(clients)] for r in range(rounds)]


def test_same_event_id_from_eight_clients_at_once_is_stored_once(
    database_url: str, client: TestClient
) -> None:
    def post(r: int, c: int) -> tuple[int, Any]:
        event = {"event_id": f"dup-{r}", "user_id": f"u{r}", "item_id": "i1", "type": "purchase"}
        response = client.post("/events", json=event)
        return response.status_code, response.json()

    for r, answers in enumerate(race(post, CLIENTS, ROUNDS)):
        assert [status for status, _ in answers] == [202] * CLIENTS, answers
        assert sum(body["accepted"] for _, body in answers) == 1, (r, answers)
        assert sum(body["duplicates"] for _, body in answers) == CLIENTS - 1, (r, answers)
    assert stored_event_ids(database_url) == Counter({f"dup-{r}": 1 for r in range(ROUNDS)})
    # The shopper's history shows the purchase once.
    history = client.get("/users/u3/events").json()
    assert [e["event_id"] for e in history] == ["dup-3"]


def test_overlapping_batches_in_opposite_orders_on_a_real_server(
    database_url: str, serve: Callable[..., Server]
) -> None:
    """Two shops' retries of one batch, racing in opposite orders through a real server: no
    deadlock error, no double insert, and each event is accepted exactly once overall."""
    server = serve().wait_ready()
    n = 300

    def batch(r: int, c: int) -> list[dict[str, Any]]:
        events = [
            {"event_id": f"r{r}-{i}", "user_id": f"u{i % 30}", "item_id": f"i{i % 20}", "type": "view"}
            for i in range(n)
        ]
        return events if c % 2 == 0 else events[::-1]

    clients = [server.client(timeout=TIMEOUT) for _ in range(4)]
    try:

        def post(r: int, c: int) -> tuple[int, Any]:
            try:
                response = clients[c].post("/events", json=batch(r, c))
            except httpx.HTTPError as exc:
                return 0, repr(exc)
            return response.status_code, response.json()

        rounds = race(post, len(clients), 5)
    finally:
        for http in clients:
            http.close()
    for r, answers in enumerate(rounds):
        assert [status for status, _ in answers] == [202] * len(clients), (r, answers, server.log())
        assert sum(body["accepted"] for _, body in answers) == n, (r, answers)
    stored = stored_event_ids(database_url)
    assert len(stored) == 5 * n and set(stored.values()) == {1}
