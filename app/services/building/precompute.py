"""What a rebuild precomputes for serving: from a fitted model to the arrays of a `ServingModel`.

Every shopper's top `CACHE_SIZE` with its reasons, the item-item neighbours (real-time re-scoring,
similar items), the popularity order and its per-category slices, and the catalog's text features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from app.recommender.base import Recommender
from app.recommender.content import TfidfVectorizer
from app.recommender.itemknn import ItemKNN, explain_all
from app.recommender.popularity import popularity_scores
from app.recommender.topn import recommend_all
from app.services.serving.model import ModelMeta, ServingModel
from app.shop import item_text
from app.vocabulary import Vocabulary

NEIGHBOURS_K = 50  # item-item neighbours kept for real-time re-scoring, similar items, reasons


def serving_model(
    model: Recommender,
    X: sp.csr_matrix,
    touched: sp.csr_matrix,
    users: Vocabulary,
    items: Vocabulary,
    catalog: list[Any],
    texts: list[str],
    *,
    cache_size: int,
    lap: Callable[[str], None],
) -> ServingModel:
    """The snapshot served from memory. ``X`` is the confidence matrix the model was fitted on,
    ``touched`` every (user, item) with any event (low ratings too), ``lap`` times each stage."""
    if isinstance(model, ItemKNN) and model.neighbours is not None:
        neighbours = model.neighbours
    else:
        neighbours = ItemKNN(k=NEIGHBOURS_K).fit(X).neighbours
    lap("neighbours")

    top_items, top_scores = recommend_all(model, touched, cache_size, exclude_seen=True)
    return assemble(
        X, users, items, catalog, texts, neighbours, top_items, top_scores, popularity_scores(X), lap=lap
    )


def assemble(
    X: sp.csr_matrix,
    users: Vocabulary,
    items: Vocabulary,
    catalog: list[Any],
    texts: list[str],
    neighbours: sp.csr_matrix,
    top_items: np.ndarray,
    top_scores: np.ndarray,
    popularity: np.ndarray,
    *,
    lap: Callable[[str], None],
) -> ServingModel:
    """The snapshot from what a model engine computed (the local one above, or the Spark job):
    every shopper's top-N (``top_items`` -1 padded, best first), the item neighbours and the
    popularity score of every item. Adds the reasons, the popularity order, the categories and
    the catalog's text features."""
    # A predicted preference <= 0 is no evidence: such slots are filled from popularity at serve time.
    top_items[~(top_scores > 0)] = -1
    top_because = explain_all(X, top_items, neighbours)
    lap("topn")

    # The fallback order is the popularity model's own: distinct shoppers, ties by confidence.
    popularity = popularity.astype(np.float32)
    popular = np.argsort(-popularity, kind="stable").astype(np.int32)
    popular = popular[popularity[popular] > 0]
    top = float(popularity[popular[0]]) if len(popular) else 1.0
    cat_names, cat_indptr, cat_items = category_popularity(catalog, items, popular)
    content = TfidfVectorizer()
    content_features = content.fit_transform(texts)
    lap("content")
    return ServingModel(
        meta=ModelMeta(),
        user_ids=users.ids,
        item_ids=items.ids,
        top_items=top_items,
        top_scores=np.where(top_items >= 0, top_scores, 0).astype(np.float32),
        top_because=top_because,
        seen=X,
        neighbours=neighbours.astype(np.float32),
        popular=popular,
        popular_scores=(popularity[popular] / top).astype(np.float32),
        category_names=cat_names,
        category_indptr=cat_indptr,
        category_items=cat_items,
        content=content,
        content_features=content_features,
    )


def item_texts(catalog: list[Any], items: Vocabulary) -> list[str]:
    """One text per item code (title, description, categories, tags); empty when unknown."""
    texts = [""] * len(items)
    for row in catalog:
        code = items.get(row.item_id)
        if code is not None:
            texts[code] = item_text(row._asdict())
    return texts


def category_popularity(
    catalog: list[Any], items: Vocabulary, popular: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per category, the model's items of that category in popularity order (a CSR layout)."""
    rank = np.full(len(items), np.iinfo(np.int32).max, dtype=np.int64)
    rank[popular] = np.arange(len(popular))
    pairs: list[tuple[str, int]] = []
    for row in catalog:
        code = items.get(row.item_id)
        if code is not None and rank[code] < len(popular):
            pairs.extend((c, code) for c in set(row.categories or ()))
    if not pairs:
        return [], np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32)
    names_arr = np.array([c for c, _ in pairs])
    codes = np.array([i for _, i in pairs], dtype=np.int32)
    names, cat = np.unique(names_arr, return_inverse=True)
    order = np.lexsort((rank[codes], cat))
    counts = np.bincount(cat, minlength=len(names))
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return names.tolist(), indptr, codes[order]
