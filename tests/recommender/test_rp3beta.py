"""RP3beta's random-walk weights by hand, the popularity damping, and its scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.rp3beta import RP3beta

# Two shoppers: item 0 is touched by both, items 1 and 2 by one each.
X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]], np.float32))


def test_walk_probabilities_by_hand():
    # item 0 -> either shopper (1/2 each) -> one of their two items (1/2 each): 1/4 to items 1
    # and 2 (and 1/2 back to itself, dropped); items 1 and 2 walk to item 0 with probability 1/2.
    W = RP3beta(alpha=1.0, beta=0.0).fit(X).W.toarray()
    np.testing.assert_allclose(W, [[0, 0.25, 0.25], [0.5, 0, 0], [0.5, 0, 0]], rtol=1e-6)


def test_beta_damps_popular_destinations():
    # beta = 1 divides each column by its item's shoppers: item 0 (2 shoppers) halves.
    W = RP3beta(alpha=1.0, beta=1.0).fit(X).W.toarray()
    np.testing.assert_allclose(W, [[0, 0.25, 0.25], [0.25, 0, 0], [0.25, 0, 0]], rtol=1e-6)
    # alpha sharpens each step: 0.5 ** 2 * 0.5 ** 2 + ... for item 0 -> 1 is (1/2)^2 * (1/2)^2.
    W2 = RP3beta(alpha=2.0, beta=0.0).fit(X).W.toarray()
    assert W2[0, 1] == pytest.approx(0.25**2, rel=1e-6)


def test_confidence_scales_the_steps():
    # A shopper's step follows their confidences: shopper 0 touched item 1 three times as hard.
    Xc = sp.csr_matrix(np.array([[1, 3, 0], [1, 0, 1]], np.float32))
    W = RP3beta(alpha=1.0, beta=0.0).fit(Xc).W.toarray()
    assert W[0, 1] == pytest.approx(0.5 * 0.75, rel=1e-6)
    assert W[0, 2] == pytest.approx(0.5 * 0.5, rel=1e-6)


def test_k_keeps_the_strongest_walks_and_scores_are_row_times_w():
    model = RP3beta(alpha=1.0, beta=0.0, k=1).fit(X)
    W = model.W.toarray()
    assert (W > 0).sum(axis=1).tolist() == [1, 1, 1]
    new_row = sp.csr_matrix(np.array([[0, 1, 0]], np.float32))
    scores = model.score_rows(new_row)[0]
    assert scores.argmax() == 0  # item 1's walk ends on item 0
    np.testing.assert_allclose(scores, (new_row @ model.W).toarray()[0], atol=1e-5)


def test_bad_parameters_are_refused():
    for params in ({"alpha": 0.0}, {"beta": -1.0}, {"k": 0}):
        with pytest.raises(ValueError):
            RP3beta(**params)
