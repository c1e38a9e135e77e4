"""Vocabulary and the confidence formula, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from app.recommender.matrix import confidence_matrix
from app.shop import EVENT_TYPES, ConfidenceConfig
from app.vocabulary import Vocabulary

VIEW, CART, BUY, RATE = (EVENT_TYPES.index(t) for t in ("view", "add_to_cart", "purchase", "rating"))
DAY = 86400.0


def test_vocabulary_sorted_codes_and_unknowns():
    vocab, codes = Vocabulary.fit(["b", "a", "c", "a"])
    assert vocab.ids == ["a", "b", "c"] and len(vocab) == 3
    assert codes.dtype == np.int32 and codes.tolist() == [1, 0, 2, 0]
    assert vocab.get("c") == 2 and vocab.get("zz") is None
    assert vocab.encode(["c", "zz", "a"]).tolist() == [2, -1, 0]
    empty, empty_codes = Vocabulary.fit([])
    assert len(empty) == 0 and empty_codes.size == 0


def cm(users, items, types, values, ts, shape, **config):
    return confidence_matrix(
        np.array(users), np.array(items), np.array(types), np.array(values, float),
        np.array(ts, float), *shape, ConfidenceConfig(**config),
    ).toarray()


def test_weights_are_summed_then_saturated():
    C = cm([0, 0, 0, 1], [0, 0, 1, 1], [VIEW, CART, BUY, VIEW], [1, 1, 1, 1], [0, 0, 0, 0], (2, 3))
    expected = np.array([[np.log1p(1 + 3), np.log1p(5), 0], [0, np.log1p(1), 0]], np.float32)
    np.testing.assert_allclose(C, expected, rtol=1e-6)


def test_saturation_alpha_and_none():
    C = cm([0, 0], [0, 0], [VIEW, VIEW], [1, 1], [0, 0], (1, 1), saturation_alpha=4.0)
    assert C[0, 0] == pytest.approx(np.log1p(2 / 4))
    raw = cm([0, 0], [0, 0], [VIEW, BUY], [1, 1], [0, 0], (1, 1), saturation_alpha=None)
    assert raw[0, 0] == pytest.approx(6.0)


def test_rating_mapping_neutral_gives_zero_and_is_dropped():
    # 5 -> rating_weight; 4 -> 0.6 * rating_weight; 2.5 and 1 -> 0 (not stored at all).
    C = confidence_matrix(
        np.array([0, 0, 0, 0]), np.array([0, 1, 2, 3]), np.full(4, RATE), np.array([5, 4, 2.5, 1.0]),
        np.zeros(4), 1, 4, ConfidenceConfig(saturation_alpha=None, rating_weight=2.0),
    )
    assert C.nnz == 2 and C.indices.tolist() == [0, 1]
    np.testing.assert_allclose(C.data, [2.0, 1.2], rtol=1e-6)


def test_decay_is_measured_from_the_newest_event():
    # Newest event at day 100; an event 10 days older with a 10-day half-life counts half.
    C = cm([0, 1], [0, 0], [VIEW, VIEW], [1, 1], [90 * DAY, 100 * DAY], (2, 1),
           saturation_alpha=None, half_life_days=10.0)
    np.testing.assert_allclose(C[:, 0], [0.5, 1.0], rtol=1e-6)


def test_matrix_format():
    C = confidence_matrix(np.array([1, 0]), np.array([2, 0]), np.array([VIEW, VIEW]),
                          np.ones(2), np.zeros(2), 3, 4)
    assert C.format == "csr" and C.dtype == np.float32 and C.shape == (3, 4)
    assert C.has_sorted_indices
    empty = confidence_matrix(*(np.zeros(0) for _ in range(5)), 2, 3)
    assert empty.shape == (2, 3) and empty.nnz == 0


@pytest.mark.parametrize("bad", [{"rating_neutral": 5.0}, {"view": -1.0}, {"half_life_days": 0.0}])
def test_invalid_config_is_rejected(bad):
    with pytest.raises(ValueError):
        ConfidenceConfig(**bad)


def test_out_of_range_codes_are_rejected():
    with pytest.raises(ValueError, match="item codes"):
        confidence_matrix(np.array([0]), np.array([5]), np.array([VIEW]), np.ones(1), np.zeros(1), 1, 2)
