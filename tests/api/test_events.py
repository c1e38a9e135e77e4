"""POST /events and GET /users/{id}/events, through the real stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def history(client: TestClient, user_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/users/{user_id}/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert body["detail"]
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- accepting ------------------------------------------------------------------------------


def test_one_event_is_accepted_and_creates_user_and_item(client: TestClient) -> None:
    response = client.post("/events", json={"user_id": "u1", "item_id": "sku-1", "type": "view"})

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert client.get("/users/u1").json()["event_counts"]["view"] == 1
    assert client.get("/items/sku-1").json()["item_id"] == "sku-1"
    [event] = history(client, "u1")
    assert (event["item_id"], event["type"], event["value"]) == ("sku-1", "view", 1.0)


def test_a_batch_is_accepted_whole(client: TestClient) -> None:
    batch = [
        {"user_id": "u1", "item_id": "a", "type": "view"},
        {"user_id": "u1", "item_id": "a", "type": "add_to_cart"},
        {"user_id": "u2", "item_id": "b", "type": "purchase", "value": 3},
        {"user_id": "u2", "item_id": "c", "type": "rating", "value": 4.5},
    ]
    response = client.post("/events", json=batch)

    assert response.status_code == 202
    assert response.json() == {"accepted": 4, "duplicates": 0}
    assert sorted(e["type"] for e in history(client, "u1")) == ["add_to_cart", "view"]
    values = {e["item_id"]: e["value"] for e in history(client, "u2")}
    assert values == {"b": 3.0, "c": 4.5}


def test_default_values_per_type(client: TestClient) -> None:
    batch = [
        {"user_id": "u1", "item_id": "v", "type": "view"},
        {"user_id": "u1", "item_id": "c", "type": "add_to_cart"},
        {"user_id": "u1", "item_id": "p", "type": "purchase"},
    ]
    assert client.post("/events", json=batch).status_code == 202

    assert {e["item_id"]: e["value"] for e in history(client, "u1")} == {"v": 1.0, "c": 1.0, "p": 1.0}


def test_timestamp_is_kept_and_defaults_to_reception(client: TestClient) -> None:
    then = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    before = datetime.now(UTC) - timedelta(seconds=1)
    batch = [
        {"user_id": "u1", "item_id": "old", "type": "view", "timestamp": "2026-01-02T05:04:05+02:00"},
        {"user_id": "u1", "item_id": "now", "type": "view"},
    ]
    assert client.post("/events", json=batch).status_code == 202

    events = {e["item_id"]: e for e in history(client, "u1")}
    assert datetime.fromisoformat(events["old"]["timestamp"]) == then
    stamped = datetime.fromisoformat(events["now"]["timestamp"])
    assert before <= stamped <= datetime.now(UTC) + timedelta(seconds=1)


# --- idempotency ----------------------------------------------------------------------------


def test_repeated_event_id_in_a_later_request_is_a_duplicate(client: TestClient) -> None:
    event = {"event_id": "e-1", "user_id": "u1", "item_id": "a", "type": "purchase"}
    assert client.post("/events", json=event).json() == {"accepted": 1, "duplicates": 0}

    again = client.post("/events", json=[event, {**event, "event_id": "e-2"}])

    assert again.status_code == 202
    assert again.json() == {"accepted": 1, "duplicates": 1}
    assert sorted(e["event_id"] for e in history(client, "u1")) == ["e-1", "e-2"]


def test_repeated_event_id_within_one_batch_is_stored_once(client: TestClient) -> None:
    event = {"event_id": "e-1", "user_id": "u1", "item_id": "a", "type": "view"}
    response = client.post("/events", json=[event, event, {**event, "item_id": "b"}])

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 2}
    [stored] = history(client, "u1")
    assert (stored["event_id"], stored["item_id"]) == ("e-1", "a")
    assert client.get("/users/u1").json()["event_counts"]["view"] == 1


def test_events_without_event_id_are_never_duplicates(client: TestClient) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "view"}
    assert client.post("/events", json=[event, event]).json() == {"accepted": 2, "duplicates": 0}
    assert len(history(client, "u1")) == 2


# --- rejecting ------------------------------------------------------------------------------


def test_batch_with_one_invalid_event_names_its_index_and_stores_nothing(client: TestClient) -> None:
    batch = [
        {"user_id": "u1", "item_id": "a", "type": "view"},
        {"user_id": "u2", "item_id": "b", "type": "view"},
        {"user_id": "u3", "item_id": "c", "type": "rating", "value": 9},
        {"user_id": "u4", "item_id": "d", "type": "view"},
    ]
    body = assert_problem(client.post("/events", json=batch), 422)

    assert body["errors"][0]["loc"] == ["body", 2, "value"]
    assert "[2]" in body["detail"] and "value" in body["detail"]
    for user in ("u1", "u2", "u3", "u4"):
        assert history(client, user) == []
        assert client.get(f"/users/{user}").status_code == 404
    assert client.get("/items/a").status_code == 404


def test_missing_field_is_named_with_its_index(client: TestClient) -> None:
    batch = [{"user_id": "u1", "item_id": "a", "type": "view"}, {"user_id": "u1", "type": "view"}]
    body = assert_problem(client.post("/events", json=batch), 422)

    assert body["errors"][0]["loc"] == ["body", 1, "item_id"]
    assert "item_id" in body["detail"]
    assert history(client, "u1") == []


@pytest.mark.parametrize("value", [-0.5, 5.01, None])
def test_rating_value_must_be_within_zero_and_rating_max(client: TestClient, value: float | None) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "rating", "value": value}
    body = assert_problem(client.post("/events", json=[event]), 422)

    assert "value" in body["detail"]
    assert history(client, "u1") == []


@pytest.mark.parametrize("value", [0, 2.5, 5])
def test_rating_bounds_are_inclusive(client: TestClient, value: float) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "rating", "value": value}
    response = client.post("/events", json=event)
    assert response.status_code == 202
    assert history(client, "u1")[0]["value"] == value


def test_rating_max_follows_the_settings(make_client: Any) -> None:
    client = make_client(rating_max=10)
    ok = client.post("/events", json={"user_id": "u1", "item_id": "a", "type": "rating", "value": 9})
    too_high = client.post("/events", json={"user_id": "u1", "item_id": "b", "type": "rating", "value": 10.5})

    assert ok.status_code == 202
    body = assert_problem(too_high, 422)
    assert body["errors"][0]["loc"] == ["body", 0, "value"]
    assert "10" in body["detail"]
    assert [e["item_id"] for e in history(client, "u1")] == ["a"]


@pytest.mark.parametrize("value", [0, 0.5, -1])
def test_purchase_quantity_below_one_is_rejected(client: TestClient, value: float) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "purchase", "value": value}
    body = assert_problem(client.post("/events", json=event), 422)
    assert "quantity" in body["detail"]


def test_negative_view_weight_is_rejected(client: TestClient) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "view", "value": -1}
    assert_problem(client.post("/events", json=event), 422)


def test_timestamp_more_than_a_day_ahead_is_rejected(client: TestClient) -> None:
    soon = iso(datetime.now(UTC) + timedelta(hours=23))
    late = iso(datetime.now(UTC) + timedelta(days=1, minutes=5))
    event = {"user_id": "u1", "item_id": "a", "type": "view", "timestamp": soon}
    assert client.post("/events", json=event).status_code == 202

    body = assert_problem(
        client.post("/events", json={"user_id": "u1", "item_id": "b", "type": "view", "timestamp": late}), 422
    )
    assert "future" in body["detail"]
    assert [e["item_id"] for e in history(client, "u1")] == ["a"]


@pytest.mark.parametrize("timestamp", ["2026-01-02T03:04:05", "yesterday", "2026-13-01T00:00:00Z"])
def test_timestamp_must_be_rfc3339_with_offset(client: TestClient, timestamp: str) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "view", "timestamp": timestamp}
    body = assert_problem(client.post("/events", json=event), 422)
    assert "timestamp" in body["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", ""),
        ("user_id", "u" * 129),
        ("user_id", "bad\nid"),
        ("user_id", "tab\tid"),
        ("item_id", "\x00"),
        ("item_id", " padded"),
        ("event_id", ""),
        ("event_id", "e" * 129),
    ],
)
def test_ids_must_be_1_to_128_printable_characters(client: TestClient, field: str, value: str) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "view", field: value}
    body = assert_problem(client.post("/events", json=[event]), 422)
    assert body["errors"][0]["loc"] == ["body", 0, field]
    assert client.get("/users/u1").status_code == 404


def test_ids_of_128_printable_characters_are_accepted(client: TestClient) -> None:
    user = "ü" + "x" * 127
    response = client.post("/events", json={"user_id": user, "item_id": "sku 42/ä", "type": "view"})
    assert response.status_code == 202
    assert history(client, user)[0]["item_id"] == "sku 42/ä"


def test_unknown_type_is_rejected(client: TestClient) -> None:
    body = assert_problem(client.post("/events", json={"user_id": "u1", "item_id": "a", "type": "like"}), 422)
    assert body["errors"][0]["loc"] == ["body", 0, "type"]


def test_extra_fields_are_rejected(client: TestClient) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "view", "colour": "red"}
    body = assert_problem(client.post("/events", json=event), 422)
    assert body["errors"][0]["loc"] == ["body", 0, "colour"]


@pytest.mark.parametrize("body", [b"{not json", b"", b'[{"user_id": "u1",]'])
def test_invalid_json_is_a_422_problem(client: TestClient, body: bytes) -> None:
    response = client.post("/events", content=body, headers={"content-type": "application/json"})
    detail = assert_problem(response, 422)["detail"]
    assert "JSON" in detail


@pytest.mark.parametrize("body", ["a string", 42, None, [1]])
def test_json_that_is_not_events_is_a_422_problem(client: TestClient, body: Any) -> None:
    assert_problem(client.post("/events", content=orjson.dumps(body)), 422)


def test_more_than_10000_events_is_413(client: TestClient) -> None:
    event = {"user_id": "u1", "item_id": "a", "type": "view"}
    body = assert_problem(client.post("/events", json=[event] * 10_001), 413)

    assert "10000" in body["detail"]
    assert history(client, "u1") == []


def test_exactly_10000_events_are_accepted(client: TestClient) -> None:
    batch = [{"user_id": f"u{i % 50}", "item_id": f"i{i % 200}", "type": "view"} for i in range(10_000)]
    assert client.post("/events", json=batch).json() == {"accepted": 10_000, "duplicates": 0}


def test_body_over_the_limit_is_413(make_client: Any) -> None:
    client = make_client(max_body_bytes=2048)
    batch = [{"user_id": "u1", "item_id": f"item-{i}", "type": "view"} for i in range(60)]
    assert len(orjson.dumps(batch)) > 2048

    body = assert_problem(client.post("/events", content=orjson.dumps(batch)), 413)

    assert "2048" in body["detail"]
    assert history(client, "u1") == []
    assert client.post("/events", json=batch[:10]).status_code == 202


def test_body_over_10_mb_is_413_by_default(client: TestClient) -> None:
    blob = b'[{"user_id": "u1", "item_id": "a", "type": "view", "x": "' + b"y" * (10 * 1024 * 1024) + b'"}]'
    assert_problem(client.post("/events", content=blob), 413)


def test_streamed_body_over_the_limit_is_413(make_client: Any) -> None:
    client = make_client(max_body_bytes=2048)

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    # No Content-Length: the limit is enforced while reading.
    response = client.post("/events", content=chunks())
    assert_problem(response, 413)


# --- a user's history -----------------------------------------------------------------------


def test_history_is_newest_first_and_pages_with_before(client: TestClient) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    batch = [
        {"user_id": "u1", "item_id": f"i{k}", "type": "view", "timestamp": iso(start + timedelta(hours=k))}
        for k in (3, 0, 4, 1, 2)
    ]
    batch.append({"user_id": "u2", "item_id": "other", "type": "view", "timestamp": iso(start)})
    assert client.post("/events", json=batch).status_code == 202

    page1 = history(client, "u1", limit=2)
    assert [e["item_id"] for e in page1] == ["i4", "i3"]
    page2 = history(client, "u1", limit=2, before=page1[-1]["timestamp"])
    assert [e["item_id"] for e in page2] == ["i2", "i1"]
    page3 = history(client, "u1", limit=2, before=page2[-1]["timestamp"])
    assert [e["item_id"] for e in page3] == ["i0"]
    assert history(client, "u1", before=iso(start)) == []


def test_history_of_unknown_user_is_empty(client: TestClient) -> None:
    assert history(client, "nobody") == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"before": "not-a-time"}])
def test_history_bad_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    assert_problem(client.get("/users/u1/events", params=params), 422)
