"""Merchandising rules: a placement's filters, boosts, pins, diversity and backfill over a ranked list.

One pure function, `apply_rules`, turns a model's ranked candidates into what a page shows. It reads
items only through `ItemFacts` (categories, price, attributes, age), so it is tested on hand-made
lists without a model, a catalog or a store. Rules arrive already validated (the API checks them on
write) and are compiled once per placement version into sets and tuples, so applying them costs a
few dict and set look-ups per candidate.

Order of application: filters drop candidates; boosts multiply scores and the list is re-sorted;
diversity re-ranks (at most N per category, or maximal marginal relevance with lambda); backfill
tops the list up from its own stream through the same filters; pins put items at fixed positions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

DAY_SECONDS = 86_400.0
DEPTH_SLACK = 20  # candidates looked at beyond the list's length when rules reorder it


class ItemFacts(NamedTuple):
    """What a rule may read about an item."""

    categories: frozenset[str] = frozenset()
    price: float | None = None
    attributes: Mapping[str, Any] = {}
    created: float | None = None  # seconds since the epoch




class Ranked(NamedTuple):
    item_id: str
    score: float
    because: str | None = None


@dataclass(frozen=True)
class Condition:
    """A conjunction of item conditions; an empty one matches every item."""

    category_in: frozenset[str] | None = None
    category_not_in: frozenset[str] = frozenset()
    price_min: float | None = None
    price_max: float | None = None
    attributes: tuple[tuple[str, frozenset[Any]], ...] = ()  # (name, accepted values)
    newer_than_days: float | None = None

    def matches(self, facts: ItemFacts, now: float) -> bool:
        cats = facts.categories
        if self.category_in is not None and self.category_in.isdisjoint(cats):
            return False
        if self.category_not_in and not self.category_not_in.isdisjoint(cats):
            return False
        if self.price_min is not None or self.price_max is not None:
            price = facts.price
            if price is None:
                return False
            if self.price_min is not None and price < self.price_min:
                return False
            if self.price_max is not None and price > self.price_max:
                return False
        for name, accepted in self.attributes:
            value = facts.attributes.get(name, _MISSING)
            if not _hashable(value) or value not in accepted:
                return False
        if self.newer_than_days is not None:
            created = facts.created
            if created is None or now - created > self.newer_than_days * DAY_SECONDS:
                return False
        return True


_MISSING = object()


def _hashable(value: Any) -> bool:
    return value is not _MISSING and isinstance(value, str | int | float | bool)


@dataclass(frozen=True)
class Boost:
    when: Condition
    factor: float


@dataclass(frozen=True)
class Pin:
    item_id: str
    position: int  # 1 is the first slot


@dataclass(frozen=True)
class Rules:
    """A placement's rules, compiled."""

    filters: tuple[Condition, ...] = ()
    exclude_interacted: bool = False  # drop what the shopper interacted with (`interacted`)
    exclude_purchased: bool = False  # drop what the shopper bought (`purchased`)
    boosts: tuple[Boost, ...] = ()
    pins: tuple[Pin, ...] = ()
    max_per_category: int | None = None
    mmr_lambda: float | None = None
    backfill: str = "popular_in_category"  # or "popular", or "none"
    backfill_categories: tuple[str | None, ...] = field(default=(None,))

    @property
    def empty(self) -> bool:
        return self == NO_RULES


NO_RULES = Rules()


def _condition(spec: Mapping[str, Any]) -> Condition:
    attributes = []
    for name, value in sorted((spec.get("attributes") or {}).items()):
        values = value if isinstance(value, list) else [value]
        attributes.append((name, frozenset(values)))
    return Condition(
        category_in=frozenset(spec["category_in"]) if spec.get("category_in") is not None else None,
        category_not_in=frozenset(spec.get("category_not_in") or ()),
        price_min=spec.get("price_min"),
        price_max=spec.get("price_max"),
        attributes=tuple(attributes),
        newer_than_days=spec.get("newer_than_days"),
    )


