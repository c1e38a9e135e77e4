"""ALS: fold-in reproduces the training solve; similar items from item factors."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommender.als import ALS, fold_in


def test_fold_in_solves_the_normal_equations():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(7, 3)).astype(np.float32)
    row = sp.csr_matrix(np.array([[0, 2.0, 0, 0, 1.0, 0, 0]], np.float32))
    x = fold_in(row, Y, 0.1, 4.0)[0]
    C = 4.0 * row.toarray()[0]
    A = Y.T @ Y + Y.T @ np.diag(np.maximum(C - 1, 0) * (C > 0)) @ Y + 0.1 * np.eye(3)
    np.testing.assert_allclose(x, np.linalg.solve(A, Y.T @ C), rtol=1e-4)


def test_fold_in_of_training_users_is_close_to_their_factors(checkerboard):
    model = ALS(factors=2, iterations=30).fit(checkerboard)
    np.testing.assert_allclose(
        model.score_rows(checkerboard), model.score_users(np.arange(6)), atol=0.05
    )


def test_similar_items_stay_in_the_group(checkerboard):
    idx, _ = ALS(factors=2).fit(checkerboard).similar_items(np.array([0, 3]), 2)
    assert set(idx[0].tolist()) == {1, 2} and set(idx[1].tolist()) == {4, 5}
