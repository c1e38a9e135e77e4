"""PureSVD (Cremonesi et al. 2010): a truncated SVD of the interaction matrix.

    X ~ U Sigma V^T,   scores(row) = row V V^T

Intended for explicit ratings (and as a fast baseline); on implicit confidences ALS usually
ranks better. ``row V V^T`` needs no solve, so fold-in of a new row is exact and cheap.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from app.recommender.base import Recommender, as_index_array, as_interactions, finite_scores


def truncated_svd(X: sp.csr_matrix, factors: int, seed: int) -> np.ndarray:
    """The top-``factors`` right singular vectors of X as an (n_items, k) float32 matrix."""
    n_users, n_items = X.shape
    k = min(factors, n_users, n_items)
    if k == 0 or X.nnz == 0:
        return np.zeros((n_items, 0), dtype=np.float32)
    if k >= min(n_users, n_items) - 1:
        # ARPACK needs k < min(shape); a matrix this thin is small enough for a dense SVD.
        _, _, Vt = np.linalg.svd(X.toarray().astype(np.float64), full_matrices=False)
        return np.ascontiguousarray(Vt[:k].T, dtype=np.float32)
    # A fixed start vector makes ARPACK deterministic across runs.
    v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, min(n_users, n_items))
    _, _, Vt = svds(X.astype(np.float64), k=k, v0=v0, random_state=seed)
    return np.ascontiguousarray(Vt.T, dtype=np.float32)


class PureSVD(Recommender):
    """Truncated SVD; scores are the row projected onto the item factor space."""

    name = "svd"

    def __init__(self, factors: int = 64, seed: int = 0) -> None:
        if factors < 1:
            raise ValueError(f"factors must be >= 1, got {factors}")
        self.params: dict[str, Any] = {"factors": int(factors), "seed": int(seed)}
        self.V = np.zeros((0, 0), dtype=np.float32)
        self.user_factors = np.zeros((0, 0), dtype=np.float32)

    def fit(self, X: sp.csr_matrix) -> Self:
        X = as_interactions(X)
        self.n_users, self.n_items = X.shape
        self.V = truncated_svd(X, self.params["factors"], self.params["seed"])
        # X V = U Sigma, so training users need only these k numbers each, not their rows.
        self.user_factors = np.asarray(X @ self.V, dtype=np.float32).reshape(self.n_users, self.V.shape[1])
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        users = as_index_array(users, self.n_users)
        return finite_scores(self.user_factors[users] @ self.V.T)

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        rows = as_interactions(rows, self.n_items, "rows")
        projected = np.asarray(rows @ self.V).reshape(rows.shape[0], self.V.shape[1])
        return finite_scores(projected @ self.V.T)

    def get_state(self) -> dict[str, np.ndarray]:
        return {"V": self.V, "user_factors": self.user_factors}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        model = cls(**params)
        model.V = np.asarray(state["V"], dtype=np.float32)
        model.user_factors = np.asarray(state["user_factors"], dtype=np.float32)
        model.n_items = model.V.shape[0]
        model.n_users = model.user_factors.shape[0]
        return model
