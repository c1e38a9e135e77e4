"""Item-based k-nearest-neighbours (cosine with shrinkage), the service's always-built model.

    S[i, j] = (X[:, i] . X[:, j]) / (||X[:, i]|| * ||X[:, j]|| + shrinkage),   S[i, i] = 0

(Sarwar et al. 2001, cosine item similarity; shrinkage as in Koren 2008 damps similarities
supported by few users.) Only the ``k`` largest positive S[i, :] per item are kept: row ``i``
of :attr:`ItemKNN.neighbours` lists the neighbours of item ``i`` and a user's scores are
``row @ neighbours`` (Deshpande & Karypis 2004). The neighbours matrix also serves similar
items, real-time re-scoring and "because you viewed X" reasons (:func:`explain`).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from app.recommender.base import Recommender, as_index_array, as_interactions, finite_scores
from app.recommender.persist import pack_csr, unpack_csr
from app.recommender.topn import sparse_top_n

# Dense (block, n_items) float32 similarity slabs stay under this many bytes while the top-k
# neighbours are selected.
SIMILARITY_BLOCK_BYTES = 64 * 1024 * 1024


def column_norms(X: sp.csr_matrix) -> np.ndarray:
    """Euclidean norm of every column of X (float32)."""
    return np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel()).astype(np.float32)


def top_k_per_row(S_block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) of the ``k`` largest positive entries of each row of a dense block."""
    n_rows, n_cols = S_block.shape
    if k <= 0 or n_cols == 0 or n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    if k < n_cols:
        cols = np.argpartition(S_block, n_cols - k, axis=1)[:, n_cols - k:]
    else:
        cols = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    values = np.take_along_axis(S_block, cols, axis=1)
    rows = np.broadcast_to(np.arange(n_rows)[:, None], cols.shape)
    keep = values > 0
    return rows[keep], cols[keep], values[keep]


def cosine_neighbours(X: sp.csr_matrix, k: int, shrinkage: float) -> sp.csr_matrix:
    """The top-``k`` neighbours matrix of the module docstring, built in blocks of items."""
    n_items = X.shape[1]
    norms = column_norms(X)
    Xt = X.T.tocsr()
    block = max(1, SIMILARITY_BLOCK_BYTES // (4 * max(n_items, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        # The block's co-occurrences X[:, b]^T X, densified only for `block` items at a time.
        S = (Xt[start:stop] @ X).toarray()
        denom = norms[start:stop, None] * norms[None, :] + np.float32(shrinkage)
        np.divide(S, denom, out=S, where=denom > 0)
        S[np.arange(stop - start), np.arange(start, stop)] = 0.0
        r, c, v = top_k_per_row(S, k)
        rows.append(r + start)
        cols.append(c)
        vals.append(v)
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0, dtype=np.float32)
    neighbours = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n_items, n_items))
    neighbours.eliminate_zeros()
    neighbours.sort_indices()
    return neighbours


def explain(row: sp.csr_matrix, items: np.ndarray, neighbours: sp.csr_matrix) -> np.ndarray:
    """For each recommended item, the user's item that contributed most to its score (-1 if none).

    The contribution of the user's item ``i`` to item ``j`` is ``row[i] * neighbours[i, j]``,
    one term of the score ``row @ neighbours``.
    """
    row = sp.csr_matrix(row)
    items = np.asarray(items, dtype=np.int64).reshape(-1)
    result = np.full(items.size, -1, dtype=np.int64)
    valid = items >= 0
    if row.nnz == 0 or not valid.any():
        return result
    user_items, weights = row.indices, row.data
    contrib = neighbours[user_items][:, items[valid]].toarray() * weights[:, None]
    best = contrib.argmax(axis=0)
    has = contrib[best, np.arange(best.size)] > 0
    result[np.flatnonzero(valid)[has]] = user_items[best[has]]
    return result


class ItemKNN(Recommender):
    """Item-item cosine kNN; scores are ``row @ neighbours``."""

    name = "itemknn"

    def __init__(self, k: int = 100, shrinkage: float = 10.0) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        self.params: dict[str, Any] = {"k": int(k), "shrinkage": float(shrinkage)}
        self.X: sp.csr_matrix | None = None
        self.neighbours: sp.csr_matrix | None = None

    def fit(self, X: sp.csr_matrix) -> Self:
        self.X = as_interactions(X)
        self.n_users, self.n_items = self.X.shape
        self.neighbours = cosine_neighbours(self.X, self.params["k"], self.params["shrinkage"])
        return self

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        rows = as_interactions(rows, self.n_items, "rows")
        return finite_scores(rows @ self.neighbours)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest neighbours of each item (padded with -1 / -inf)."""
        items = as_index_array(items, self.n_items, "items")
        return sparse_top_n(self.neighbours[items], n)

    def explain(self, row: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        return explain(row, items, self.neighbours)

    def get_state(self) -> dict[str, np.ndarray]:
        return {**pack_csr("X", self.X), **pack_csr("neighbours", self.neighbours)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        model = cls(**params)
        model.X = unpack_csr("X", state)
        model.neighbours = unpack_csr("neighbours", state)
        model.n_users, model.n_items = model.X.shape
        return model
