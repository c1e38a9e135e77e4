"""GET /trending on planted bursts, counted live from the event stream (no rebuild)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.schemas.recommendations import TrendingItems
from tests.conftest import rebuild, wait_for


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def trending(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/trending", params=params)
    assert response.status_code == 200, response.text
    return TrendingItems.model_validate(response.json()).model_dump(mode="json", exclude_none=True)


def burst(
    item: str, n: int, *, shoppers: int | None = None, ago: timedelta = timedelta()
) -> list[dict[str, Any]]:
    """`n` views of `item` by `shoppers` distinct shoppers (default: one each) within minutes."""
    now = datetime.now(UTC) - ago
    k = shoppers or n
    return [
        {
            "user_id": f"{item}-fan{j % k}",
            "item_id": item,
            "type": "view",
            "timestamp": (now - timedelta(seconds=j)).isoformat(),
        }
        for j in range(n)
    ]


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    client.post(
        "/items",
        json=[{"item_id": f"i{k}", "categories": ["red" if k % 2 == 0 else "blue"]} for k in range(6)],
    )
    # i0 sold steadily for weeks; today it bursts. i1 bursts from nothing, i2 gets three views,
    # i3 fifty views by one shopper, i4 a burst three days ago.
    steady = [
        {
            "user_id": f"old{j}",
            "item_id": "i0",
            "type": "view",
            "timestamp": (datetime.now(UTC) - timedelta(hours=6 * j + 30)).isoformat(),
        }
        for j in range(200)
    ]
    events = steady + burst("i0", 300) + burst("i1", 40) + burst("i2", 3) + burst("i3", 50, shoppers=1)
    events += burst("i4", 30, ago=timedelta(days=3))
    assert client.post("/events", json=events).status_code == 202
    return client


def test_planted_bursts_trend_in_order(shop: TestClient) -> None:
    body = trending(shop, window="1h")
    assert body["window"] == "1h"
    assert ids(body) == ["i0", "i1"]  # i2: 3 shoppers, i3: 1 shopper, i4: long ago
    assert body["items"][0]["score"] > body["items"][1]["score"] > 0
    assert "i4" in ids(trending(shop, window="7d"))
    assert ids(trending(shop)) == ids(trending(shop, window="24h"))


def test_category_limit_and_exclude(shop: TestClient) -> None:
    assert ids(trending(shop, window="1h", category="blue")) == ["i1"]
    assert ids(trending(shop, window="1h", limit=1)) == ["i0"]
    assert ids(trending(shop, window="1h", exclude="i0")) == ["i1"]


def test_new_events_trend_at_once_and_unavailable_items_do_not(shop: TestClient) -> None:
    shop.post("/events", json=burst("i5", 400))
    wait_for(lambda: ids(trending(shop, window="1h"))[:1] == ["i5"], timeout=5)  # within a second
    shop.put("/items/i5", json={"categories": ["blue"], "available": False})
    assert "i5" not in ids(trending(shop, window="1h"))


@pytest.mark.parametrize("params", [{"window": "2h"}, {"limit": 0}, {"exclude": "a,,b"}, {"window": ""}])
def test_bad_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/trending", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == f"query.{next(iter(params))}"


def test_other_processes_and_restarts_count_the_same_events(
    shop: TestClient, make_client: Callable[..., TestClient]
) -> None:
    rebuild(shop)  # a process starting now tails the events after the model's: none
    restarted = make_client()  # counts the stored events at start
    assert ids(trending(restarted, window="1h")) == ["i0", "i1"]
    shop.post("/events", json=burst("i5", 400))
    wait_for(lambda: ids(trending(restarted, window="1h"))[:1] == ["i5"])  # through its poll


def test_a_trending_placement_on_the_shopper_endpoint(shop: TestClient) -> None:
    shop.put(
        "/placements/hot", json={"strategy": "trending", "rules": [{"filter": {"category_in": ["red"]}}]}
    )
    body = shop.get("/users/nobody/recommendations", params={"placement": "hot", "limit": 3}).json()
    assert body["strategy"] == "trending" and ids(body)[0] == "i0"
    assert set(ids(body)) <= {"i0", "i2", "i4"} and len(body["items"]) == 3  # backfilled with red items
    placed = trending(shop, window="1h", placement="hot", limit=2)
    assert ids(placed)[0] == "i0" and placed["placement"]["name"] == "hot"
