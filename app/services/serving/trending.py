"""Trending items, live: every server process counts the events it stores and the events its poll
reads from other processes, so trends follow the event stream without a rebuild.

A starting process first counts the events of the last weeks from the store (those its tail will
not read again), so a restart does not forget what is trending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from app.recommender.trending import BASELINE_RATIO, WINDOWS, TrendingCounters
from app.store import events as event_store
from app.store.models import utcnow

log = logging.getLogger(__name__)

RANKED_MAX = 1000  # trending items kept per window between refreshes
REFRESH_SECONDS = 1.0  # how stale a window's ranking may be
SEED_BATCH = 50_000


class TrendingIndex:
    """Item ids to counter codes, and each window's ranking, refreshed at most every second."""

    def __init__(self, *, min_shoppers: int) -> None:
        self.counters = TrendingCounters(min_shoppers=min_shoppers)
        self._codes: dict[str, int] = {}
        self._ids: list[str] = []
        self._lock = threading.Lock()
        self._ranked: dict[str, tuple[float, list[tuple[str, float]]]] = {}

    def _code(self, item_id: str) -> int:
        code = self._codes.get(item_id)
        if code is None:
            with self._lock:
                code = self._codes.get(item_id)
                if code is None:
                    code = self._codes[item_id] = len(self._ids)
                    self._ids.append(item_id)
        return code

    def record(self, rows: Sequence[Sequence[Any]]) -> None:
        """Count (id, user_id, item_id, ...) rows; a sixth column is the event's time (a datetime),
        else it happened now."""
        if not rows:
            return
        now = time.time()
        self.counters.add(
            [self._code(r[2]) for r in rows],
            [hash(r[1]) for r in rows],
            [r[5].timestamp() if len(r) > 5 and r[5] is not None else now for r in rows],
            now,
        )

    def ranked(self, window: str) -> list[tuple[str, float]]:
        """(item_id, z) of the trending items of the window, best first."""
        now = time.time()
        cached = self._ranked.get(window)
        if cached is not None and now - cached[0] < REFRESH_SECONDS:
            return cached[1]
        ids = self._ids
        top: list[tuple[str, float]] = []
        for code, z in self.counters.ranked(window, now):
            top.append((ids[code], z))
            if len(top) >= RANKED_MAX:
                break
        self._ranked[window] = (now, top)
        return top


def seed(index: TrendingIndex, engine: Engine, upto_event_id: int) -> int:
    """Count the stored events recent enough to matter, up to the id the tail starts after."""
    since = utcnow() - timedelta(seconds=2 * BASELINE_RATIO * max(WINDOWS.values()))
    n = 0
    with engine.connect() as connection:
        for rows in event_store.read_recent(connection, since, upto_event_id, SEED_BATCH):
            index.record([(r[0], r[1], r[2], None, None, r[3]) for r in rows])
            n += len(rows)
    if n:
        log.info("trending: counted %d recent events from the store", n)
    return n
