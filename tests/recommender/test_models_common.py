"""Contract tests every model must pass (see app/recommender/base.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.persist import dumps, loads
from app.recommender.registry import MODELS
from app.recommender.topn import recommend_all
from tests.recommender.conftest import (
    ALL_MODELS,
    CHECKERBOARD,
    MISSING_ITEM,
    PERSONALISED,
    build,
)


@pytest.mark.parametrize("name", PERSONALISED)
def test_checkerboard_recommends_the_missing_item_of_the_own_group(name, checkerboard):
    model = build(name, 6).fit(checkerboard)
    idx, scores = recommend_all(model, checkerboard, 1)
    assert idx[:, 0].tolist() == MISSING_ITEM.tolist()
    # The fold-in path must agree for brand-new users with the same history.
    fresh, _ = recommend_all(model, checkerboard, 1, exclude_seen=True)
    rows_scores = model.score_rows(checkerboard)
    rows_scores[CHECKERBOARD > 0] = -np.inf
    assert rows_scores.argmax(axis=1).tolist() == MISSING_ITEM.tolist()
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_design_notes_matrix_gives_finite_scores(name, design_notes):
    model = build(name, 5).fit(design_notes)
    scores = model.score_users(np.arange(4))
    assert scores.shape == (4, 5) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    idx, top = recommend_all(model, design_notes, 5)
    seen = design_notes.toarray() > 0
    for u in range(4):
        assert not any(seen[u, i] for i in idx[u] if i >= 0)
    assert (idx >= 0).sum(axis=1).tolist() == [4, 4, 4, 4]  # 5 items, 1 seen, none excluded else


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize(
    "shape, dense",
    [
        ((0, 5), None),
        ((3, 0), None),
        ((3, 4), None),  # nnz = 0
        ((1, 1), [[2.0]]),
        ((1, 4), [[1.0, 0.0, 3.0, 0.0]]),
        ((4, 1), [[1.0], [0.0], [2.0], [0.0]]),
        ((3, 3), [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]]),  # an empty user
    ],
)
def test_degenerate_matrices_give_finite_scores(name, shape, dense):
    X = sp.csr_matrix(np.asarray(dense, np.float32)) if dense else sp.csr_matrix(shape, dtype=np.float32)
    model = build(name, shape[1]).fit(X)
    scores = model.score_users(np.arange(shape[0]))
    assert scores.shape == shape and np.isfinite(scores).all()
    new_rows = sp.csr_matrix(np.ones((2, shape[1]), np.float32))
    assert np.isfinite(model.score_rows(new_rows)).all()
    assert model.score_rows(sp.csr_matrix((2, shape[1]), dtype=np.float32)).shape == (2, shape[1])
    idx, top = recommend_all(model, X, 3)
    assert idx.shape == (shape[0], 3)
    assert np.all((idx >= 0) == np.isfinite(top))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_state_round_trip_gives_identical_scores(name, checkerboard):
    model = build(name, 6).fit(checkerboard)
    state = loads(dumps(model.get_state()))
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    restored = MODELS[name].from_state(state, model.params)
    users = np.arange(6)
    np.testing.assert_array_equal(restored.score_users(users), model.score_users(users))
    new_row = sp.csr_matrix(np.array([[0, 1, 0, 0, 1, 0]], np.float32))
    np.testing.assert_array_equal(restored.score_rows(new_row), model.score_rows(new_row))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_score_rows_rejects_wrong_width(name, checkerboard):
    model = build(name, 6).fit(checkerboard)
    with pytest.raises(ValueError, match="item columns"):
        model.score_rows(sp.csr_matrix((1, 7), dtype=np.float32))
