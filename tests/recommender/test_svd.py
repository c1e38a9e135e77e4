"""PureSVD scores are the projection onto the top singular vectors."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommender.svd import PureSVD


def test_scores_are_rank_k_projection():
    X = sp.random(40, 15, density=0.3, format="csr", dtype=np.float32, random_state=1)
    model = PureSVD(factors=3).fit(X)
    _, _, Vt = np.linalg.svd(X.toarray().astype(np.float64))
    expected = X.toarray() @ Vt[:3].T @ Vt[:3]
    np.testing.assert_allclose(model.score_users(np.arange(40)), expected, atol=1e-4)
    np.testing.assert_allclose(model.score_rows(X), expected, atol=1e-4)
