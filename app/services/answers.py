"""Serialised recommendation answers, reused while nothing they depend on has changed.

A shopper's answer depends on the serving model, the live catalog (availability, deletion,
categories) and their own events since the model was built. Each entry carries the stamp of those
three it was computed from; a lookup with any of them changed misses, and the model swap empties the
cache. Bounded: the shoppers whose answers were computed longest ago go first (a hit takes no lock,
so it does not reorder), and each keeps a few query variants (pages, categories).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

Stamp = tuple[int, int, int]  # (model generation, catalog generation, shopper's newest event id)
Variant = tuple[int, int, str | None, bool]  # (limit, offset, category, exclude_seen)

VARIANTS_PER_SHOPPER = 8


class AnswerCache:
    def __init__(self, max_shoppers: int) -> None:
        self.max_shoppers = max_shoppers
        self._shoppers: OrderedDict[str, dict[Variant, tuple[Stamp, bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, variant: Variant, stamp: Stamp) -> bytes | None:
        entries = self._shoppers.get(user_id)
        if entries is None:
            return None
        entry = entries.get(variant)
        if entry is None or entry[0] != stamp:
            return None
        return entry[1]

    def put(self, user_id: str, variant: Variant, stamp: Stamp, body: bytes) -> None:
        if self.max_shoppers == 0:
            return
        with self._lock:
            entries = self._shoppers.get(user_id)
            if entries is None:
                entries = self._shoppers[user_id] = {}
                if len(self._shoppers) > self.max_shoppers:
                    self._shoppers.popitem(last=False)
            else:
                self._shoppers.move_to_end(user_id)
            entries.pop(variant, None)
            entries[variant] = (stamp, body)
            if len(entries) > VARIANTS_PER_SHOPPER:
                entries.pop(next(iter(entries)))

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._shoppers.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            self._shoppers.clear()

    def __len__(self) -> int:
        return len(self._shoppers)
