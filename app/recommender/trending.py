"""Trending items: whose recent event rate rose most over their own baseline.

For each window w (1 h, 24 h, 7 d) every item keeps two exponentially decayed event counts, a fast
one with time constant w and a slow one with time constant BASELINE_RATIO * w. At a steady rate
the fast count approaches the events of one window, r, and the slow count over BASELINE_RATIO
gives what r would be at the item's long-run rate, b. An item's trend is the Poisson z-score of
the rise,

    z = (r - b) / sqrt(b + 1)

which favours a large rise on a large volume over a small one (300 events over a baseline of 30
score 48; 3 over nothing score 3). An item trends only when at least `min_shoppers` distinct
shoppers acted on it within the window, so one shopper cannot make an item trend.

Counts are kept relative to a reference time per window, so adding an event is one `exp` and an
`np.add.at` over a batch; reading them decays the whole array at once. For each item the most
recent `min_shoppers` distinct shoppers and when they last acted are kept: if they all acted
within the window, at least that many distinct shoppers did.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

import numpy as np

WINDOWS = {"1h": 3600.0, "24h": 86_400.0, "7d": 7 * 86_400.0}
BASELINE_RATIO = 8.0  # the baseline's time constant, in windows
REBASE_AFTER = 200.0  # time constants between reference times: exp() stays far from overflow


class TrendingCounters:
    """Decayed event counts per item (integer codes), for every window. Thread-safe."""

    def __init__(self, *, min_shoppers: int = 5, capacity: int = 1024) -> None:
        if min_shoppers < 1:
            raise ValueError("min_shoppers must be >= 1")
        self.min_shoppers = min_shoppers
        self._lock = threading.Lock()
        self._n = 0
        self._t0 = dict.fromkeys(WINDOWS, 0.0)
        self._fast = {w: np.zeros(capacity) for w in WINDOWS}
        self._slow = {w: np.zeros(capacity) for w in WINDOWS}
        self._shoppers: dict[int, dict[int, float]] = {}  # item -> {shopper: last time}, most recent

    @property
    def n_items(self) -> int:
        return self._n

    def add(self, items: Sequence[int], shoppers: Sequence[int], times: Sequence[float], now: float) -> None:
        """Count events: item codes, shopper codes (any hashable int) and times (epoch seconds).
        Times after `now` count as `now` (clocks drift); events older than a window barely count."""
        if not len(items):
            return
        codes = np.asarray(items, dtype=np.int64)
        t = np.minimum(np.asarray(times, dtype=np.float64), now)
        with self._lock:
            self._grow(int(codes.max()) + 1)
            for w, span in WINDOWS.items():
                self._rebase(w, span, now)
                t0 = self._t0[w]
                np.add.at(self._fast[w], codes, np.exp((t - t0) / span))
                np.add.at(self._slow[w], codes, np.exp((t - t0) / (span * BASELINE_RATIO)))
            keep = self.min_shoppers
            for item, shopper, when in zip(codes.tolist(), shoppers, t.tolist(), strict=True):
                recent = self._shoppers.get(item)
                if recent is None:
                    self._shoppers[item] = {shopper: when}
                    continue
                if recent.get(shopper, -math.inf) < when:
                    recent[shopper] = when
                    if len(recent) > keep:
                        del recent[min(recent, key=recent.__getitem__)]

    def _grow(self, n: int) -> None:
        if n > len(self._fast["1h"]):
            size = max(n, 2 * len(self._fast["1h"]))
            for store in (self._fast, self._slow):
                for w, a in store.items():
                    grown = np.zeros(size)
                    grown[: len(a)] = a
                    store[w] = grown
        self._n = max(self._n, n)

    def _rebase(self, w: str, span: float, now: float) -> None:
        """Move the reference time to `now` when it lags far enough for exp() to grow large."""
        t0 = self._t0[w]
        if now - t0 < REBASE_AFTER * span and t0 > 0:
            return
        if t0 > 0:
            self._fast[w] *= math.exp((t0 - now) / span)
            self._slow[w] *= math.exp((t0 - now) / (span * BASELINE_RATIO))
        self._t0[w] = now

    def scores(self, window: str, now: float) -> np.ndarray:
        """z per item code (float64, length n_items); 0 for items without events."""
        span = WINDOWS[window]
        with self._lock:
            n, t0 = self._n, self._t0[window]
            r = self._fast[window][:n] * math.exp((t0 - now) / span)
            b = self._slow[window][:n] * (math.exp((t0 - now) / (span * BASELINE_RATIO)) / BASELINE_RATIO)
        return (r - b) / np.sqrt(b + 1.0)

    def supported(self, item: int, window: str, now: float) -> bool:
        """Did at least `min_shoppers` distinct shoppers act on the item within the window?"""
        recent = self._shoppers.get(item)
        if recent is None or len(recent) < self.min_shoppers:
            return False
        since = now - WINDOWS[window]
        return sum(1 for when in list(recent.values()) if when >= since) >= self.min_shoppers

    def ranked(self, window: str, now: float) -> Iterable[tuple[int, float]]:
        """(item code, z) of the items that rose (z > 0) with enough support, highest z first."""
        z = self.scores(window, now)
        rising = np.flatnonzero(z > 0)
        order = rising[np.argsort(-z[rising], kind="stable")]
        for item, score in zip(order.tolist(), z[order].tolist(), strict=True):
            if self.supported(item, window, now):
                yield item, score
