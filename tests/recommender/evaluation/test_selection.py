"""Model selection picks the model that the planted structure favours, within its budget."""

import numpy as np

from app.recommender.evaluation.selection import confidence_candidates, select_model
from app.shop import ConfidenceConfig

from .planted import planted_events

GRIDS = {"itemknn": [{"k": 20, "shrinkage": 0.0}], "popularity": [{}]}


def test_planted_co_occurrence_selects_item_knn_over_popularity() -> None:
    # Popularity goes first, so the winner is not simply the first candidate.
    sel = select_model(
        planted_events(), budget_seconds=60, test_fraction=0.4, models=["popularity", "itemknn"],
        grids=GRIDS, configs=[ConfidenceConfig()],
    )
    assert sel.model == "itemknn"
    by_label = {r.label: r.metrics["ndcg"] for r in sel.table}
    assert by_label["itemknn (defaults)"] > 0.9
    assert by_label["popularity (defaults)"] < 0.5
    assert sel.metrics["ndcg"] == max(by_label.values())
    assert "NDCG@10" in sel.rule
    assert len(sel.table) == 4  # two defaults, then one grid point each


def test_zero_budget_still_returns_the_first_default() -> None:
    sel = select_model(
        planted_events(), budget_seconds=0, test_fraction=0.4, models=["popularity", "itemknn"],
        grids=GRIDS,
    )
    assert [r.label for r in sel.table] == ["popularity (defaults)"]
    assert sel.model == "popularity"


def test_a_model_that_cannot_fit_is_skipped_not_fatal() -> None:
    # k=0 is refused by ItemKNN with a ValueError: the candidate is skipped, selection carries on.
    sel = select_model(
        planted_events(), budget_seconds=60, test_fraction=0.4, models=["itemknn", "ease"],
        grids={"itemknn": [{"k": 0}]}, configs=[ConfidenceConfig()],
    )
    assert [label for label, _ in sel.skipped] == ["itemknn k=0"]
    assert [r.label for r in sel.table] == ["itemknn (defaults)", "ease (defaults)"]
    assert sel.model in {"itemknn", "ease"}


def test_confidence_candidates_start_with_the_base_and_are_distinct() -> None:
    base = ConfidenceConfig()
    cands = confidence_candidates(base)
    assert cands[0] == base
    assert len(set(cands)) == len(cands) >= 4
    flat = ConfidenceConfig(view=1.0, add_to_cart=1.0, purchase=1.0)
    assert confidence_candidates(flat)[0] == flat
    assert len(set(confidence_candidates(flat))) == len(confidence_candidates(flat))
    assert np.isfinite([c.view for c in cands]).all()
