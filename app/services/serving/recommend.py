"""Serving: a shopper's recommendations, similar items and popular items, from memory only.

The cached top-N of the serving snapshot is filtered at serve time (unavailable, deleted, category,
already seen), blended with a real-time re-score when the shopper acted since the last rebuild, and
topped up from popularity so the list still has `limit` items when the catalog allows.
No query reaches the store here: answers keep flowing while the database is away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import orjson

from app.recommender.rescore import neighbour_scores, sum_by_index
from app.recommender.rules import Ranked, apply_rules
from app.services.serving.live import CatalogIndex
from app.services.serving.model import ServingModel
from app.services.serving.placements import DEFAULT_LIMIT, LivePlacement
from app.services.serving.runtime import Runtime

REALTIME_WEIGHT = 1.0  # weight of the real-time re-score against the cached list (both scaled to 1)
MAX_EXCLUDE = 100  # ids in one request's `exclude`
SHOP_WIDE = ("popular", "trending")  # placement strategies whose list is the same for everyone
TRENDING_WINDOW = "24h"  # of a placement with the trending strategy
BASKET_PERSONAL_WEIGHT = 0.5  # the shopper's tastes against the basket's rules (both scaled to 1)


class Query(NamedTuple):
    """One recommendations request. A tuple: hashed and compared in C, as the answer cache's key.

    `limit` None: the placement's default limit, or 10. `exclude`: ids never to answer with."""

    user_id: str
    limit: int | None = None
    offset: int = 0
    category: str | None = None
    exclude_seen: bool = True
    placement: str | None = None
    exclude: frozenset[str] = frozenset()


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
    stamp = (
        runtime.model_generation,
        runtime.catalog.generation,
        runtime.activity.newest(q.user_id),
        runtime.placements.generation,
    )
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
    placement = runtime.placements.get(q.placement) if q.placement is not None else None
    limit = _limit_of(q.limit, placement)
    want = q.offset + limit
    u = None if q.user_id in runtime.erased else model.user_index.get(q.user_id)
    recent = runtime.activity.get(q.user_id, model.meta.last_event_id)
    recent_idx = {model.item_index[i]: w for i, w in recent.items() if i in model.item_index}

    skip: set[str] = set(recent) if q.exclude_seen else set()
    skip.update(q.exclude)
    if placement is not None and placement.strategy in SHOP_WIDE:
        # The shop's list for everyone, without what this shopper saw (or excluded).
        if q.exclude_seen and u is not None:
            skip.update(_item_ids_of(model, _seen_indices(model, u)))
        ranked = _shop_wide(runtime, model, placement.strategy, q.category)
        picked = _placed(runtime, model, placement, ranked, skip, q, want, u)
        return _answer(q, limit, picked, placement.strategy, model, placement)
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
    if placement is not None and not placement.rules.empty:
        item_ids = model.item_ids
        ranked = (
            Ranked(item_ids[i], score, item_ids[because] if because >= 0 else None)
            for i, score, because in candidates
        )
        picked = _placed(runtime, model, placement, ranked, skip, q, want, u)
        if strategy == "personalized" and not picked.item_ids:
            strategy = "popular"
        return _answer(q, limit, picked, strategy, model, placement)
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
    return _answer(q, limit, picked, strategy, model, placement)


def _shop_wide(
    runtime: Runtime, model: ServingModel, strategy: str, category: str | None
) -> Iterator[Ranked]:
    """A placement's list for everyone, best first: popular or trending (over TRENDING_WINDOW)."""
    if strategy == "trending":
        return (Ranked(i, z) for i, z in runtime.trending.ranked(TRENDING_WINDOW))
    return (Ranked(i, s) for i, s in _popular_stream(model, category))


