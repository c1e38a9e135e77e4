"""The catalog: PUT/POST/GET/DELETE /items and what deletion and availability do to serving."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import rebuild, two_taste_events

PROBLEM = "application/problem+json"

SHOE = {
    "title": "Trail running shoe",
    "description": "Light shoe",
    "categories": ["shoes", "running"],
    "tags": ["trail"],
    "price": 89.9,
    "available": True,
    "attributes": {"brand": "Acme", "sizes": [40, 41]},
}


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def test_put_creates_then_replaces(client: TestClient) -> None:
    created = client.put("/items/sku-1", json=SHOE)
    assert created.status_code == 200
    body = created.json()
    assert {k: body[k] for k in SHOE} == SHOE
    assert body["item_id"] == "sku-1"

    replaced = client.put("/items/sku-1", json={"title": "Road shoe", "categories": ["shoes"]})
    assert replaced.status_code == 200
    got = client.get("/items/sku-1").json()
    # Replace, not merge: fields left out go back to their defaults.
    assert got["title"] == "Road shoe"
    assert got["categories"] == ["shoes"]
    assert got["description"] is None and got["price"] is None and got["attributes"] == {}
    assert got["created_at"] == body["created_at"]
    assert got["updated_at"] >= body["updated_at"]


def test_get_unknown_item_is_404_problem(client: TestClient) -> None:
    response = client.get("/items/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "nope" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"price": -1},
        {"categories": "shoes"},
        {"colour": "red"},
        {"available": "maybe"},
        {"attributes": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},
    ],
)
def test_put_rejects_bad_fields(client: TestClient, body: dict[str, Any]) -> None:
    response = client.put("/items/sku-1", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/items/sku-1").status_code == 404


def test_bulk_upsert_last_duplicate_wins(client: TestClient) -> None:
    items = [
        {"item_id": "a", "title": "first a"},
        {"item_id": "b", "title": "b"},
        {"item_id": "a", "title": "second a", "categories": ["x"]},
    ]
    response = client.post("/items", json=items)

    assert response.status_code == 200
    assert response.json() == {"upserted": 2}
    assert client.get("/items/a").json()["title"] == "second a"
    assert client.get("/items/a").json()["categories"] == ["x"]
    assert client.get("/items/b").json()["title"] == "b"


def test_bulk_upsert_is_all_or_nothing(client: TestClient) -> None:
    response = client.post("/items", json=[{"item_id": "a"}, {"item_id": "", "title": "bad"}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", 1]
    assert client.get("/items/a").status_code == 404


def test_bulk_upsert_over_10000_items_is_rejected(client: TestClient) -> None:
    response = client.post("/items", json=[{"item_id": f"i{k}"} for k in range(10_001)])
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "10000" in response.json()["detail"]
    assert client.get("/items", params={"limit": 1}).json()["items"] == []


def test_list_walks_every_item_exactly_once(client: TestClient) -> None:
    all_ids = [f"sku-{k:03d}" for k in range(57)]
    client.post("/items", json=[{"item_id": i, "categories": ["even" if k % 2 == 0 else "odd"]}
                                for k, i in enumerate(all_ids)])
    client.delete("/items/sku-010")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10} if cursor is None else {"limit": 10, "cursor": cursor}
        page = client.get("/items", params=params).json()
        seen += [it["item_id"] for it in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [i for i in all_ids if i != "sku-010"]
    assert seen == expected
    assert pages == 6


def test_list_by_category(client: TestClient) -> None:
    client.post("/items", json=[{"item_id": f"i{k}", "categories": ["even" if k % 2 == 0 else "odd"]}
                                for k in range(9)])

    first = client.get("/items", params={"category": "odd", "limit": 3}).json()
    assert [it["item_id"] for it in first["items"]] == ["i1", "i3", "i5"]
    rest = client.get("/items", params={"category": "odd", "limit": 3, "cursor": first["next_cursor"]}).json()
    assert [it["item_id"] for it in rest["items"]] == ["i7"]
    assert rest["next_cursor"] is None
    assert client.get("/items", params={"category": "none"}).json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"cursor": "%%%not-base64"}])
def test_list_bad_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/items", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)


def test_delete_then_404_and_delete_again_404(client: TestClient) -> None:
    client.put("/items/a", json={})
    assert client.delete("/items/a").status_code == 204
    assert client.get("/items/a").status_code == 404
    assert client.delete("/items/a").status_code == 404
    assert client.delete("/items/never").status_code == 404


def test_put_revives_a_deleted_item(client: TestClient) -> None:
    client.put("/items/a", json={"title": "old"})
    client.delete("/items/a")

    assert client.put("/items/a", json={"title": "new"}).status_code == 200
    assert client.get("/items/a").json()["title"] == "new"
    assert [it["item_id"] for it in client.get("/items").json()["items"]] == ["a"]


@pytest.fixture
def built(client: TestClient) -> TestClient:
    """Two taste groups (i0..i4 and i5..i9), built once."""
    assert client.post("/events", json=two_taste_events()).status_code == 202
    rebuild(client)
    return client


def test_deleted_item_is_never_served_again_without_a_rebuild(built: TestClient) -> None:
    client = built
    # u0 (even group) misses i0; it is their first recommendation.
    before = client.get("/users/u0/recommendations").json()
    assert ids(before)[0] == "i0"
    assert "i0" in ids(client.get("/popular", params={"limit": 10}).json())
    assert "i0" in ids(client.get("/items/i1/similar").json())

    assert client.delete("/items/i0").status_code == 204

    for user in ("u0", "u2", "u4", "nobody"):
        assert "i0" not in ids(client.get(f"/users/{user}/recommendations", params={"limit": 100}).json())
    assert "i0" not in ids(client.get("/popular", params={"limit": 100}).json())
    for item in ("i1", "i2", "i3"):
        assert "i0" not in ids(client.get(f"/items/{item}/similar", params={"limit": 100}).json())

    # A new event about the deleted item brings nothing back either.
    client.post("/events", json={"user_id": "u0", "item_id": "i1", "type": "purchase"})
    assert "i0" not in ids(client.get("/users/u0/recommendations", params={"limit": 100}).json())


def test_unavailable_item_is_hidden_at_once_and_back_when_available(built: TestClient) -> None:
    client = built
    client.put("/items/i0", json={"available": False})

    assert "i0" not in ids(client.get("/users/u0/recommendations", params={"limit": 100}).json())
    assert "i0" not in ids(client.get("/popular", params={"limit": 100}).json())
    assert "i0" not in ids(client.get("/items/i1/similar", params={"limit": 100}).json())
    # Still in the catalog.
    assert client.get("/items/i0").json()["available"] is False

    client.put("/items/i0", json={"available": True})
    assert ids(client.get("/users/u0/recommendations").json())[0] == "i0"


def test_revived_item_is_served_again(built: TestClient) -> None:
    client = built
    client.delete("/items/i0")
    assert "i0" not in ids(client.get("/users/u0/recommendations").json())

    client.put("/items/i0", json={"title": "back"})
    assert ids(client.get("/users/u0/recommendations").json())[0] == "i0"


def test_similar_of_a_deleted_item_is_404(built: TestClient) -> None:
    built.delete("/items/i0")
    assert built.get("/items/i0").status_code == 404
    assert built.get("/items/i0/similar").status_code == 404


def test_an_item_keeps_its_image_url(client: TestClient) -> None:
    url = "https://shop.example/img/sku-1.jpg?w=400"
    response = client.put("/items/sku-1", json={"title": "Tent", "image_url": url})
    assert response.status_code == 200 and response.json()["image_url"] == url
    assert client.get("/items/sku-1").json()["image_url"] == url
    assert client.put("/items/sku-1", json={"title": "Tent"}).json()["image_url"] is None


@pytest.mark.parametrize(
    "bad", ["javascript:alert(1)", "/relative.jpg", "https://x.example/a b.jpg", "https://" + "x" * 3000]
)
def test_a_bad_image_url_is_named(client: TestClient, bad: str) -> None:
    response = client.put("/items/sku-1", json={"image_url": bad})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.image_url"
