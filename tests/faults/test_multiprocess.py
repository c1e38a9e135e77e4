"""Several server processes on one store: one rebuild at a time across them (the store-wide
rebuild lock), every process picks up the new model, and an event accepted by one process changes
the shopper's recommendations served by another within moments (its poll tail)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import app.services.building.background as background_module
import app.services.building.rebuild as rebuild_module
from app.config import Settings
from app.store.db import make_engine
from app.store.locks import rebuild_lock
from app.store.models import RebuildRun
from tests.conftest import two_taste_events, wait_for
from tests.servers import Server

SLOW_BUILD_SECONDS = 0.5


def rebuild_runs(database_url: str) -> list[tuple[str, datetime, datetime | None]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(RebuildRun.status, RebuildRun.started_at, RebuildRun.finished_at).order_by(
                    RebuildRun.id
                )
            )
            return [(status, started, finished) for status, started, finished in rows]
    finally:
        engine.dispose()


def assert_one_at_a_time(runs: list[tuple[str, datetime, datetime | None]]) -> None:
    for (_, _, finished), (_, started, _) in zip(runs, runs[1:]):
        assert finished is not None and started >= finished, f"overlapping rebuilds: {runs}"


class Rebuilds:
    """Watches the rebuilds of every app in this test process: their outcomes, and how many
    builds ran at once (each build slowed down so that unguarded ones would overlap)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statuses: list[str] = []
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()
        build, run = rebuild_module._build, background_module.run_rebuild

        def slow_build(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                time.sleep(SLOW_BUILD_SECONDS)
                return build(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        def watched_run(*args: Any, **kwargs: Any) -> Any:
            result = run(*args, **kwargs)
            with self._lock:
                self.statuses.append(result.status)
            return result

        monkeypatch.setattr(rebuild_module, "_build", slow_build)
        monkeypatch.setattr(background_module, "run_rebuild", watched_run)


def version(client: TestClient | httpx.Client) -> Any:
    return client.get("/model").json()["version"]


def same_version_on(clients: list[Any], expected: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := [version(c) for c in clients]) != [expected] * len(clients):
        assert time.monotonic() < deadline, f"versions {seen}, not all {expected} within {timeout} s"
        time.sleep(0.05)


def recommended(client: TestClient | httpx.Client, user: str) -> tuple[str, list[str]]:
    body = client.get(f"/users/{user}/recommendations", params={"limit": 5}).json()
    return body["strategy"], [i["item_id"] for i in body["items"]]


def test_rebuilds_requested_on_two_apps_at_once_run_one_at_a_time(
    database_url: str, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = make_client(), make_client()  # two runtimes, two background workers, one store
    rebuilds = Rebuilds(monkeypatch)
    assert a.post("/events", json=two_taste_events()).status_code == 202

    assert a.post("/model/rebuild").json() == {"status": "scheduled"}
    assert b.post("/model/rebuild").json() == {"status": "scheduled"}
    wait_for(lambda: len(rebuilds.statuses) == 2, timeout=10)
    assert sorted(rebuilds.statuses) == ["built", "skipped"]
    assert rebuilds.peak == 1
    runs = rebuild_runs(database_url)
    assert [status for status, _, _ in runs] == ["succeeded"]
    same_version_on([a, b], 1)  # the one that skipped picks the new model up by polling

    # Again, from both at once on threads: still one build at a time, both serve the newest.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: c.post("/model/rebuild").status_code, [a, b]))
    wait_for(lambda: len(rebuilds.statuses) == 4 and not rebuilds.running, timeout=10)
    assert rebuilds.peak == 1
    runs = rebuild_runs(database_url)
    assert_one_at_a_time(runs)
    assert len(runs) == 1 + rebuilds.statuses[2:].count("built")
    same_version_on([a, b], len(runs))


def test_a_held_rebuild_lock_makes_every_process_skip(
    database_url: str,
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = make_client(), make_client()
    rebuilds = Rebuilds(monkeypatch)
    assert a.post("/events", json=two_taste_events()).status_code == 202
    engine = make_engine(database_url)
    try:
        with rebuild_lock(engine) as held:  # another process is rebuilding
            assert held
            assert rebuild_module.run_rebuild(make_settings()).status == "skipped"
            a.post("/model/rebuild")
            b.post("/model/rebuild")
            wait_for(lambda: len(rebuilds.statuses) == 2, timeout=10)
            assert rebuilds.statuses == ["skipped", "skipped"]
            assert rebuild_runs(database_url) == []
            assert [version(a), version(b)] == [None, None]
    finally:
        engine.dispose()
    a.post("/model/rebuild")
    wait_for(lambda: len(rebuilds.statuses) == 3, timeout=10)
    assert rebuilds.statuses[2] == "built"
    same_version_on([a, b], 1)


def test_an_event_on_one_app_changes_recommendations_served_by_another(
    make_client: Callable[..., TestClient],
) -> None:
    a, b = make_client(), make_client()
    assert a.post("/events", json=two_taste_events()).status_code == 202
    a.post("/model/rebuild")
    same_version_on([a, b], 1, timeout=10)
    assert recommended(b, "u0") == ("personalized", ["i0", "i5", "i6", "i7", "i8"])

    started = time.monotonic()
    assert a.post("/events", json={"user_id": "u0", "item_id": "i0", "type": "purchase"}).status_code == 202
    strategy, items = wait_for(lambda: (r := recommended(b, "u0"))[0] == "realtime" and r, timeout=2)
    assert "i0" not in items and len(items) == 5
    assert time.monotonic() - started < 2


@contextmanager
def http_clients(*servers: Server) -> Iterator[list[httpx.Client]]:
    clients = [s.client() for s in servers]
    try:
        yield clients
    finally:
        for c in clients:
            c.close()


def test_two_server_processes_on_one_store(database_url: str, serve: Callable[..., Server]) -> None:
    """The same, with real `shoprec serve` processes and their spawned rebuild processes."""
    servers = [serve("a", poll_interval_seconds=0.2), serve("b", poll_interval_seconds=0.2)]
    for server in servers:
        server.wait_ready()
    with http_clients(*servers) as (a, b):
        assert a.post("/events", json=two_taste_events()).status_code == 202
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda c: c.post("/model/rebuild").json(), [a, b]))
        assert answers == [{"status": "scheduled"}] * 2
        # Each server is 'building' from the request until its rebuild process has answered.
        wait_for(lambda: [c.get("/model").json()["status"] for c in (a, b)] == ["ready"] * 2, timeout=30)
        runs = rebuild_runs(database_url)
        logs = "\n".join(s.log() for s in servers)
        # Two requests, two rebuild processes: they may both build, one after the other, never at once.
        assert {status for status, _, _ in runs} == {"succeeded"} and len(runs) in (1, 2), (runs, logs)
        assert_one_at_a_time(runs)
        same_version_on([a, b], len(runs), timeout=5)

        assert recommended(b, "u0") == ("personalized", ["i0", "i5", "i6", "i7", "i8"])
        assert (
            a.post("/events", json={"user_id": "u0", "item_id": "i0", "type": "purchase"}).status_code == 202
        )
        strategy, items = wait_for(lambda: (r := recommended(b, "u0"))[0] == "realtime" and r, timeout=2)
        assert "i0" not in items and len(items) == 5
