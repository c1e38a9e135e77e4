"""The long-lived resources of one server process, owned by the FastAPI lifespan.

`Runtime` holds the engine, the session factory, the serving model snapshot, the live catalog and
recent-activity indexes, and the background worker that rebuilds and polls. Routes reach it through
a dependency; nothing here is a module-level global.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal, Protocol

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.metrics import ServingCounts
from app.recommender.matrix import event_weights
from app.services.serving.answers import AnswerCache
from app.services.serving.live import CatalogIndex, RecentActivity
from app.services.serving.memory import release_freed_memory, settle, tune_malloc
from app.services.serving.model import ModelMeta, ServingModel
from app.services.serving.placements import PlacementIndex
from app.services.serving.trending import TrendingIndex
from app.services.serving.trending import seed as seed_trending
from app.shop import EVENT_TYPES, ConfidenceConfig
from app.store import erasures as erasure_store
from app.store import events as event_store
from app.store import items as item_store
from app.store import model_versions as versions
from app.store.db import make_engine, make_session_factory
from app.store.models import utcnow

log = logging.getLogger(__name__)

# Each poll re-reads what changed just before the previous poll: a transaction may commit after a
# later one it raced with. Past the overlap, a quiet store costs a poll nothing.
CATALOG_OVERLAP = timedelta(seconds=5)
EVENTS_OVERLAP_SECONDS = 1.0
TAIL_BATCH = 10_000
OWN_BATCHES_KEPT = 10_000  # bounds `own_events` while polls fail (batches, not events)


RebuildStatus = Literal["scheduled", "running"]


class RebuildRequests(Protocol):
    """The process's background worker as the rest sees it (`building.background.Background`):
    declared here so that serving and writes need not import the build stack."""

    building: bool

    def request_rebuild(self, *, tune: bool = False) -> RebuildStatus: ...

    def request_erasure_rebuild(self, erasure_id: int) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    model: ServingModel = field(default_factory=ServingModel.empty)
    catalog: CatalogIndex = field(default_factory=CatalogIndex)
    activity: RecentActivity = field(default_factory=RecentActivity)
    purchases: RecentActivity = field(default_factory=RecentActivity)  # the purchases among them
    placements: PlacementIndex = field(default_factory=PlacementIndex)
    # Shoppers erased after the serving model was built (user -> erasure id): served as unknown
    # until a model built without them loads. Read from the store at start and at each poll.
    erased: dict[str, int] = field(default_factory=dict)
    erasures_seen: int = 0  # the newest erasure id read into `erased`
    background: RebuildRequests | None = None  # the process's background worker, once started
    catalog_polled_at: datetime | None = None  # when the last catalog poll started
    events_seen_until: int = 0  # the newest event id applied to `activity`
    tail_marks: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic, seen id)
    # Ids of the events this process stored and recorded itself, per batch (newest id, ids): the
    # tail skips them instead of recording every one again from the store.
    own_events: deque[tuple[int, frozenset[int]]] = field(default_factory=deque)
    own_events_lock: threading.Lock = field(default_factory=threading.Lock)
    model_generation: int = 0  # bumped by every model swap, after the swap
    answers: AnswerCache = field(init=False)
    counts: ServingCounts = field(default_factory=ServingCounts)  # for /metrics
    trending: TrendingIndex = field(init=False)

    def __post_init__(self) -> None:
        self.answers = AnswerCache(self.settings.answer_cache_shoppers)
        self.trending = TrendingIndex(min_shoppers=self.settings.trending_min_shoppers)

    @cached_property
    def confidence(self) -> ConfidenceConfig:
        """The matrix formula's weights, which also weigh real-time events (settings never change)."""
        return self.settings.confidence_config()

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        tune_malloc()
        engine = make_engine(settings.sqlalchemy_url)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    def close(self) -> None:
        self.engine.dispose()

    # --- the serving model -------------------------------------------------------------------

    def load_latest_model(self) -> bool:
        """Swap in the newest stored model if it is newer than the one serving. True if swapped."""
        with self.sessions() as session:
            number = versions.latest_version_number(session.connection())
            if number is None or (self.model.version is not None and number <= self.model.version):
                return False
            row = versions.load_version(session, number)
            if row is None or row.artifact is None:
                return False
            meta = ModelMeta(
                version=row.version,
                algorithm=row.algorithm,
                params=dict(row.params),
                metrics=dict(row.metrics),
                built_at=row.built_at,
                build_seconds=row.build_seconds,
                n_events=row.n_events,
                last_event_id=row.last_event_id,
                last_erasure_id=row.last_erasure_id,
            )
            blob = row.artifact
            session.expunge(row)
            del row  # the blob is the only reference left to the stored bytes
            # libpq keeps its input buffer at the size of the largest message the connection
            # received (this artifact, hundreds of MB) until the connection closes: close this one
            # rather than return it to the pool, where each model load grew another.
            session.connection().invalidate()
        snapshot = ServingModel.from_bytes(blob, meta)
        del blob
        self.model = snapshot  # one attribute store: the atomic swap
        self.model_generation += 1  # after it: an answer stamped with the new one saw the new model
        self.answers.clear()
        for user_id, erasure_id in list(self.erased.items()):
            if erasure_id <= meta.last_erasure_id:
                del self.erased[user_id]
        self.activity.prune(meta.last_event_id)
        self.purchases.prune(meta.last_event_id)
        release_freed_memory()  # the previous model's arrays
        log.info("serving model version %s (%s)", meta.version, meta.algorithm)
        return True

    # --- erasures ---------------------------------------------------------------------------

    def refresh_erasures(self) -> bool:
        """Read erasures other processes recorded (all pending ones the first time): their shoppers
        stop being served from the model's rows. Read before the model is loaded: an erasure record
        is deleted only with the storing of a model built without it, which that load then finds.
        True if there were new ones."""
        since = max(self.erasures_seen, self.model.meta.last_erasure_id)
        with self.engine.connect() as connection:
            rows = erasure_store.after(connection, since)
        for erasure_id, user_id in rows:
            self.forget(user_id, erasure_id)
        return bool(rows)

    def forget(self, user_id: str, erasure_id: int) -> None:
        """Serve this shopper as unknown from now on: their model row, cached answers and
        recent activity stop counting."""
        if erasure_id > self.model.meta.last_erasure_id:
            self.erased[user_id] = max(erasure_id, self.erased.get(user_id, 0))
        self.erasures_seen = max(self.erasures_seen, erasure_id)
        self.activity.forget(user_id)
        self.purchases.forget(user_id)
        self.answers.forget(user_id)

    # --- the live catalog --------------------------------------------------------------------

    def refresh_catalog(self) -> None:
        """Apply catalog rows changed since the last refresh (all rows the first time)."""
        started = utcnow()
        since = self.catalog_polled_at
        window = None if since is None else since - CATALOG_OVERLAP
        with self.engine.connect() as connection:
            rows = item_store.changed_since(connection, window)
            self.placements.refresh(connection)
        self.catalog.apply_items(rows)
        self.catalog_polled_at = started

    # --- recent activity -----------------------------------------------------------------------

    def record_events(self, rows: Sequence[Sequence[Any]]) -> None:
        """Feed (id, user_id, item_id, type, value[, ts]) rows into the real-time activity index
        and the trending counts."""
        self.record_activity(rows)
        self.trending.record(rows)

    def record_activity(self, rows: Sequence[Sequence[Any]]) -> None:
        """Feed (id, user_id, item_id, type, value, ...) rows into the real-time activity index."""
        if not rows:
            return
        codes = np.array([EVENT_TYPES.index(r[3]) for r in rows], dtype=np.int8)
        values = np.array([r[4] for r in rows], dtype=np.float64)
        weights = event_weights(codes, values, self.confidence)
        self.activity.add_many(
            (r[1], r[2], weight, r[0]) for r, weight in zip(rows, weights.tolist(), strict=True) if weight > 0
        )
        self.purchases.add_many((r[1], r[2], 1.0, r[0]) for r in rows if r[3] == "purchase")

    def record_own_events(self, rows: Sequence[tuple[int, str, str, str, float, datetime]]) -> None:
        """Record the events this process just stored (see `record_events`), remembered so
        that the tail does not record them a second time."""
        if not rows:
            return
        self.record_events(rows)
        ids = frozenset(r[0] for r in rows)
        with self.own_events_lock:
            self.own_events.append((max(ids), ids))
            while len(self.own_events) > OWN_BATCHES_KEPT:
                self.own_events.popleft()

    def _own_ids_after(self, start: int) -> frozenset[int] | set[int]:
        """The ids of own batches the tail may still read (newer than `start`); older ones go."""
        with self.own_events_lock:
            kept = [ids for newest, ids in self.own_events if newest > start]
            if len(kept) < len(self.own_events):
                self.own_events = deque((max(ids), ids) for ids in kept)
        if len(kept) == 1:
            return kept[0]
        return set().union(*kept)

    def tail_events(self) -> None:
        """Read events other processes stored since the last tail into the activity index."""
        now = time.monotonic()
        marks = self.tail_marks
        while len(marks) > 1 and marks[1][0] <= now - EVENTS_OVERLAP_SECONDS:
            marks.popleft()
        start = marks[0][1] if marks else self.events_seen_until
        start = max(start, self.model.meta.last_event_id)
        own = self._own_ids_after(start)
        while True:
            with self.engine.connect() as connection:
                rows = event_store.read_events_after(connection, start, TAIL_BATCH)
            if not rows:
                break
            self.record_events([r for r in rows if r[0] not in own])
            start = rows[-1][0]
            self.events_seen_until = max(self.events_seen_until, start)
            if len(rows) < TAIL_BATCH:
                break
        marks.append((now, self.events_seen_until))

    def safe_startup_load(self) -> None:
        """Load what can be loaded at start; a store without a schema yet starts empty."""
        swapped = False
        try:
            self.refresh_catalog()
            self.refresh_erasures()  # before the model: no erased shopper is served from it
            swapped = self.load_latest_model()  # a swap settles the process's memory itself
            self.events_seen_until = self.model.meta.last_event_id
            seed_trending(self.trending, self.engine, self.events_seen_until)
        except SQLAlchemyError as exc:
            log.warning("starting without a model: the store is not ready (%s)", exc.__class__.__name__)
        except (KeyError, ValueError, OSError) as exc:  # an unreadable artifact must not stop the server
            log.error("starting without a model: the stored model could not be loaded (%r)", exc)
        if not swapped:
            settle()  # what the process holds from now on: out of the collector's full passes
