"""Placements as served: the newest version of each, compiled, in memory.

A write (`writes/placements.py`) publishes a new version to this process's `PlacementIndex` at
once; other processes pick it up on their next poll. Serving reads the index only, never the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from app.recommender.rules import Rules, compile_rules
from app.store import placements as placement_store
from app.store.models import utcnow

DEFAULT_LIMIT = 10
POLL_OVERLAP = timedelta(seconds=5)


@dataclass(frozen=True)
class LivePlacement:
    name: str
    version: int
    strategy: str
    limit: int
    rules: Rules


class PlacementIndex:
    """The newest version of every placement, compiled; `generation` changes with every update
    (cached answers are stamped with it)."""

    def __init__(self) -> None:
        self._by_name: dict[str, LivePlacement] = {}
        self._lock = threading.Lock()
        self.generation = 0
        self.polled_at: datetime | None = None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> LivePlacement | None:
        return self._by_name.get(name)

    def apply(
        self, name: str, version: int, strategy: str, limit: int | None, rules: list[dict[str, Any]]
    ) -> None:
        with self._lock:
            old = self._by_name.get(name)
            if old is not None and old.version >= version:
                return  # a poll re-reading what this process already applied, or an older version
            self._by_name[name] = LivePlacement(
                name, version, strategy, limit or DEFAULT_LIMIT, compile_rules(rules)
            )
            self.generation += 1

    def refresh(self, connection: Connection) -> None:
        started = utcnow()
        since = None if self.polled_at is None else self.polled_at - POLL_OVERLAP
        for row in placement_store.changed_since(connection, since):
            self.apply(row.name, row.version, row.strategy, row.limit, row.rules)
        self.polled_at = started
