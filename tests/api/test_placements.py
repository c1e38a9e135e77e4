"""PUT/GET /placements/{name}, `?placement=` and `exclude=` on every recommendation endpoint.

The store is `two_taste_events()` (even users touch i0..i4, odd users i5..i9); even items are
"red" and cost 10, 30, ...; odd items are "blue"; i0..i4 are brand Acme.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.schemas.recommendations import PopularItems, Recommendations, SimilarItems
from tests.conftest import rebuild, two_taste_events, wait_for

ITEMS = [
    {
        "item_id": f"i{k}",
        "categories": ["red" if k % 2 == 0 else "blue"],
        "price": 10.0 + 10 * k,
        "attributes": {"brand": "Acme" if k < 5 else "Ember"},
    }
    for k in range(10)
]


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


@pytest.fixture
def built(client: TestClient) -> TestClient:
    client.post("/items", json=ITEMS)
    assert client.post("/events", json=two_taste_events()).json()["accepted"] == 80
    rebuild(client)
    return client


def put(client: TestClient, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.put(f"/placements/{name}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def recs(client: TestClient, user_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/users/{user_id}/recommendations", params=params)
    assert response.status_code == 200, response.text
    return Recommendations.model_validate(response.json()).model_dump(mode="json", exclude_none=True)


# --- writing and reading placements ---------------------------------------------------------


def test_put_stores_a_new_version_and_get_shows_the_current_one(client: TestClient) -> None:
    first = put(client, "home", {"strategy": "personalized", "rules": [{"filter": {"category_in": ["red"]}}]})
    assert first["version"] == 1 and first["limit"] == 10 and first["name"] == "home"
    second = put(client, "home", {"strategy": "popular", "limit": 4, "rules": []})
    assert second["version"] == 2
    current = client.get("/placements/home").json()
    assert {k: current[k] for k in ("version", "strategy", "limit", "rules")} == {
        "version": 2,
        "strategy": "popular",
        "limit": 4,
        "rules": [],
    }
    assert client.get("/placements/other").status_code == 404


def test_rules_are_stored_as_sent_without_unset_fields(client: TestClient) -> None:
    rules = [
        {"filter": {"category_in": ["red"], "price_max": 50}},
        {"boost": {"attributes": {"brand": "Acme"}, "factor": 2}},
        {"pin": {"item_id": "i9", "position": 1}},
        {"diversity": {"max_per_category": 2}},
        {"backfill": {"source": "popular"}},
    ]
    stored = put(client, "cart", {"rules": rules})["rules"]
    assert stored[0] == {"filter": {"category_in": ["red"], "price_max": 50}}
    assert stored[1:] == [
        {"boost": {"attributes": {"brand": "Acme"}, "factor": 2}},
        {"pin": {"item_id": "i9", "position": 1}},
        {"diversity": {"max_per_category": 2}},
        {"backfill": {"source": "popular"}},
    ]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"filter": {"category_in": ["red"]}}, {"colour": {"name": "red"}}], "body.rules[1].colour"),
        ([{"filter": {"price_min": 50, "price_max": 10}}], "body.rules[0].filter"),
        ([{"filter": {"price_min": -1}}], "body.rules[0].filter.price_min"),
        ([{}, {"filter": {"colour": "red"}}], "body.rules[0]"),
        ([{"filter": {}}, {"filter": {"colour": "red"}}], "body.rules[1].filter.colour"),
        ([{"boost": {"category_in": ["red"]}}], "body.rules[0].boost.factor"),
        ([{"boost": {"factor": 2}}], "body.rules[0].boost"),
        ([{"pin": {"item_id": "i1", "position": 0}}], "body.rules[0].pin.position"),
        ([{"diversity": {"mmr_lambda": 1.5}}], "body.rules[0].diversity.mmr_lambda"),
        ([{"filter": {"category_in": []}}], "body.rules[0].filter.category_in"),
        ([{"backfill": {"source": "everything"}}], "body.rules[0].backfill.source"),
        ([{"filter": {"category_in": ["red"]}, "pin": {"item_id": "i1", "position": 1}}], "body.rules[0]"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(client: TestClient, rules: list[Any], field: str) -> None:
    response = client.put("/placements/home", json={"rules": rules})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field
    assert client.get("/placements/home").status_code == 404  # nothing stored


@pytest.mark.parametrize(
    "body", [{"strategy": "magic"}, {"limit": 0}, {"limit": 101}, {"rules": {}}, {"extra": 1}, []]
)
def test_bad_placements_are_refused(client: TestClient, body: Any) -> None:
    assert client.put("/placements/home", json=body).status_code == 422


def test_placements_need_a_write_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_write_keys="w", api_read_keys="r")
    assert client.put("/placements/home", json={}).status_code == 401
    assert client.put("/placements/home", json={}, headers={"X-API-Key": "r"}).status_code == 403
    assert client.get("/placements/home", headers={"X-API-Key": "r"}).status_code == 403
    assert client.put("/placements/home", json={}, headers={"X-API-Key": "w"}).status_code == 200
    # Reading recommendations with a placement is a read.
    response = client.get("/users/u/recommendations?placement=home", headers={"X-API-Key": "r"})
    assert response.status_code == 200 and response.json()["placement"] == {"name": "home", "version": 1}


# --- serving with a placement ------------------------------------------------------------------


def test_a_placement_shapes_recommendations_at_once(built: TestClient) -> None:
    plain = recs(built, "u0", limit=4)
    assert "placement" not in plain
    put(built, "reds", {"limit": 3, "rules": [{"filter": {"category_in": ["red"]}}]})
    body = recs(built, "u0", placement="reds")
    assert body["placement"] == {"name": "reds", "version": 1}
    assert len(body["items"]) == 3 and set(ids(body)) <= {"i0", "i2", "i4", "i6", "i8"}
    # u0 has seen i2 and i4: without them the catalog holds three red items.
    assert ids(recs(built, "u0", placement="reds", limit=5)) == ["i0", "i6", "i8"]
    assert len(recs(built, "u0", placement="reds", limit=5, exclude_seen="false")["items"]) == 5
    # A new version applies to the next request (answers cached for the old one are not reused).
    put(built, "reds", {"limit": 3, "rules": [{"pin": {"item_id": "i9", "position": 1}}]})
    body = recs(built, "u0", placement="reds")
    assert body["placement"]["version"] == 2 and ids(body)[0] == "i9"


def test_boost_pin_and_diversity_through_the_api(built: TestClient) -> None:
    # Every item is a candidate of the popular list: boosting Ember puts an Ember item first.
    popular = ids(built.get("/popular", params={"limit": 10}).json())
    put(built, "ember", {"rules": [{"boost": {"attributes": {"brand": "Ember"}, "factor": 1000}}]})
    boosted = ids(built.get("/popular", params={"limit": 10, "placement": "ember"}).json())
    ember = [i for i in popular if int(i[1:]) >= 5]
    assert boosted == ember + [i for i in popular if i not in ember]
    put(built, "pinned", {"rules": [{"pin": {"item_id": "i7", "position": 2}}]})
    assert ids(recs(built, "u0", placement="pinned", limit=3))[1] == "i7"
    put(
        built, "varied", {"rules": [{"diversity": {"max_per_category": 1}}, {"backfill": {"source": "none"}}]}
    )
    body = built.get("/popular", params={"placement": "varied", "limit": 5}).json()
    colours = ["red" if int(i[1:]) % 2 == 0 else "blue" for i in ids(body)]
    assert sorted(colours) == ["blue", "red"]


def test_price_filter_and_exclude_interacted(built: TestClient) -> None:
    put(built, "cheap", {"rules": [{"filter": {"price_max": 45}}]})
    assert set(ids(recs(built, "u0", placement="cheap"))) <= {"i0", "i1", "i2", "i3"}
    put(built, "fresh", {"rules": [{"filter": {"exclude_interacted": True}}]})
    touched = {"i1", "i2", "i3", "i4"}  # u0's history (u0 misses i0)
    assert touched.isdisjoint(ids(recs(built, "u0", placement="fresh", exclude_seen="false", limit=10)))
    assert touched <= set(ids(recs(built, "u0", exclude_seen="false", limit=10)))


def test_placement_strategy_popular_on_the_shopper_endpoint(built: TestClient) -> None:
    put(built, "top", {"strategy": "popular", "rules": [{"filter": {"category_in": ["blue"]}}]})
    body = recs(built, "u0", placement="top", limit=3)
    assert body["strategy"] == "popular" and set(ids(body)) <= {"i1", "i3", "i5", "i7", "i9"}


def test_placements_apply_to_similar_and_popular(built: TestClient) -> None:
    put(built, "blue", {"rules": [{"filter": {"category_in": ["blue"]}}]})
    similar = built.get("/items/i0/similar", params={"placement": "blue", "limit": 3}).json()
    SimilarItems.model_validate(similar)
    assert similar["placement"]["name"] == "blue" and set(ids(similar)) <= {"i1", "i3", "i5", "i7", "i9"}
    assert len(similar["items"]) == 3
    popular = built.get("/popular", params={"placement": "blue", "limit": 4}).json()
    PopularItems.model_validate(popular)
    assert len(popular["items"]) == 4 and set(ids(popular)) <= {"i1", "i3", "i5", "i7", "i9"}


def test_unknown_placement_is_a_404_everywhere(built: TestClient) -> None:
    for path in ("/users/u0/recommendations", "/popular", "/items/i0/similar"):
        response = built.get(path, params={"placement": "nope"})
        assert response.status_code == 404 and "placement 'nope' not found" in response.json()["detail"]


def test_other_processes_pick_up_a_placement_within_the_poll(
    built: TestClient, make_client: Callable[..., TestClient]
) -> None:
    other = make_client()
    put(built, "reds", {"rules": [{"filter": {"category_in": ["red"]}}]})
    wait_for(lambda: other.get("/users/u0/recommendations?placement=reds").status_code == 200)
    assert set(ids(other.get("/users/u0/recommendations?placement=reds").json())) <= {
        "i0",
        "i2",
        "i4",
        "i6",
        "i8",
    }


# --- exclude ---------------------------------------------------------------------------------


def test_exclude_on_every_recommendation_endpoint(built: TestClient) -> None:
    first = ids(recs(built, "u0", limit=3))
    body = recs(built, "u0", limit=3, exclude=",".join(first[:2]))
    assert set(first[:2]).isdisjoint(ids(body)) and len(body["items"]) == 3
    similar = built.get("/items/i0/similar", params={"limit": 3}).json()
    excluded = ",".join(ids(similar))
    again = built.get("/items/i0/similar", params={"limit": 3, "exclude": excluded}).json()
    assert set(ids(similar)).isdisjoint(ids(again))
    popular = ids(built.get("/popular", params={"limit": 2}).json())
    assert set(popular).isdisjoint(
        ids(built.get("/popular", params={"limit": 2, "exclude": ",".join(popular)}).json())
    )


@pytest.mark.parametrize("exclude", ["a,,b", ",".join(f"i{k}" for k in range(101)), " a", "x" * 129])
def test_bad_exclude_is_a_422_naming_the_parameter(built: TestClient, exclude: str) -> None:
    for path in ("/users/u0/recommendations", "/popular", "/items/i0/similar"):
        response = built.get(path, params={"exclude": exclude})
        assert response.status_code == 422, (path, exclude)
        assert response.json()["errors"][0]["field"] == "query.exclude"


def test_fast_path_and_route_answer_alike_with_placement_and_exclude(built: TestClient) -> None:
    put(
        built,
        "reds",
        {
            "limit": 3,
            "rules": [{"filter": {"category_in": ["red"]}}, {"boost": {"price_min": 40, "factor": 3}}],
        },
    )
    for params in ({"placement": "reds"}, {"placement": "reds", "exclude": "i2,i4"}, {"exclude": "i1"}):
        fast = built.get("/users/u0/recommendations", params=params).json()
        # An extra (ignored) parameter makes the request fall through to the FastAPI route.
        routed = built.get("/users/u0/recommendations", params={**params, "trace": "1"}).json()
        assert fast == routed
        assert set(params.get("exclude", "").split(",")).isdisjoint(ids(fast))


def test_exclude_purchased_now_and_after_a_rebuild(built: TestClient) -> None:
    put(built, "no-rebuy", {"rules": [{"filter": {"exclude_purchased": True}}]})
    assert "i0" in ids(recs(built, "u2", exclude_seen="false", limit=10))
    built.post("/events", json=[{"user_id": "u2", "item_id": "i0", "type": "purchase"}])
    assert "i0" not in ids(recs(built, "u2", placement="no-rebuy", exclude_seen="false", limit=10))
    assert "i0" in ids(recs(built, "u2", exclude_seen="false", limit=10))  # seen, not excluded
    rebuild(built)  # now in the model's purchases, no longer a recent event
    assert "i0" not in ids(recs(built, "u2", placement="no-rebuy", exclude_seen="false", limit=10))
    assert "i2" in ids(recs(built, "u2", placement="no-rebuy", exclude_seen="false", limit=10))  # viewed only
