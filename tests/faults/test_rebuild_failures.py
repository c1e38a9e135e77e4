"""A rebuild that fails or whose process is killed leaves the previous model serving the same
answers, shows the error in `GET /model` as `last_error`, and the next rebuild works."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import app.services.building.rebuild as rebuild_module
from app.store.db import make_engine
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

    monkeypatch.setattr(rebuild_module, "recommend_all", broken)
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
