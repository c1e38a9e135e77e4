"""The benchmarks' synthetic shop: Zipf-ish item popularity, Pareto shopper activity, taste clusters."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.shop import EVENT_TYPES  # noqa: E402

TYPES = EVENT_TYPES  # a synthetic event's type code is its index here, as in the service


@dataclass
class Shop:
    user_ids: np.ndarray  # str per event
    item_ids: np.ndarray  # str per event
    types: np.ndarray  # int8 index into TYPES
    values: np.ndarray  # float32
    timestamps: np.ndarray  # float64 epoch seconds
    n_users: int
    n_items: int
    n_categories: int

    def __len__(self) -> int:
        return len(self.types)


def synthetic_shop(n_events: int, n_users: int, n_items: int, *, clusters: int = 50, seed: int = 42) -> Shop:
    """Shop-like events: Zipf-ish item popularity (a long tail), Pareto user activity, and taste
    clusters (80 % of a user's events inside their cluster's items)."""
    rng = np.random.default_rng(seed)
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.9
    item_weight = item_weight[rng.permutation(n_items)]
    item_cluster = rng.integers(0, clusters, n_items)
    # Per-cluster CDFs laid end to end on [c, c + 1): one searchsorted samples every event.
    order = np.argsort(item_cluster, kind="stable")
    w = item_weight[order]
    cluster_sorted = item_cluster[order]
    totals = np.bincount(cluster_sorted, weights=w, minlength=clusters)
    t = np.maximum(totals[cluster_sorted], 1e-12)
    cdf = cluster_sorted + (np.cumsum(w) - np.cumsum(totals)[cluster_sorted] + t) / t
    global_cdf = np.cumsum(item_weight) / item_weight.sum()

    user_weight = rng.pareto(1.5, n_users) + 1.0
    # Every user gets at least one event, the rest follow the activity weights.
    users = np.concatenate(
        [
            rng.permutation(n_users),
            rng.choice(n_users, max(n_events - n_users, 0), p=user_weight / user_weight.sum()),
        ]
    )[:n_events]
    user_cluster = rng.integers(0, clusters, n_users)
    in_cluster = rng.random(n_events) < 0.8
    items = np.minimum(np.searchsorted(global_cdf, rng.random(n_events)), n_items - 1)
    c = user_cluster[users[in_cluster]]
    pos = np.minimum(np.searchsorted(cdf, c + rng.random(c.size)), n_items - 1)
    items[in_cluster] = order[pos]
    types = rng.choice(4, n_events, p=[0.80, 0.12, 0.05, 0.03]).astype(np.int8)
    values = np.where(types == 3, rng.integers(1, 6, n_events), 1).astype(np.float32)
    timestamps = np.sort(1.7e9 + rng.uniform(0, 180 * 86400, n_events))
    return Shop(
        user_ids=user_id(users),
        item_ids=item_id(items),
        types=types,
        values=values,
        timestamps=timestamps,
        n_users=n_users,
        n_items=n_items,
        n_categories=12,
    )


def user_id(codes: np.ndarray) -> np.ndarray:
    return np.char.add("u-", codes.astype(str))


def item_id(codes: np.ndarray) -> np.ndarray:
    return np.char.add("sku-", codes.astype(str))


def category_of(code: int, n_categories: int) -> str:
    return f"cat-{code % n_categories:02d}"
