"""One rebuild: read the events, build the matrix, fit, precompute every user's top-N, persist.

Runs in a child process (or a thread) and talks to the store only through `app.store`; the maths is
the pure `app.recommender` package. Holding the rebuild lock makes it the only one on this store.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.recommender.content import TfidfVectorizer
from app.recommender.itemknn import ItemKNN, explain_all
from app.recommender.matrix import confidence_matrix
from app.recommender.popularity import popularity_scores
from app.recommender.registry import DEFAULT_MODEL, DEFAULT_PARAMS, make_model
from app.recommender.topn import recommend_all
from app.services.building.tuning import Choice, choose_model
from app.services.serving.model import ModelMeta, ServingModel
from app.shop import ConfidenceConfig, item_text
from app.store import erasures as erasure_store
from app.store import items as item_store
from app.store import model_versions as versions
from app.store.db import make_engine, make_session_factory
from app.store.event_arrays import EventArrays, read_event_arrays
from app.store.locks import rebuild_lock
from app.store.models import ModelVersion, utcnow
from app.vocabulary import Vocabulary

log = logging.getLogger(__name__)

DEFAULT_ALGORITHM = DEFAULT_MODEL  # served until a selection ran (README, Models)
NEIGHBOURS_K = 50  # item-item neighbours kept for real-time re-scoring, similar items, reasons
DEAD_LOCK_ATTEMPTS = 30  # x 0.1 s: how long a dead rebuild process's lock may take to free


@dataclass
class RebuildResult:
    status: str  # "built" | "skipped" (another process holds the lock) | "empty" (no events)
    version: int | None = None
    stages: dict[str, float] = field(default_factory=dict)


class StageTimer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = round(now - self._t, 4)
        self._t = now


def run_rebuild(
    settings: Settings, *, engine: Engine | None = None, tune: bool | None = None
) -> RebuildResult:
    """Rebuild under the store-wide lock; a failure is recorded in `rebuild_runs` and re-raised.

    `tune`: True evaluates the candidate models and serves the winner; False refits the current
    choice; None decides by the settings (`tuning_due`)."""
    own_engine = engine is None
    engine = engine or make_engine(settings.sqlalchemy_url, pool_size=2)
    sessions = make_session_factory(engine)
    try:
        with rebuild_lock(engine) as acquired:
            if not acquired:
                return RebuildResult(status="skipped")
            with sessions.begin() as session:
                if tune is None:
                    tune = tuning_due(settings, versions.runs_since_tuning(session))
                run_id = versions.start_run(session, tune=tune, now=utcnow())
            try:
                with _heartbeat(sessions, run_id):
                    result = _build(settings, engine, tune=tune)
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.error("rebuild failed: %s\n%s", error, traceback.format_exc())
                with sessions.begin() as session:
                    versions.finish_run(session, run_id, now=utcnow(), version=None, error=error)
                raise
            with sessions.begin() as session:
                versions.finish_run(session, run_id, now=utcnow(), version=result.version, error=None)
            return result
    finally:
        if own_engine:
            engine.dispose()


@contextmanager
def _heartbeat(sessions: sessionmaker[Session], run_id: int) -> Iterator[None]:
    """Refresh the run's heartbeat every HEARTBEAT_SECONDS while the build runs, from a thread."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(versions.HEARTBEAT_SECONDS):
            try:
                with sessions.begin() as session:
                    versions.beat(session, run_id, now=utcnow())
            except SQLAlchemyError as exc:  # the store is away: the build itself will say so
                log.warning("rebuild heartbeat failed: %s", exc.__class__.__name__)

    thread = threading.Thread(target=beat, name="rebuild-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _try_choose(
    events: EventArrays, settings: Settings, base: ConfidenceConfig
) -> tuple[Choice | None, str | None]:
    """Model selection, or (None, why) when the events cannot be split into a past and a future."""
    try:
        return choose_model(events, settings, base), None
    except ValueError as exc:
        log.warning("model selection skipped: %s", exc)
        return None, str(exc)


