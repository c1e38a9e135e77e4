"""The demo shop shows each merchandising feature: bundles complete baskets, planted items trend,
and its placements are valid and apply."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi.testclient import TestClient

from app.services.building import demo
from tests.conftest import rebuild


def test_the_demo_shop_shows_baskets_trending_and_placements(client: TestClient) -> None:
    shop = demo.generate(n_users=400, n_items=120, weeks=3, seed=3)
    assert client.post("/items", json=shop.items).status_code == 200
    events: list[dict[str, Any]] = [{**e, "timestamp": e["timestamp"].isoformat()} for e in shop.events]
    for start in range(0, len(events), 10_000):
        assert client.post("/events", json=events[start : start + 10_000]).status_code == 202
    for name, body in shop.placements.items():
        assert client.put(f"/placements/{name}", json=body).status_code == 200
    rebuild(client)

    # The bundle carted most often: its companion completes the basket, because of it.
    carts = Counter(e["item_id"] for e in shop.events if e["type"] == "add_to_cart")
    a, b = max(shop.bundles, key=lambda pair: carts[pair[0]] + carts[pair[1]])
    answer = client.post("/recommendations/basket", json={"items": [a], "limit": 3}).json()
    assert answer["strategy"] == "basket" and answer["items"][0] == {
        "item_id": b,
        "score": answer["items"][0]["score"],
        "reason": {"because": a},
    }
    hot = [
        it["item_id"] for it in client.get("/trending", params={"window": "24h", "limit": 10}).json()["items"]
    ]
    assert set(shop.trending) <= set(hot)
    for name in shop.placements:
        response = client.get("/users/user-00001/recommendations", params={"placement": name})
        assert response.status_code == 200 and response.json()["placement"]["name"] == name
