"""Probes and documentation: /healthz, /readyz, /docs, /openapi.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.store.migrate import head_revision
from tests.conftest import rebuild, two_taste_events

DOCUMENTED = {
    "/events": {"post"},
    "/items": {"get", "post"},
    "/items/{item_id}": {"get", "put", "delete"},
    "/items/{item_id}/similar": {"get"},
    "/users/{user_id}": {"get", "put", "delete"},
    "/users/{user_id}/events": {"get"},
    "/users/{user_id}/recommendations": {"get"},
    "/popular": {"get"},
    "/model": {"get"},
    "/model/rebuild": {"post"},
    "/model/evaluation": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_with_a_current_schema(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["schema"] == head_revision()
    assert body["model_version"] is None

    client.post("/events", json=two_taste_events())
    version = rebuild(client)["version"]
    assert client.get("/readyz").json()["model_version"] == version


def test_readyz_is_503_when_the_schema_is_behind(make_client: Any, tmp_path: Path) -> None:
    client = make_client(database_url=f"sqlite:///{tmp_path / 'empty.db'}", auto_migrate=False)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert "schema" in detail and str(head_revision()) in detail
    assert "shoprec migrate" in detail
    # Alive all the same.
    assert client.get("/healthz").status_code == 200


def test_auto_migrate_brings_an_empty_store_up_to_date(make_client: Any, tmp_path: Path) -> None:
    client = make_client(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", auto_migrate=True)
    assert client.get("/readyz").status_code == 200
    assert client.post("/events", json={"user_id": "u", "item_id": "i", "type": "view"}).status_code == 202


def test_docs_are_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in DOCUMENTED.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))


def test_openapi_has_an_example_for_post_events(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]
    examples = content.get("examples") or {}
    assert examples, content
    example = next(iter(examples.values()))["value"]
    # The documented example is itself a valid request.
    assert client.post("/events", json=example).status_code == 202
