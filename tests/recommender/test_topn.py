"""top_n: order, deterministic ties, exclusion, padding; recommend_all in blocks."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommender.itemknn import ItemKNN
from app.recommender.topn import recommend_all, sparse_top_n, top_n


def test_order_ties_exclusion_and_padding():
    scores = np.array([[1.0, 3.0, 3.0, -2.0, np.nan], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [1, 1, 1, 1, 0]]))
    idx, top = top_n(scores, 6, exclude)
    assert idx.dtype == np.int32 and top.dtype == np.float32
    # Row 0: item 1 excluded, NaN never returned, padded with -1 / -inf.
    assert idx[0].tolist() == [2, 0, 3, -1, -1, -1]
    assert top[0, :3].tolist() == [3.0, 1.0, -2.0] and np.isneginf(top[0, 3:]).all()
    assert idx[1].tolist() == [4, -1, -1, -1, -1, -1]


def test_ties_broken_by_lower_index_even_inside_a_partition():
    scores = np.zeros((3, 1000), np.float32)
    scores[:, 500] = 1.0
    idx, _ = top_n(scores, 4)
    assert idx.tolist() == [[500, 0, 1, 2]] * 3


def test_negative_and_mixed_sign_scores_are_ordered():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20, 50)).astype(np.float32)
    idx, top = top_n(scores, 7)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(top, np.take_along_axis(scores, expected, axis=1))


def test_sparse_top_n_never_returns_absent_entries():
    M = sp.csr_matrix(np.array([[0, 0.5, 0, 0.2], [0, 0, 0, 0]], np.float32))
    idx, _ = sparse_top_n(M, 3)
    assert idx.tolist() == [[1, 3, -1], [-1, -1, -1]]


def test_recommend_all_blocks_match_one_block(checkerboard):
    model = ItemKNN(k=5).fit(checkerboard)
    one = recommend_all(model, checkerboard, 3, block_size=100)
    many = recommend_all(model, checkerboard, 3, block_size=1)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])
    seen = checkerboard.toarray() > 0
    assert not any(seen[u, i] for u in range(6) for i in one[0][u] if i >= 0)
