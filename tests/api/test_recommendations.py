"""GET /users/{id}/recommendations, /popular and /items/{id}/similar on a store with a known answer.

The store is `two_taste_events()`: even users touch i0..i4, odd users i5..i9, each missing one
item of their half (u0 misses i0, u1 misses i5, u2 misses i1, ...). Even items are "red", odd "blue".
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.schemas.recommendations import PopularItems, Recommendations, SimilarItems
from tests.conftest import rebuild, two_taste_events

GROUP_0 = {f"i{k}" for k in range(5)}
GROUP_1 = {f"i{k}" for k in range(5, 10)}
RED = {f"i{k}" for k in range(0, 10, 2)}
BLUE = {f"i{k}" for k in range(1, 10, 2)}


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def recs(client: TestClient, user_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/users/{user_id}/recommendations", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    Recommendations.model_validate(body)
    return body


@pytest.fixture
def built(client: TestClient) -> TestClient:
    client.post("/items", json=[{"item_id": f"i{k}", "categories": ["red" if k % 2 == 0 else "blue"]}
                                for k in range(10)])
    assert client.post("/events", json=two_taste_events()).json()["accepted"] == 80
    rebuild(client)
    return client


# --- unknown shoppers and an empty store ----------------------------------------------------


def test_unknown_user_on_an_empty_store_gets_an_empty_popular_list(client: TestClient) -> None:
    body = recs(client, "nobody")
    assert body == {"user_id": "nobody", "items": [], "strategy": "popular", "model_version": None,
                    "generated_at": None}


def test_unknown_user_gets_popular_items(built: TestClient) -> None:
    fans = [{"user_id": f"fan{k}", "item_id": "i7", "type": "purchase"} for k in range(5)]
    built.post("/events", json=fans)
    rebuild(built)

    body = recs(built, "nobody", limit=3)
    assert body["strategy"] == "popular"
    assert body["model_version"] is not None
    assert ids(body)[0] == "i7"
    assert len(body["items"]) == 3
    assert ids(body) == ids(built.get("/popular", params={"limit": 3}).json())


# --- personalised ---------------------------------------------------------------------------


def test_a_taste_group_member_gets_their_group_missing_item_first(built: TestClient) -> None:
    version = built.get("/model").json()["version"]
    for user, missing in (("u0", "i0"), ("u1", "i5"), ("u2", "i1"), ("u7", "i8")):
        body = recs(built, user)
        assert body["strategy"] == "personalized"
        assert body["model_version"] == version
        assert body["generated_at"] is not None
        first = body["items"][0]
        assert first["item_id"] == missing
        group = GROUP_0 if missing in GROUP_0 else GROUP_1
        assert first["reason"]["because"] in group - {missing}


def test_seen_items_are_excluded_by_default_and_list_is_topped_up(built: TestClient) -> None:
    body = recs(built, "u0")
    # Only i0 is predicted; the rest comes from popularity, never an item u0 saw.
    assert ids(body)[0] == "i0"
    assert set(ids(body)) == {"i0"} | GROUP_1
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= 0 for s in scores)


def test_exclude_seen_false_lets_seen_items_back(built: TestClient) -> None:
    body = recs(built, "u0", exclude_seen=False, limit=5)
    assert set(ids(body)) == GROUP_0
    assert recs(built, "u0", exclude_seen=True, limit=5)["items"][0]["item_id"] == "i0"


def test_limit_and_offset_page_through_one_list(built: TestClient) -> None:
    full = ids(recs(built, "u2", limit=6))
    assert len(full) == 6
    assert ids(recs(built, "u2", limit=2)) == full[:2]
    assert ids(recs(built, "u2", limit=2, offset=2)) == full[2:4]
    assert ids(recs(built, "u2", limit=2, offset=4)) == full[4:6]
    assert recs(built, "u2", limit=5, offset=50)["items"] == []


def test_category_filter_applies_at_serve_time(built: TestClient) -> None:
    red = ids(recs(built, "u0", category="red"))
    assert red[0] == "i0"
    assert set(red) == {"i0"} | (RED & GROUP_1)  # u0 saw i2, i4
    blue = recs(built, "u0", category="blue")
    assert set(ids(blue)) == {"i5", "i7", "i9"}  # u0 saw i1, i3
    assert recs(built, "u0", category="green")["items"] == []

    # Recategorised now, served now.
    built.put("/items/i6", json={"categories": ["blue"]})
    assert set(ids(recs(built, "u0", category="blue"))) == {"i5", "i6", "i7", "i9"}
    assert "i6" not in ids(recs(built, "u0", category="red"))


def test_list_is_topped_up_to_limit_when_filters_remove_items(built: TestClient) -> None:
    built.put("/items/i0", json={"available": False, "categories": ["red"]})
    built.post("/items", json=[{"item_id": f"new{k}", "categories": ["red"]} for k in range(3)])

    body = recs(built, "u0", limit=8)
    # i0 is hidden; GROUP_1 comes from popularity, then never-touched catalog items fill the rest.
    assert "i0" not in ids(body)
    assert len(body["items"]) == 8
    assert set(ids(body)[:5]) == GROUP_1
    assert set(ids(body)[5:]) == {"new0", "new1", "new2"}


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"exclude_seen": "perhaps"}, {"category": "c" * 129}],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/users/u0/recommendations", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"][0] == "query"


def test_limit_bounds_are_inclusive(built: TestClient) -> None:
    assert len(recs(built, "u0", limit=1)["items"]) == 1
    assert len(recs(built, "u0", limit=100)["items"]) == 6  # all the catalog allows


# --- real time ------------------------------------------------------------------------------


def test_new_events_change_the_next_answer_without_a_rebuild(built: TestClient) -> None:
    version = built.get("/model").json()["version"]
    before = recs(built, "u0", limit=3)
    assert before["strategy"] == "personalized"

    bought = [{"user_id": "u0", "item_id": i, "type": "purchase"} for i in ("i5", "i6", "i7")]
    built.post("/events", json=bought)

    after = recs(built, "u0", limit=5)
    assert after["strategy"] == "realtime"
    assert after["model_version"] == version
    assert not {"i5", "i6", "i7"} & set(ids(after))
    reasons = {it["item_id"]: it.get("reason", {}).get("because") for it in after["items"]}
    assert {"i8", "i9"} <= reasons.keys()
    assert reasons["i8"] in {"i5", "i6", "i7"}
    assert reasons["i9"] in {"i5", "i6", "i7"}
    assert ids(after) != ids(before)
    assert built.get("/model").json()["version"] == version


def test_brand_new_user_gets_item_based_recommendations(built: TestClient) -> None:
    assert recs(built, "newbie")["strategy"] == "popular"

    built.post("/events", json=[{"user_id": "newbie", "item_id": i, "type": "view"} for i in ("i5", "i6")])

    body = recs(built, "newbie", limit=3)
    assert body["strategy"] == "realtime"
    assert set(ids(body)) == {"i7", "i8", "i9"}
    for item in body["items"]:
        assert item["reason"]["because"] in {"i5", "i6"}


def test_realtime_respects_exclude_seen_false(built: TestClient) -> None:
    built.post("/events", json={"user_id": "newbie", "item_id": "i5", "type": "view"})
    assert "i5" not in ids(recs(built, "newbie"))
    assert "i5" in ids(recs(built, "newbie", exclude_seen=False))


# --- popular --------------------------------------------------------------------------------


def test_popular_orders_by_interactions_and_filters_by_category(client: TestClient) -> None:
    client.post("/items", json=[{"item_id": "a", "categories": ["x"]}, {"item_id": "b", "categories": ["y"]},
                                {"item_id": "c", "categories": ["x"]}])
    counts = {"a": 5, "b": 3, "c": 1}
    client.post("/events", json=[{"user_id": f"u{k}", "item_id": i, "type": "view"}
                                 for i, n in counts.items() for k in range(n)])
    model = rebuild(client)

    body = client.get("/popular", params={"limit": 2}).json()
    PopularItems.model_validate(body)
    assert body["model_version"] == model["version"]
    assert ids(body) == ["a", "b"]
    assert body["items"][0]["score"] > body["items"][1]["score"] > 0
    assert ids(client.get("/popular").json()) == ["a", "b", "c"]
    assert ids(client.get("/popular", params={"category": "x"}).json()) == ["a", "c"]
    assert client.get("/popular", params={"category": "none"}).json()["items"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}])
def test_popular_bad_limit_is_422(client: TestClient, params: dict[str, Any]) -> None:
    assert client.get("/popular", params=params).status_code == 422


# --- similar items --------------------------------------------------------------------------


def test_similar_items_come_from_the_same_taste_group(built: TestClient) -> None:
    body = built.get("/items/i1/similar", params={"limit": 4}).json()
    SimilarItems.model_validate(body)
    assert body["item_id"] == "i1"
    assert body["strategy"] == "collaborative"
    assert set(ids(body)) == GROUP_0 - {"i1"}
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0

    assert set(ids(built.get("/items/i8/similar", params={"limit": 4}).json())) == GROUP_1 - {"i8"}


def test_similar_leaves_out_unavailable_items(built: TestClient) -> None:
    built.put("/items/i2", json={"available": False})
    body = built.get("/items/i1/similar", params={"limit": 3}).json()
    assert set(ids(body)) == {"i0", "i3", "i4"}


def test_similar_for_an_untouched_item_uses_its_categories(built: TestClient) -> None:
    built.put("/items/fresh", json={"categories": ["blue"]})
    body = built.get("/items/fresh/similar", params={"limit": 5}).json()
    assert body["strategy"] != "collaborative"
    assert set(ids(body)) == BLUE
    assert "fresh" not in ids(body)


def test_similar_unknown_item_is_404(built: TestClient) -> None:
    response = built.get("/items/nope/similar")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}])
def test_similar_bad_limit_is_422(built: TestClient, params: dict[str, Any]) -> None:
    assert built.get("/items/i1/similar", params=params).status_code == 422
