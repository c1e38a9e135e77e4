"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"), closed form.

    P = (X^T X + l2 I)^-1,   B = I - P diag(1 / diag(P)),   scores(row) = row B

B is a dense (n_items, n_items) float32 matrix, so memory grows with n_items^2 and time with
n_items^3: the model refuses catalogues larger than ``max_items``. Measured on 2 idle cores:
5,000 items 0.9 s; by the n^3 / n^2 laws 12,000 items is ~15 s and 0.6 GB per float32 copy
of B, while 20,000 items (~60 s, 1.6 GB per copy) would break the 60 s / 2 GB rebuild budget.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from app.recommender.base import Recommender, as_interactions, finite_scores
from app.recommender.persist import pack_csr, unpack_csr


def ease_weights(X: sp.csr_matrix, l2: float) -> np.ndarray:
    """B of the module docstring (float32, zero diagonal)."""
    n_items = X.shape[1]
    if n_items == 0:
        return np.zeros((0, 0), dtype=np.float32)
    G = (X.T @ X).toarray().astype(np.float32)
    G[np.diag_indices(n_items)] += np.float32(l2)
    # X^T X + l2 I is symmetric positive definite: Cholesky inverse (potrf/potri) costs half of
    # a general inverse and works in place on float32.
    c, info = lapack.spotrf(G, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"X^T X + l2 I is not positive definite (potrf info={info})")
    P, info = lapack.spotri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (potri info={info})")
    # potri fills the upper triangle only; mirror it.
    lower = np.tril_indices(n_items, -1)
    P[lower] = P.T[lower]
    B = P
    B /= -np.diag(P)[None, :]
    B[np.diag_indices(n_items)] = 0.0
    return B


class EASE(Recommender):
    """Dense item-item weights from a ridge regression of each item on all the others."""

    name = "ease"

    def __init__(self, l2: float = 200.0, max_items: int = 12000) -> None:
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        self.params: dict[str, Any] = {"l2": float(l2), "max_items": int(max_items)}
        self.X: sp.csr_matrix | None = None
        self.B = np.zeros((0, 0), dtype=np.float32)

    def fit(self, X: sp.csr_matrix) -> Self:
        X = as_interactions(X)
        if X.shape[1] > self.params["max_items"]:
            raise ValueError(
                f"EASE needs a dense {X.shape[1]}x{X.shape[1]} matrix; n_items={X.shape[1]} "
                f"exceeds max_items={self.params['max_items']}. Use itemknn or als instead."
            )
        self.X = X
        self.n_users, self.n_items = X.shape
        self.B = ease_weights(X, self.params["l2"])
        return self

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        rows = as_interactions(rows, self.n_items, "rows")
        return finite_scores(rows @ self.B)

    def get_state(self) -> dict[str, np.ndarray]:
        return {**pack_csr("X", self.X), "B": self.B}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        model = cls(**params)
        model.X = unpack_csr("X", state)
        model.B = np.asarray(state["B"], dtype=np.float32)
        model.n_users, model.n_items = model.X.shape
        return model
