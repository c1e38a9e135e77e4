"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"), closed form, on the head of the catalog.

    P = (X^T X + l2 I)^-1,   B = I - P diag(1 / diag(P)),   scores(row) = row B

B is a dense (m, m) float32 matrix, so memory grows with m^2 and time with m^3. The model keeps
the ``max_items`` items touched by the most shoppers (m <= max_items) and fits B on them only;
every other item scores strictly below the kept ones of the same row, in popularity order. So it
runs on any catalog, and the long tail, which rarely makes a top-10, costs nothing.
Measured with 2 threads on the 2-core build machine (Cholesky inverse, float32): see ``DEFAULT_PARAMS``
in the registry for the limit that keeps a rebuild within 60 s and 2 GB.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from app.recommender.base import Recommender, as_interactions, finite_scores
from app.recommender.persist import pack_csr, unpack_csr
from app.recommender.popularity import popularity_scores

# Rows of P mirrored per step: bounds the temporary of the triangle copy.
_MIRROR_BLOCK = 1024


def ease_weights(X: sp.csr_matrix, l2: float) -> np.ndarray:
    """B of the module docstring over all columns of X (float32, zero diagonal)."""
    n_items = X.shape[1]
    if n_items == 0:
        return np.zeros((0, 0), dtype=np.float32)
    # X^T X + l2 I is symmetric, so its C-ordered array is also its Fortran-ordered transpose:
    # passing .T lets LAPACK work in place instead of copying n^2 floats.
    G = (X.T @ X).toarray().astype(np.float32, copy=False)
    G[np.diag_indices(n_items)] += np.float32(l2)
    # Positive definite: Cholesky inverse (potrf/potri) costs half of a general inverse.
    c, info = lapack.spotrf(G.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"X^T X + l2 I is not positive definite (potrf info={info})")
    del G
    P, info = lapack.spotri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (potri info={info})")
    del c
    # potri fills the upper triangle only; mirror it block by block (an index array of the whole
    # triangle would take more memory than P itself).
    for start in range(0, n_items, _MIRROR_BLOCK):
        stop = min(start + _MIRROR_BLOCK, n_items)
        P[start:stop, :start] = P[:start, start:stop].T
        block = P[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
    B: np.ndarray = P
    B /= -np.diag(P)[None, :]
    B[np.diag_indices(n_items)] = 0.0
    return B


def head_items(X: sp.csr_matrix, max_items: int) -> np.ndarray:
    """Sorted codes of the ``max_items`` items touched by the most users (ties: lower code)."""
    pop = popularity_scores(X)
    order = np.argsort(-pop, kind="stable")[:max_items]
    return np.sort(order[pop[order] > 0]).astype(np.int64)


class EASE(Recommender):
    """Dense item-item weights from a ridge regression of each head item on the other head items."""

    name = "ease"

    def __init__(self, l2: float = 200.0, max_items: int = 12000) -> None:
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.params: dict[str, Any] = {"l2": float(l2), "max_items": int(max_items)}
        self.X: sp.csr_matrix | None = None
        self.B = np.zeros((0, 0), dtype=np.float32)
        self.items = np.zeros(0, dtype=np.int64)  # the head items B is over, sorted codes
        self.tail_order = np.zeros(0, dtype=np.float32)  # in [0, 1): popularity rank of the rest

    def fit(self, X: sp.csr_matrix) -> Self:
        X = as_interactions(X)
        self.X = X
        self.n_users, self.n_items = X.shape
        self.items = head_items(X, self.params["max_items"])
        # C order: scipy's sparse @ dense ravels B, which copies all of it when B is not C-contiguous.
        self.B = np.ascontiguousarray(ease_weights(X[:, self.items], self.params["l2"]))
        pop = popularity_scores(X)
        rank = np.empty(self.n_items, dtype=np.float64)
        rank[np.argsort(-pop, kind="stable")] = np.arange(self.n_items)
        self.tail_order = (rank / max(self.n_items, 1)).astype(np.float32)
        return self

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        rows = as_interactions(rows, self.n_items, "rows")
        # rows @ P with P the (n_items, n_head) 0/1 column selector: far faster than rows[:, items].
        P = sp.csr_matrix(
            (np.ones(self.items.size, np.float32), (self.items, np.arange(self.items.size))),
            shape=(self.n_items, self.items.size),
        )
        head = finite_scores((rows @ P) @ self.B)
        if self.items.size == self.n_items:
            return head
        # The tail sits just below the row's lowest head score, most popular first; the gap is a
        # thousandth of the row's span so a per-row normalisation (hybrid) barely notices it.
        if head.shape[1]:
            lo = head.min(axis=1, keepdims=True)
            span = head.max(axis=1, keepdims=True) - lo
        else:
            lo = np.zeros((head.shape[0], 1), np.float32)
            span = np.zeros_like(lo)
        gap = np.where(span > 0, span, np.float32(1.0)) * np.float32(1e-3)
        scores = lo - gap * (np.float32(1.0) + self.tail_order[None, :])
        scores[:, self.items] = head
        out: np.ndarray = scores.astype(np.float32, copy=False)
        return out

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            **pack_csr("X", self.X), "B": self.B, "items": self.items, "tail_order": self.tail_order,
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        model = cls(**params)
        model.X = unpack_csr("X", state)
        model.B = np.ascontiguousarray(state["B"], dtype=np.float32)
        model.n_users, model.n_items = model.X.shape
        model.items = np.asarray(state["items"], dtype=np.int64)
        model.tail_order = np.asarray(state["tail_order"], dtype=np.float32)
        return model
