"""Frequently bought together: association rules mined from baskets.

A basket is what one shopper (or session) put in the cart or bought within `gap` seconds of the
previous such event: a store's order, an online visit. Over the baskets, with n_i the baskets
holding item i, C_ij those holding both i and j, and N all baskets, a rule i -> j has

    confidence(i -> j) = C_ij / (n_i + shrinkage)        lift(i -> j) = C_ij * N / (n_i * n_j)

`fit_rules` keeps, per item, the `k` best rules with at least `min_count` co-occurrences, scored by
confidence (or lift, or cosine C_ij / sqrt(n_i n_j), for comparison: `benchmarks/baskets.py`). A
basket's completion is the sum over its items of their rules' scores (`rescore.neighbour_scores`),
so an item that goes with several of the basket's items ranks first, and the rule behind each
answer is its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from app.recommender.itemknn import sparse_top_k_per_row
from app.recommender.rescore import neighbour_scores, sum_by_index

Measure = Literal["confidence", "lift", "cosine"]
BASKET_GAP_SECONDS = 3600.0
MIN_COUNT = 2  # co-occurrences a rule needs: one shared basket is an anecdote
RULES_PER_ITEM = 50
SHRINKAGE = 5.0  # damps the confidence of rules from items in few baskets


def basket_ids(shoppers: np.ndarray, timestamps: np.ndarray, gap: float = BASKET_GAP_SECONDS) -> np.ndarray:
    """A basket number per event (0..n_baskets-1): a shopper's events, in time order, start a new
    basket after a pause longer than `gap` seconds."""
    n = len(shoppers)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((timestamps, shoppers))
    s, t = shoppers[order], timestamps[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = (s[1:] != s[:-1]) | (np.diff(t) > gap)
    ids = np.empty(n, dtype=np.int64)
    ids[order] = np.cumsum(starts) - 1
    return ids


def basket_matrix(baskets: np.ndarray, items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Binary (n_baskets, n_items) CSR: B[b, i] = 1 when item i is in basket b."""
    n_baskets = int(baskets.max()) + 1 if len(baskets) else 0
    B = sp.csr_matrix((np.ones(len(items), dtype=np.float32), (baskets, items)), shape=(n_baskets, n_items))
    B.sum_duplicates()
    B.data[:] = 1.0
    return B


def fit_rules(
    B: sp.csr_matrix,
    *,
    measure: Measure = "confidence",
    k: int = RULES_PER_ITEM,
    min_count: int = MIN_COUNT,
    shrinkage: float = SHRINKAGE,
) -> sp.csr_matrix:
    """(n_items, n_items) float32 CSR: row i holds the best `k` rules i -> j (score > 0)."""
    n_baskets, n_items = B.shape
    B = B[np.diff(B.indptr) >= 2]  # a basket of one item pairs with nothing
    if B.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    C = (B.T @ B).tocsr()
    C.setdiag(0)
    C.data[C.data < min_count] = 0
    C.eliminate_zeros()
    support = np.bincount(B.indices, minlength=n_items).astype(np.float64)  # n_i over multi-item baskets
    coo = C.tocoo()
    rows, cols, counts = coo.row, coo.col, coo.data.astype(np.float64)
    if measure == "confidence":
        scores = counts / (support[rows] + shrinkage)
    elif measure == "lift":
        scores = counts * B.shape[0] / (support[rows] * support[cols])
    elif measure == "cosine":
        scores = counts / np.sqrt(support[rows] * support[cols])
    else:
        raise ValueError(f"unknown measure {measure!r}")
    order = np.lexsort((cols, rows))
    rows, cols, scores = rows[order], cols[order], scores[order].astype(np.float32)
    keep = sparse_top_k_per_row(rows, cols, scores, n_items, k)
    return sp.csr_matrix((scores[keep], (rows[keep], cols[keep])), shape=(n_items, n_items), dtype=np.float32)


PRIOR_ITEMS = 100  # the most frequent items carry the prior (the rest of the catalog adds ~nothing)


