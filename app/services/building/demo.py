"""A realistic synthetic shop for first runs: a catalog and a few thousand shoppers' funnels.

Shoppers belong to taste clusters (each cluster prefers a few categories and a handful of favourite
items); over several weeks they browse (views), some views become carts, some carts purchases, and a
few purchases get a rating. Item popularity follows a long tail. Everything is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

CATEGORIES = {
    "running": ["shoe", "sock", "vest", "cap", "tights", "bottle"],
    "hiking": ["boot", "backpack", "pole", "map case", "gaiter", "headlamp"],
    "cycling": ["helmet", "glove", "jersey", "light", "lock", "pump"],
    "swimming": ["goggles", "swimsuit", "towel", "fins", "cap", "kickboard"],
    "yoga": ["mat", "block", "strap", "legging", "bolster", "towel"],
    "camping": ["tent", "sleeping bag", "stove", "lantern", "chair", "cooler"],
    "climbing": ["harness", "rope", "chalk bag", "carabiner", "belay device", "shoe"],
    "fitness": ["dumbbell", "kettlebell", "band", "bench", "jump rope", "foam roller"],
    "tennis": ["racket", "ball can", "grip", "bag", "wristband", "shoe"],
    "skiing": ["ski", "binding", "goggle", "glove", "jacket", "wax kit"],
    "nutrition": ["protein bar", "gel", "electrolyte mix", "shaker", "oat snack", "recovery drink"],
    "electronics": ["watch", "heart-rate strap", "earbuds", "action camera", "bike computer", "scale"],
}
ADJECTIVES = [
    "light",
    "pro",
    "classic",
    "trail",
    "urban",
    "eco",
    "compact",
    "warm",
    "breathable",
    "rugged",
    "ultra",
    "soft",
]
BRANDS = ["Acme", "Northpeak", "Riverside", "Summit", "Velo", "Aqua", "Zen", "Ember"]


@dataclass(frozen=True)
class DemoShop:
    items: list[dict[str, Any]]
    events: list[dict[str, Any]]
    placements: dict[str, dict[str, Any]]
    bundles: list[tuple[str, str]]  # items that often go in the same cart
    trending: list[str]  # items that caught on in the last hours


# Page slots of the demo shop (`PUT /placements/{name}` bodies), one per merchandising feature.
PLACEMENTS: dict[str, dict[str, Any]] = {
    "home": {
        "strategy": "personalized",
        "limit": 8,
        "rules": [
            {"filter": {"price_max": 150}},
            {"boost": {"attributes": {"brand": "Summit"}, "factor": 1.3}},
            {"diversity": {"max_per_category": 3}},
        ],
    },
    "cart": {"strategy": "basket", "limit": 4, "rules": [{"filter": {"exclude_interacted": True}}]},
    "hot": {"strategy": "trending", "limit": 6, "rules": [{"diversity": {"mmr_lambda": 0.7}}]},
}
TRENDING_ITEMS = 3
BUNDLE_RATE = 0.6  # how often a carted item brings its companion into the same cart


def generate(
    n_users: int = 3000,
    n_items: int = 1200,
    n_clusters: int = 12,
    weeks: int = 6,
    seed: int = 7,
    now: datetime | None = None,
) -> DemoShop:
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    cats = list(CATEGORIES)
    items: list[dict[str, Any]] = []
    item_cat = rng.integers(0, len(cats), n_items)
    for i in range(n_items):
        cat = cats[item_cat[i]]
        noun = CATEGORIES[cat][int(rng.integers(len(CATEGORIES[cat])))]
        adj = ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]
        brand = BRANDS[int(rng.integers(len(BRANDS)))]
        items.append(
            {
                "item_id": f"sku-{i:05d}",
                "title": f"{brand} {adj} {noun}",
                "description": f"A {adj} {noun} for {cat}, by {brand}.",
                "categories": [cat],
                "tags": [adj, brand.lower()],
                "price": round(float(rng.lognormal(3.3, 0.6)), 2),
                "image_url": None,
                "available": bool(rng.random() > 0.03),
                "attributes": {"brand": brand},
            }
        )

    # Long-tail popularity, and per cluster a preference over categories and a few favourites.
    popularity = rng.pareto(1.2, n_items) + 0.05
    cluster_cats = [rng.choice(len(cats), size=2, replace=False) for _ in range(n_clusters)]
    cluster_pref = np.empty((n_clusters, n_items))
    for c in range(n_clusters):
        in_taste = np.isin(item_cat, cluster_cats[c])
        favourites = rng.choice(np.flatnonzero(in_taste), size=min(15, int(in_taste.sum())), replace=False)
        pref = popularity * np.where(in_taste, 12.0, 0.25)
        pref[favourites] *= 6.0
        cluster_pref[c] = pref / pref.sum()

    # Bundles: in each category, pairs that go together (a tent and its stove): carting one often
    # carts the other in the same visit, which is what "frequently bought together" finds.
    companion: dict[int, int] = {}
    for c in range(len(cats)):
        members = rng.permutation(np.flatnonzero(item_cat == c))
        for a, b in zip(members[0:12:2].tolist(), members[1:12:2].tolist(), strict=False):
            companion[a], companion[b] = b, a

    start = now - timedelta(weeks=weeks)
    span = (now - start).total_seconds() - 3600
    events: list[dict[str, Any]] = []
    user_cluster = rng.integers(0, n_clusters, n_users)
    sessions = rng.poisson(4.0, n_users) + 1
    for u in range(n_users):
        user = f"user-{u:05d}"
        pref = cluster_pref[user_cluster[u]]
        for _ in range(int(sessions[u])):
            t0 = start + timedelta(seconds=float(rng.random() * span))
            views = rng.choice(n_items, size=int(rng.integers(2, 9)), replace=False, p=pref)
            for k, i in enumerate(views.tolist()):
                t = t0 + timedelta(seconds=45 * k)
                item = items[i]["item_id"]
                events.append(_event(user, item, "view", None, t))
                if rng.random() < 0.22:
                    events.append(_event(user, item, "add_to_cart", None, t + timedelta(seconds=20)))
                    other = companion.get(i)
                    if other is not None and rng.random() < BUNDLE_RATE:
                        extra = items[other]["item_id"]
                        events.append(_event(user, extra, "add_to_cart", None, t + timedelta(seconds=30)))
                    if rng.random() < 0.45:
                        qty = int(rng.integers(1, 3))
                        events.append(_event(user, item, "purchase", qty, t + timedelta(seconds=200)))
                        if rng.random() < 0.3:
                            stars = float(np.clip(np.round(rng.normal(4.2, 0.8) * 2) / 2, 1, 5))
                            events.append(_event(user, item, "rating", stars, t + timedelta(days=3)))
    # A few items caught on in the last hours (views by many shoppers): what /trending shows.
    hot = rng.choice(n_items, size=TRENDING_ITEMS, replace=False).tolist()
    for i in hot:
        fans = rng.choice(n_users, size=int(rng.integers(40, 80)), replace=False)
        for u in fans.tolist():
            t = now - timedelta(seconds=float(rng.random() * 6 * 3600))
            events.append(_event(f"user-{u:05d}", items[i]["item_id"], "view", None, t))
    events = [e for e in events if e["timestamp"] <= now]
    events.sort(key=lambda e: e["timestamp"])
    for n, e in enumerate(events):
        e["event_id"] = f"demo-{n}"
    bundles = [(items[a]["item_id"], items[b]["item_id"]) for a, b in companion.items() if a < b]
    return DemoShop(
        items=items,
        events=events,
        placements=PLACEMENTS,
        bundles=bundles,
        trending=[items[i]["item_id"] for i in hot],
    )


def _event(user: str, item: str, kind: str, value: float | None, t: datetime) -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "type": kind, "value": value, "timestamp": t}
