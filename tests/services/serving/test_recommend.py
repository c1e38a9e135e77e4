"""Serve-time logic of `recommend()`, `popular()` and `similar()` on a hand-made snapshot.

Items a, b, c, d (categories: a, b in "y"; c, d in "x"); popularity d > a > b > c.
alice saw a; her cached list is c (0.9), b (0.5), both explained by a (S[a, c], S[a, b] > 0).
bob saw d; nothing predicted.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from app.metrics import ServingCounts
from app.recommender.itemknn import explain_all
from app.services.serving import recommend
from app.services.serving.live import CatalogIndex, RecentActivity
from app.services.serving.model import ModelMeta, ServingModel
from app.services.serving.placements import PlacementIndex
from app.services.serving.recommend import Query

A, B, C, D = range(4)
CATEGORIES = {"a": ["y"], "b": ["y"], "c": ["x"], "d": ["x"]}


def snapshot() -> ServingModel:
    neighbours = sp.csr_matrix(
        np.array(
            [[0, 0.5, 0.9, 0], [0.5, 0, 0, 0.3], [0.9, 0, 0, 0], [0, 0.3, 0, 0]], dtype=np.float32
        )
    )
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float32))
    top_items = np.array([[C, B, -1], [-1, -1, -1]], dtype=np.int32)
    return ServingModel(
        meta=ModelMeta(version=7, algorithm="itemknn", last_event_id=100),
        user_ids=["alice", "bob"],
        item_ids=["a", "b", "c", "d"],
        top_items=top_items,
        top_scores=np.array([[0.9, 0.5, 0], [0, 0, 0]], dtype=np.float32),
        top_because=explain_all(seen, top_items, neighbours),  # as a rebuild caches them
        seen=seen,
        neighbours=neighbours,
        popular=np.array([D, A, B, C], dtype=np.int32),
        popular_scores=np.array([1.0, 0.8, 0.5, 0.2], dtype=np.float32),
        category_names=["x", "y"],
        category_indptr=np.array([0, 2, 4], dtype=np.int64),
        category_items=np.array([D, C, A, B], dtype=np.int32),
    )


@pytest.fixture
def runtime() -> Any:
    catalog = CatalogIndex()
    for item_id, categories in CATEGORIES.items():
        catalog.apply(item_id, available=True, deleted=False, categories=categories)
    return SimpleNamespace(
        model=snapshot(),
        catalog=catalog,
        activity=RecentActivity(),
        erased={},
        counts=ServingCounts(),
        placements=PlacementIndex(),
    )


def serve(runtime: Any, user_id: str, **kwargs: Any) -> dict[str, Any]:
    return recommend.recommend(runtime, Query(user_id, **kwargs))


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def test_cached_list_then_popular_top_up_without_seen_items(runtime: Any) -> None:
    answer = serve(runtime, "alice", limit=3)

    assert answer["strategy"] == "personalized"
    assert answer["model_version"] == 7
    assert ids(answer) == ["c", "b", "d"]
    assert [it.get("reason") for it in answer["items"]] == [{"because": "a"}, {"because": "a"}, None]
    scores = [it["score"] for it in answer["items"]]
    assert scores == sorted(scores, reverse=True)


def test_limit_larger_than_the_catalog_returns_what_there_is(runtime: Any) -> None:
    assert ids(serve(runtime, "alice", limit=100)) == ["c", "b", "d"]


def test_offset_slices_the_same_list(runtime: Any) -> None:
    assert ids(serve(runtime, "alice", limit=2, offset=1)) == ["b", "d"]
    assert ids(serve(runtime, "alice", limit=2, offset=3)) == []


def test_exclude_seen_false_lets_the_seen_item_back(runtime: Any) -> None:
    answer = serve(runtime, "alice", limit=4, exclude_seen=False)
    assert set(ids(answer)) == {"a", "b", "c", "d"}
    assert ids(answer)[0] in {"a", "c"}


def test_category_filter(runtime: Any) -> None:
    assert ids(serve(runtime, "alice", category="x")) == ["c", "d"]
    assert ids(serve(runtime, "alice", category="y")) == ["b"]
    assert serve(runtime, "alice", category="z")["items"] == []


def test_hidden_items_are_skipped_and_the_list_topped_up(runtime: Any) -> None:
    runtime.catalog.apply("c", available=False, deleted=False, categories=["x"])
    assert ids(serve(runtime, "alice", limit=2)) == ["b", "d"]


def test_catalog_items_outside_the_model_fill_the_end(runtime: Any) -> None:
    runtime.catalog.apply("e", available=True, deleted=False, categories=["x"])
    answer = serve(runtime, "alice", limit=10)
    assert ids(answer) == ["c", "b", "d", "e"]
    assert answer["items"][-1]["score"] == 0


def test_nothing_predicted_is_popular_without_seen_items(runtime: Any) -> None:
    answer = serve(runtime, "bob")
    assert answer["strategy"] == "popular"
    assert ids(answer) == ["a", "b", "c"]


def test_unknown_user_gets_popular_order(runtime: Any) -> None:
    answer = serve(runtime, "nobody")
    assert answer["strategy"] == "popular"
    assert ids(answer) == ["d", "a", "b", "c"]
    assert ids(recommend.popular(runtime, limit=2, category=None)) == ["d", "a"]
    assert ids(recommend.popular(runtime, limit=10, category="y")) == ["a", "b"]


def test_erased_user_is_served_as_unknown(runtime: Any) -> None:
    runtime.erased["alice"] = object()
    answer = serve(runtime, "alice")
    assert answer["strategy"] == "popular"
    assert ids(answer) == ["d", "a", "b", "c"]


def test_recent_events_re_score_in_real_time(runtime: Any) -> None:
    runtime.activity.add("carol", "a", 1.0, 101)
    answer = serve(runtime, "carol")
    assert answer["strategy"] == "realtime"
    assert ids(answer)[:2] == ["c", "b"]
    assert [it["reason"]["because"] for it in answer["items"][:2]] == ["a", "a"]
    assert "a" not in ids(answer)


def test_events_the_model_already_absorbed_are_not_recent(runtime: Any) -> None:
    runtime.activity.add("carol", "a", 1.0, 100)  # last_event_id of the snapshot
    assert serve(runtime, "carol")["strategy"] == "popular"


def test_similar_items_from_neighbours(runtime: Any) -> None:
    answer = recommend.similar(runtime, "a", limit=2, load_text=lambda: None)
    assert answer is not None
    assert answer["strategy"] == "collaborative"
    assert ids(answer) == ["c", "b"]
    assert recommend.similar(runtime, "zzz", limit=2, load_text=lambda: None) is None


def test_similar_tops_up_from_the_item_categories_then_popularity(runtime: Any) -> None:
    answer = recommend.similar(runtime, "d", limit=3, load_text=lambda: None)
    assert answer is not None
    # b is d's only neighbour; then c (category x), then the most popular other item.
    assert ids(answer) == ["b", "c", "a"]


def test_similar_skips_hidden_neighbours(runtime: Any) -> None:
    runtime.catalog.apply("c", available=False, deleted=False, categories=["x"])
    answer = recommend.similar(runtime, "a", limit=3, load_text=lambda: None)
    assert answer is not None
    assert ids(answer) == ["b", "d"]