@dataclass(frozen=True)
class BasketModel:
    """Rules with a prior: the confidence of i -> j shrunk toward j's base rate p_j = n_j / N,

        score(j | basket) = sum over i in the basket of (C_ij + a * p_j) / (n_i + a)

    so that a rule seen in a couple of baskets does not outrank a staple every other basket holds,
    and an item in no multi-item basket yet still gets the staples (a / (0 + a) = 1)."""

    rules: sp.csr_matrix  # (n_items, n_items) float32: C_ij / (n_i + a), the best k per row
    support: np.ndarray  # float64 (n_items,): n_i, baskets of two or more items holding i
    prior_items: np.ndarray  # int64: the most frequent items, most frequent first
    prior_rates: np.ndarray  # float64: their p_j
    shrinkage: float

    @classmethod
    def fit(
        cls,
        B: sp.csr_matrix,
        *,
        shrinkage: float = SHRINKAGE,
        k: int = RULES_PER_ITEM,
        min_count: int = MIN_COUNT,
    ) -> BasketModel:
        multi = B[np.diff(B.indptr) >= 2]
        support = np.bincount(multi.indices, minlength=B.shape[1]).astype(np.float64)
        prior_items = np.argsort(-support, kind="stable")[:PRIOR_ITEMS]
        prior_items = prior_items[support[prior_items] > 0].astype(np.int64)
        rates = support[prior_items] / max(multi.shape[0], 1)
        rules = fit_rules(B, measure="confidence", k=k, min_count=min_count, shrinkage=shrinkage)
        return cls(rules, support, prior_items, rates, shrinkage)

    @classmethod
    def empty(cls, n_items: int = 0) -> BasketModel:
        return cls(
            sp.csr_matrix((n_items, n_items), dtype=np.float32),
            np.zeros(n_items),
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            SHRINKAGE,
        )

    def get_state(self) -> dict[str, np.ndarray]:
        """Plain arrays (the rules as CSR parts), for the model artifact."""
        return {
            "data": self.rules.data,
            "indices": self.rules.indices,
            "indptr": self.rules.indptr,
            "support": self.support.astype(np.float32),
            "prior_items": self.prior_items,
            "prior_rates": self.prior_rates,
            "shrinkage": np.array([self.shrinkage]),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> BasketModel:
        n = len(state["support"])
        rules = sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=(n, n))
        return cls(
            rules,
            state["support"].astype(np.float64),
            state["prior_items"].astype(np.int64),
            state["prior_rates"].astype(np.float64),
            float(state["shrinkage"][0]),
        )

    def complete(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As `complete`, with the prior: items best first, scores, the basket item behind each
        rule (-1 where the prior alone put the item there)."""
        basket = np.unique(np.asarray(basket, dtype=np.int64))
        if len(basket) == 0 or basket[-1] >= self.rules.shape[0]:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0), empty
        columns, scores, because = neighbour_scores(self.rules, basket, np.ones(len(basket)))
        a = self.shrinkage
        weight = float(np.sum(a / (self.support[basket] + a)))
        items = np.concatenate([columns, self.prior_items])
        values = np.concatenate([scores, self.prior_rates * weight])
        merged, total, where = sum_by_index(items, values)
        reasons = np.full(len(merged), -1, dtype=np.int64)
        reasons[where[: len(columns)]] = because
        keep = (total > 0) & ~np.isin(merged, basket)
        merged, total, reasons = merged[keep], total[keep], reasons[keep]
        order = np.argsort(-total, kind="stable")
        return merged[order], total[order], reasons[order]


def complete(rules: sp.csr_matrix, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items that complete the basket (item indices), best first, with their scores and the basket
    item behind each; never the basket's own items."""
    basket = np.unique(np.asarray(basket, dtype=np.int64))
    if len(basket) == 0 or rules.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), empty
    columns, scores, because = neighbour_scores(rules, basket, np.ones(len(basket)))
    keep = (scores > 0) & ~np.isin(columns, basket)
    columns, scores, because = columns[keep], scores[keep], because[keep]
    order = np.argsort(-scores, kind="stable")
    return columns[order], scores[order], because[order]
