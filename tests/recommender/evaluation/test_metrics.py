"""Metrics against values computed by hand, plus invariants over random inputs."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from app.recommender.evaluation.metrics import (
    catalog_coverage,
    evaluate_topk,
    hit_matrix,
    per_user_metrics,
)


def _truth(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [j for items in rows for j in items]
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), n_items))


# k = 3, six items.  User 0 hits at rank 3 of 2 relevant; user 1 hits at rank 1 of 1 with a short
# list; user 2 is unknown to training (no recommendations); user 3 has no truth and is left out.
RECOMMENDED = np.array([[1, 5, 2], [4, -1, -1], [-1, -1, -1], [0, 1, 2]])
TRUTH = _truth([[2, 3], [4], [0], []], n_items=6)


def test_hit_matrix_marks_relevant_ranks_and_ignores_padding() -> None:
    hits = hit_matrix(RECOMMENDED, TRUTH)
    expected = [[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 0, 0]]
    np.testing.assert_array_equal(hits, np.array(expected, dtype=bool))


def test_per_user_values_by_hand() -> None:
    m = per_user_metrics(RECOMMENDED, TRUTH)
    # User 0: P = 1/3, R = 1/2, F1 = 2/5, DCG = 1/log2(4) = 0.5, IDCG = 1 + 1/log2(3),
    # AP = (1/3) / min(2, 3).  User 1: P = 1/3, R = 1, F1 = 1/2, NDCG = AP = 1.  User 2: zeros.
    idcg0 = 1 + 1 / np.log2(3)
    np.testing.assert_allclose(m["precision"], [1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(m["recall"], [1 / 2, 1, 0])
    np.testing.assert_allclose(m["f1"], [2 / 5, 1 / 2, 0])
    np.testing.assert_allclose(m["ndcg"], [0.5 / idcg0, 1, 0])
    np.testing.assert_allclose(m["map"], [1 / 6, 1, 0])
    np.testing.assert_allclose(m["hit_rate"], [1, 1, 0])


def test_means_keep_unknown_users_and_drop_users_without_truth() -> None:
    m = evaluate_topk(RECOMMENDED, TRUTH)
    assert m["n_users"] == 3
    assert m["precision"] == pytest.approx(2 / 9)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["f1"] == pytest.approx(0.3)
    assert m["ndcg"] == pytest.approx((0.5 / (1 + 1 / np.log2(3)) + 1) / 3)
    assert m["map"] == pytest.approx(7 / 18)
    assert m["hit_rate"] == pytest.approx(2 / 3)
    # Items 0, 1, 2, 4, 5 appear somewhere, user 3's list included.
    assert m["coverage"] == pytest.approx(5 / 6)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # Four relevant items, k = 2, both slots hit: a perfect list even though recall is 1/2.
    m = evaluate_topk(np.array([[3, 1]]), _truth([[0, 1, 2, 3]], n_items=4))
    assert m["ndcg"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(0.5)


def test_coverage_of_empty_catalog_and_padding() -> None:
    assert catalog_coverage(np.full((2, 3), -1), 5) == 0.0
    assert catalog_coverage(np.zeros((0, 3), dtype=int), 0) == 0.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="rows"):
        hit_matrix(np.zeros((2, 3), dtype=int), _truth([[0]], n_items=3))


@st.composite
def _case(draw: st.DrawFn) -> tuple[np.ndarray, sp.csr_matrix]:
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 8))
    k = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rec = np.full((n_users, k), -1)
    for u in range(n_users):
        m = int(rng.integers(0, min(k, n_items) + 1))
        rec[u, :m] = rng.choice(n_items, size=m, replace=False)
    dense = rng.random((n_users, n_items)) < 0.3
    return rec, sp.csr_matrix(dense.astype(np.float32))


@settings(max_examples=200, deadline=None)
@given(_case())
def test_metrics_are_bounded_and_perfect_lists_score_one(case: tuple) -> None:
    rec, truth = case
    m = evaluate_topk(rec, truth)
    for name in ("ndcg", "recall", "precision", "f1", "map", "hit_rate", "coverage"):
        assert 0.0 <= m[name] <= 1.0 + 1e-12, name
    # Recommending the truth itself (first k of it) is ideal for NDCG and MAP.
    k = rec.shape[1]
    ideal = np.full_like(rec, -1)
    for u in range(truth.shape[0]):
        items = truth.indices[truth.indptr[u] : truth.indptr[u + 1]][:k]
        ideal[u, : len(items)] = items
    if truth.nnz:
        best = evaluate_topk(ideal, truth)
        assert best["ndcg"] == pytest.approx(1.0)
        assert best["map"] == pytest.approx(1.0)
        assert best["hit_rate"] == pytest.approx(1.0)
