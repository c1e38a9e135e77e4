"""ItemKNN similarities by hand, neighbour pruning, similar items and explanations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender import itemknn
from app.recommender.itemknn import ItemKNN, explain, explain_all


def test_similarity_by_hand_with_shrinkage():
    # Items 0 and 1 co-occur for one user (n01 = 1); |x0| = sqrt(2), |x1| = 1; shrinkage 1
    # multiplies the cosine by n01 / (n01 + 1) = 1/2.
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]], np.float32))
    S = ItemKNN(k=10, shrinkage=1.0).fit(X).neighbours.toarray()
    assert S[0, 1] == pytest.approx(1 / np.sqrt(2) / 2, rel=1e-6)
    assert S[1, 2] == 0 and np.all(np.diag(S) == 0)
    np.testing.assert_allclose(S, S.T)


def test_shrinkage_counts_users_not_confidence():
    # Items 0 and 1 co-occur for users 0 and 1, items 0 and 2 for user 2 only. Scaling the
    # confidences (other event weights) leaves the cosines and so the shrunk similarities alone.
    X = sp.csr_matrix(np.array([[1, 1, 0], [2, 3, 0], [1, 0, 4]], np.float32))
    S = ItemKNN(k=10, shrinkage=2.0).fit(X).neighbours.toarray()
    S5 = ItemKNN(k=10, shrinkage=2.0).fit(X * 5).neighbours.toarray()
    np.testing.assert_allclose(S, S5, rtol=1e-5)
    cos = (X.T @ X).toarray() / np.outer(*[np.sqrt((X.multiply(X)).sum(axis=0)).A1] * 2)
    assert S[0, 1] == pytest.approx(cos[0, 1] * 2 / 4, rel=1e-5)
    assert S[0, 2] == pytest.approx(cos[0, 2] * 1 / 3, rel=1e-5)


def test_items_no_neighbour_reaches_come_in_popularity_order():
    # User 0 touched only item 0, which has no neighbour: item 3 (2 users) before item 2 (1 user,
    # confidence 2) before item 1 (1 user, confidence 1), not by item code.
    X = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 2, 1], [0, 1, 0, 1]], np.float32))
    model = ItemKNN(k=10, shrinkage=0.0).fit(X)
    scores = model.score_users(np.array([0]))[0]
    assert np.argsort(-scores[1:], kind="stable").tolist() == [2, 1, 0]
    assert scores.max() <= 1e-6


def test_only_k_best_neighbours_are_kept():
    rng = np.random.default_rng(3)
    X = sp.random(200, 40, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    full = ItemKNN(k=39, shrinkage=0.0).fit(X).neighbours.toarray()
    pruned = ItemKNN(k=3, shrinkage=0.0).fit(X).neighbours.toarray()
    for i in range(40):
        best = np.argsort(-full[i], kind="stable")[:3]
        assert sorted(np.flatnonzero(pruned[i])) == sorted(best[full[i, best] > 0])


def test_similar_items_and_explain(checkerboard):
    model = ItemKNN(k=5, shrinkage=0.0).fit(checkerboard)
    idx, sims = model.similar_items(np.array([0, 4]), 3)
    assert idx[0].tolist() == [1, 2, -1] and idx[1].tolist() == [3, 5, -1]
    assert np.isneginf(sims[:, 2]).all()
    # User 0 has items 1 (weight 1) and 2 (weight 3): item 0 is explained by item 2; item 4 by
    # nothing, since no item of user 0 neighbours it.
    row = sp.csr_matrix(np.array([[0, 1, 3, 0, 0, 0]], np.float32))
    assert explain(row, np.array([0, 4, -1]), model.neighbours).tolist() == [2, -1, -1]


def _reasons_by_hand(X: sp.csr_matrix, top: np.ndarray, S: np.ndarray) -> np.ndarray:
    reasons = np.full(top.shape, -1)
    for u in range(top.shape[0]):
        row = X[u].toarray().ravel()
        for s, j in enumerate(top[u]):
            if j >= 0:
                contrib = row * S[:, j]
                if contrib.max() > 0:
                    reasons[u, s] = int(np.argmax(contrib))  # the first on ties
    return reasons


def test_explain_all_matches_a_loop_by_hand_whatever_the_block_size(monkeypatch):
    rng = np.random.default_rng(3)
    X = sp.random(300, 60, density=0.08, format="csr", random_state=4, dtype=np.float32)
    X.data = np.round(X.data * 4) + 1  # few distinct weights: ties happen
    S = ItemKNN(k=8).fit(X).neighbours
    top = np.array([rng.choice(60, 12, replace=False) for _ in range(300)], dtype=np.int32)
    top[:, -4:] = -1
    expected = _reasons_by_hand(X, top, S.toarray())
    assert (expected >= 0).sum() > 500  # most slots have a reason, some have none
    assert (expected == -1).sum() > 300 * 4
    np.testing.assert_array_equal(explain_all(X, top, S), expected)
    monkeypatch.setattr(itemknn, "EXPLAIN_BLOCK_TRIPLES", 50)
    monkeypatch.setattr(itemknn, "EXPLAIN_MAP_CELLS", 60 * 3)
    np.testing.assert_array_equal(explain_all(X, top, S), expected)


def test_explain_all_of_users_without_history_or_neighbours():
    X = sp.csr_matrix((3, 4), dtype=np.float32)
    S = sp.csr_matrix((4, 4), dtype=np.float32)
    top = np.array([[0, 1], [2, -1], [-1, -1]], dtype=np.int32)
    assert (explain_all(X, top, S) == -1).all()
    assert explain_all(X, top[:0], S).shape == (0, 2)
