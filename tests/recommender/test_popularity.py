"""Popularity: distinct users per item, ties by confidence, the same for every user and new row."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommender.popularity import Popularity


def test_distinct_users_then_confidence_for_everyone():
    # Item 0: 2 users (confidence 4); item 2: 1 user (confidence 9, one heavy buyer); item 3:
    # 1 user (confidence 1). Users first; the confidence sum / (max sum + 1) breaks the tie.
    X = sp.csr_matrix(np.array([[1, 0, 9, 0], [3, 0, 0, 1]], np.float32))
    model = Popularity().fit(X)
    expected = [2 + 4 / 10, 0, 1 + 9 / 10, 1 + 1 / 10]
    np.testing.assert_allclose(model.score_users(np.array([1, 0])), [expected, expected], rtol=1e-6)
    np.testing.assert_allclose(model.score_rows(sp.csr_matrix((1, 4))), [expected], rtol=1e-6)


def test_log_scale_keeps_the_order():
    X = sp.csr_matrix(np.array([[1, 0, 9, 0], [3, 0, 0, 1]], np.float32))
    plain = Popularity().fit(X).item_scores
    logged = Popularity(log_scale=True).fit(X).item_scores
    np.testing.assert_allclose(logged, np.log1p(plain), rtol=1e-6)
