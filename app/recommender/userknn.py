"""User-based k-nearest-neighbours (cosine), scored on demand in blocks of users.

    S[u, v]     = sum_i A[u, i] * A[v, i] / (||A[u]|| * ||A[v]||)      (0 when a norm is 0)
    A_hat[u, i] = sum_{v in N_K(u)} S[u, v] * A[v, i]

(Resnick et al. 1994 / Herlocker et al. 1999, without mean-centering since A is implicit
confidence.) ``N_K(u)`` are the ``k`` users most similar to ``u``, ``u`` itself excluded.
Neighbourhoods are not precomputed: a block of users' similarities to all training users is a
sparse product, so scoring training users and brand-new rows are the same code.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from app.recommender.base import (
    Recommender,
    as_index_array,
    as_interactions,
    finite_scores,
)
from app.recommender.itemknn import sparse_top_k_per_row
from app.recommender.persist import pack_csr, unpack_csr

# Users scored per block (bounds the block's sparse similarity entries).
SIMILARITY_BLOCK_USERS = 512


def row_normalize(A: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ A, dtype=np.float32)


class UserKNN(Recommender):
    """Scores are the similarity-weighted sum of the ``k`` nearest users' rows."""

    name = "userknn"

    def __init__(self, k: int = 50) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.params: dict[str, Any] = {"k": int(k)}
        self.X: sp.csr_matrix | None = None
        self._A_norm_T: sp.csr_matrix | None = None

    def fit(self, X: sp.csr_matrix) -> Self:
        self.X = as_interactions(X)
        self.n_users, self.n_items = self.X.shape
        # Transposed once so each block's similarities are one csr @ csr product.
        self._A_norm_T = row_normalize(self.X).T.tocsr()
        return self

    def _scores(self, rows: sp.csr_matrix, self_index: np.ndarray | None) -> np.ndarray:
        b = rows.shape[0]
        out = np.zeros((b, self.n_items), dtype=np.float32)
        if b == 0 or self.n_users == 0 or self.n_items == 0:
            return out
        rows_norm = row_normalize(rows)
        block = SIMILARITY_BLOCK_USERS
        for start in range(0, b, block):
            stop = min(start + block, b)
            # Kept sparse: a dense (block, n_users) slab full of equal zeros makes
            # argpartition crawl; the packed-key sort of ItemKNN does not care.
            S = (rows_norm[start:stop] @ self._A_norm_T).tocsr()
            S.sort_indices()
            r = np.repeat(np.arange(stop - start), np.diff(S.indptr))
            v_idx, s = S.indices, S.data.astype(np.float32)
            valid = s > 0
            if self_index is not None:
                valid &= v_idx != self_index[start:stop][r]
            r, v_idx, s = r[valid], v_idx[valid], s[valid]
            keep = sparse_top_k_per_row(r, v_idx, s, self.n_users, self.params["k"])
            S_k = sp.csr_matrix(
                (s[keep], (r[keep], v_idx[keep])), shape=(stop - start, self.n_users)
            )
            out[start:stop] = (S_k @ self.X).toarray()
        return finite_scores(out)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        users = as_index_array(users, self.n_users)
        assert self.X is not None, "fit the model first"
        return self._scores(self.X[users], self_index=users)

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return self._scores(as_interactions(rows, self.n_items, "rows"), self_index=None)

    def get_state(self) -> dict[str, np.ndarray]:
        return pack_csr("X", self.X)

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        return cls(**params).fit(unpack_csr("X", state))
