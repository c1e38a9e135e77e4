"""One rebuild: read the events, build the matrix, fit, precompute every user's top-N, persist.

Runs in a child process (or a thread) and talks to the store only through `app.store`; the maths is
the pure `app.recommender` package. Holding the rebuild lock makes it the only one on this store.
Which model it fits is `tuning`'s decision; what it precomputes for serving is `precompute`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.recommender.baskets import BasketModel, basket_ids, basket_matrix
from app.recommender.matrix import confidence_matrix
from app.recommender.registry import DEFAULT_PARAMS, make_model
from app.services.building import precompute, spark_engine
from app.services.building.timing import StageTimer
from app.services.building.tuning import resolve_algorithm, try_choose, tuning_due
from app.shop import EVENT_TYPES, ConfidenceConfig
from app.store import erasures as erasure_store
from app.store import events as event_store
from app.store import items as item_store
from app.store import model_versions as versions
from app.store.db import make_engine, make_session_factory
from app.store.event_arrays import EventArrays, read_event_arrays
from app.store.locks import rebuild_lock
from app.store.models import ModelVersion, utcnow
from app.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# A dead rebuild process's lock is free once PostgreSQL notices its connection closed: poll for it
# this many times, this long apart, before giving up on recording its death.
DEAD_LOCK_POLLS = 30
DEAD_LOCK_POLL_SECONDS = 0.1


@dataclass
class RebuildResult:
    status: str  # "built" | "skipped" (another process holds the lock) | "empty" (no events)
    version: int | None = None
    stages: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelChoice:
    """What this rebuild fits: a model, its parameters, the confidence weights, and why."""

    algorithm: str
    params: dict[str, Any]
    config: ConfidenceConfig
    metrics: dict[str, Any]

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


def mark_interrupted(engine: Engine, message: str, *, tune: bool = False) -> None:
    """Record that a rebuild process died (if no other rebuild has started since): its run fails
    with `message`, or a failed run is added if it died before starting one. The dead process's
    lock is free once PostgreSQL notices its connection closed, hence a few attempts."""
    for _ in range(DEAD_LOCK_POLLS):
        with rebuild_lock(engine) as acquired:
            if acquired:
                with make_session_factory(engine).begin() as session:
                    versions.record_dead_run(session, tune=tune, now=utcnow(), error=message)
                return
        time.sleep(DEAD_LOCK_POLL_SECONDS)


def _build(settings: Settings, engine: Engine, *, tune: bool) -> RebuildResult:
    if settings.rebuild_engine == "spark":
        return _build_on_spark(settings, engine)
    timer = StageTimer()
    # Read before the events: an erasure committed in between is already missing from them, and
    # is filtered at serve time anyway; one committed later is not covered by this model.
    with engine.connect() as connection:
        last_erasure_id = erasure_store.newest_id(connection)
    with engine.connect() as connection:
        events = read_event_arrays(connection)
        timer.lap("read")
        catalog = item_store.catalog_texts(connection)  # in the events' snapshot
    timer.lap("catalog")
    if len(events) == 0 and _latest_version(engine) is None:
        with make_session_factory(engine).begin() as session:  # no model to filter: not needed
            erasure_store.forget_covered(session, last_erasure_id)
        return RebuildResult(status="empty", stages=timer.stages)
    # (With no events left but a model stored, every event was erased: an empty model replaces it.)

    choice = _choose(settings, engine, events, tune=tune, lap=timer.lap)
    X = confidence_matrix(
        events.user_codes,
        events.item_codes,
        events.type_codes,
        events.values,
        events.timestamps,
        len(events.users),
        len(events.items),
        choice.config,
    )
    timer.lap("matrix")

    texts = precompute.item_texts(catalog, events.items)
    model = make_model(choice.algorithm, choice.params, item_features=texts)
    model.fit(X)
    timer.lap("fit")

    # Exclude everything a shopper touched, including what they rated low (which X leaves out).
    touched = sp.csr_matrix(
        (np.ones(len(events), dtype=np.float32), (events.user_codes, events.item_codes)), shape=X.shape
    )
    snapshot = precompute.serving_model(
        model, X, touched, events.users, events.items, catalog, texts,
        cache_size=settings.cache_size, lap=timer.lap,
    )
    snapshot = dataclasses.replace(
        snapshot, baskets=_basket_model(events, len(events.items)), purchased=_purchased(events, X.shape)
    )
    timer.lap("baskets")
    blob = snapshot.to_bytes()
    timer.lap("serialize")

    size = BuildSize(len(events.users), len(events.items), len(events), events.last_event_id, last_erasure_id)
    version = _persist(engine, choice, size, blob, timer)
    timer.lap("persist")
    log.info("model version %s built: %s", version, timer.stages)
    return RebuildResult(status="built", version=version, stages=timer.stages)


def _build_on_spark(settings: Settings, engine: Engine) -> RebuildResult:
    """The same stages on a Spark cluster (`spark_engine`): the events never come to this machine
    from PostgreSQL; the job's results come back as the arrays the local engine would build."""
    timer = StageTimer()
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:  # before the events, as the local engine reads it
        last_erasure_id = erasure_store.newest_id(connection)
    with engine.connect() as connection:
        last_event_id = event_store.max_event_id(connection)
        # A SQLite store has no JDBC reader: its events go to the job as Parquet files.
        events = None if postgres else read_event_arrays(connection)
        catalog = item_store.catalog_texts(connection)
    timer.lap("catalog")
    if last_event_id == 0 or (events is not None and len(events) == 0):
        # Nothing to distribute: the local engine builds the empty model (or reports "empty").
        return _build(settings.model_copy(update={"rebuild_engine": "local"}), engine, tune=False)
    choice = _spark_choice(settings)
    built = spark_engine.fit_on_spark(
        settings, engine, events, last_event_id, choice.config,
        spark_engine.job_params(settings, choice.params), lap=timer.lap,
    )
    users, items = Vocabulary(built.user_ids), Vocabulary(built.item_ids)
    texts = precompute.item_texts(catalog, items)
    snapshot = precompute.assemble(
        built.X, users, items, catalog, texts, built.neighbours, built.top_items, built.top_scores,
        built.popularity, lap=timer.lap,
    )
    blob = snapshot.to_bytes()
    timer.lap("serialize")
    size = BuildSize(len(users), len(items), built.n_events, last_event_id, last_erasure_id)
    version = _persist(engine, choice, size, blob, timer)
    timer.lap("persist")
    log.info("model version %s built on Spark: %s", version, timer.stages)
    return RebuildResult(status="built", version=version, stages=timer.stages)


