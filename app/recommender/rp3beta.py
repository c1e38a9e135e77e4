"""RP3beta (Paudel et al. 2017; Christoffel et al. 2015): item similarity from a three-step random walk.

    P_ui = X / rowsum(X)          a shopper's step to an item they touched
    P_iu = X^T / colsum(X)        an item's step to a shopper who touched it
    W    = (P_iu ** alpha) @ (P_ui ** alpha)  / pop ** beta      (per destination column)

``W[i, j]`` is the probability of walking item -> shopper -> item from ``i`` to ``j``, each step
raised to ``alpha``, divided by the popularity of ``j`` (distinct shoppers) to the power ``beta`` so
the walk does not end on the same best-sellers for everyone.  ``W[i, i] = 0`` and only the ``k``
largest entries per row are kept; a shopper's scores are ``row @ W``, like item-kNN's, with the same
popularity tie-break.  Dacrema et al. (2019) found it among the strongest simple baselines.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from app.recommender.base import Recommender, as_index_array, as_interactions, finite_scores
from app.recommender.itemknn import SIMILARITY_BLOCK_ITEMS, popularity_tie_break, sparse_top_k_per_row
from app.recommender.persist import pack_csr, unpack_csr
from app.recommender.topn import sparse_top_n


def _row_stochastic(M: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """Each row divided by its sum, then every entry raised to ``alpha``."""
    M = sp.csr_matrix(M, dtype=np.float32, copy=True)
    sums = np.asarray(M.sum(axis=1)).ravel()
    M.data /= np.repeat(np.where(sums > 0, sums, 1.0), np.diff(M.indptr)).astype(np.float32)
    if alpha != 1.0:
        M.data **= np.float32(alpha)
    return M


def rp3beta_weights(X: sp.csr_matrix, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """W of the module docstring, top-``k`` per row, built in blocks of items."""
    n_items = X.shape[1]
    X = sp.csr_matrix(X)
    X.eliminate_zeros()
    P_ui = _row_stochastic(X, alpha)
    P_iu = _row_stochastic(X.T.tocsr(), alpha)
    pop = np.bincount(X.indices, minlength=n_items).astype(np.float64)  # distinct shoppers
    damp = np.where(pop > 0, pop, 1.0) ** -beta
    parts = []
    for start in range(0, n_items, SIMILARITY_BLOCK_ITEMS):
        stop = min(start + SIMILARITY_BLOCK_ITEMS, n_items)
        W = (P_iu[start:stop] @ P_ui).tocsr()
        W.sort_indices()
        rows = np.repeat(np.arange(stop - start), np.diff(W.indptr))
        cols = W.indices
        values = (W.data * damp[cols]).astype(np.float32)
        valid = (values > 0) & (cols != rows + start)
        rows, cols, values = rows[valid], cols[valid], values[valid]
        keep = sparse_top_k_per_row(rows, cols, values, n_items, k)
        parts.append((rows[keep] + start, cols[keep], values[keep]))
    if parts:
        r, c, v = (np.concatenate(p) for p in zip(*parts, strict=True))
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0, dtype=np.float32)
    W = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n_items, n_items))
    W.sort_indices()
    return W


class RP3beta(Recommender):
    """Random-walk item graph; scores are ``row @ W``."""

    name = "rp3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, k: int = 200) -> None:
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.params: dict[str, Any] = {"alpha": float(alpha), "beta": float(beta), "k": int(k)}
        self.X: sp.csr_matrix | None = None
        self.W: sp.csr_matrix | None = None
        self.tie_break = np.zeros(0, dtype=np.float32)

    def fit(self, X: sp.csr_matrix) -> Self:
        self.X = as_interactions(X)
        self.n_users, self.n_items = self.X.shape
        p = self.params
        self.W = rp3beta_weights(self.X, p["alpha"], p["beta"], p["k"])
        self.tie_break = popularity_tie_break(self.X)
        return self

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        rows = as_interactions(rows, self.n_items, "rows")
        scores = finite_scores(rows @ self.W)
        if self.tie_break.size == scores.shape[1]:
            scores += self.tie_break
        return scores

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items a walk from each item most likely ends on (padded with -1 / -inf)."""
        items = as_index_array(items, self.n_items, "items")
        assert self.W is not None, "fit the model first"
        return sparse_top_n(self.W[items], n)

    def get_state(self) -> dict[str, np.ndarray]:
        return {**pack_csr("X", self.X), **pack_csr("W", self.W), "tie_break": self.tie_break}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        model = cls(**params)
        model.X = unpack_csr("X", state)
        model.W = unpack_csr("W", state)
        model.n_users, model.n_items = model.X.shape
        model.tie_break = np.asarray(state["tie_break"], dtype=np.float32)
        return model
