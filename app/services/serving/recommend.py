"""Serving: a shopper's recommendations, similar items and popular items, from memory only.

The cached top-N of the serving snapshot is filtered at serve time (unavailable, deleted, category,
already seen), blended with a real-time re-score when the shopper acted since the last rebuild, and
topped up from popularity so the list still has `limit` items when the catalog allows.
No query reaches the store here: answers keep flowing while the database is away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import orjson

from app.recommender.rescore import neighbour_scores, sum_by_index
from app.services.serving.live import CatalogIndex
from app.services.serving.model import ServingModel
from app.services.serving.runtime import Runtime

REALTIME_WEIGHT = 1.0  # weight of the real-time re-score against the cached list (both scaled to 1)


class Query(NamedTuple):
    """One recommendations request. A tuple: hashed and compared in C, as the answer cache's key."""

    user_id: str
    limit: int = 10
    offset: int = 0
    category: str | None = None
    exclude_seen: bool = True


@dataclass
class Picked:
    item_ids: list[str]
    scores: list[float]
    because: list[str | None]

    def add(self, item_id: str, score: float, because: str | None = None) -> None:
        self.item_ids.append(item_id)
        self.scores.append(score)
        self.because.append(because)


def answer(runtime: Runtime, q: Query) -> bytes:
    """`recommend`'s answer as JSON, reused from the answer cache while the model, the catalog and
    the shopper's own recent events are those it was computed from."""
    counts = runtime.counts
    if q.user_id in runtime.erased:
        counts.answers_computed += 1
        return orjson.dumps(recommend(runtime, q))  # never kept: their rows are gone
    # Read before computing: an answer can only be newer than its stamp, never older.
    stamp = (runtime.model_generation, runtime.catalog.generation, runtime.activity.newest(q.user_id))
    body = runtime.answers.get(q, stamp)
    if body is None:
        counts.answers_computed += 1
        body = orjson.dumps(recommend(runtime, q))
        runtime.answers.put(q.user_id, q, stamp, body)
    else:
        counts.answers_cached += 1
    return body


def recommend(runtime: Runtime, q: Query) -> dict[str, Any]:
    model = runtime.model  # read once: this request sees one version only
    catalog = runtime.catalog
    want = q.offset + q.limit
    u = None if q.user_id in runtime.erased else model.user_index.get(q.user_id)
    recent = runtime.activity.get(q.user_id, model.meta.last_event_id)
    recent_idx = {model.item_index[i]: w for i, w in recent.items() if i in model.item_index}

    skip: set[str] = set(recent) if q.exclude_seen else set()
    if recent_idx or (u is not None and not q.exclude_seen):
        strategy = "realtime" if recent else "personalized"
        if recent_idx:
            runtime.counts.realtime_rescores += 1
        candidates = _realtime_candidates(model, u, recent_idx, exclude_seen=q.exclude_seen)
    elif u is not None:
        strategy = "personalized"
        candidates = _cached_candidates(model, u)
        if q.category is not None:
            # The cached list is short; within a category, re-score from the history's neighbours.
            candidates = chain(
                candidates, _lazy(lambda: _realtime_candidates(model, u, {}, exclude_seen=True))
            )
    else:
        strategy = "popular"
        candidates = iter(())
    picked = Picked([], [], [])
    item_ids = model.item_ids
    for i, score, because in candidates:
        item_id = item_ids[i]
        if item_id in skip or not catalog.servable(item_id, q.category):
            continue
        skip.add(item_id)
        picked.add(item_id, score, item_ids[because] if because >= 0 else None)
        if len(picked.item_ids) >= want:
            break
    if strategy == "personalized" and not picked.item_ids:
        strategy = "popular"
    if len(picked.item_ids) < want:
        if q.exclude_seen and u is not None:
            # The candidates already leave the built history out; the popularity top-up must too.
            # Only here: a heavy shopper's history is thousands of ids, too many for every request.
            skip.update(_item_ids_of(model, _seen_indices(model, u)))
        _top_up(model, catalog, picked, skip, q.category, want)
    return _answer(q, picked, strategy, model)


def _lazy(make: Callable[[], Iterator[tuple[int, float, int]]]) -> Iterator[tuple[int, float, int]]:
    yield from make()


