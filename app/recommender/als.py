"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren, Volinsky 2008).

Training is delegated to ``implicit.cpu.als.AlternatingLeastSquares`` (conjugate-gradient
solver, multithreaded native code). A numpy CG ALS was not built: numpy cannot run the
per-user CG steps without a Python loop over users or padded batches, and implicit already
fits the benchmark in seconds (benchmarks/rebuild_models.py).
With implicit's convention ``C[u, i] = alpha * X[u, i]`` and
``p[u, i] = 1`` where ``X[u, i] > 0``, the user factor of a row solves

    (Y^T Y + Y^T (C_u - I) Y + regularization I) x_u = Y^T C_u p_u

which is what :meth:`ALS.score_rows` does for a new row (fold-in), exactly and batched.
Scores are ``x_u Y^T``.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from app.recommender.base import Recommender, as_index_array, as_interactions, finite_scores
from app.recommender.topn import top_n

# Rows folded in per batched solve: bounds the (unique items, f, f) outer-product stack.
FOLD_IN_ROWS = 256


def fold_in(
    rows: sp.csr_matrix, Y: np.ndarray, regularization: float, alpha: float
) -> np.ndarray:
    """User factors x_u for arbitrary rows, solving the module docstring's normal equations.

    ``c - 1`` is clipped at 0 (confidences below 1 would make the system indefinite).
    """
    b_rows, f = rows.shape[0], Y.shape[1]
    out = np.zeros((b_rows, f), dtype=np.float32)
    if b_rows == 0 or f == 0 or rows.nnz == 0:
        return out
    Y64 = Y.astype(np.float64)
    base = Y64.T @ Y64 + regularization * np.eye(f)
    for start in range(0, b_rows, FOLD_IN_ROWS):
        chunk = rows[start:start + FOLD_IN_ROWS]
        if chunk.nnz == 0:
            continue
        items = np.unique(chunk.indices)
        Cu = chunk[:, items].astype(np.float64) * alpha
        Y_u = Y64[items]
        # sum_i (c_ui - 1) y_i y_i^T for every row at once: a sparse (b, |items|) times the
        # stack of outer products flattened to (|items|, f*f).
        outer = np.einsum("if,ig->ifg", Y_u, Y_u).reshape(items.size, f * f)
        Cm1 = Cu.copy()
        Cm1.data = np.maximum(Cm1.data - 1.0, 0.0)
        A = (Cm1 @ outer).reshape(-1, f, f) + base
        b = Cu @ Y_u
        out[start:start + chunk.shape[0]] = np.linalg.solve(A, b[..., None])[..., 0]
    return out


def normalized(M: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(M, norms, out=np.zeros_like(M), where=norms > 0)
    return unit


class ALS(Recommender):
    """Weighted matrix factorisation trained by ``implicit``; exact batched fold-in."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        iterations: int = 15,
        alpha: float = 10.0,
        seed: int = 0,
        num_threads: int = 0,
    ) -> None:
        if factors < 1 or iterations < 0 or regularization < 0 or alpha <= 0:
            raise ValueError(
                "ALS needs factors >= 1, iterations >= 0, regularization >= 0 and alpha > 0"
            )
        self.params: dict[str, Any] = {
            "factors": int(factors),
            "regularization": float(regularization),
            "iterations": int(iterations),
            "alpha": float(alpha),
            "seed": int(seed),
            "num_threads": int(num_threads),
        }
        self.user_factors = np.zeros((0, factors), dtype=np.float32)
        self.item_factors = np.zeros((0, factors), dtype=np.float32)

    def fit(self, X: sp.csr_matrix) -> Self:
        from implicit.cpu.als import AlternatingLeastSquares

        X = as_interactions(X)
        self.n_users, self.n_items = X.shape
        f = self.params["factors"]
        if X.nnz == 0:
            # Nothing to factorise (implicit would divide by zero): all-zero factors score 0.
            self.user_factors = np.zeros((self.n_users, f), dtype=np.float32)
            self.item_factors = np.zeros((self.n_items, f), dtype=np.float32)
            return self
        # implicit parallelises over users itself; a multithreaded BLAS underneath it
        # oversubscribes the cores and is much slower (implicit checks, and warns, at __init__).
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=f,
                regularization=self.params["regularization"],
                alpha=self.params["alpha"],
                iterations=self.params["iterations"],
                random_state=self.params["seed"],
                num_threads=self.params["num_threads"],
                dtype=np.float32,
            )
            model.fit(X, show_progress=False)
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        users = as_index_array(users, self.n_users)
        return finite_scores(self.user_factors[users] @ self.item_factors.T)

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        rows = as_interactions(rows, self.n_items, "rows")
        x = fold_in(rows, self.item_factors, self.params["regularization"], self.params["alpha"])
        return finite_scores(x @ self.item_factors.T)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items whose factors have the highest cosine with each item's (self excluded)."""
        items = as_index_array(items, self.n_items, "items")
        Y = normalized(self.item_factors)
        sims = Y[items] @ Y.T
        exclude = sp.csr_matrix(
            (np.ones(items.size), (np.arange(items.size), items)), shape=sims.shape
        )
        return top_n(sims, n, exclude, overwrite_scores=True)

    def get_state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        model = cls(**params)
        model.user_factors = np.asarray(state["user_factors"], dtype=np.float32)
        model.item_factors = np.asarray(state["item_factors"], dtype=np.float32)
        model.n_users = model.user_factors.shape[0]
        model.n_items = model.item_factors.shape[0]
        return model
