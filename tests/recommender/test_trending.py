"""Trending counts on planted bursts: the rise over an item's own baseline, with minimum support."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.recommender.trending import BASELINE_RATIO, TrendingCounters

HOUR, DAY = 3600.0, 86_400.0
NOW = 1_800_000_000.0


def add(c: TrendingCounters, item: int, times: list[float], shoppers: list[int] | None = None) -> None:
    shoppers = shoppers if shoppers is not None else list(range(1000 * item, 1000 * item + len(times)))
    c.add([item] * len(times), shoppers, times, NOW)


def ranking(c: TrendingCounters, window: str) -> list[int]:
    return [item for item, _ in c.ranked(window, NOW)]


def test_three_events_never_trend_over_three_hundred() -> None:
    c = TrendingCounters(min_shoppers=3)
    add(c, 0, [NOW - k * DAY / 10 for k in range(1, 300)])  # a steady seller: 10 a day for a month
    add(c, 0, [NOW - k * 10 for k in range(300)])  # then 300 in the last hour
    add(c, 1, [NOW - 60, NOW - 120, NOW - 180])  # 3 events by 3 shoppers, nothing before
    assert ranking(c, "1h") == [0, 1]
    z = c.scores("1h", NOW)
    assert z[0] > 10 * z[1]


def test_the_default_support_keeps_three_events_out() -> None:
    c = TrendingCounters()  # five distinct shoppers
    add(c, 1, [NOW - 60, NOW - 120, NOW - 180])
    assert c.scores("1h", NOW)[1] > 0 and ranking(c, "1h") == []


def test_one_shopper_cannot_make_an_item_trend() -> None:
    c = TrendingCounters(min_shoppers=5)
    add(c, 0, [NOW - k for k in range(500)], shoppers=[42] * 500)
    assert ranking(c, "1h") == []
    add(c, 0, [NOW - 1] * 4, shoppers=[1, 2, 3, 4])
    assert ranking(c, "1h") == [0]


def test_a_steady_item_does_not_trend_however_popular() -> None:
    c = TrendingCounters(min_shoppers=1)
    # 1,000 events a day, evenly, for ten baselines of the 24 h window; a small item rising.
    span = 10 * BASELINE_RATIO * DAY
    add(c, 0, list(np.linspace(NOW - span, NOW, 20_000 * int(BASELINE_RATIO))))
    add(c, 1, [NOW - k * 600 for k in range(20)])
    assert c.scores("24h", NOW)[0] < 1.5
    assert ranking(c, "24h")[0] == 1


def test_support_is_counted_within_the_window() -> None:
    c = TrendingCounters(min_shoppers=5)
    add(c, 0, [NOW - 2 * DAY] * 5)
    assert ranking(c, "1h") == [] and ranking(c, "24h") == []
    assert ranking(c, "7d") == [0]


def test_future_times_count_as_now_and_counts_survive_a_rebase() -> None:
    c = TrendingCounters(min_shoppers=1)
    c.add([0], [1], [NOW + 10 * DAY], NOW)  # a client clock ahead
    assert math.isclose(c.scores("1h", NOW)[0], (1 - 1 / BASELINE_RATIO) / math.sqrt(1 / BASELINE_RATIO + 1))
    later = NOW + 400 * HOUR  # past the rebase point of the 1 h window
    c.add([1], [2], [later], later)
    z = c.scores("1h", later)
    assert np.isfinite(z).all() and z[0] == pytest.approx(0, abs=1e-9) and z[1] > 0


def test_the_arrays_grow_with_new_items() -> None:
    c = TrendingCounters(min_shoppers=1, capacity=2)
    c.add([0, 5000], [1, 2], [NOW, NOW], NOW)
    assert c.n_items == 5001 and ranking(c, "1h") == [0, 5000]
