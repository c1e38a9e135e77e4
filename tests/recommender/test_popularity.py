"""Popularity: column sums, the same for every user and for new rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommender.popularity import Popularity


def test_column_sums_for_everyone():
    X = sp.csr_matrix(np.array([[1, 0, 2], [3, 0, 0]], np.float32))
    model = Popularity().fit(X)
    np.testing.assert_array_equal(model.score_users(np.array([1, 0])), [[4, 0, 2], [4, 0, 2]])
    np.testing.assert_array_equal(model.score_rows(sp.csr_matrix((1, 3))), [[4, 0, 2]])
