"""Inputs a client can get wrong are refused with a 422 naming the field, never coerced into
something else: a JSON boolean is no price, text is no number, a bare number is no time. And the
HTTP details a client library relies on: one status for a malformed body, `Allow` on a 405."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def assert_422(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["errors"][0]["field"] == field, body
    return body


@pytest.mark.parametrize("price", [False, True, "12.5", "", [1], {"amount": 1}])
def test_a_price_must_be_a_json_number(client: TestClient, price: Any) -> None:
    assert_422(client.put("/items/sku-1", json={"price": price}), "body.price")
    assert_422(client.post("/items", json=[{"item_id": "sku-1", "price": price}]), "body[0].price")
    assert client.get("/items/sku-1").status_code == 404  # nothing stored


@pytest.mark.parametrize("price", [0, 12, 12.5])
def test_integer_and_decimal_prices_are_numbers(client: TestClient, price: float) -> None:
    response = client.put("/items/sku-1", json={"price": price})
    assert response.status_code == 200, response.text
    assert response.json()["price"] == price


@pytest.mark.parametrize("available", [0, 1, "true", "yes", "false", None])
def test_available_must_be_a_json_boolean(client: TestClient, available: Any) -> None:
    assert_422(client.put("/items/sku-1", json={"available": available}), "body.available")


@pytest.mark.parametrize("value", [True, "4.5", "", [4]])
def test_an_event_value_must_be_a_json_number(client: TestClient, value: Any) -> None:
    event = {"user_id": "u1", "item_id": "i1", "type": "rating", "value": value}
    assert_422(client.post("/events", json=[event]), "body[0].value")


@pytest.mark.parametrize(
    "timestamp",
    [0.5, 1700000000, "1700000000", "0.5", True, "2026-11-20", "2026-11-20T14:03:00", "yesterday"],
)
def test_an_event_time_must_be_rfc_3339_with_an_offset(client: TestClient, timestamp: Any) -> None:
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": timestamp}
    assert_422(client.post("/events", json=event), "body[0].timestamp")


@pytest.mark.parametrize(
    "timestamp", ["2026-11-20T14:03:00Z", "2026-11-20T14:03:00.123456+01:00", "2026-11-20 14:03Z"]
)
def test_rfc_3339_times_are_accepted(client: TestClient, timestamp: str) -> None:
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": timestamp}
    assert client.post("/events", json=event).status_code == 202


@pytest.mark.parametrize("before", ["0.5", "1700000000", "2026-11-20", "soon"])
def test_history_before_must_be_a_time(client: TestClient, before: str) -> None:
    assert_422(client.get("/users/u1/events", params={"before": before}), "query.before")


def test_history_before_takes_an_rfc_3339_time(client: TestClient) -> None:
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": "2026-11-20T14:03:00Z"}
    client.post("/events", json=event)
    assert len(client.get("/users/u1/events", params={"before": "2026-11-20T14:03:01Z"}).json()) == 1
    assert client.get("/users/u1/events", params={"before": "2026-11-20T14:03:00Z"}).json() == []


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_utc_calendar_is_a_422(client: TestClient, timestamp: str) -> None:
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": timestamp}
    assert_422(client.post("/events", json=event), "body[0].timestamp")


def test_a_bound_outside_the_utc_calendar_is_its_end(client: TestClient) -> None:
    client.post("/events", json={"user_id": "u1", "item_id": "i1", "type": "view"})
    early = client.get("/users/u1/events", params={"before": "0001-01-01T00:00:00+01:00"})
    late = client.get("/users/u1/events", params={"before": "9999-12-31T23:59:59-01:00"})
    assert (early.status_code, early.json()) == (200, [])
    assert late.status_code == 200 and len(late.json()) == 1


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_attributes_hold_only_finite_numbers(client: TestClient, number: str) -> None:
    # Python's JSON parser reads these as inf/nan, which JSON cannot store back: null, silently.
    body = '{"attributes": {"score": NUMBER}}'.replace("NUMBER", number)
    headers = {"content-type": "application/json"}
    assert_422(client.put("/users/u1", content=body, headers=headers), "body.attributes")
    assert client.get("/users/u1").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/items/sku-1"), ("POST", "/items"), ("PUT", "/users/u1"), ("POST", "/events")],
)
@pytest.mark.parametrize("body", [b"{not json", b'"\xff\xfe"', b"[" * 100_000, b"\xff"])
def test_a_malformed_body_is_a_422(client: TestClient, method: str, path: str, body: bytes) -> None:
    response = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, (response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/items/sku-1", "DELETE, GET, PUT"),
        ("POST", "/items/sku-1", "DELETE, GET, PUT"),
        ("DELETE", "/items", "GET, POST"),
        ("PATCH", "/users/u1", "DELETE, GET, PUT"),
        ("POST", "/users/u1/events", "GET"),
        ("GET", "/events", "POST"),
        ("PUT", "/model/rebuild", "POST"),
        ("POST", "/popular", "GET"),
    ],
)
def test_a_405_lists_every_allowed_method(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["allow"] == allow
    for allowed in allow.split(", "):
        assert client.request(allowed, path).status_code != 405


@pytest.mark.parametrize("cursor", ["AA", "AAA=", "__8", "_w", "c2t1LTE"])
def test_any_cursor_of_the_pattern_is_a_position(client: TestClient, cursor: str) -> None:
    # "AA" decodes to a NUL, which PostgreSQL text cannot hold; "__8" is not UTF-8.
    client.post("/items", json=[{"item_id": f"sku-{i}"} for i in range(3)])
    response = client.get("/items", params={"cursor": cursor})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("cursor", ["a", "abcde", "a=b", "not a cursor"])
def test_a_cursor_off_the_pattern_is_a_422(client: TestClient, cursor: str) -> None:
    assert_422(client.get("/items", params={"cursor": cursor}), "query.cursor")