def _spark_choice(settings: Settings) -> ModelChoice:
    """The Spark engine fits ALS (MLlib's); model selection runs on the local engine only."""
    if settings.algorithm not in ("auto", "als"):
        raise ValueError(
            f"REBUILD_ENGINE=spark builds ALS; ALGORITHM={settings.algorithm} needs REBUILD_ENGINE=local"
        )
    return ModelChoice("als", dict(DEFAULT_PARAMS["als"]), settings.confidence_config(), {"engine": "spark"})


def _latest_version(engine: Engine) -> int | None:
    with make_session_factory(engine)() as session:
        return versions.latest_version_number(session.connection())


def _choose(
    settings: Settings, engine: Engine, events: EventArrays, *, tune: bool, lap: Callable[[str], None]
) -> ModelChoice:
    """Select on the events when tuning (the table is saved as the last evaluation), else the
    model `resolve_algorithm` names; a selection that cannot run says why in the metrics."""
    base = settings.confidence_config()
    choice, skipped = try_choose(events, settings, base) if tune else (None, None)
    sessions = make_session_factory(engine)
    if choice is not None:
        with sessions.begin() as session:
            versions.save_evaluation(session, {"kind": "tuning", **choice.metrics}, choice.table, utcnow())
        lap("tune")
        return ModelChoice(choice.algorithm, choice.params, choice.config, choice.metrics)
    with sessions() as session:
        last = versions.last_tuned(session) if settings.algorithm == "auto" else None
    algorithm, params, config, metrics = resolve_algorithm(settings.algorithm, last, base)
    if skipped:
        metrics = {**metrics, "tuning_skipped": skipped}
    return ModelChoice(algorithm, params, config, metrics)


class BuildSize(NamedTuple):
    n_users: int
    n_items: int
    n_events: int
    last_event_id: int
    last_erasure_id: int


def _persist(engine: Engine, choice: ModelChoice, size: BuildSize, blob: bytes, timer: StageTimer) -> int:
    with make_session_factory(engine).begin() as session:
        return versions.save_version(
            session,
            ModelVersion(
                algorithm=choice.algorithm,
                params=choice.params,
                metrics=choice.metrics,
                stages=timer.stages,
                built_at=utcnow(),
                build_seconds=round(timer.total(), 3),
                n_users=size.n_users,
                n_items=size.n_items,
                n_events=size.n_events,
                last_event_id=size.last_event_id,
                last_erasure_id=size.last_erasure_id,
                artifact=blob,
            ),
        )


def _purchased(events: EventArrays, shape: tuple[int, int]) -> sp.csr_matrix:
    """1 where the shopper bought the item: what `exclude_purchased` leaves out."""
    bought = events.type_codes == EVENT_TYPES.index("purchase")
    ones = np.ones(int(bought.sum()), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (events.user_codes[bought], events.item_codes[bought])), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _basket_model(events: EventArrays, n_items: int) -> BasketModel:
    """Frequently bought together, from the cart adds and purchases of each shopper's visits."""
    carted = np.isin(events.type_codes, [EVENT_TYPES.index("add_to_cart"), EVENT_TYPES.index("purchase")])
    shoppers, items = events.user_codes[carted], events.item_codes[carted]
    B = basket_matrix(basket_ids(shoppers, events.timestamps[carted]), items, n_items)
    return BasketModel.fit(B)