def tuning_due(settings: Settings, runs_since_tuning: int | None) -> bool:
    """With ALGORITHM=auto, select the model on the first rebuild and then every TUNE_EVERY."""
    if settings.algorithm != "auto" or settings.tune_every == 0:
        return False
    return runs_since_tuning is None or runs_since_tuning >= settings.tune_every


def mark_interrupted(engine: Engine, message: str, *, tune: bool = False) -> None:
    """Record that a rebuild process died (if no other rebuild has started since): its run fails
    with `message`, or a failed run is added if it died before starting one. The dead process's
    lock is free once PostgreSQL notices its connection closed, hence a few attempts."""
    for _ in range(DEAD_LOCK_ATTEMPTS):
        with rebuild_lock(engine) as acquired:
            if acquired:
                with make_session_factory(engine).begin() as session:
                    versions.record_dead_run(session, tune=tune, now=utcnow(), error=message)
                return
        time.sleep(0.1)


def _build(settings: Settings, engine: Engine, *, tune: bool) -> RebuildResult:
    started = time.perf_counter()
    timer = StageTimer()
    sessions = make_session_factory(engine)
    # Read before the events: an erasure committed in between is already missing from them, and
    # is filtered at serve time anyway; one committed later is not covered by this model.
    with engine.connect() as connection:
        last_erasure_id = erasure_store.newest_id(connection)
    with engine.connect() as connection:
        events = read_event_arrays(connection)
        timer.lap("read")
        catalog = item_store.catalog_texts(connection)  # in the events' snapshot
    timer.lap("catalog")
    if len(events) == 0:
        with sessions() as session:
            previous = versions.latest_version_number(session.connection())
        if previous is None:
            with sessions.begin() as session:  # no model to filter: the records are not needed
                erasure_store.forget_covered(session, last_erasure_id)
            return RebuildResult(status="empty", stages=timer.stages)
        # Every event is gone (erased): an empty model replaces the one built from them.

    base = settings.confidence_config()
    choice, skipped = _try_choose(events, settings, base) if tune else (None, None)
    if choice is not None:
        algorithm, params, config, metrics = choice.algorithm, choice.params, choice.config, choice.metrics
        with sessions.begin() as session:
            versions.save_evaluation(session, {"kind": "tuning", **metrics}, choice.table, utcnow())
        timer.lap("tune")
    else:
        with sessions() as session:
            last = versions.last_tuned(session) if settings.algorithm == "auto" else None
        algorithm, params, config, metrics = resolve_algorithm(settings.algorithm, last, base)
        if skipped:
            metrics = {**metrics, "tuning_skipped": skipped}

    users, user_codes = events.users, events.user_codes
    items, item_codes = events.items, events.item_codes
    X = confidence_matrix(
        user_codes,
        item_codes,
        events.type_codes,
        events.values,
        events.timestamps,
        len(users),
        len(items),
        config,
    )
    timer.lap("matrix")

    texts = _item_texts(catalog, items)
    model = make_model(algorithm, params, item_features=texts)
    model.fit(X)
    timer.lap("fit")
    if isinstance(model, ItemKNN):
        neighbours = model.neighbours
    else:
        neighbours = ItemKNN(k=NEIGHBOURS_K).fit(X).neighbours
    timer.lap("neighbours")

    # Exclude everything a shopper touched, including what they rated low (which X leaves out).
    touched = sp.csr_matrix(
        (np.ones(len(user_codes), dtype=np.float32), (user_codes, item_codes)), shape=X.shape
    )
    top_items, top_scores = recommend_all(model, touched, settings.cache_size, exclude_seen=True)
    # A predicted preference <= 0 is no evidence: such slots are filled from popularity at serve time.
    top_items[~(top_scores > 0)] = -1
    top_because = explain_all(X, top_items, neighbours)
    timer.lap("topn")

    # The fallback order is the popularity model's own: distinct shoppers, ties by confidence.
    popularity = popularity_scores(X).astype(np.float32)
    popular = np.argsort(-popularity, kind="stable").astype(np.int32)
    popular = popular[popularity[popular] > 0]
    top = float(popularity[popular[0]]) if len(popular) else 1.0
    cat_names, cat_indptr, cat_items = _category_popularity(catalog, items, popular)
    content = TfidfVectorizer()
    content_features = content.fit_transform(texts)
    timer.lap("content")
    snapshot = ServingModel(
        meta=ModelMeta(),
        user_ids=users.ids,
        item_ids=items.ids,
        top_items=top_items,
        top_scores=np.where(top_items >= 0, top_scores, 0).astype(np.float32),
        top_because=top_because,
        seen=X,
        neighbours=neighbours.astype(np.float32),
        popular=popular,
        popular_scores=(popularity[popular] / top).astype(np.float32),
        category_names=cat_names,
        category_indptr=cat_indptr,
        category_items=cat_items,
        content=content,
        content_features=content_features,
    )
    blob = snapshot.to_bytes()
    timer.lap("serialize")

    with sessions.begin() as session:
        version = versions.save_version(
            session,
            ModelVersion(
                algorithm=algorithm,
                params=params,
                metrics=metrics,
                stages=timer.stages,
                built_at=utcnow(),
                build_seconds=round(time.perf_counter() - started, 3),
                n_users=len(users),
                n_items=len(items),
                n_events=len(events),
                last_event_id=events.last_event_id,
                last_erasure_id=last_erasure_id,
                artifact=blob,
            ),
        )
    timer.lap("persist")
    log.info("model version %s built: %s", version, timer.stages)
    return RebuildResult(status="built", version=version, stages=timer.stages)


