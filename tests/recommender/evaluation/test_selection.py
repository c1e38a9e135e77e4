"""Model selection: rolling-origin cuts, a paired test against the default, a search bounded by work."""

import threading
import time
from typing import Any

import numpy as np
import pytest

from app.recommender.evaluation import selection
from app.recommender.evaluation.selection import (
    Candidate,
    _paired_gain,
    confidence_candidates,
    default_candidates,
    sample_events,
    select_model,
)
from app.recommender.evaluation.split import Events
from app.shop import ConfidenceConfig

from .planted import planted_events

BASE = ConfidenceConfig()
POPULARITY = Candidate("popularity", "popularity", {}, BASE)
ITEMKNN = Candidate("itemknn", "itemknn", {"k": 20, "shrinkage": 0.0}, BASE)


def test_a_challenger_that_wins_with_confidence_replaces_the_default() -> None:
    # Popularity is the default: item-item co-occurrence must beat it clearly to be chosen.
    sel = select_model(planted_events(), 60, candidates=[POPULARITY, ITEMKNN])
    assert sel.model == "itemknn"
    assert sel.params == {"k": 20, "shrinkage": 0.0}
    rows = {r.label: r.metrics for r in sel.table}
    assert rows["itemknn"]["ndcg"] > 0.9 > 0.5 > rows["popularity"]["ndcg"]
    assert rows["itemknn"]["ndcg_gain_low"] > 0
    assert rows["popularity"]["ndcg_gain"] == 0.0
    assert "rolling-origin" in sel.rule and "NDCG@10" in sel.rule
    assert sel.sample["candidates"] == 2 and sel.sample["judged"] > 0


def test_the_default_is_kept_unless_a_challenger_wins_with_confidence() -> None:
    # The other way round: popularity loses to the default, so the default stays.
    sel = select_model(planted_events(), 60, candidates=[ITEMKNN, POPULARITY])
    assert sel.model == "itemknn"
    # A challenger that ranks exactly like the default (log counts order items as counts do)
    # is no better with confidence: the default is kept, although it is listed first.
    log_pop = Candidate("log popularity", "popularity", {"log_scale": True}, BASE)
    sel = select_model(planted_events(), 60, candidates=[POPULARITY, log_pop])
    assert sel.model == "popularity" and sel.params == {"log_scale": False}
    assert {r.label: r.metrics["ndcg_gain_low"] for r in sel.table}["log popularity"] <= 0


def test_the_paired_bootstrap_needs_a_gain_that_holds_across_shoppers() -> None:
    # The same mean gain (+0.01 per shopper): 20 shoppers better and 15 worse is noise, a gain
    # that all shoppers share is a win.
    lucky = np.r_[np.full(20, 0.5), np.full(15, -0.5), np.zeros(215)]
    steady = np.full(250, 0.01) + np.random.default_rng(1).normal(0, 0.005, 250)
    mean, low = _paired_gain(lucky, 0.95, seed=0)
    assert mean == pytest.approx(0.01) and low < 0
    mean, low = _paired_gain(steady, 0.95, seed=0)
    assert mean == pytest.approx(0.01, abs=0.001) and low > 0.008
    assert _paired_gain(np.zeros(10), 0.95, seed=0) == (0.0, 0.0)


def _burn(stop: threading.Event) -> None:
    x = np.random.default_rng(0).random((300, 300))
    while not stop.is_set():
        x = x @ x
        x /= np.abs(x).max()


def test_the_same_events_give_the_same_choice_on_an_idle_and_a_loaded_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = planted_events()
    candidates = default_candidates(BASE)[:10]
    budget = 0.6  # estimated seconds: this small log's first 7 candidates
    idle = select_model(events, budget, candidates=candidates)

    # A loaded machine: every computation competes with a busy thread, and the clock runs 1000
    # times faster than the work, as if each step took 1000 times longer.
    real = time.perf_counter
    origin = real()
    monkeypatch.setattr(time, "perf_counter", lambda: origin + (real() - origin) * 1000)
    stop = threading.Event()
    burner = threading.Thread(target=_burn, args=(stop,), daemon=True)
    burner.start()
    try:
        loaded = select_model(events, budget, candidates=candidates)
    finally:
        stop.set()
        burner.join()
    assert (loaded.model, loaded.params, loaded.config) == (idle.model, idle.params, idle.config)
    assert [(r.label, r.metrics["ndcg"]) for r in loaded.table] == [
        (r.label, r.metrics["ndcg"]) for r in idle.table
    ]
    # The budget cut the list's tail (by estimated work), the same way both times.
    assert idle.sample["candidates"] == loaded.sample["candidates"] == 7


