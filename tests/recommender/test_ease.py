"""EASE against the formula computed with numpy, and its restriction to the head of the catalog."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.ease import EASE


def test_weights_match_closed_form():
    X = sp.random(60, 12, density=0.3, format="csr", dtype=np.float32, random_state=0)
    B = EASE(l2=2.0).fit(X).B
    P = np.linalg.inv((X.T @ X).toarray() + 2.0 * np.eye(12))
    expected = np.eye(12) - P / np.diag(P)
    np.testing.assert_allclose(B, expected, atol=1e-5)
    assert np.all(np.diag(B) == 0)


def test_large_catalogues_fit_on_the_most_popular_items():
    # Users per item: 0 -> 3, 1 -> 1, 2 -> 2, 3 -> 2, 4 -> 1 (item 4 with more confidence than 1).
    X = sp.csr_matrix(np.array(
        [[1, 0, 1, 0, 0], [1, 0, 1, 1, 0], [1, 1, 0, 1, 3]], np.float32
    ))
    model = EASE(l2=1.0, max_items=3).fit(X)
    assert model.items.tolist() == [0, 2, 3]  # ties at 2 users: both kept, item 1 and 4 not
    head = EASE(l2=1.0).fit(X[:, [0, 2, 3]])
    np.testing.assert_allclose(model.B, head.B, atol=1e-6)
    rows = sp.csr_matrix(np.array([[0, 0, 1, 0, 0], [0, 1, 0, 0, 1]], np.float32))
    scores = model.score_rows(rows)
    np.testing.assert_allclose(scores[:, [0, 2, 3]], head.score_rows(rows[:, [0, 2, 3]]), atol=1e-6)
    # The tail scores below every head item of the same row, the more popular (4) first.
    assert (scores[:, [1, 4]].max(axis=1) < scores[:, [0, 2, 3]].min(axis=1)).all()
    assert (scores[:, 4] > scores[:, 1]).all()


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="max_items"):
        EASE(max_items=0)
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0.0)
