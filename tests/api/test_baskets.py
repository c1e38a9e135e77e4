"""POST /recommendations/basket on planted visits: what shoppers put in the cart together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.schemas.recommendations import BasketRecommendations
from tests.conftest import rebuild

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def visit(shopper: str, items: list[str], day: int, kind: str = "purchase") -> list[dict[str, Any]]:
    t = T0 + timedelta(days=day)
    return [
        {"user_id": shopper, "item_id": i, "type": kind, "timestamp": (t + timedelta(minutes=k)).isoformat()}
        for k, i in enumerate(items)
    ]


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    client.post(
        "/items",
        json=[
            {"item_id": i, "categories": [c]}
            for i, c in [
                ("tent", "camping"),
                ("stove", "camping"),
                ("lantern", "camping"),
                ("lamp", "home"),
                ("chips", "food"),
                ("salsa", "food"),
                ("soda", "food"),
                ("milk", "food"),
            ]
        ],
    )
    events: list[dict[str, Any]] = []
    for k in range(12):
        events += visit(f"snacker{k}", ["chips", "salsa"], day=k)  # the same visit
        events += visit(f"snacker{k}", ["milk"], day=k + 20)  # another visit: not together
    for k in range(6):
        events += visit(f"camper{k}", ["tent", "stove"], day=k, kind="add_to_cart")
    for k in range(5):
        events += visit(f"hiker{k}", ["tent", "lantern"], day=k)
    for k in range(8):  # lamp and lantern share their viewers: item neighbours, not a basket
        events += visit(f"reader{k}", ["lamp"], day=k, kind="view") + visit(
            f"reader{k}", ["lantern"], day=k + 9, kind="view"
        )
    for k in range(30):
        events += visit(f"thirsty{k}", ["soda"], day=k % 28)
    assert client.post("/events", json=events).status_code == 202
    rebuild(client)
    return client


def basket(client: TestClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = client.post("/recommendations/basket", json=body, params=params)
    assert response.status_code == 200, response.text
    BasketRecommendations.model_validate(response.json())
    return response.json()


def test_items_bought_in_the_same_visit_complete_the_basket(shop: TestClient) -> None:
    body = basket(shop, {"items": ["chips"], "limit": 3})
    assert body["strategy"] == "basket" and body["model_version"] is not None
    assert ids(body)[0] == "salsa" and body["items"][0]["reason"] == {"because": "chips"}
    assert "chips" not in ids(body) and len(body["items"]) == 3
    # Milk was bought by the same shoppers, on other days: it does not go with chips.
    assert ids(basket(shop, {"items": ["chips"], "limit": 2}))[1] != "milk"


def test_cart_adds_count_and_the_basket_is_never_answered(shop: TestClient) -> None:
    body = basket(shop, {"items": ["tent"], "limit": 2})
    assert ids(body) == ["stove", "lantern"]
    body = basket(shop, {"items": ["tent", "stove"], "limit": 5})
    assert {"tent", "stove"}.isdisjoint(ids(body)) and ids(body)[0] == "lantern"


def test_a_shoppers_tastes_reorder_the_completions(shop: TestClient) -> None:
    shop.post("/events", json=[{"user_id": "lamp-fan", "item_id": "lamp", "type": "view"}])
    assert ids(basket(shop, {"items": ["tent"], "limit": 2})) == ["stove", "lantern"]
    personal = basket(shop, {"items": ["tent"], "user_id": "lamp-fan", "limit": 2})
    assert ids(personal) == ["lantern", "stove"] and personal["user_id"] == "lamp-fan"
    shop.post("/events", json=[{"session_id": "s-lamp", "item_id": "lamp", "type": "view"}])
    anonymous = basket(shop, {"items": ["tent"], "session_id": "s-lamp", "limit": 2})
    assert ids(anonymous) == ["lantern", "stove"] and anonymous["session_id"] == "s-lamp"


def test_unknown_items_get_popular_items(shop: TestClient) -> None:
    body = basket(shop, {"items": ["never-seen"], "limit": 3})
    assert body["strategy"] == "popular" and len(body["items"]) == 3 and ids(body)[0] == "soda"


def test_placements_and_exclude_apply(shop: TestClient) -> None:
    shop.put(
        "/placements/cart", json={"strategy": "basket", "rules": [{"filter": {"category_in": ["food"]}}]}
    )
    body = basket(shop, {"items": ["tent"], "limit": 3}, placement="cart")
    assert set(ids(body)) <= {"chips", "salsa", "soda", "milk"} and body["placement"]["name"] == "cart"
    assert ids(basket(shop, {"items": ["tent"], "limit": 1}, exclude="stove")) == ["lantern"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "body.items"),
        ({"items": [f"i{k}" for k in range(101)]}, "body.items"),
        ({"items": ["a"], "user_id": "u", "session_id": "s"}, "body"),
        ({"items": ["a"], "limit": 0}, "body.limit"),
        ({"items": [" a"]}, "body.items[0]"),
        ({"items": ["a"], "extra": 1}, "body.extra"),
    ],
)
def test_bad_baskets_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/recommendations/basket", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
