"""What the operators' dashboard shows: the model and its history, the traffic, the catalog's popular
items, a shopper's history and recommendations, an item's similar items, each with the catalog's
titles, prices and pictures. Plain dictionaries; `app/api/routes/dashboard.py` renders them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.services.serving import recommend, status
from app.services.serving.runtime import Runtime
from app.shop import EVENT_TYPES, item_text
from app.store import events as event_store
from app.store import items as item_store
from app.store import model_versions as versions
from app.store import users as user_store
from app.store.models import Item, utcnow

TRAFFIC_DAYS = 7
VERSIONS_CHARTED = 30
CATEGORIES_SHOWN = 12
PER_CATEGORY = 6
HISTORY_SHOWN = 20
RECOMMENDATIONS_SHOWN = 12


def model_panel(runtime: Runtime, session: Session, *, building_here: bool) -> dict[str, Any]:
    """The serving model, the stages of its build, and the versions before it (oldest first)."""
    model = status.describe(runtime, session, building_here=building_here)
    history = versions.history(session, VERSIONS_CHARTED)
    current = next((v for v in history if v.version == model["version"]), None)
    return {
        **model,
        "stages": dict(current.stages) if current is not None else {},
        "holdout": (model["metrics"] or {}).get("holdout") or {},
        "versions": [
            {
                "version": v.version,
                "algorithm": v.algorithm,
                "built_at": v.built_at,
                "build_seconds": v.build_seconds,
                "ndcg": ((v.metrics or {}).get("holdout") or {}).get("ndcg"),
                "n_events": v.n_events,
            }
            for v in reversed(history)
        ],
        "evaluation": status.last_evaluation(runtime),
    }


def traffic_panel(runtime: Runtime, session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Events per hour and type over the last TRAFFIC_DAYS days, and the store's totals."""
    now = now or utcnow()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=TRAFFIC_DAYS) + timedelta(hours=1)
    counts = {(hour, event_type): n for hour, event_type, n in event_store.hourly_counts(session, start)}
    hours = [start + timedelta(hours=h) for h in range(TRAFFIC_DAYS * 24)]
    series = {t: [counts.get((hour, t), 0) for hour in hours] for t in EVENT_TYPES}
    totals = Counter({t: sum(v) for t, v in series.items()})
    return {
        "hours": hours,
        "series": series,
        "window_totals": dict(totals),
        "shoppers": user_store.count_users(session),
        "items": item_store.count_items(session),
        "events": event_store.total(session),
        "events_since_build": event_store.count_after(session, runtime.model.meta.last_event_id),
    }


def catalog_panel(runtime: Runtime, session: Session) -> list[dict[str, Any]]:
    """The largest categories, each with its most popular servable items."""
    sizes = Counter(c for item_id, cats in runtime.catalog.categories.items() for c in cats)
    categories = [c for c, _ in sizes.most_common(CATEGORIES_SHOWN)]
    lists = {
        c: [e["item_id"] for e in recommend.popular(runtime, limit=PER_CATEGORY, category=c)["items"]]
        for c in sorted(categories)
    }
    stored = item_store.items_by_id(session, [i for ids in lists.values() for i in ids])
    return [
        {"category": c, "size": sizes[c], "items": [_card(i, stored) for i in ids]}
        for c, ids in lists.items()
    ]


def shopper_page(runtime: Runtime, session: Session, user_id: str, *, with_history: bool) -> dict[str, Any]:
    """What a shop page would show this shopper, and (for a write key) what they did."""
    answer = recommend.recommend(runtime, recommend.Query(user_id, RECOMMENDATIONS_SHOWN))
    history = (
        event_store.user_history(session, user_id, limit=HISTORY_SHOWN, before=None) if with_history else []
    )
    ids = [e["item_id"] for e in answer["items"]]
    ids += [e["reason"]["because"] for e in answer["items"] if "reason" in e]
    stored = item_store.items_by_id(session, ids + [e.item_id for e in history])
    return {
        "user_id": user_id,
        "strategy": answer["strategy"],
        "model_version": answer["model_version"],
        "recommendations": [
            {
                **_card(e["item_id"], stored),
                "score": e["score"],
                "because": _card(e["reason"]["because"], stored) if "reason" in e else None,
            }
            for e in answer["items"]
        ],
        "history": [
            {**_card(e.item_id, stored), "type": e.type, "value": e.value, "ts": e.ts} for e in history
        ],
    }


def item_page(runtime: Runtime, session: Session, item_id: str) -> dict[str, Any] | None:
    """The item and its similar items; None when the catalog and the model know nothing of it."""

    def load_text() -> str | None:
        item = item_store.get_item(session, item_id)
        return None if item is None else item_text(item.__dict__)

    answer = recommend.similar(runtime, item_id, limit=RECOMMENDATIONS_SHOWN, load_text=load_text)
    if answer is None:
        return None
    stored = item_store.items_by_id(session, [item_id] + [e["item_id"] for e in answer["items"]])
    return {
        "item": _card(item_id, stored),
        "strategy": answer["strategy"],
        "similar": [{**_card(e["item_id"], stored), "score": e["score"]} for e in answer["items"]],
    }


def _card(item_id: str, stored: dict[str, Item]) -> dict[str, Any]:
    """What a shop's product card shows; the id stands in for a title the catalog does not have."""
    item = stored.get(item_id)
    if item is None:
        return {"item_id": item_id, "title": None, "price": None, "image_url": None, "categories": []}
    return {
        "item_id": item_id,
        "title": item.title,
        "price": item.price,
        "image_url": item.image_url,
        "categories": list(item.categories or []),
    }


def overview(runtime: Runtime, *, full: bool, building_here: bool) -> dict[str, Any]:
    """The front page: the catalog panel, and with `full` (a write key) the model and the traffic."""
    with runtime.sessions() as session:
        page: dict[str, Any] = {"catalog": catalog_panel(runtime, session)}
        if full:
            page["model"] = model_panel(runtime, session, building_here=building_here)
            page["traffic"] = traffic_panel(runtime, session)
    return page


def shopper(runtime: Runtime, user_id: str, *, with_history: bool) -> dict[str, Any]:
    with runtime.sessions() as session:
        return shopper_page(runtime, session, user_id, with_history=with_history)


def item(runtime: Runtime, item_id: str) -> dict[str, Any] | None:
    with runtime.sessions() as session:
        return item_page(runtime, session, item_id)