def _item_ids_of(model: ServingModel, indices: np.ndarray) -> list[str]:
    ids = model.item_ids
    return [ids[i] for i in indices.tolist()]


def _seen_indices(model: ServingModel, u: int) -> np.ndarray:
    # Slices of the CSR arrays: scipy's row indexing builds a new matrix, ~50 us per call.
    seen = model.seen
    return seen.indices[seen.indptr[u] : seen.indptr[u + 1]]


def _cached_candidates(model: ServingModel, u: int) -> Iterator[tuple[int, float, int]]:
    """The cached list with its cached reasons."""
    items = model.top_items[u]
    n = int(np.count_nonzero(items >= 0))  # padding (-1) sits at the end
    return zip(
        items[:n].tolist(), model.top_scores[u][:n].tolist(), model.top_because[u][:n].tolist(), strict=True
    )


def _realtime_candidates(
    model: ServingModel, u: int | None, recent: dict[int, float], *, exclude_seen: bool
) -> Iterator[tuple[int, float, int]]:
    """Blend the cached list with a re-score from the item-item neighbours of the history.

    score(i) = cached(i) / max(cached) + REALTIME_WEIGHT * r(i) / max(r), where r = h · S and h is
    the shopper's history (recent events plus the built history). Only the items the history's
    neighbours and the cached list reach are scored: the work does not grow with the catalog.
    """
    history, weights = _history(model, u, recent)
    columns, r, because = neighbour_scores(model.neighbours, history, weights)
    top_r = r.max(initial=0)
    items, scores = columns, (REALTIME_WEIGHT * r / top_r if top_r > 0 else np.zeros(len(r)))
    if u is not None:
        cached_items = model.top_items[u]
        valid = cached_items >= 0
        cached = model.top_scores[u][valid].astype(np.float64)
        top = cached.max(initial=0)
        if top > 0:
            items = np.concatenate([items, cached_items[valid]])
            scores = np.concatenate([scores, cached / top])
    candidates, total, where = sum_by_index(items, scores)
    reasons = np.full(len(candidates), -1, dtype=np.int64)
    reasons[where[: len(columns)]] = because
    keep = total > 0
    if exclude_seen:
        keep &= ~np.isin(candidates, history)
    candidates, total, reasons = candidates[keep], total[keep], reasons[keep]
    order = np.argsort(-total, kind="stable")  # candidates ascend: ties go to the lower index
    return zip(candidates[order].tolist(), total[order].tolist(), reasons[order].tolist(), strict=True)