def _placed(
    runtime: Runtime,
    model: ServingModel,
    placement: LivePlacement,
    ranked: Iterable[Ranked],
    skip: set[str],
    q: Query,
    want: int,
    u: int | None,
) -> Picked:
    """The candidates under the placement's rules; the popularity backfill leaves out the built
    history too when `exclude_seen` (read only if a backfill is needed, as in `recommend`)."""

    def backfill(category: str | None) -> Iterator[tuple[str, float]]:
        if q.exclude_seen and u is not None:
            skip.update(_item_ids_of(model, _seen_indices(model, u)))
        return _backfill_stream(model, runtime.catalog, q.category if q.category is not None else category)

    interacted = partial(_interacted, runtime, model, q.user_id)
    purchased = partial(_purchased, runtime, model, q.user_id)
    return _apply(runtime, placement, ranked, want, skip, q.category, interacted, backfill, purchased)


def _apply(
    runtime: Runtime,
    placement: LivePlacement,
    ranked: Iterable[Ranked],
    want: int,
    skip: set[str],
    category: str | None,
    interacted: Callable[[], set[str]],
    backfill: Callable[[str | None], Iterable[tuple[str, float]]],
    purchased: Callable[[], set[str]] = set,
) -> Picked:
    catalog = runtime.catalog
    out = apply_rules(
        ranked,
        placement.rules,
        want=want,
        facts=catalog.facts_of,
        # A pin may name any id: only items of the catalog are shown.
        allowed=lambda item_id: (
            item_id not in skip and catalog.exists(item_id) and catalog.servable(item_id, category)
        ),
        interacted=interacted,
        purchased=purchased,
        backfill=backfill,
        now=time.time(),
    )
    return Picked([r.item_id for r in out], [r.score for r in out], [r.because for r in out])


def _backfill_stream(
    model: ServingModel, catalog: CatalogIndex, category: str | None
) -> Iterator[tuple[str, float]]:
    yield from _popular_stream(model, category)
    for item_id in _catalog_stream(catalog, category):
        yield item_id, 0.0


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


def _answer(
    q: Query, limit: int, picked: Picked, strategy: str, model: ServingModel, placement: LivePlacement | None
) -> dict[str, Any]:
    answer = {
        "user_id": q.user_id,
        "items": _items(picked, q.offset, q.offset + limit),
        "strategy": strategy,
        "model_version": model.version,
        "generated_at": model.meta.built_at,
    }
    return _with_placement(answer, placement)


def popular(
    runtime: Runtime,
    *,
    limit: int | None,
    category: str | None,
    exclude: frozenset[str] = frozenset(),
    placement: LivePlacement | None = None,
) -> dict[str, Any]:
    model = runtime.model
    n = _limit_of(limit, placement)
    skip = set(exclude)
    if placement is not None and not placement.rules.empty:
        ranked = (Ranked(i, s) for i, s in _popular_stream(model, category))
        backfill = partial(_backfill_stream, model, runtime.catalog)
        picked = _apply(runtime, placement, ranked, n, skip, category, set, backfill)
    else:
        picked = Picked([], [], [])
        _top_up(model, runtime.catalog, picked, skip, category, n)
    return _with_placement(
        {"items": _scored(picked), "model_version": model.version},
        placement,
    )


def trending(
    runtime: Runtime,
    *,
    window: str,
    limit: int | None,
    category: str | None,
    exclude: frozenset[str] = frozenset(),
    placement: LivePlacement | None = None,
) -> dict[str, Any]:
    """Items whose event rate rose most over their own baseline within the window (live counts,
    no rebuild). Without a placement the list may be short: only items that rose are listed."""
    catalog = runtime.catalog
    n = _limit_of(limit, placement)
    skip = set(exclude)
    ranked = (Ranked(i, z) for i, z in runtime.trending.ranked(window))
    if placement is not None and not placement.rules.empty:
        backfill = partial(_backfill_stream, runtime.model, catalog)
        picked = _apply(runtime, placement, ranked, n, skip, category, set, backfill)
    else:
        picked = Picked([], [], [])
        for r in ranked:
            if r.item_id in skip or not catalog.servable(r.item_id, category):
                continue
            picked.add(r.item_id, r.score)
            if len(picked.item_ids) >= n:
                break
    answer = {"items": _scored(picked), "window": window, "model_version": runtime.model.version}
    return _with_placement(answer, placement)


