"""The serving model: an immutable snapshot of one built model version, swapped atomically.

A request reads `runtime.model` once and uses only that object, so it sees the old version or the
new one, never a mix. Built by `building/precompute.py`, stored as plain arrays (npz, no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import scipy.sparse as sp

from app.recommender.baskets import BasketModel
from app.recommender.content import TfidfVectorizer
from app.recommender.itemknn import explain_all
from app.recommender.persist import (
    dumps,
    loads,
    pack_csr,
    pack_strings,
    strip_prefix,
    unpack_csr,
    unpack_strings,
    with_prefix,
)


@dataclass(frozen=True)
class ModelMeta:
    version: int | None = None
    algorithm: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    built_at: datetime | None = None
    build_seconds: float | None = None
    n_events: int = 0
    last_event_id: int = 0
    last_erasure_id: int = 0  # erasures up to this one are not in the model


@dataclass(frozen=True)
class ServingModel:
    meta: ModelMeta
    user_ids: list[str]
    item_ids: list[str]
    top_items: np.ndarray  # int32 (n_users, N), -1 padded, build-time seen items excluded
    top_scores: np.ndarray  # float32 (n_users, N)
    top_because: np.ndarray  # int32 (n_users, N): the history item behind each cached item, or -1
    seen: sp.csr_matrix  # (n_users, n_items) confidence of what each user touched
    neighbours: sp.csr_matrix  # (n_items, n_items) item-item similarities kept per item
    popular: np.ndarray  # int32 item indices, most popular first
    popular_scores: np.ndarray  # float32, normalised to (0, 1]
    category_names: list[str]
    category_indptr: np.ndarray  # int64 (n_categories + 1,): slices of category_items
    category_items: np.ndarray  # int32 item indices, most popular first within each category
    content: TfidfVectorizer = field(default_factory=TfidfVectorizer)  # fitted on the items' texts
    content_features: sp.csr_matrix = field(
        default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32)
    )  # (n_items, n_terms) TF-IDF rows, L2-normalised
    baskets: BasketModel = field(default_factory=BasketModel.empty)  # frequently bought together
    purchased: sp.csr_matrix = field(
        default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32)
    )  # (n_users, n_items): 1 where the shopper bought the item
    user_index: dict[str, int] = field(init=False, repr=False)
    item_index: dict[str, int] = field(init=False, repr=False)
    category_index: dict[str, int] = field(init=False, repr=False)
    popularity: np.ndarray = field(init=False, repr=False)  # float32 per item index, 0 if unseen

    def __post_init__(self) -> None:
        popularity = np.zeros(len(self.item_ids), dtype=np.float32)
        popularity[self.popular] = self.popular_scores
        object.__setattr__(self, "popularity", popularity)
        object.__setattr__(self, "user_index", {u: i for i, u in enumerate(self.user_ids)})
        object.__setattr__(self, "item_index", {t: i for i, t in enumerate(self.item_ids)})
        object.__setattr__(self, "category_index", {c: i for i, c in enumerate(self.category_names)})

    @property
    def version(self) -> int | None:
        return self.meta.version

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def popular_in(self, category: str | None) -> np.ndarray:
        if category is None:
            return self.popular
        c = self.category_index.get(category)
        if c is None:
            return self.popular[:0]
        return self.category_items[self.category_indptr[c] : self.category_indptr[c + 1]]

    @classmethod
    def empty(cls) -> ServingModel:
        return cls(
            meta=ModelMeta(),
            user_ids=[],
            item_ids=[],
            top_items=np.empty((0, 0), dtype=np.int32),
            top_scores=np.empty((0, 0), dtype=np.float32),
            top_because=np.empty((0, 0), dtype=np.int32),
            seen=sp.csr_matrix((0, 0), dtype=np.float32),
            neighbours=sp.csr_matrix((0, 0), dtype=np.float32),
            popular=np.empty(0, dtype=np.int32),
            popular_scores=np.empty(0, dtype=np.float32),
            category_names=[],
            category_indptr=np.zeros(1, dtype=np.int64),
            category_items=np.empty(0, dtype=np.int32),
        )

    def to_bytes(self) -> bytes:
        state: dict[str, np.ndarray] = {
            "user_ids": pack_strings(self.user_ids),
            "item_ids": pack_strings(self.item_ids),
            "top_items": self.top_items,
            "top_scores": self.top_scores,
            "top_because": self.top_because,
            "popular": self.popular,
            "popular_scores": self.popular_scores,
            "category_names": pack_strings(self.category_names),
            "category_indptr": self.category_indptr,
            "category_items": self.category_items,
        }
        state.update(with_prefix("content", self.content.get_state()))
        state.update(pack_csr("content_features", self.content_features))
        state.update(pack_csr("seen", self.seen))
        state.update(pack_csr("neighbours", self.neighbours))
        state.update(with_prefix("baskets", self.baskets.get_state()))
        state.update(pack_csr("purchased", self.purchased))
        return dumps(state)

    @classmethod
    def from_bytes(cls, blob: bytes, meta: ModelMeta) -> ServingModel:
        s = loads(blob)
        seen, neighbours = unpack_csr("seen", s), unpack_csr("neighbours", s)
        return cls(
            meta=meta,
            user_ids=unpack_strings(s["user_ids"]),
            item_ids=unpack_strings(s["item_ids"]),
            top_items=s["top_items"],
            top_scores=s["top_scores"],
            # Versions stored before reasons were cached get theirs worked out once, here.
            top_because=s["top_because"]
            if "top_because" in s
            else explain_all(seen, s["top_items"], neighbours),
            seen=seen,
            neighbours=neighbours,
            popular=s["popular"],
            popular_scores=s["popular_scores"],
            category_names=unpack_strings(s["category_names"]),
            category_indptr=s["category_indptr"],
            category_items=s["category_items"],
            # Versions stored before content features existed have none: similar items then
            # fall back to popular items of the category for items without neighbours.
            content=TfidfVectorizer.from_state(strip_prefix("content", s))
            if "content.terms" in s
            else TfidfVectorizer(),
            content_features=unpack_csr("content_features", s)
            if "content_features.data" in s
            else sp.csr_matrix((0, 0), dtype=np.float32),
            # Versions stored before baskets were mined have none until the next rebuild.
            baskets=BasketModel.from_state(strip_prefix("baskets", s))
            if "baskets.support" in s
            else BasketModel.empty(),
            purchased=unpack_csr("purchased", s)
            if "purchased.data" in s
            else sp.csr_matrix((0, 0), dtype=np.float32),
        )