def compile_rules(rules: Iterable[Mapping[str, Any]]) -> Rules:
    """Compile validated rules (one-keyed objects, as the API stores them)."""
    filters: list[Condition] = []
    boosts: list[Boost] = []
    pins: list[Pin] = []
    exclude_interacted = False
    exclude_purchased = False
    max_per_category = None
    mmr_lambda = None
    backfill = "popular_in_category"
    for rule in rules:
        ((kind, spec),) = rule.items()
        if kind == "filter":
            exclude_interacted = exclude_interacted or bool(spec.get("exclude_interacted"))
            exclude_purchased = exclude_purchased or bool(spec.get("exclude_purchased"))
            condition = _condition(spec)
            if condition != Condition():
                filters.append(condition)
        elif kind == "boost":
            boosts.append(Boost(_condition(spec), float(spec["factor"])))
        elif kind == "pin":
            pins.append(Pin(spec["item_id"], int(spec["position"])))
        elif kind == "diversity":
            if spec.get("max_per_category") is not None:
                max_per_category = int(spec["max_per_category"])
            if spec.get("mmr_lambda") is not None:
                mmr_lambda = float(spec["mmr_lambda"])
        elif kind == "backfill":
            backfill = spec.get("source", "popular_in_category")
        else:
            raise ValueError(f"unknown rule kind {kind!r}")
    # Backfill from the filters' own categories: a "running shoes" placement tops up with running.
    categories: tuple[str | None, ...] = (None,)
    if backfill == "popular_in_category":
        wanted = sorted(set().union(*(f.category_in for f in filters if f.category_in is not None)))
        categories = (*wanted, None) if wanted else (None,)
    return Rules(
        filters=tuple(filters),
        exclude_interacted=exclude_interacted,
        exclude_purchased=exclude_purchased,
        boosts=tuple(boosts),
        pins=tuple(sorted(pins, key=lambda p: p.position)),
        max_per_category=max_per_category,
        mmr_lambda=mmr_lambda,
        backfill=backfill,
        backfill_categories=categories,
    )


def apply_rules(
    candidates: Iterable[Ranked],
    rules: Rules,
    *,
    want: int,
    facts: Callable[[str], ItemFacts],
    allowed: Callable[[str], bool],
    interacted: Callable[[], Iterable[str]] = lambda: (),
    purchased: Callable[[], Iterable[str]] = lambda: (),
    backfill: Callable[[str | None], Iterable[tuple[str, float]]] = lambda _: (),
    now: float = 0.0,
) -> list[Ranked]:
    """The first `want` items of the ranked `candidates` (best first) under `rules`.

    `facts(item_id)` describes an item; `allowed(item_id)` says whether it may be shown at all
    (servable, not excluded by the request, not already seen); `interacted()` and `purchased()`
    are the items the shopper touched and bought, read only when a filter asks for them;
    `backfill(category)` streams (item_id, score),
    best first, popular items of the category (None: of the whole shop).
    """
    blocked = set(interacted()) if rules.exclude_interacted else set()
    if rules.exclude_purchased:
        blocked.update(purchased())
    filters = rules.filters

    def passes(item_id: str) -> bool:
        if item_id in blocked or not allowed(item_id):
            return False
        if filters:
            f = facts(item_id)
            return all(c.matches(f, now) for c in filters)
        return True

    pins = [p for p in rules.pins if p.position <= want and passes(p.item_id)]
    pinned = {p.item_id for p in pins}
    room = want - len(pins)
    # Boosts and diversity reorder the list: they look deeper than the slots to fill.
    reorders = bool(rules.boosts) or rules.mmr_lambda is not None or rules.max_per_category is not None
    depth = max(3 * room, room + DEPTH_SLACK) if reorders else room
    kept: list[Ranked] = []
    seen: set[str] = set()
    for c in candidates:
        if c.item_id in seen or c.item_id in pinned or not passes(c.item_id):
            continue
        seen.add(c.item_id)
        kept.append(c)
        if len(kept) >= depth:
            break
    if rules.boosts:
        kept = [Ranked(c.item_id, _boosted(c, rules.boosts, facts, now), c.because) for c in kept]
        kept.sort(key=lambda c: -c.score)
    if rules.mmr_lambda is not None:
        kept = _mmr(kept, rules.mmr_lambda, room, facts)
    if rules.max_per_category is not None:
        kept = _capped(kept, rules.max_per_category, room, facts)
    kept = kept[:room]
    if len(kept) < room and rules.backfill != "none":
        _backfill(kept, room, rules, passes, seen | pinned, backfill, facts)
    return _pin(kept, pins, want)


