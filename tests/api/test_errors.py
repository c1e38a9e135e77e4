"""Errors are problem details (RFC 9457) a client can act on, never a stack trace."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.services.serving import recommend

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/no/such/thing"), 404)
    assert body["title"] == "Not Found"
    assert "endpoint" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", "/popular"), ("get", "/events"), ("put", "/model/rebuild"), ("post", "/items/a")],
)
def test_wrong_method_is_a_405_problem(client: TestClient, method: str, path: str) -> None:
    body = assert_problem(client.request(method.upper(), path), 405)
    assert "method" in body["detail"]


def test_validation_errors_name_the_field(client: TestClient) -> None:
    body = assert_problem(client.get("/users/u1/recommendations", params={"limit": 0}), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]
    assert "limit" in body["detail"]


def test_path_ids_obey_the_id_rule(client: TestClient) -> None:
    assert_problem(client.get("/items/" + "x" * 129), 422)
    assert_problem(client.put("/users/" + "x" * 129, json={}), 422)


def test_unexpected_exception_is_a_500_without_traceback(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals: /etc/passwd")

    monkeypatch.setattr(recommend, "popular", explode)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/popular")
        body = assert_problem(response, 500)
        assert "secret" not in response.text
        assert "Traceback" not in response.text and "RuntimeError" not in response.text
        assert "server log" in body["detail"]
        # The server keeps going.
        assert client.get("/healthz").status_code == 200
