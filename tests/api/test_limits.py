"""Request limits enforced by the middleware: body size while streaming, and the time limit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.writes import ingest
from tests.conftest import wait_for


def test_streamed_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=4096)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while reading
        yield b"["
        for _ in range(200):
            yield b'{"user_id": "u", "item_id": "i", "type": "view"},'
        yield b'{"user_id": "u", "item_id": "i", "type": "view"}]'

    response = client.post("/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "4096 bytes" in response.json()["detail"]
    assert client.get("/users/u/events").json() == []


def test_a_request_over_the_time_limit_is_stopped(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(request_timeout_seconds=0.5)
    real = ingest.store_events

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "store_events", slow)
    started = time.monotonic()
    response = client.post("/events", json={"user_id": "u", "item_id": "i", "type": "view"})
    assert response.status_code == 503
    assert "longer than 0.5 s" in response.json()["detail"]
    assert time.monotonic() - started < 1.4
    assert client.get("/healthz").status_code == 200
    # Like any timeout, the write itself may still complete (the README says so: retry with an
    # event_id). Wait for it here, so it cannot land in the next test's store.
    assert len(wait_for(lambda: client.get("/users/u/events").json(), timeout=10)) == 1
