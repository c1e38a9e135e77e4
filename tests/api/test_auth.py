"""API keys and scopes, CORS."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

WRITE, READ = "w-secret-1", "r-public-1"

EVENT = {"user_id": "u1", "item_id": "i1", "type": "view"}


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_write_keys=[WRITE, "w-secret-2"], api_read_keys=[READ])


def _h(key: str | None) -> dict[str, str]:
    return {} if key is None else {"X-API-Key": key}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/events", EVENT),
        ("put", "/items/i1", {"title": "x"}),
        ("post", "/items", [{"item_id": "i1"}]),
        ("delete", "/items/i1", None),
        ("put", "/users/u1", {"attributes": {}}),
        ("get", "/users/u1", None),
        ("get", "/users/u1/events", None),
        ("delete", "/users/u1", None),
        ("post", "/model/rebuild", None),
        ("get", "/model", None),
        ("get", "/model/evaluation", None),
    ],
)
def test_write_scope(keyed: TestClient, method: str, path: str, body: object) -> None:
    kwargs = {} if body is None else {"json": body}
    missing = keyed.request(method, path, **kwargs)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert "missing API key" in missing.json()["detail"]
    assert keyed.request(method, path, headers=_h("nope"), **kwargs).status_code == 401
    forbidden = keyed.request(method, path, headers=_h(READ), **kwargs)
    assert forbidden.status_code == 403
    assert "read" in forbidden.json()["detail"]
    assert keyed.request(method, path, headers=_h("w-secret-2"), **kwargs).status_code not in (401, 403)


@pytest.mark.parametrize(
    "path",
    ["/users/u1/recommendations", "/popular", "/items/i1", "/items", "/items/i1/similar"],
)
def test_read_scope(keyed: TestClient, path: str) -> None:
    keyed.post("/events", json=EVENT, headers=_h(WRITE))
    assert keyed.get(path).status_code == 401
    assert keyed.get(path, headers=_h("wrong")).status_code == 401
    assert keyed.get(path, headers=_h(READ)).status_code == 200
    assert keyed.get(path, headers=_h(WRITE)).status_code == 200  # a write key may read


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/openapi.json"])
def test_open_paths(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_no_keys_runs_open_and_warns(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        client = make_client()
    assert client.post("/events", json=EVENT).status_code == 202
    assert any("no API keys configured" in r.getMessage() for r in caplog.records)


def test_keys_never_logged(make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client = make_client(api_write_keys=[WRITE], api_read_keys=[READ])
        client.get("/popular", headers=_h("a-wrong-key-value"))
        client.post("/events", json=EVENT, headers=_h(WRITE))
    text = caplog.text
    assert WRITE not in text and READ not in text and "a-wrong-key-value" not in text


def test_openapi_declares_the_key(keyed: TestClient) -> None:
    spec = keyed.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_cors_preflight(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=["https://shop.example"])
    ok = client.options(
        "/popular",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-API-Key",
        },
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    other = client.get("/popular", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
