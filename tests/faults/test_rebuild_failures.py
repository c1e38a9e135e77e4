"""A rebuild that fails or whose process is killed leaves the previous model serving the same
answers, shows the error in `GET /model` as `last_error`, and the next rebuild works."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import app.services.building.rebuild as rebuild_module
from app.services.building import precompute
from app.services.serving.status import HEARTBEAT_LEASE
from app.store import model_versions
from app.store.db import make_engine
from app.store.locks import rebuild_lock
from app.store.models import RebuildRun
from tests.conftest import rebuild, two_taste_events, wait_for

USERS = ("u0", "u1", "u7", "nobody")


def dated_two_taste_events() -> list[dict[str, Any]]:
    """The two taste groups, one event a minute: tuning needs a past to train on."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {**event, "timestamp": (start + timedelta(minutes=n)).isoformat()}
        for n, event in enumerate(two_taste_events())
    ]


def answers(client: TestClient) -> dict[str, Any]:
    out: dict[str, Any] = {
        user: client.get(f"/users/{user}/recommendations", params={"limit": 6}).json() for user in USERS
    }
    out["similar"] = client.get("/items/i1/similar", params={"limit": 4}).json()
    out["popular"] = client.get("/popular", params={"limit": 4}).json()
    for answer in out.values():
        answer.pop("generated_at", None)
    return out


def runs(database_url: str) -> list[tuple[str, str | None]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(RebuildRun.status, RebuildRun.error).order_by(RebuildRun.id))
            return [(status, error) for status, error in rows]
    finally:
        engine.dispose()


def test_a_rebuild_that_raises_keeps_the_previous_model(
    database_url: str, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.post("/events", json=two_taste_events()).status_code == 202
    version = rebuild(client)["version"]
    before = answers(client)
    assert before["u0"]["model_version"] == version and before["u0"]["items"][0]["item_id"] == "i0"

    def broken(*_: Any, **__: Any) -> Any:
        raise MemoryError("top-N ran out of memory")

    monkeypatch.setattr(precompute, "recommend_all", broken)
    assert client.post("/model/rebuild").status_code == 202
    model = wait_for(
        lambda: (m := client.get("/model").json())["last_error"] and m["status"] != "building" and m,
        timeout=10,
    )
    assert model["last_error"] == "MemoryError: top-N ran out of memory"
    assert model["version"] == version and model["status"] == "ready"
    assert answers(client) == before
    assert runs(database_url) == [("succeeded", None), ("failed", "MemoryError: top-N ran out of memory")]

    monkeypatch.undo()
    model = rebuild(client)
    assert model["version"] == version + 1 and model["last_error"] is None
    assert answers(client)["u0"]["items"] == before["u0"]["items"]  # same events, same model


def test_a_killed_rebuild_process_keeps_the_previous_model_and_the_next_rebuild_works(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(rebuild_worker="process", tune_budget_seconds=60)
    background = client.app_state["runtime"].background
    assert client.post("/events", json=dated_two_taste_events()).status_code == 202
    version = rebuild(client)["version"]
    before = answers(client)

    # A tuning rebuild takes seconds: kill its process once it is recorded as running.
    assert client.post("/model/rebuild", params={"tune": "true"}).json() == {"status": "scheduled"}
    wait_for(lambda: runs(database_url)[-1][0] == "running", timeout=20, interval=0.01)
    child = background._child  # the rebuild process of this server
    assert child is not None and child.is_alive()
    os.kill(child.pid, signal.SIGKILL)

    model = wait_for(lambda: (m := client.get("/model").json())["status"] != "building" and m, timeout=10)
    assert model["status"] == "ready" and model["version"] == version
    assert model["last_error"] == "the rebuild process died (exit code -9)"
    assert [status for status, _ in runs(database_url)] == ["succeeded", "failed"]
    assert answers(client) == before

    # The next rebuild gets a fresh process and works.
    model = rebuild(client)
    assert model["version"] == version + 1 and model["last_error"] is None
    assert [status for status, _ in runs(database_url)] == ["succeeded", "failed", "succeeded"]
    assert answers(client)["u0"]["items"] == before["u0"]["items"]


def add_run(database_url: str, *, heartbeat_age: timedelta) -> None:
    """A run row as a rebuild process leaves it when it is killed: 'running', never finished."""
    engine = make_engine(database_url)
    try:
        now = datetime.now(UTC)
        with Session(engine) as session, session.begin():
            session.add(
                RebuildRun(status="running", started_at=now - heartbeat_age, heartbeat_at=now - heartbeat_age)
            )
    finally:
        engine.dispose()


def test_a_run_whose_process_is_gone_is_reported_failed_not_building(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client()
    add_run(database_url, heartbeat_age=timedelta(seconds=1))  # fresh, but nobody holds the lock
    model = client.get("/model").json()
    assert model["status"] == "empty"
    assert "rebuild process is gone" in model["last_error"]
    # Marked in the store, not only in the answer.
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(RebuildRun.status)) == "failed"
    finally:
        engine.dispose()


def test_a_run_holding_the_lock_is_building_until_its_heartbeat_lapses(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    """A process that holds the rebuild lock but stopped beating (a hung build, or a host that
    vanished without closing its connection) counts as gone once the lease runs out."""
    client = make_client()
    engine = make_engine(database_url)
    try:
        with rebuild_lock(engine) as held:
            assert held
            add_run(database_url, heartbeat_age=timedelta(seconds=1))
            assert client.get("/model").json()["status"] == "building"
            add_run(database_url, heartbeat_age=HEARTBEAT_LEASE + timedelta(seconds=1))
            model = client.get("/model").json()
            assert model["status"] == "empty"
            assert "no heartbeat" in model["last_error"]
    finally:
        engine.dispose()


def test_a_running_rebuild_beats(
    database_url: str, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_versions, "HEARTBEAT_SECONDS", 0.05)
    build = rebuild_module._build

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return build(*args, **kwargs)

    monkeypatch.setattr(rebuild_module, "_build", slow_build)
    client = make_client()
    assert client.post("/events", json=two_taste_events()).status_code == 202
    rebuild(client)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            started, beat = connection.execute(select(RebuildRun.started_at, RebuildRun.heartbeat_at)).one()
    finally:
        engine.dispose()
    assert beat - started >= timedelta(seconds=0.3)


def test_stopping_the_server_during_a_rebuild_fails_its_run(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(rebuild_worker="process")
    assert client.post("/events", json=dated_two_taste_events()).status_code == 202
    client.post("/model/rebuild", params={"tune": "true"})  # model selection: seconds to run
    engine = make_engine(database_url)
    try:

        def run_status() -> str | None:
            with engine.connect() as connection:
                return connection.scalar(select(RebuildRun.status).order_by(RebuildRun.id.desc()))

        wait_for(lambda: run_status() is not None, interval=0.01)
        client.__exit__(None, None, None)  # shutdown while the rebuild process runs
        assert run_status() == "failed"
    finally:
        engine.dispose()