def _history(model: ServingModel, u: int | None, recent: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """The shopper's items (ascending) and weights: recent events plus the built history row."""
    indices = [np.fromiter(recent.keys(), dtype=np.int64, count=len(recent))]
    weights = [np.fromiter(recent.values(), dtype=np.float64, count=len(recent))]
    if u is not None:
        lo, hi = model.seen.indptr[u], model.seen.indptr[u + 1]
        indices.append(model.seen.indices[lo:hi].astype(np.int64))
        weights.append(model.seen.data[lo:hi].astype(np.float64))
    items, summed, _ = sum_by_index(np.concatenate(indices), np.concatenate(weights))
    nonzero = summed != 0
    return items[nonzero], summed[nonzero]


def _top_up(
    model: ServingModel,
    catalog: CatalogIndex,
    picked: Picked,
    skip: set[str],
    category: str | None,
    want: int,
) -> None:
    """Fill the list from the popular items (of the category), then any servable catalog item."""
    floor = min(picked.scores) if picked.scores else 1.0
    scale = floor if floor > 0 else 1.0
    for item_id, score in _popular_stream(model, category):
        if item_id in skip or not catalog.servable(item_id, category):
            continue
        skip.add(item_id)
        picked.add(item_id, score * scale)
        if len(picked.item_ids) >= want:
            return
    for item_id in _catalog_stream(catalog, category):
        if item_id in skip:
            continue
        skip.add(item_id)
        picked.add(item_id, 0.0)
        if len(picked.item_ids) >= want:
            return


def _popular_stream(model: ServingModel, category: str | None) -> Iterator[tuple[str, float]]:
    ids = model.item_ids
    popularity = model.popularity
    for i in model.popular_in(category).tolist():
        yield ids[i], float(popularity[i])


def _catalog_stream(catalog: CatalogIndex, category: str | None) -> Iterable[str]:
    for item_id in list(catalog.known):
        if catalog.servable(item_id, category):
            yield item_id


def _answer(q: Query, picked: Picked, strategy: str, model: ServingModel) -> dict[str, Any]:
    lo, hi = q.offset, q.offset + q.limit
    items = [
        {"item_id": i, "score": round(s, 6)}
        if b is None
        else {"item_id": i, "score": round(s, 6), "reason": {"because": b}}
        for i, s, b in zip(picked.item_ids[lo:hi], picked.scores[lo:hi], picked.because[lo:hi], strict=True)
    ]
    return {
        "user_id": q.user_id,
        "items": items,
        "strategy": strategy,
        "model_version": model.version,
        "generated_at": model.meta.built_at,
    }


def popular(runtime: Runtime, *, limit: int, category: str | None) -> dict[str, Any]:
    model = runtime.model
    picked = Picked([], [], [])
    _top_up(model, runtime.catalog, picked, set(), category, limit)
    return {
        "items": [
            {"item_id": i, "score": round(s, 6)} for i, s in zip(picked.item_ids, picked.scores, strict=True)
        ],
        "model_version": model.version,
    }


def similar(
    runtime: Runtime, item_id: str, *, limit: int, load_text: Callable[[], str | None]
) -> dict[str, Any] | None:
    """Items like `item_id`: its item-item neighbours; for an item nobody has touched yet, its
    nearest items by text (TF-IDF); then popular items of its categories. None when unknown.
    `load_text` fetches the item's text from the catalog, only when needed."""
    model = runtime.model
    catalog = runtime.catalog
    if item_id in catalog.deleted or not (catalog.exists(item_id) or item_id in model.item_index):
        return None
    picked = Picked([], [], [])
    skip = {item_id}
    strategy = "popular"
    i = model.item_index.get(item_id)
    if i is not None:
        row = model.neighbours[i]
        _take(model, catalog, picked, skip, row.indices, row.data, limit)
        if picked.item_ids:
            strategy = "collaborative"
    if not picked.item_ids:
        sims = _content_similarities(model, i, load_text)
        if sims is not None:
            _take(model, catalog, picked, skip, np.arange(len(sims)), sims, limit)
            if picked.item_ids:
                strategy = "content"
    if len(picked.item_ids) < limit:
        for category in sorted(catalog.categories.get(item_id, ())):
            _top_up(model, catalog, picked, skip, category, limit)
        _top_up(model, catalog, picked, skip, None, limit)
    return {
        "item_id": item_id,
        "items": [
            {"item_id": i, "score": round(s, 6)} for i, s in zip(picked.item_ids, picked.scores, strict=True)
        ],
        "strategy": strategy,
        "model_version": model.version,
    }


def _take(
    model: ServingModel,
    catalog: CatalogIndex,
    picked: Picked,
    skip: set[str],
    items: np.ndarray,
    scores: np.ndarray,
    limit: int,
) -> None:
    """Add the best-scoring servable items (score > 0) until `limit`."""
    positive = scores > 0
    items, scores = items[positive], scores[positive]
    order = np.argsort(-scores, kind="stable")
    for j, score in zip(items[order].tolist(), scores[order].tolist(), strict=True):
        other = model.item_ids[j]
        if other in skip or not catalog.servable(other, None):
            continue
        skip.add(other)
        picked.add(other, score)
        if len(picked.item_ids) >= limit:
            return


def _content_similarities(
    model: ServingModel, i: int | None, load_text: Callable[[], str | None]
) -> np.ndarray | None:
    """Cosine of the item's TF-IDF row with every model item's; None without usable text."""
    F = model.content_features
    if F.shape[0] == 0 or F.shape[1] == 0:
        return None
    if i is not None and F[i].nnz:
        f = F[i]
    else:
        text = load_text()
        if not text:
            return None
        f = model.content.transform([text])
        if f.nnz == 0:
            return None
    sims = np.asarray((F @ f.T).todense()).ravel()
    if i is not None:
        sims[i] = 0
    return sims