def test_the_budget_cuts_the_tail_but_always_runs_the_default() -> None:
    candidates = default_candidates(BASE)[:10]
    sel = select_model(planted_events(), 0.0, candidates=candidates)
    assert [r.label for r in sel.table] == [candidates[0].label]
    assert sel.model == candidates[0].model
    generous = select_model(planted_events(), 1e9, candidates=candidates)
    assert len(generous.table) == len(candidates)


def test_blends_share_their_components_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates = default_candidates(BASE)
    # the default's own components under other weights
    blends = [c for c in candidates if c.label.startswith("ease + ") and c.label.endswith(" popularity")]
    assert blends
    made: list[str] = []
    real = selection.make_model

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(selection, "make_model", counting)
    alone = select_model(planted_events(), 1e9, candidates=candidates[:1])
    fits_alone = len(made)
    with_blends = select_model(planted_events(), 1e9, candidates=candidates[:1] + blends)
    # EASE and popularity were fitted for the default: the blends only re-weight their scores.
    assert len(with_blends.table) == 1 + len(blends) and len(alone.table) == 1
    assert fits_alone > 0 and len(made) == 2 * fits_alone  # no fit beyond the default's own


def test_a_model_that_cannot_fit_is_skipped_not_fatal() -> None:
    # k=0 is refused by ItemKNN with a ValueError: the candidate is skipped, selection carries on.
    broken = Candidate("itemknn k=0", "itemknn", {"k": 0}, BASE)
    sel = select_model(planted_events(), 60, candidates=[ITEMKNN, broken, POPULARITY])
    assert [label for label, _ in sel.skipped] == ["itemknn k=0"]
    assert [r.label for r in sel.table] == ["itemknn", "popularity"]
    with pytest.raises(ValueError, match="default"):
        select_model(planted_events(), 60, candidates=[broken, ITEMKNN])


def test_a_large_store_is_judged_on_a_sample_of_whole_shoppers() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    users = rng.integers(0, 2_000, n)
    items = rng.integers(0, 500, n)
    events = Events.from_arrays(users, items, np.zeros(n, np.int8), timestamps=rng.random(n))
    sample = sample_events(events, max_events=5_000, max_items=100)
    assert 0 < len(sample) <= 5_000 + 100  # the shopper that crosses the bound is kept whole
    assert len(np.unique(sample.items)) <= 100
    # Whole shoppers: every kept shopper keeps all their events on the kept items.
    chosen = np.isin(events.users, sample.users) & np.isin(events.items, sample.items)
    assert chosen.sum() == len(sample)
    again = sample_events(events, max_events=5_000, max_items=100)
    assert np.array_equal(again.users, sample.users) and np.array_equal(again.items, sample.items)
    assert sample_events(events, max_events=n, max_items=500) is events


def test_confidence_candidates_start_with_the_base_and_are_distinct() -> None:
    cands = confidence_candidates(BASE)
    assert cands[0] == BASE
    assert len(set(cands)) == len(cands) >= 4
    flat = ConfidenceConfig(view=1.0, add_to_cart=1.0, purchase=1.0)
    assert confidence_candidates(flat)[0] == flat
    assert len(set(confidence_candidates(flat))) == len(confidence_candidates(flat))
    assert np.isfinite([c.view for c in cands]).all()


def test_auto_holds_out_each_shoppers_latest_events_when_time_cuts_judge_too_few(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.recommender.evaluation import selection

    events = planted_events()  # 240 shoppers: each 10 % time slice judges about 170 of them
    assert select_model(events, 60, method="auto", candidates=[POPULARITY]).method == "global"
    monkeypatch.setattr(selection, "MIN_JUDGED", 300)
    sel = select_model(events, 60, method="auto", candidates=[POPULARITY, ITEMKNN])
    assert sel.method == "per_user" and sel.model == "itemknn"
