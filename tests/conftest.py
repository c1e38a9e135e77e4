"""Shared fixtures: a real store (a SQLite file, or PostgreSQL when TEST_DATABASE_URL is set),
its schema created by the migrations themselves, and the app on top of it.

    pytest                                                       # SQLite
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test pytest   # PostgreSQL
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.config import Settings
from app.main import create_app
from app.store.db import make_engine
from app.store.migrate import upgrade
from app.store.models import Base

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine | None]:
    """With PostgreSQL, migrate an emptied database once per session."""
    if not POSTGRES_URL:
        yield None
        return
    engine = make_engine(POSTGRES_URL)
    _reset_postgres(engine)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, postgres_engine: Engine | None) -> str:
    """A clean, migrated store for each test."""
    if postgres_engine is None:
        url = f"sqlite:///{tmp_path / 'shoprec.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return POSTGRES_URL  # type: ignore[return-value]


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path,
            "rebuild_worker": "thread",
            "rebuild_interval_seconds": 0,
            "poll_interval_seconds": 0.1,
            "auto_migrate": False,
            # Model selection on the first rebuild is tested on its own (test_model.py); elsewhere
            # the default model keeps rebuilds fast.
            "tune_every": 0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Start an app (lifespan included) with settings overrides; closed at the end of the test."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def rebuild(client: TestClient, **params: Any) -> dict[str, Any]:
    """Request a rebuild and wait until a newer model version serves; returns GET /model."""
    before = client.get("/model").json()["version"] or 0
    assert client.post("/model/rebuild", params=params).status_code == 202
    return wait_for(
        lambda: (
            (m := client.get("/model").json())["version"] is not None
            and m["version"] > before
            and m["status"] == "ready"
            and m
        )
    )


def two_taste_events(n_users: int = 20, n_items: int = 10) -> list[dict[str, Any]]:
    """Two taste groups: even users touch the first half of the items, odd users the second half,
    each user missing one item of their half (planted structure with a known answer)."""
    half = n_items // 2
    events = []
    for u in range(n_users):
        group = u % 2
        missing = (u // 2) % half
        for j in range(half):
            if j == missing:
                continue
            events.append({"user_id": f"u{u}", "item_id": f"i{group * half + j}", "type": "view"})
    return events
