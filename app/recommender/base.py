"""The interface every recommender model implements, and the checks at its boundary.

Convention: the interaction matrix ``X`` is CSR float32 of shape ``(n_users, n_items)`` with
non-negative confidences (see :mod:`app.recommender.matrix`). Scores are dense float32 arrays
of shape ``(batch, n_items)``; higher is better; they are always finite.

A model is persisted as ``get_state()`` (a flat ``dict[str, np.ndarray]``) plus ``params``
(JSON-serialisable hyperparameters); ``cls.from_state(state, params)`` rebuilds it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp


def as_interactions(X: Any, n_items: int | None = None, what: str = "X") -> sp.csr_matrix:
    """Validate ``X`` and return it as CSR float32 with sorted indices (copying only if needed)."""
    if not sp.issparse(X):
        raise TypeError(f"{what} must be a scipy.sparse matrix, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D, got shape {X.shape}")
    X = sp.csr_matrix(X, dtype=np.float32)
    if n_items is not None and X.shape[1] != n_items:
        raise ValueError(f"{what} has {X.shape[1]} item columns, the model was fitted on {n_items}")
    if X.nnz and not np.isfinite(X.data).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    if not X.has_sorted_indices:
        X = X.sorted_indices()
    return X


def as_index_array(users: Any, n: int, what: str = "users") -> np.ndarray:
    """Validate an array of row indices into a matrix with ``n`` rows."""
    index: np.ndarray = np.asarray(users, dtype=np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= n):
        raise IndexError(f"{what} must be in [0, {n}), got [{index.min()}, {index.max()}]")
    return index


def finite_scores(scores: Any) -> np.ndarray:
    """Dense float32 scores with any NaN/inf (e.g. from a degenerate solve) replaced by 0."""
    if sp.issparse(scores):
        scores = scores.toarray()
    dense: np.ndarray = np.asarray(scores, dtype=np.float32)
    if not np.isfinite(dense).all():
        np.nan_to_num(dense, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return dense


class Recommender(ABC):
    """A model that scores every item for a user (a training row or an arbitrary new row)."""

    name: ClassVar[str]
    params: dict[str, Any]
    n_users: int = 0
    n_items: int = 0

    @abstractmethod
    def fit(self, X: sp.csr_matrix) -> Self:
        """Learn from the (n_users, n_items) confidence matrix."""

    @abstractmethod
    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Fold-in: dense float32 (b, n_items) scores for arbitrary interaction rows."""

    @abstractmethod
    def get_state(self) -> dict[str, np.ndarray]:
        """Everything learned, as plain arrays (no pickle)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        """Rebuild a fitted model from ``get_state()`` and ``params``."""

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 (len(users), n_items) scores for training users, by row index.

        The default folds in the training rows; models with user factors override it.
        """
        users = as_index_array(users, self.n_users)
        return self.score_rows(self._training_rows(users))

    def _training_rows(self, users: np.ndarray) -> sp.csr_matrix:
        X = getattr(self, "X", None)
        if X is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return X[users]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def state_int(state: dict[str, np.ndarray], key: str) -> int:
    """A scalar stored in a state dict (as a 0-d or 1-element array)."""
    return int(np.asarray(state[key]).reshape(-1)[0])
