"""Erasure is durable and global: recorded in the store with the deletion, so a server killed right
after the 204 and restarted, or another server process on the same store, never serves the erased
shopper from the stored model; and it brings its own rebuild, with the timer off and no new events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import app.services.building.rebuild as rebuild_module
from app.store.db import make_engine
from app.store.models import Erasure, ModelVersion
from tests.conftest import rebuild, two_taste_events, wait_for
from tests.faults.test_multiprocess import http_clients, recommended, same_version_on
from tests.servers import Server


def erasure_rows(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Erasure)) or 0)
    finally:
        engine.dispose()


def newest_model(database_url: str) -> tuple[int, int]:
    """(version, last_erasure_id) of the newest stored model."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(ModelVersion.version, ModelVersion.last_erasure_id)
                .order_by(ModelVersion.version.desc())
                .limit(1)
            ).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def test_an_erasure_survives_a_kill_right_after_the_204(
    database_url: str, serve: Callable[..., Server]
) -> None:
    first = serve("first").wait_ready()  # the timer is off (REBUILD_INTERVAL_SECONDS=0)
    with first.client() as a:
        assert a.post("/events", json=two_taste_events()).status_code == 202
        a.post("/model/rebuild")
        wait_for(lambda: a.get("/model").json()["status"] == "ready" and a.get("/model").json()["version"])
        assert recommended(a, "u0")[0] == "personalized"
        assert a.delete("/users/u0").status_code == 204
    first.kill()  # SIGKILL, its rebuild process with it: nothing in memory survives

    second = serve("second").wait_ready()
    with second.client() as b:
        served_by = b.get("/model").json()["version"]
        body = b.get("/users/u0/recommendations", params={"limit": 5}).json()
        assert body["strategy"] == "popular", (served_by, body)
        assert b.get("/users/u0").status_code == 404
        # The restarted server rebuilds for the erasure by itself: no timer, no new event.
        wait_for(lambda: (m := b.get("/model").json())["version"] == 2 and m["status"] == "ready", timeout=60)
        assert recommended(b, "u0")[0] == "popular"
    version, last_erasure_id = newest_model(database_url)
    assert version == 2 and last_erasure_id >= 1
    assert erasure_rows(database_url) == 0  # the record goes once a model covers it


def test_an_erasure_on_one_server_process_holds_on_another(
    database_url: str, serve: Callable[..., Server]
) -> None:
    servers = [serve("a", poll_interval_seconds=0.2), serve("b", poll_interval_seconds=0.2)]
    for server in servers:
        server.wait_ready()
    with http_clients(*servers) as (a, b):
        assert a.post("/events", json=two_taste_events()).status_code == 202
        a.post("/model/rebuild")
        wait_for(lambda: [c.get("/model").json()["status"] for c in (a, b)] == ["ready"] * 2, timeout=30)
        same_version_on([a, b], 1, timeout=5)
        assert recommended(b, "u2")[0] == "personalized"

        assert a.delete("/users/u2").status_code == 204
        assert recommended(a, "u2")[0] == "popular"  # at once where it was erased
        wait_for(lambda: recommended(b, "u2")[0] == "popular", timeout=1.0)  # within a poll or two
        # ...and from then on, until and after the rebuild's model replaces the stored one.
        deadline = time.monotonic() + 60
        while (m := b.get("/model").json())["version"] == 1 or m["status"] != "ready":
            assert recommended(b, "u2")[0] == "popular"
            assert time.monotonic() < deadline, "no rebuild for the erasure"
            time.sleep(0.05)
        same_version_on([a, b], 2, timeout=5)
        assert [recommended(c, "u2")[0] for c in (a, b)] == ["popular", "popular"]
        assert recommended(b, "u4")[0] == "personalized"
    assert erasure_rows(database_url) == 0


def test_an_erasure_rebuilds_with_the_timer_off_and_no_new_events(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client()  # rebuild_interval_seconds=0
    assert client.post("/events", json=two_taste_events()).status_code == 202
    assert rebuild(client)["version"] == 1
    assert client.delete("/users/u0").status_code == 204
    assert erasure_rows(database_url) in (0, 1)  # 0 once the rebuild stored its model
    model = wait_for(
        lambda: (m := client.get("/model").json())["version"] == 2 and m["status"] == "ready" and m
    )
    assert model["n_users"] == 19
    assert newest_model(database_url) == (2, 1)
    assert erasure_rows(database_url) == 0


def test_every_load_filters_an_erased_shopper_until_a_model_without_them_is_stored(
    database_url: str, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored model still holds the shopper's row (the erasure's rebuild failed): a process
    that loads it at start serves them as unknown from its first request."""
    first = make_client()
    assert first.post("/events", json=two_taste_events()).status_code == 202
    rebuild(first)
    assert recommended(first, "u1")[0] == "personalized"

    def failing_build(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(rebuild_module, "_build", failing_build)
    assert first.delete("/users/u1").status_code == 204
    wait_for(lambda: "out of memory" in (first.get("/model").json()["last_error"] or ""))
    assert newest_model(database_url) == (1, 0) and erasure_rows(database_url) == 1

    restarted = make_client()  # a new process on the same store, same stored model
    assert restarted.get("/model").json()["version"] == 1
    assert recommended(restarted, "u1")[0] == "popular"
    assert recommended(restarted, "u3")[0] == "personalized"

    monkeypatch.undo()  # the store recovers: the pending erasure gets its model
    restarted.post("/model/rebuild")
    wait_for(lambda: restarted.get("/model").json()["version"] == 2)
    assert erasure_rows(database_url) == 0
    assert recommended(make_client(), "u1")[0] == "popular"
