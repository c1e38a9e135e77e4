"""The merchandising rules, one by one, on hand-made ranked lists whose answer is known."""

from __future__ import annotations

from typing import Any

import pytest

from app.recommender.rules import DAY_SECONDS, ItemFacts, Ranked, apply_rules, compile_rules

NOW = 1_000 * DAY_SECONDS
# Ten items, best first: even ones are shoes (price 10, 30, ...), odd ones socks; i0..i4 brand Acme.
FACTS = {
    f"i{k}": ItemFacts(
        categories=frozenset({"shoes" if k % 2 == 0 else "socks"}),
        price=10.0 + 10 * k,
        attributes={"brand": "Acme" if k < 5 else "Ember", "size": k},
        created=NOW - k * DAY_SECONDS,
    )
    for k in range(10)
}
RANKED = [Ranked(f"i{k}", 10.0 - k) for k in range(10)]
POPULAR = [("p0", 0.9), ("p1", 0.8), ("i3", 0.7)]


def run(rules: list[dict[str, Any]], want: int = 5, **kwargs: Any) -> list[str]:
    return [r.item_id for r in ranked(rules, want, **kwargs)]


def ranked(rules: list[dict[str, Any]], want: int = 5, **kwargs: Any) -> list[Ranked]:
    args: dict[str, Any] = {
        "facts": lambda i: FACTS.get(i, ItemFacts()),
        "allowed": lambda i: True,
        "backfill": lambda category: iter(POPULAR),
        "now": NOW,
    }
    args.update(kwargs)
    return apply_rules(iter(RANKED), compile_rules(rules), want=want, **args)


def test_no_rules_keep_the_ranking() -> None:
    assert run([]) == ["i0", "i1", "i2", "i3", "i4"]


def test_category_in_and_not_in() -> None:
    assert run([{"filter": {"category_in": ["socks"]}}]) == ["i1", "i3", "i5", "i7", "i9"]
    assert run([{"filter": {"category_not_in": ["socks"]}}]) == ["i0", "i2", "i4", "i6", "i8"]


def test_price_range_is_inclusive_and_drops_items_without_a_price() -> None:
    # p0 and p1 of the backfill have no price: they cannot pass a price filter.
    assert run([{"filter": {"price_min": 30, "price_max": 60}}]) == ["i2", "i3", "i4", "i5"]
    facts = {**FACTS, "i2": FACTS["i2"]._replace(price=None)}
    assert "i2" not in run([{"filter": {"price_min": 0}}], facts=lambda i: facts.get(i, ItemFacts()))


def test_attribute_equals_and_in() -> None:
    assert run([{"filter": {"attributes": {"brand": "Ember"}}}]) == ["i5", "i6", "i7", "i8", "i9"]
    assert run([{"filter": {"attributes": {"size": [2, 7]}}}], want=2) == ["i2", "i7"]


def test_newer_than_days() -> None:
    assert run([{"filter": {"newer_than_days": 2.5}}]) == ["i0", "i1", "i2"]


def test_exclude_interacted_reads_the_history_only_when_asked() -> None:
    calls: list[int] = []

    def history() -> set[str]:
        calls.append(1)
        return {"i0", "i2"}

    assert run([], interacted=history) == ["i0", "i1", "i2", "i3", "i4"] and calls == []
    assert run([{"filter": {"exclude_interacted": True}}], interacted=history)[:2] == ["i1", "i3"]


def test_filters_combine_with_and() -> None:
    rules = [{"filter": {"category_in": ["shoes"]}}, {"filter": {"price_max": 50}}]
    assert run(rules, want=3) == ["i0", "i2", "i4"]


def test_boost_multiplies_matching_scores_and_reorders() -> None:
    out = ranked([{"boost": {"attributes": {"brand": "Ember"}, "factor": 3}}], want=3)
    assert [r.item_id for r in out] == ["i5", "i6", "i0"]
    assert [r.score for r in out] == [15.0, 12.0, 10.0]


def test_boost_by_price_band_and_newness() -> None:
    assert run([{"boost": {"price_min": 90, "factor": 100}}], want=2) == ["i8", "i9"]
    assert run([{"boost": {"newer_than_days": 0.5, "factor": 0.01}}], want=2) == ["i1", "i2"]


def test_pin_puts_an_item_at_its_position_and_once() -> None:
    assert run([{"pin": {"item_id": "i7", "position": 1}}]) == ["i7", "i0", "i1", "i2", "i3"]
    assert run([{"pin": {"item_id": "i1", "position": 3}}]) == ["i0", "i2", "i1", "i3", "i4"]
    # Two pins, given in any order.
    rules = [{"pin": {"item_id": "x", "position": 2}}, {"pin": {"item_id": "i9", "position": 1}}]
    assert run(rules) == ["i9", "x", "i0", "i1", "i2"]


