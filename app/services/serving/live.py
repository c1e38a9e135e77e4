"""What each server process keeps live between rebuilds: the catalog's visibility and recent events.

Both are fed by the process's own writes at once and by a poll of the store (so writes that other
processes accepted arrive within `POLL_INTERVAL_SECONDS`). Updates are idempotent, so a row seen twice
(own write, then the poll) does no harm.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from app.recommender.rules import ItemFacts


class CatalogIndex:
    """Which items may be served, and their categories."""

    def __init__(self) -> None:
        self.hidden: set[str] = set()  # unavailable or deleted
        self.deleted: set[str] = set()
        self.categories: dict[str, frozenset[str]] = {}
        self.known: dict[str, None] = {}  # every servable item, insertion-ordered
        self.facts: dict[str, ItemFacts] = {}  # what merchandising rules read (price, attributes, age)
        self.generation = 0  # bumped after every change: what cached answers are stamped with

    def apply(
        self,
        item_id: str,
        *,
        available: bool,
        deleted: bool,
        categories: Iterable[str],
        price: float | None = None,
        attributes: dict[str, Any] | None = None,
        created: float | None = None,
    ) -> None:
        cats = frozenset(categories)
        hidden = deleted or not available
        facts = ItemFacts(cats, price, attributes or {}, created)
        if (
            self.categories.get(item_id) == cats
            and (item_id in self.deleted) == deleted
            and (item_id in self.hidden) == hidden
            and self.facts.get(item_id, ItemFacts(cats)) == facts
        ):
            return  # unchanged (a poll re-reads rows this process already applied)
        self.categories[item_id] = cats
        if facts == ItemFacts(cats):
            self.facts.pop(item_id, None)  # an item with no price, attributes or date costs nothing
        else:
            self.facts[item_id] = facts
        if deleted:
            self.deleted.add(item_id)
        else:
            self.deleted.discard(item_id)
        if deleted or not available:
            self.hidden.add(item_id)
            self.known.pop(item_id, None)
        else:
            self.hidden.discard(item_id)
            self.known[item_id] = None
        self.generation += 1

    def apply_items(self, items: Iterable[Any]) -> None:
        """Apply catalog rows or Item objects (item_id, available, deleted_at, categories, price,
        attributes, created_at)."""
        for item in items:
            created = getattr(item, "created_at", None)
            self.apply(
                item.item_id,
                available=item.available,
                deleted=item.deleted_at is not None,
                categories=item.categories or (),
                price=getattr(item, "price", None),
                attributes=getattr(item, "attributes", None),
                created=created.timestamp() if created is not None else None,
            )

    def facts_of(self, item_id: str) -> ItemFacts:
        """The item's facts for merchandising rules (its categories alone when it has no others)."""
        facts = self.facts.get(item_id)
        if facts is not None:
            return facts
        return ItemFacts(self.categories.get(item_id, frozenset()))

    def exists(self, item_id: str) -> bool:
        """In the catalog and not deleted (it may be unavailable)."""
        return item_id in self.categories and item_id not in self.deleted

    def servable(self, item_id: str, category: str | None) -> bool:
        if item_id in self.hidden:
            return False
        if category is None:
            return True
        cats = self.categories.get(item_id)
        return cats is not None and category in cats


class RecentActivity:
    """Per user, the items touched since the serving model's last event: item -> (weight, event id).

    Bounded: at most `max_items` per user (the oldest dropped) and `max_users` users (the least
    recently active dropped). Ids are interned: millions of entries share one string per id.
    """

    def __init__(self, *, max_users: int = 50_000, max_items: int = 20) -> None:
        self._users: OrderedDict[str, dict[str, tuple[float, int]]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_users = max_users
        self.max_items = max_items

    def add(self, user_id: str, item_id: str, weight: float, event_id: int) -> None:
        self.add_many([(user_id, item_id, weight, event_id)])

    def add_many(self, entries: Iterable[tuple[str, str, float, int]]) -> None:
        """Add (user_id, item_id, weight, event_id) entries under one acquisition of the lock."""
        with self._lock:
            for entry in entries:
                self._add(*entry)

    def _add(self, user_id: str, item_id: str, weight: float, event_id: int) -> None:
        items = self._users.get(user_id)
        if items is None:
            items = self._users[sys.intern(user_id)] = {}
            if len(self._users) > self.max_users:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user_id)
        old = items.get(item_id)
        if old is None or old[1] < event_id:
            total = weight + (old[0] if old is not None and old[1] != event_id else 0)
            items.pop(item_id, None)
            items[sys.intern(item_id)] = (total, event_id)
            if len(items) > self.max_items:
                items.pop(next(iter(items)))

    def newest(self, user_id: str) -> int:
        """The id of the newest event held for the shopper (0 if none): changes with every event."""
        items = self._users.get(user_id)
        return max([e for _, e in list(items.values())], default=0) if items else 0

    def get(self, user_id: str, after_event_id: int) -> dict[str, float]:
        items = self._users.get(user_id)
        if not items:
            return {}
        return {i: w for i, (w, e) in list(items.items()) if e > after_event_id}

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._users.pop(user_id, None)

    def prune(self, upto_event_id: int) -> None:
        """Drop what a new model has absorbed."""
        with self._lock:
            for user_id in list(self._users):
                items = self._users[user_id]
                for item_id in [i for i, (_, e) in items.items() if e <= upto_event_id]:
                    del items[item_id]
                if not items:
                    del self._users[user_id]
