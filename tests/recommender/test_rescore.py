"""neighbour_scores: the same sums and reasons as scipy's slice, multiply, sum and argmax, on the
columns the history reaches only."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.rescore import neighbour_scores


def _reference(S: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    contrib = sp.csr_matrix(S[rows].multiply(weights[:, None].astype(np.float64)))
    r = np.asarray(contrib.sum(axis=0)).ravel()
    because = np.full(S.shape[1], -1)
    best = np.asarray(contrib.argmax(axis=0)).ravel()
    because[r > 0] = rows[best[r > 0]]
    return r, because


@pytest.mark.parametrize("seed", range(20))
def test_matches_scipy_on_random_neighbours(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    density = float(rng.uniform(0.02, 0.5))
    S = sp.random(n, n, density=density, random_state=seed, format="csr", dtype=np.float32)
    S.data = np.round(S.data * 4) / 4  # coarse values: many ties between history rows
    rows = np.sort(rng.choice(n, int(rng.integers(1, n)), replace=False))
    weights = rng.choice([0.5, 1.0, 2.0], len(rows)).astype(np.float32)
    columns, r, because = neighbour_scores(S, rows, weights)
    r_ref, because_ref = _reference(S, rows, weights)
    assert columns.tolist() == np.unique(S[rows].indices).tolist()  # the stored entries it reaches
    np.testing.assert_allclose(_dense(columns, r, S.shape[1], 0.0), r_ref, rtol=1e-6)
    np.testing.assert_array_equal(_dense(columns, because, S.shape[1], -1), because_ref)


def _dense(columns: np.ndarray, values: np.ndarray, n: int, fill: float) -> np.ndarray:
    out = np.full(n, fill, dtype=values.dtype)
    out[columns] = values
    return out


def test_names_the_heaviest_contribution_and_the_first_on_ties():
    S = sp.csr_matrix(
        np.array(
            [
                [0, 0.2, 0.5, 0],
                [0, 0.9, 0.5, 0],
                [0, 0, 0, 0],
                [0, 0, 0, 0],
            ],
            dtype=np.float32,
        )
    )
    columns, r, because = neighbour_scores(S, np.array([0, 1, 2]), np.array([1.0, 1.0, 3.0]))
    assert columns.tolist() == [1, 2]  # only what the history reaches
    np.testing.assert_allclose(r, [1.1, 1.0])
    assert because.tolist() == [1, 0]  # item 2: a tie between rows 0 and 1, the first wins


def test_history_without_neighbours_scores_nothing():
    S = sp.csr_matrix((3, 3), dtype=np.float32)
    columns, r, because = neighbour_scores(S, np.array([0, 2]), np.array([1.0, 1.0]))
    assert columns.size == r.size == because.size == 0