def basket(
    runtime: Runtime,
    items: list[str],
    *,
    shopper: str | None = None,
    limit: int | None = None,
    exclude: frozenset[str] = frozenset(),
    placement: LivePlacement | None = None,
) -> dict[str, Any]:
    """Items that complete the basket (`BasketModel`: rules mined from the baskets at the last
    rebuild), never the basket's own items; re-ranked by the shopper's tastes when one is given,
    then topped up from popular items."""
    model = runtime.model
    catalog = runtime.catalog
    n = _limit_of(limit, placement)
    skip = {*items, *exclude}
    known = np.array(sorted({model.item_index[i] for i in items if i in model.item_index}), dtype=np.int64)
    columns, scores, because = model.baskets.complete(known)
    if shopper is not None and len(columns):
        columns, scores, because = _personalised(runtime, model, shopper, columns, scores, because)
    strategy = "basket" if len(columns) else "popular"
    ids = model.item_ids
    ranked = (
        Ranked(ids[c], s, ids[b] if b >= 0 else None)
        for c, s, b in zip(columns.tolist(), scores.tolist(), because.tolist(), strict=True)
    )
    if placement is not None and not placement.rules.empty:
        backfill = partial(_backfill_stream, model, catalog)
        interacted = partial(_interacted, runtime, model, shopper)
        purchased = partial(_purchased, runtime, model, shopper)
        picked = _apply(runtime, placement, ranked, n, skip, None, interacted, backfill, purchased)
    else:
        picked = Picked([], [], [])
        for r in ranked:
            if r.item_id in skip or not catalog.servable(r.item_id, None):
                continue
            skip.add(r.item_id)
            picked.add(r.item_id, r.score, r.because)
            if len(picked.item_ids) >= n:
                break
        _top_up(model, catalog, picked, skip, None, n)
    answer: dict[str, Any] = {
        "items": _items(picked, 0, n),
        "strategy": strategy,
        "model_version": model.version,
    }
    return _with_placement(answer, placement)


def _interacted(runtime: Runtime, model: ServingModel, shopper: str | None) -> set[str]:
    """Every item the shopper touched: since the last rebuild, and in the built history."""
    if shopper is None:
        return set()
    history = set(runtime.activity.get(shopper, model.meta.last_event_id))
    u = None if shopper in runtime.erased else model.user_index.get(shopper)
    if u is not None:
        history.update(_item_ids_of(model, _seen_indices(model, u)))
    return history


def _purchased(runtime: Runtime, model: ServingModel, shopper: str | None) -> set[str]:
    """Every item the shopper bought: since the last rebuild, and in the built history."""
    if shopper is None:
        return set()
    bought = set(runtime.purchases.get(shopper, model.meta.last_event_id))
    u = None if shopper in runtime.erased else model.user_index.get(shopper)
    if u is not None and u < model.purchased.shape[0]:
        row = model.purchased
        bought.update(_item_ids_of(model, row.indices[row.indptr[u] : row.indptr[u + 1]]))
    return bought


