"""UserKNN against the formula computed densely."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommender.userknn import UserKNN


def test_scores_match_dense_formula_with_top_k_and_no_self():
    rng = np.random.default_rng(2)
    A = (rng.random((12, 9)) < 0.35) * rng.integers(1, 4, (12, 9)).astype(np.float32)
    A[5] = 0  # an empty user
    norms = np.linalg.norm(A, axis=1)
    S = (A @ A.T) / np.maximum(np.outer(norms, norms), 1e-30)
    np.fill_diagonal(S, 0)
    k = 3
    expected = np.zeros_like(A)
    for u in range(12):
        nbrs = np.argsort(-S[u], kind="stable")[:k]
        expected[u] = S[u, nbrs] @ A[nbrs]
    got = UserKNN(k=k).fit(sp.csr_matrix(A)).score_users(np.arange(12))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
