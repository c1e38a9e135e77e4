"""When ALGORITHM=auto selects the model, and what a tuned rebuild records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.api.schemas.events import parse_events
from app.config import Settings
from app.services.building.rebuild import run_rebuild
from app.services.building.tuning import tuning_due
from app.services.writes import ingest
from app.store.db import make_engine, make_session_factory
from app.store.models import ModelVersion, RebuildRun
from tests.conftest import two_taste_events


def test_tuning_due() -> None:
    auto = Settings(_env_file=None, algorithm="auto", tune_every=3)  # type: ignore[call-arg]
    assert tuning_due(auto, None)  # never tuned
    assert not tuning_due(auto, 2)
    assert tuning_due(auto, 3)
    assert not tuning_due(auto.model_copy(update={"tune_every": 0}), None)
    assert not tuning_due(auto.model_copy(update={"algorithm": "als"}), None)


def _seed_events(url: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = two_taste_events(n_users=40, n_items=12)
    for n, e in enumerate(events):
        e["timestamp"] = (start + timedelta(hours=n)).isoformat()
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        ingest.store_events(session, parse_events(events, rating_max=5))
    engine.dispose()


def test_auto_selects_on_the_first_rebuild_then_every_n(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(algorithm="auto", tune_every=2, tune_budget_seconds=0.5)
    _seed_events(settings.sqlalchemy_url)
    results = [run_rebuild(settings) for _ in range(4)]
    assert [r.status for r in results] == ["built"] * 4

    engine = make_engine(settings.sqlalchemy_url)
    with make_session_factory(engine)() as session:
        runs = session.scalars(select(RebuildRun).order_by(RebuildRun.id)).all()
        versions = session.scalars(select(ModelVersion).order_by(ModelVersion.version)).all()
    engine.dispose()
    assert [r.tune for r in runs] == [True, False, False, True]
    tuned = versions[0]
    assert tuned.metrics["tuned"] is True and "ndcg" in tuned.metrics["holdout"]
    # In between, the winner (model, parameters and confidence weights) is refitted as is.
    assert versions[1].algorithm == tuned.algorithm and versions[1].params == tuned.params
    assert versions[1].metrics["confidence"] == tuned.metrics["confidence"]
