"""Serialised recommendation answers, reused while nothing they depend on has changed.

A shopper's answer depends on the serving model, the live catalog (availability, deletion,
categories) and their own events since the model was built. Each entry carries the stamp of those
three it was computed from; a lookup with any of them changed misses, and the model swap empties the
cache. Bounded: the shoppers whose answers were computed longest ago go first (a hit takes no lock,
so it does not reorder), and each keeps a few queries (pages, categories).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

# (model generation, catalog generation, shopper's newest event id, placements generation)
Stamp = tuple[int, int, int, int]

VARIANTS_PER_SHOPPER = 8


class AnswerCache:
    """Answers by their whole query (the shopper's id included), so that a lookup is one probe of
    one dict; beside it, each shopper's queries, oldest first, for the bounds and for erasure."""

    def __init__(self, max_shoppers: int) -> None:
        self.max_shoppers = max_shoppers
        self._answers: dict[Hashable, tuple[Stamp, bytes]] = {}
        self._shoppers: OrderedDict[str, list[Hashable]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: Hashable, stamp: Stamp) -> bytes | None:
        entry = self._answers.get(query)
        if entry is None or entry[0] != stamp:
            return None
        return entry[1]

    def put(self, user_id: str, query: Hashable, stamp: Stamp, body: bytes) -> None:
        if self.max_shoppers == 0:
            return
        with self._lock:
            queries = self._shoppers.get(user_id)
            if queries is None:
                queries = self._shoppers[user_id] = []
                if len(self._shoppers) > self.max_shoppers:
                    self._drop(self._shoppers.popitem(last=False)[1])
            else:
                self._shoppers.move_to_end(user_id)
                if query in queries:
                    queries.remove(query)
            queries.append(query)
            self._answers[query] = (stamp, body)
            if len(queries) > VARIANTS_PER_SHOPPER:
                self._drop([queries.pop(0)])

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._drop(self._shoppers.pop(user_id, []))

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._shoppers.clear()

    def __len__(self) -> int:
        return len(self._shoppers)

    def _drop(self, queries: list[Hashable]) -> None:
        for query in queries:
            self._answers.pop(query, None)
