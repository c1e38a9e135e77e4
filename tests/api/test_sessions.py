"""Anonymous sessions: events with `session_id`, /sessions/{id}/recommendations, merging on login,
and expiry after SESSION_TTL_DAYS. The store is `two_taste_events()` (even users touch i0..i4, odd
users i5..i9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.schemas.sessions import SessionRecommendations
from app.store.models import Event, User
from tests.conftest import rebuild, two_taste_events, wait_for

GROUP_0 = {f"i{k}" for k in range(5)}


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def session_recs(client: TestClient, session_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/sessions/{session_id}/recommendations", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    SessionRecommendations.model_validate(body)
    return body


def views(items: list[str], **who: str) -> list[dict[str, Any]]:
    return [{**who, "item_id": i, "type": "view"} for i in items]


@pytest.fixture
def built(client: TestClient) -> TestClient:
    assert client.post("/events", json=two_taste_events()).json()["accepted"] == 80
    rebuild(client)
    return client


def count_events(client: TestClient, key: str) -> int:
    runtime = client.app_state["runtime"]
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).where(Event.user_id == key)) or 0


def test_a_session_is_recommended_from_its_own_events_at_once(built: TestClient) -> None:
    assert session_recs(built, "s-1")["strategy"] == "popular"
    assert built.post("/events", json=views(["i1", "i2"], session_id="s-1")).json()["accepted"] == 2
    body = session_recs(built, "s-1", limit=3)
    assert body["session_id"] == "s-1" and "user_id" not in body
    assert body["strategy"] == "realtime"
    assert set(ids(body)) == {"i0", "i3", "i4"}  # the rest of the taste group, not what it saw
    # A shopper of the same name is someone else.
    assert built.get("/users/s-1/recommendations").json()["strategy"] == "popular"


@pytest.mark.parametrize(
    "event",
    [
        {"item_id": "i1", "type": "view"},
        {"user_id": "u0", "session_id": "s-1", "item_id": "i1", "type": "view"},
        {"session_id": "s" * 128, "item_id": "i1", "type": "view"},
        {"session_id": " s", "item_id": "i1", "type": "view"},
    ],
)
def test_an_event_names_a_shopper_or_a_session(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post("/events", json=[event])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("body[0]")


def test_session_ids_are_checked_in_the_path(client: TestClient) -> None:
    assert client.get("/sessions/" + "s" * 128 + "/recommendations").status_code == 422
    assert client.get("/sessions/s-1/recommendations", params={"limit": 0}).status_code == 422
    assert client.get("/sessions/s-1/recommendations", params={"placement": "none"}).status_code == 404


def test_merge_moves_the_session_to_the_shopper_and_is_idempotent(built: TestClient) -> None:
    built.post("/events", json=views(["i1", "i2"], session_id="s-2"))
    merged = built.post("/users/new-shopper/merge", json={"session_id": "s-2"})
    assert merged.status_code == 200
    assert merged.json() == {"user_id": "new-shopper", "session_id": "s-2", "merged": 2}
    body = built.get("/users/new-shopper/recommendations", params={"limit": 3}).json()
    assert body["strategy"] == "realtime" and set(ids(body)) == {"i0", "i3", "i4"}
    assert built.get("/users/new-shopper").json()["event_counts"]["view"] == 2
    assert session_recs(built, "s-2")["strategy"] == "popular"
    again = built.post("/users/new-shopper/merge", json={"session_id": "s-2"}).json()
    assert again["merged"] == 0
    assert built.get("/users/new-shopper").json()["event_counts"]["view"] == 2
    assert count_events(built, "\x1fs-2") == 0


def test_merge_reflects_events_the_model_already_holds(built: TestClient) -> None:
    # The session's views are built into the model (under the session), then merged into u1,
    # a shopper of the other taste group: u1's next answer leaves them out as seen.
    built.post("/events", json=views(["i0", "i1", "i2", "i3"], session_id="s-3"))
    rebuild(built)
    before = built.get("/users/u1/recommendations", params={"limit": 10}).json()
    assert GROUP_0 & set(ids(before))  # popular top-ups from the other group
    assert built.post("/users/u1/merge", json={"session_id": "s-3"}).json()["merged"] == 4
    after = built.get("/users/u1/recommendations", params={"limit": 10}).json()
    assert {"i0", "i1", "i2", "i3"}.isdisjoint(ids(after))
    assert after["strategy"] == "realtime"
    rebuild(built)  # the model now holds them under u1
    assert {"i0", "i1", "i2", "i3"}.isdisjoint(ids(built.get("/users/u1/recommendations").json()))


def test_merge_validates_its_body(client: TestClient) -> None:
    for body in ({}, {"session_id": ""}, {"session_id": "s", "extra": 1}, []):
        response = client.post("/users/u1/merge", json=body)
        assert response.status_code == 422 and response.json()["errors"][0]["field"].startswith("body")


def test_merge_needs_a_write_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_write_keys="w", api_read_keys="r")
    assert (
        client.post("/users/u1/merge", json={"session_id": "s"}, headers={"X-API-Key": "r"}).status_code
        == 403
    )
    ok = client.post("/users/u1/merge", json={"session_id": "s"}, headers={"X-API-Key": "w"})
    assert ok.status_code == 200 and ok.json()["merged"] == 0
    assert client.get("/sessions/s/recommendations", headers={"X-API-Key": "r"}).status_code == 200


def test_inactive_sessions_expire_with_their_events(make_client: Callable[..., TestClient]) -> None:
    client = make_client(session_ttl_days=3 / 86400)  # three seconds; checked every 0.3 s
    client.post("/events", json=two_taste_events())
    rebuild(client)
    client.post("/events", json=views(["i1", "i2"], session_id="s-old"))
    assert session_recs(client, "s-old")["strategy"] == "realtime"
    wait_for(lambda: count_events(client, "\x1fs-old") == 0, timeout=20)
    runtime = client.app_state["runtime"]
    with runtime.sessions() as session:
        assert session.get(User, "\x1fs-old") is None
    assert session_recs(client, "s-old")["strategy"] == "popular"
    assert count_events(client, "u0") == 4  # shoppers do not expire
