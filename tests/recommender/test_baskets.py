"""Baskets and their association rules, on planted baskets whose answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from app.recommender.baskets import BasketModel, basket_ids, basket_matrix, complete, fit_rules

A, B_, C, D, E, F = range(6)


def baskets(*groups: tuple[list[int], int]) -> np.ndarray:
    """A binary basket matrix from (items, how many such baskets)."""
    rows, items = [], []
    b = 0
    for group, times in groups:
        for _ in range(times):
            rows += [b] * len(group)
            items += group
            b += 1
    return basket_matrix(np.array(rows), np.array(items), 6)


PLANTED = baskets(([A, B_], 5), ([A, C], 1), ([D, E], 3), ([A, B_, D], 1), ([F], 4))


def test_basket_ids_split_on_shopper_and_pause() -> None:
    shoppers = np.array([1, 1, 1, 2, 1])
    times = np.array([0.0, 60.0, 10_000.0, 30.0, 10_030.0])
    assert basket_ids(shoppers, times, gap=3600).tolist() == [0, 0, 1, 2, 1]
    assert basket_ids(np.array([], dtype=int), np.array([])).tolist() == []


def test_basket_matrix_is_binary() -> None:
    B = basket_matrix(np.array([0, 0, 0, 1]), np.array([2, 2, 3, 2]), 4)
    assert B.toarray().tolist() == [[0, 0, 1, 1], [0, 0, 1, 0]]


def test_confidence_rules_by_hand() -> None:
    rules = fit_rules(PLANTED, measure="confidence", shrinkage=0, min_count=2).toarray()
    # A is in 7 multi-item baskets, 6 of them with B; A and C share one basket (< min count).
    assert rules[A, B_] == pytest.approx(6 / 7)
    assert rules[B_, A] == pytest.approx(1.0)
    assert rules[A, C] == 0 and rules[A, A] == 0
    assert rules[D, E] == pytest.approx(3 / 4)
    assert rules[F].sum() == 0  # only ever alone


def test_lift_and_cosine_by_hand() -> None:
    lift = fit_rules(PLANTED, measure="lift", min_count=1).toarray()
    # 10 multi-item baskets; n_A = 7, n_B = 6, C_AB = 6.
    assert lift[A, B_] == pytest.approx(6 * 10 / (7 * 6))
    cosine = fit_rules(PLANTED, measure="cosine", min_count=1).toarray()
    assert cosine[A, B_] == pytest.approx(6 / np.sqrt(7 * 6))


def test_top_k_per_item() -> None:
    rules = fit_rules(PLANTED, min_count=1, k=1).toarray()
    assert (rules > 0).sum(axis=1).max() == 1
    assert rules[A].argmax() == B_


def test_complete_never_returns_the_basket() -> None:
    rules = fit_rules(PLANTED, min_count=1)
    items, scores, because = complete(rules, np.array([A]))
    assert items[0] == B_ and A not in items.tolist() and because[0] == A
    items, _, _ = complete(rules, np.array([A, B_]))
    assert {A, B_}.isdisjoint(items.tolist()) and items[0] == D  # D goes with both A and B


def test_the_prior_ranks_staples_for_items_without_rules() -> None:
    model = BasketModel.fit(PLANTED)
    items, scores, because = model.complete(np.array([F]))  # F has no rules
    assert items.tolist()[:2] == [A, B_] and because.tolist()[:2] == [-1, -1]
    items, _, because = model.complete(np.array([D]))
    assert items[0] == E and because[0] == D
    assert np.all(np.diff(model.complete(np.array([A]))[1]) <= 0)


def test_state_round_trip_and_empty_model() -> None:
    model = BasketModel.fit(PLANTED)
    again = BasketModel.from_state(model.get_state())
    for basket in ([A], [D, F], [C]):
        for x, y in zip(model.complete(np.array(basket)), again.complete(np.array(basket)), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-6)
    assert len(BasketModel.empty().complete(np.array([0]))[0]) == 0
    assert (
        len(BasketModel.fit(basket_matrix(np.array([0]), np.array([1]), 3)).complete(np.array([1]))[0]) == 0
    )