def resolve_algorithm(
    setting: str, last_tuned: tuple[str, dict[str, Any], dict[str, Any]] | None, base: ConfidenceConfig
) -> tuple[str, dict[str, Any], ConfidenceConfig, dict[str, Any]]:
    """`ALGORITHM=auto` serves the last tuned winner (model, parameters and confidence weights),
    else the default; any other name is served with its default parameters."""
    if setting != "auto":
        return setting, dict(DEFAULT_PARAMS.get(setting, {})), base, {}
    if last_tuned is not None:
        algorithm, params, metrics = last_tuned
        confidence = metrics.get("confidence") or {}
        return algorithm, params, dataclasses.replace(base, **confidence), metrics
    return DEFAULT_ALGORITHM, dict(DEFAULT_PARAMS.get(DEFAULT_ALGORITHM, {})), base, {}


def _item_texts(catalog: list[Any], items: Vocabulary) -> list[str]:
    """One text per item code (title, description, categories, tags); empty when unknown."""
    texts = [""] * len(items)
    for row in catalog:
        code = items.get(row.item_id)
        if code is not None:
            texts[code] = item_text(row._asdict())
    return texts


def _category_popularity(
    catalog: list[Any], items: Vocabulary, popular: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per category, the model's items of that category in popularity order (a CSR layout)."""
    rank = np.full(len(items), np.iinfo(np.int32).max, dtype=np.int64)
    rank[popular] = np.arange(len(popular))
    pairs: list[tuple[str, int]] = []
    for row in catalog:
        code = items.get(row.item_id)
        if code is not None and rank[code] < len(popular):
            pairs.extend((c, code) for c in set(row.categories or ()))
    if not pairs:
        return [], np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32)
    names_arr = np.array([c for c, _ in pairs])
    codes = np.array([i for _, i in pairs], dtype=np.int32)
    names, cat = np.unique(names_arr, return_inverse=True)
    order = np.lexsort((rank[codes], cat))
    counts = np.bincount(cat, minlength=len(names))
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return names.tolist(), indptr, codes[order]
