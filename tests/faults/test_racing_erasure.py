"""POST /events racing DELETE /users/{id} for the same shopper, from two server processes on one
store: every answer is a documented 202/204/404 (or 409), never a 500; an event stored after the
erasure starts a new history for that id, one stored before it is erased with the rest."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable

from sqlalchemy import text

from app.store.db import make_engine
from tests.servers import Server

ROUNDS = 40


def test_events_racing_erasures_of_their_shopper_never_fail(
    database_url: str, serve: Callable[..., Server]
) -> None:
    servers = [serve("a", poll_interval_seconds=0.2), serve("b", poll_interval_seconds=0.2)]
    for server in servers:
        server.wait_ready()
    answers: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    ids = itertools.count()

    def post(server: Server) -> None:
        with server.client(timeout=30) as client:
            while not stop.is_set():
                batch = [
                    {"event_id": f"e{next(ids)}", "user_id": user, "item_id": f"i{k}", "type": "view"}
                    for k in range(20)
                    for user in ("racer", f"bystander-{k % 3}")
                ]
                r = client.post("/events", json=batch)
                with lock:
                    answers["post", r.status_code] += 1
                    if r.status_code not in (202, 409):
                        problems.append(f"POST {r.status_code}: {r.text[:300]}")

    def erase(server: Server) -> None:
        with server.client(timeout=30) as client:
            for _ in range(ROUNDS):
                r = client.delete("/users/racer")
                with lock:
                    answers["delete", r.status_code] += 1
                    if r.status_code not in (204, 404):
                        problems.append(f"DELETE {r.status_code}: {r.text[:300]}")

    # Three posting clients across both processes, a fourth erasing through each in turn.
    posters = [threading.Thread(target=post, args=(servers[k % 2],)) for k in range(3)]
    for thread in posters:
        thread.start()
    try:
        for server in servers:
            erase(server)
    finally:
        stop.set()
        for thread in posters:
            thread.join()
    logs = "\n".join(s.log() for s in servers)
    assert not problems, (problems[:5], answers, logs[-3000:])
    assert answers["delete", 204] >= 2 and answers["post", 202] >= 10, answers

    # No event without its shopper, and the racer's events are all from after the last erasure.
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            orphans = connection.scalar(
                text(
                    "SELECT count(*) FROM events e LEFT JOIN users u USING (user_id) WHERE u.user_id IS NULL"
                )
            )
            assert orphans == 0
    finally:
        engine.dispose()
    with servers[0].client() as client:
        final = client.get("/users/racer")
        if final.status_code == 200:
            stored = sum(final.json()["event_counts"].values())
            assert stored == len(client.get("/users/racer/events", params={"limit": 1000}).json())
        else:
            assert final.status_code == 404
            assert client.get("/users/racer/events").json() == []
