"""Prometheus metrics: what `GET /metrics` exposes, defined once here and recorded where things happen.

With several server processes (`shoprec serve --workers N`), prometheus-client's multiprocess mode
is on: `shoprec serve` points PROMETHEUS_MULTIPROC_DIR at an empty directory before the workers
start, each process writes its values there, and a scrape of any one of them sums them all.

The recommendations path counts with plain integers (`ServingCounts`, a few nanoseconds a request),
which each process adds to the Prometheus counters at every poll and scrape (`publish_counts`).
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# prometheus-client chose its value class when first imported, from PROMETHEUS_MULTIPROC_DIR.
MULTIPROCESS = values.ValueClass is not values.MutexValue

# Request latencies of a service answering from memory: tens of microseconds to seconds.
LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
REBUILD_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

HTTP_REQUESTS = Counter(
    "shoprec_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "shoprec_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
EVENTS = Counter(
    "shoprec_events",
    "Events received through the API, by type and outcome (accepted, or a duplicate event_id).",
    ["type", "outcome"],
)
REBUILDS = Counter(
    "shoprec_rebuilds",
    "Model rebuilds run by this service, by outcome (built, empty, skipped, failed).",
    ["outcome"],
)
REBUILD_SECONDS = Histogram(
    "shoprec_rebuild_duration_seconds",
    "Wall time of a rebuild, by outcome.",
    ["outcome"],
    buckets=REBUILD_BUCKETS,
)
REBUILD_STAGE_SECONDS = Histogram(
    "shoprec_rebuild_stage_duration_seconds",
    "Time of each stage of a successful rebuild (read, matrix, fit, topn, persist, ...).",
    ["stage"],
    buckets=REBUILD_BUCKETS,
)
MODEL_VERSION = Gauge(
    "shoprec_model_version",
    "Version of the model the process serves (0: none yet).",
    multiprocess_mode="livemax",
)
MODEL_AGE = Gauge(
    "shoprec_model_age_seconds",
    "Seconds since the serving model was built (as of the scrape).",
    multiprocess_mode="livemin",
)
ANSWERS = Counter(
    "shoprec_recommendation_answers",
    "Recommendation answers, by source: the answer cache, or computed from the model.",
    ["source"],
)
RESCORES = Counter(
    "shoprec_realtime_rescores",
    "Real-time re-scores: answers for a shopper who acted since the last rebuild, re-ranked at once.",
)


# A request's tally: [requests, seconds summed, then one count per latency bucket (not cumulative:
# each request counts in the first bucket its time fits, as prometheus-client's histogram keeps them)].
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
_SUM = 1
_FIRST_BUCKET = 2


@dataclass
class ServingCounts:
    """What the request path counts, with plain integers and lists: a few hundred nanoseconds a
    request, where prometheus-client's locked counters and histograms cost several microseconds.
    `publish_counts` adds what was counted since its last call to the Prometheus metrics."""

    answers_cached: int = 0
    answers_computed: int = 0
    realtime_rescores: int = 0
    requests: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    published: dict[object, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one publisher at a time

    def count_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        tally = self.requests.get(key)
        if tally is None:
            tally = self.requests.setdefault(key, [0.0] * (_FIRST_BUCKET + len(_BOUNDS)))
        tally[0] += 1
        tally[_SUM] += seconds
        tally[_FIRST_BUCKET + bisect_left(_BOUNDS, seconds)] += 1


def publish_counts(counts: ServingCounts) -> None:
    with counts.lock:
        for name, counter in (
            ("answers_cached", ANSWERS.labels("cache")),
            ("answers_computed", ANSWERS.labels("computed")),
            ("realtime_rescores", RESCORES),
        ):
            delta = _delta(counts, name, [getattr(counts, name)])
            if delta[0] > 0:
                counter.inc(delta[0])
        for key, tally in list(counts.requests.items()):
            delta = _delta(counts, key, list(tally))
            if delta[0] <= 0:
                continue
            route, method, status = key
            HTTP_REQUESTS.labels(route, method, str(status)).inc(delta[0])
            histogram = HTTP_LATENCY.labels(route, method)
            # Bulk observations: prometheus-client's histogram keeps its sum and per-bucket counts
            # as values that `inc` adds to (`observe` would take one request at a time).
            histogram._sum.inc(delta[_SUM])
            for bucket, n in zip(histogram._buckets, delta[_FIRST_BUCKET:], strict=True):
                if n:
                    bucket.inc(n)


def _delta(counts: ServingCounts, key: object, now: list[float]) -> list[float]:
    """What grew since the last publication of `key` (a copy is taken first: the request path
    keeps counting while this runs, and what it adds meanwhile is published next time)."""
    before = counts.published.get(key)
    counts.published[key] = now
    return now if before is None else [a - b for a, b in zip(now, before, strict=True)]


def record_events(counts_by_type: dict[tuple[str, str], int]) -> None:
    """`{(type, outcome): n}` for one accepted batch."""
    for (event_type, outcome), n in counts_by_type.items():
        if n:
            EVENTS.labels(event_type, outcome).inc(n)


def record_rebuild(outcome: str, seconds: float, stages: dict[str, float]) -> None:
    REBUILDS.labels(outcome).inc()
    REBUILD_SECONDS.labels(outcome).observe(seconds)
    for stage, stage_seconds in stages.items():
        REBUILD_STAGE_SECONDS.labels(stage).observe(stage_seconds)


def record_model(version: int | None, built_at_epoch: float | None) -> None:
    MODEL_VERSION.set(version or 0)
    if built_at_epoch is not None:
        MODEL_AGE.set(max(0.0, time.time() - built_at_epoch))


def process_exiting() -> None:
    """In multiprocess mode, drop this process's live gauges (its files stay for the counters)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())


def exposition() -> bytes:
    """The text exposition of every metric: this process's, or all the processes' in multiprocess mode."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
