"""Shoppers: PUT/GET/DELETE /users/{id}, and what erasing one does to everyone's answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import rebuild, two_taste_events, wait_for

PROBLEM = "application/problem+json"


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def test_put_creates_and_replaces_attributes(client: TestClient) -> None:
    created = client.put("/users/u1", json={"attributes": {"segment": "vip", "country": "DE"}})
    assert created.status_code == 200
    body = created.json()
    assert body["user_id"] == "u1"
    assert body["attributes"] == {"segment": "vip", "country": "DE"}
    assert body["event_counts"] == {"view": 0, "add_to_cart": 0, "purchase": 0, "rating": 0}

    client.put("/users/u1", json={"attributes": {"segment": "new"}})
    got = client.get("/users/u1").json()
    assert got["attributes"] == {"segment": "new"}
    assert got["created_at"] == body["created_at"]


def test_put_keeps_the_user_events(client: TestClient) -> None:
    client.post("/events", json={"user_id": "u1", "item_id": "a", "type": "view"})
    client.put("/users/u1", json={"attributes": {"k": 1}})
    assert client.get("/users/u1").json()["event_counts"]["view"] == 1


@pytest.mark.parametrize(
    "body",
    [{"attributes": "vip"}, {"segment": "vip"}, {"attributes": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}],
)
def test_put_rejects_bad_bodies(client: TestClient, body: dict[str, Any]) -> None:
    response = client.put("/users/u1", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/users/u1").status_code == 404


def test_get_counts_events_by_type(client: TestClient) -> None:
    client.post(
        "/events",
        json=[
            {"user_id": "u1", "item_id": "a", "type": "view"},
            {"user_id": "u1", "item_id": "b", "type": "view"},
            {"user_id": "u1", "item_id": "a", "type": "purchase", "value": 3},
            {"user_id": "u1", "item_id": "a", "type": "rating", "value": 4},
            {"user_id": "u2", "item_id": "a", "type": "add_to_cart"},
        ],
    )
    assert client.get("/users/u1").json()["event_counts"] == {
        "view": 2,
        "add_to_cart": 0,
        "purchase": 1,
        "rating": 1,
    }


def test_get_unknown_user_is_404_problem(client: TestClient) -> None:
    response = client.get("/users/nobody")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "nobody" in response.json()["detail"]


def test_delete_unknown_user_is_404(client: TestClient) -> None:
    assert client.delete("/users/nobody").status_code == 404


def test_delete_erases_user_events_and_cached_answers(client: TestClient) -> None:
    client.post("/events", json=two_taste_events())
    rebuild(client)
    before = client.get("/users/u0/recommendations").json()
    assert before["strategy"] == "personalized"
    assert ids(before)[0] == "i0"

    assert client.delete("/users/u0").status_code == 204

    assert client.get("/users/u0").status_code == 404
    assert client.get("/users/u0/events").json() == []
    after = client.get("/users/u0/recommendations").json()
    assert after["strategy"] == "popular"
    assert after["items"] and all("reason" not in it for it in after["items"])
    # Others are untouched.
    assert client.get("/users/u2").json()["event_counts"]["view"] == 4


def test_deleted_user_starting_again_is_a_new_user(client: TestClient) -> None:
    client.post("/events", json=two_taste_events())
    rebuild(client)
    client.delete("/users/u0")

    client.post("/events", json={"user_id": "u0", "item_id": "i7", "type": "view"})

    assert client.get("/users/u0").json()["event_counts"]["view"] == 1
    assert [e["item_id"] for e in client.get("/users/u0/events").json()] == ["i7"]


def planted_store() -> list[dict[str, Any]]:
    """A and B co-occur only in `planted`'s history; A has five other neighbours C1..C5,
    and P, Q are the most popular items (so they fill a list that runs short)."""
    events = [{"user_id": "planted", "item_id": "A", "type": "view"},
              {"user_id": "planted", "item_id": "B", "type": "view"},
              {"user_id": "y", "item_id": "B", "type": "view"},
              {"user_id": "y", "item_id": "D", "type": "view"}]
    for k in range(1, 6):
        events += [{"user_id": f"x{k}", "item_id": "A", "type": "view"},
                   {"user_id": f"x{k}", "item_id": f"C{k}", "type": "view"}]
    for k in range(8):
        events += [{"user_id": f"p{k}", "item_id": "P", "type": "view"},
                   {"user_id": f"p{k}", "item_id": "Q", "type": "view"}]
    return events


def test_erased_history_no_longer_shapes_what_others_are_served(client: TestClient) -> None:
    client.post("/events", json=planted_store())
    model = rebuild(client)
    similar = client.get("/items/A/similar", params={"limit": 6}).json()
    assert similar["strategy"] == "collaborative"
    assert "B" in ids(similar)
    assert set(ids(similar)) == {"C1", "C2", "C3", "C4", "C5", "B"}

    assert client.delete("/users/planted").status_code == 204

    # The deletion itself schedules the rebuild: nobody calls POST /model/rebuild.
    after = wait_for(
        lambda: (m := client.get("/model").json())["status"] == "ready"
        and (m["version"] or 0) > model["version"]
        and m
    )
    assert after["n_users"] == model["n_users"] - 1
    assert after["n_events"] == model["n_events"] - 2
    similar = client.get("/items/A/similar", params={"limit": 6}).json()
    assert similar["model_version"] == after["version"]
    assert "B" not in ids(similar)
    assert set(ids(similar)[:5]) == {"C1", "C2", "C3", "C4", "C5"}
    assert ids(similar)[5] in {"P", "Q"}  # the short list is topped up from popularity
    # And the other way round: A is no neighbour of B any more.
    similar_b = client.get("/items/B/similar", params={"limit": 1}).json()
    assert ids(similar_b) == ["D"]


def test_erasing_the_only_shopper_leaves_nothing_of_their_history(client: TestClient) -> None:
    client.post("/events", json=[{"user_id": "solo", "item_id": "A", "type": "view"},
                                 {"user_id": "solo", "item_id": "B", "type": "view"}])
    rebuild(client)
    assert ids(client.get("/items/A/similar").json()) == ["B"]

    assert client.delete("/users/solo").status_code == 204

    # The rebuild the deletion starts finds no events at all; A and B stop being neighbours.
    wait_for(lambda: client.get("/items/A/similar").json()["strategy"] != "collaborative", timeout=3)
    assert all(it["score"] == 0 for it in client.get("/popular").json()["items"])
