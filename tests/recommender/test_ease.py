"""EASE against the formula computed with numpy, and the size guard."""

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


def test_refuses_large_catalogues():
    with pytest.raises(ValueError, match="max_items"):
        EASE(max_items=5).fit(sp.csr_matrix((2, 6), dtype=np.float32))
