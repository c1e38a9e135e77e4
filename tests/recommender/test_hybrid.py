"""Hybrid blending of per-user min-max normalised scores."""

from __future__ import annotations

import numpy as np

from app.recommender.hybrid import Hybrid, minmax_rows
from app.recommender.itemknn import ItemKNN
from app.recommender.popularity import Popularity


def test_minmax_rows_and_constant_rows():
    out = minmax_rows(np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]], np.float32))
    np.testing.assert_allclose(out, [[0, 1, 0.5], [0, 0, 0]])


def test_blend_is_weighted_sum(checkerboard):
    knn, pop = ItemKNN(k=5), Popularity()
    hybrid = Hybrid([(knn, 0.7), (pop, 0.3)]).fit(checkerboard)
    users = np.arange(6)
    expected = 0.7 * minmax_rows(knn.score_users(users)) + 0.3 * minmax_rows(pop.score_users(users))
    np.testing.assert_allclose(hybrid.score_users(users), expected, rtol=1e-6)
