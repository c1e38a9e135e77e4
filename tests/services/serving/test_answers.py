"""The answer cache: a repeated request reuses the serialised answer; a change to the model, the
catalog or the shopper's own events, or an erasure, is never hidden by it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from app.metrics import ServingCounts
from app.services.serving import recommend
from app.services.serving.answers import VARIANTS_PER_SHOPPER, AnswerCache
from app.services.serving.live import CatalogIndex, RecentActivity
from app.services.serving.placements import PlacementIndex
from app.services.serving.recommend import Query
from tests.services.serving.test_recommend import CATEGORIES, snapshot


@pytest.fixture
def runtime() -> Any:
    catalog = CatalogIndex()
    for item_id, categories in CATEGORIES.items():
        catalog.apply(item_id, available=True, deleted=False, categories=categories)
    return SimpleNamespace(
        model=snapshot(),
        model_generation=1,
        catalog=catalog,
        activity=RecentActivity(),
        erased={},
        answers=AnswerCache(max_shoppers=100),
        counts=ServingCounts(),
        placements=PlacementIndex(),
    )


def answer(runtime: Any, user_id: str = "alice", **kwargs: Any) -> dict[str, Any]:
    return orjson.loads(recommend.answer(runtime, Query(user_id, **kwargs)))


def ids(body: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in body["items"]]


def test_a_repeated_request_reuses_the_answer(runtime: Any) -> None:
    first = recommend.answer(runtime, Query("alice", 3))
    assert recommend.answer(runtime, Query("alice", 3)) is first
    assert orjson.loads(first) == recommend.recommend(runtime, Query("alice", 3))
    assert (runtime.counts.answers_computed, runtime.counts.answers_cached) == (1, 1)
    # Another page, or another shopper, is another entry.
    assert recommend.answer(runtime, Query("alice", 3, offset=1)) is not first
    assert ids(answer(runtime, limit=2, offset=1)) == ids(answer(runtime, limit=3))[1:]
    assert (runtime.counts.answers_computed, runtime.counts.answers_cached) == (3, 2)


def test_a_catalog_change_shows_at_once(runtime: Any) -> None:
    assert "c" in ids(answer(runtime, limit=3))
    runtime.catalog.apply("c", available=False, deleted=False, categories=["x"])
    assert "c" not in ids(answer(runtime, limit=3))
    runtime.catalog.apply("c", available=True, deleted=False, categories=["x"])
    assert "c" in ids(answer(runtime, limit=3))


def test_an_unchanged_catalog_row_keeps_the_cache(runtime: Any) -> None:
    first = recommend.answer(runtime, Query("alice", 3))
    runtime.catalog.apply("c", available=True, deleted=False, categories=["x"])  # as polled again
    assert recommend.answer(runtime, Query("alice", 3)) is first


def test_the_shoppers_new_event_shows_at_once(runtime: Any) -> None:
    assert answer(runtime, limit=3)["strategy"] == "personalized"
    runtime.activity.add("alice", "c", 1.0, 101)  # after the model's last event (100)
    after = answer(runtime, limit=3)
    assert after["strategy"] == "realtime"
    assert "c" not in ids(after)  # seen now
    # Someone else's event leaves alice's entry alone.
    cached = recommend.answer(runtime, Query("alice", 3))
    runtime.activity.add("bob", "a", 1.0, 102)
    assert recommend.answer(runtime, Query("alice", 3)) is cached


def test_a_new_model_shows_at_once(runtime: Any) -> None:
    assert answer(runtime, limit=3)["model_version"] == 7
    model = snapshot()
    runtime.model = dataclasses.replace(model, meta=dataclasses.replace(model.meta, version=8))
    runtime.model_generation += 1  # what Runtime.load_latest_model does after the swap
    assert answer(runtime, limit=3)["model_version"] == 8


def test_an_erased_shopper_is_neither_served_from_nor_kept_in_the_cache(runtime: Any) -> None:
    answer(runtime, limit=3)
    runtime.erased["alice"] = object()
    runtime.answers.forget("alice")  # what erasure.forget_user does
    assert len(runtime.answers) == 0
    assert answer(runtime, limit=3)["strategy"] == "popular"
    assert len(runtime.answers) == 0


def test_the_cache_is_bounded() -> None:
    cache = AnswerCache(max_shoppers=2)
    stamp = (1, 0, 0)
    for user in ("a", "b", "c"):
        cache.put(user, Query(user), stamp, user.encode())
    assert len(cache) == 2 and cache.get(Query("a"), stamp) is None
    assert cache.get(Query("c"), stamp) == b"c"
    for offset in range(VARIANTS_PER_SHOPPER + 3):
        cache.put("c", Query("c", offset=offset), stamp, b"page")
    assert cache.get(Query("c", offset=0), stamp) is None  # the oldest queries went first
    assert cache.get(Query("c", offset=VARIANTS_PER_SHOPPER + 2), stamp) == b"page"
    assert cache.get(Query("c", offset=VARIANTS_PER_SHOPPER + 2), (2, 0, 0)) is None
    assert len(cache._answers) == VARIANTS_PER_SHOPPER + 1  # b's one, c's last eight: nothing stray
    cache.put("c", Query("c", offset=3), stamp, b"again")  # a query put again is not kept twice
    cache.forget("c")
    assert len(cache) == 1 and len(cache._answers) == 1 and cache.get(Query("b"), stamp) == b"b"
    off = AnswerCache(max_shoppers=0)
    off.put("a", Query("a"), stamp, b"a")
    assert off.get(Query("a"), stamp) is None and len(off) == 0


def test_a_new_placement_version_is_a_new_answer(runtime: Any) -> None:
    runtime.placements.apply("home", 1, "personalized", 3, [{"filter": {"category_in": ["x"]}}])
    first = recommend.answer(runtime, Query("alice", placement="home"))
    assert recommend.answer(runtime, Query("alice", placement="home")) is first
    runtime.placements.apply("home", 2, "personalized", 3, [{"pin": {"item_id": "a", "position": 1}}])
    second = recommend.answer(runtime, Query("alice", placement="home"))
    assert second is not first and orjson.loads(second)["placement"] == {"name": "home", "version": 2}