def test_a_pin_that_fails_the_filters_or_lies_beyond_the_list_is_dropped() -> None:
    rules = [{"filter": {"category_in": ["shoes"]}}, {"pin": {"item_id": "i1", "position": 1}}]
    assert run(rules) == ["i0", "i2", "i4", "i6", "i8"]
    assert run([{"pin": {"item_id": "i9", "position": 6}}]) == ["i0", "i1", "i2", "i3", "i4"]
    assert run([{"pin": {"item_id": "i9", "position": 1}}], allowed=lambda i: i != "i9")[0] == "i0"


def test_a_pinned_item_takes_the_score_of_its_slot() -> None:
    out = ranked([{"pin": {"item_id": "i9", "position": 2}}], want=3)
    assert [(r.item_id, r.score) for r in out] == [("i0", 10.0), ("i9", 9.0), ("i1", 9.0)]


def test_max_per_category() -> None:
    assert run([{"diversity": {"max_per_category": 1}}]) == ["i0", "i1", "p0", "p1"]
    assert run([{"diversity": {"max_per_category": 2}}]) == ["i0", "i1", "i2", "i3", "p0"]


def test_mmr_alternates_categories_and_lambda_one_keeps_the_ranking() -> None:
    # Near-equal scores: variety wins; lambda 1 is the plain ranking.
    assert run([{"diversity": {"mmr_lambda": 0.3}}], want=4) == ["i0", "i1", "i2", "i3"]
    flat = [Ranked("a", 1.0), Ranked("b", 0.99), Ranked("c", 0.98)]
    facts = {
        "a": ItemFacts(frozenset({"x"})),
        "b": ItemFacts(frozenset({"x"})),
        "c": ItemFacts(frozenset({"y"})),
    }
    rules = compile_rules([{"diversity": {"mmr_lambda": 0.5}}])
    out = apply_rules(iter(flat), rules, want=3, facts=facts.__getitem__, allowed=lambda i: True)
    assert [r.item_id for r in out] == ["a", "c", "b"]
    rules = compile_rules([{"diversity": {"mmr_lambda": 1.0}}])
    out = apply_rules(iter(flat), rules, want=3, facts=facts.__getitem__, allowed=lambda i: True)
    assert [r.item_id for r in out] == ["a", "b", "c"]


def test_backfill_tops_up_through_the_filters_and_below_the_last_score() -> None:
    out = ranked([{"filter": {"category_in": ["shoes"]}}], want=7)
    ids = [r.item_id for r in out]
    assert ids[:5] == ["i0", "i2", "i4", "i6", "i8"]
    assert ids[5:] == []  # p0, p1 are not shoes; i3 is a sock
    out = ranked([{"filter": {"price_max": 20}}], want=4)
    assert [r.item_id for r in out] == ["i0", "i1"]  # p0, p1 have no price
    out = ranked([], want=12)
    assert [r.item_id for r in out][10:] == ["p0", "p1"]
    assert all(a.score >= b.score for a, b in zip(out, out[1:], strict=False))


def test_backfill_none_and_the_categories_it_streams() -> None:
    assert run([{"filter": {"category_in": ["socks"]}}, {"backfill": {"source": "none"}}], want=7) == [
        "i1",
        "i3",
        "i5",
        "i7",
        "i9",
    ]
    asked: list[str | None] = []

    def stream(category: str | None) -> list[tuple[str, float]]:
        asked.append(category)
        return []

    run([{"filter": {"category_in": ["socks", "caps"]}}], want=7, backfill=stream)
    assert asked == ["caps", "socks", None]
    asked.clear()
    run(
        [{"filter": {"category_in": ["socks"]}}, {"backfill": {"source": "popular"}}], want=7, backfill=stream
    )
    assert asked == [None]


def test_allowed_is_the_last_word() -> None:
    assert run([], allowed=lambda i: i not in {"i0", "i1"}) == ["i2", "i3", "i4", "i5", "i6"]


@pytest.mark.parametrize("rule", [{"colour": {}}, {"filter": {}, "boost": {}}])
def test_compile_refuses_unknown_or_multi_keyed_rules(rule: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        compile_rules([rule])


def test_exclude_purchased_reads_only_the_purchases() -> None:
    rules = [{"filter": {"exclude_purchased": True}}]
    out = run(rules, purchased=lambda: {"i0", "i3"}, interacted=lambda: {"i1"})
    assert out == ["i1", "i2", "i4", "i5", "i6"]