def _boosted(c: Ranked, boosts: tuple[Boost, ...], facts: Callable[[str], ItemFacts], now: float) -> float:
    f = facts(c.item_id)
    score = c.score
    for b in boosts:
        if b.when.matches(f, now):
            score *= b.factor
    return score


def _capped(kept: list[Ranked], cap: int, room: int, facts: Callable[[str], ItemFacts]) -> list[Ranked]:
    """Greedy in rank order: an item is skipped when one of its categories already holds `cap`."""
    counts: dict[str, int] = {}
    out: list[Ranked] = []
    for c in kept:
        cats = facts(c.item_id).categories
        if any(counts.get(k, 0) >= cap for k in cats):
            continue
        for k in cats:
            counts[k] = counts.get(k, 0) + 1
        out.append(c)
        if len(out) >= room:
            break
    return out


def _mmr(kept: list[Ranked], lam: float, room: int, facts: Callable[[str], ItemFacts]) -> list[Ranked]:
    """Maximal marginal relevance (Carbonell & Goldstein 1998): repeatedly take the item maximising
    lam * relevance - (1 - lam) * max similarity to those taken, with relevance the score scaled to
    [0, 1] and similarity the Jaccard overlap of the items' categories."""
    if not kept:
        return kept
    top = max(c.score for c in kept)
    scale = top if top > 0 else 1.0
    pool = kept[: max(room * 5, room + 20)]  # far below the list's end nothing can climb to the top
    cats = [facts(c.item_id).categories for c in pool]
    max_sim = [0.0] * len(pool)
    taken = [False] * len(pool)
    out: list[Ranked] = []
    for _ in range(min(room, len(pool))):
        best, best_value = -1, -math.inf
        for k, c in enumerate(pool):
            if taken[k]:
                continue
            value = lam * c.score / scale - (1 - lam) * max_sim[k]
            if value > best_value:
                best, best_value = k, value
        taken[best] = True
        out.append(pool[best])
        chosen = cats[best]
        for k in range(len(pool)):
            if not taken[k] and chosen and cats[k]:
                sim = len(chosen & cats[k]) / len(chosen | cats[k])
                if sim > max_sim[k]:
                    max_sim[k] = sim
    return out


def _backfill(
    kept: list[Ranked],
    room: int,
    rules: Rules,
    passes: Callable[[str], bool],
    seen: set[str],
    stream: Callable[[str | None], Iterable[tuple[str, float]]],
    facts: Callable[[str], ItemFacts],
) -> None:
    """Top up from popular items (of the filters' categories first), scored below the list's last
    item so that the order stays by score."""
    floor = min((c.score for c in kept), default=1.0)
    scale = floor if floor > 0 else 1.0
    counts: dict[str, int] = {}
    if rules.max_per_category is not None:
        for c in kept:
            for k in facts(c.item_id).categories:
                counts[k] = counts.get(k, 0) + 1
    for category in rules.backfill_categories:
        for item_id, score in stream(category):
            if item_id in seen or not passes(item_id):
                continue
            if rules.max_per_category is not None:
                cats = facts(item_id).categories
                if any(counts.get(k, 0) >= rules.max_per_category for k in cats):
                    continue
                for k in cats:
                    counts[k] = counts.get(k, 0) + 1
            seen.add(item_id)
            kept.append(Ranked(item_id, score * scale * 0.999))
            if len(kept) >= room:
                return


def _pin(kept: list[Ranked], pins: list[Pin], want: int) -> list[Ranked]:
    """Put each pinned item at its position (a position past the end of the list puts it last).
    A pinned item takes the score of the slot it occupies, so scores still descend."""
    out = list(kept)
    for p in pins:  # ascending positions: earlier pins do not shift later ones
        k = min(p.position - 1, len(out))
        if k < len(out):
            score = out[k].score
        elif out:
            score = out[-1].score
        else:
            score = 1.0
        out.insert(k, Ranked(p.item_id, score, None))
    return out[:want]