def _personalised(
    runtime: Runtime,
    model: ServingModel,
    shopper: str,
    columns: np.ndarray,
    scores: np.ndarray,
    because: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-rank a basket's completions by the shopper's tastes: score / max(score) +
    BASKET_PERSONAL_WEIGHT * r / max(r), r = h . S over the item neighbours (as the real-time
    re-score), so that of two items that go with the basket the one this shopper likes comes first."""
    u = None if shopper in runtime.erased else model.user_index.get(shopper)
    recent = runtime.activity.get(shopper, model.meta.last_event_id)
    recent_idx = {model.item_index[i]: w for i, w in recent.items() if i in model.item_index}
    if u is None and not recent_idx:
        return columns, scores, because
    history, weights = _history(model, u, recent_idx)
    reached, r, _ = neighbour_scores(model.neighbours, history, weights)
    top_r = r.max(initial=0)
    if top_r <= 0:
        return columns, scores, because
    where = np.searchsorted(reached, columns)
    where = np.minimum(where, len(reached) - 1)
    affinity = np.where(reached[where] == columns, r[where], 0.0) / top_r
    blended = scores / scores.max() + BASKET_PERSONAL_WEIGHT * affinity
    order = np.argsort(-blended, kind="stable")
    return columns[order], blended[order], because[order]


def _limit_of(limit: int | None, placement: LivePlacement | None) -> int:
    return limit if limit is not None else placement.limit if placement is not None else DEFAULT_LIMIT


def _scored(picked: Picked) -> list[dict[str, Any]]:
    return [{"item_id": i, "score": round(s, 6)} for i, s in zip(picked.item_ids, picked.scores, strict=True)]


def _items(picked: Picked, lo: int, hi: int) -> list[dict[str, Any]]:
    """The answer's items, with their reasons where known."""
    return [
        {"item_id": i, "score": round(s, 6)}
        if b is None
        else {"item_id": i, "score": round(s, 6), "reason": {"because": b}}
        for i, s, b in zip(picked.item_ids[lo:hi], picked.scores[lo:hi], picked.because[lo:hi], strict=True)
    ]


def _with_placement(answer: dict[str, Any], placement: LivePlacement | None) -> dict[str, Any]:
    if placement is not None:
        answer["placement"] = {"name": placement.name, "version": placement.version}
    return answer


def similar(
    runtime: Runtime,
    item_id: str,
    *,
    limit: int | None,
    load_text: Callable[[], str | None],
    exclude: frozenset[str] = frozenset(),
    placement: LivePlacement | None = None,
) -> dict[str, Any] | None:
    """Items like `item_id`: its item-item neighbours; for an item nobody has touched yet, its
    nearest items by text (TF-IDF); then popular items of its categories. None when unknown.
    `load_text` fetches the item's text from the catalog, only when needed."""
    model = runtime.model
    catalog = runtime.catalog
    if item_id in catalog.deleted or not (catalog.exists(item_id) or item_id in model.item_index):
        return None
    limit = _limit_of(limit, placement)
    skip = {item_id, *exclude}
    if placement is not None and not placement.rules.empty:
        return _similar_placed(runtime, item_id, limit, load_text, skip, placement)
    picked = Picked([], [], [])
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
    return _similar_answer(item_id, picked, strategy, model)


def _similar_placed(
    runtime: Runtime,
    item_id: str,
    limit: int,
    load_text: Callable[[], str | None],
    skip: set[str],
    placement: LivePlacement,
) -> dict[str, Any]:
    """`similar` under a placement's rules: the neighbours (or text neighbours) as candidates, the
    item's categories first in the backfill."""
    model = runtime.model
    catalog = runtime.catalog
    i = model.item_index.get(item_id)
    strategy = "popular"
    items: np.ndarray = np.empty(0, dtype=np.int64)
    scores: np.ndarray = np.empty(0, dtype=np.float64)
    if i is not None and model.neighbours[i].nnz:
        row = model.neighbours[i]
        items, scores, strategy = row.indices, row.data, "collaborative"
    else:
        sims = _content_similarities(model, i, load_text)
        if sims is not None and (sims > 0).any():
            items, scores, strategy = np.arange(len(sims)), sims, "content"
    positive = scores > 0
    items, scores = items[positive], scores[positive]
    order = np.argsort(-scores, kind="stable")
    ids = model.item_ids
    ranked = (Ranked(ids[j], s) for j, s in zip(items[order].tolist(), scores[order].tolist(), strict=True))
    own = sorted(catalog.categories.get(item_id, ()))

    def backfill(category: str | None) -> Iterator[tuple[str, float]]:
        for c in [*own, category] if category is None else [category]:
            yield from _backfill_stream(model, catalog, c)

    picked = _apply(runtime, placement, ranked, limit, skip, None, set, backfill)
    return _with_placement(_similar_answer(item_id, picked, strategy, model), placement)


def _similar_answer(item_id: str, picked: Picked, strategy: str, model: ServingModel) -> dict[str, Any]:
    items = _scored(picked)
    return {"item_id": item_id, "items": items, "strategy": strategy, "model_version": model.version}


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
