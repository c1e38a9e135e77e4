"""`run_rebuild` called directly on a tiny store: stages, persistence, the lock, empty stores, failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select

from app.api.schemas.events import EventIn
from app.config import Settings
from app.recommender.itemknn import explain_all
from app.recommender.persist import dumps, loads
from app.services.building import rebuild as rebuild_module
from app.services.building.rebuild import run_rebuild
from app.services.building.tuning import DEFAULT_ALGORITHM
from app.services.serving.model import ModelMeta, ServingModel
from app.services.writes.ingest import store_events
from app.store import model_versions as versions
from app.store.db import make_engine, make_session_factory
from app.store.locks import rebuild_lock
from app.store.models import ModelVersion, RebuildRun, utcnow
from tests.conftest import two_taste_events

STAGES = {"read", "catalog", "matrix", "fit", "neighbours", "topn", "serialize", "persist"}


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


def add_events(engine: Engine, events: list[dict[str, Any]]) -> None:
    with make_session_factory(engine).begin() as session:
        store_events(session, [EventIn(**e) for e in events])


def runs(engine: Engine) -> list[RebuildRun]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(RebuildRun).order_by(RebuildRun.id)).all())


def test_empty_store_builds_nothing(settings: Settings, engine: Engine) -> None:
    result = run_rebuild(settings, engine=engine)

    assert result.status == "empty"
    assert result.version is None
    assert "read" in result.stages
    with engine.connect() as connection:
        assert versions.latest_version_number(connection) is None
    assert [r.status for r in runs(engine)] == ["succeeded"]


def test_build_persists_a_version_with_stage_timings(settings: Settings, engine: Engine) -> None:
    add_events(engine, two_taste_events())

    result = run_rebuild(settings, engine=engine)

    assert result.status == "built"
    assert result.version == 1
    assert STAGES <= result.stages.keys()
    assert all(t >= 0 for t in result.stages.values())
    with make_session_factory(engine)() as session:
        row = session.get(ModelVersion, 1)
        assert row is not None
        assert (row.algorithm, row.n_users, row.n_items, row.n_events) == (DEFAULT_ALGORITHM, 20, 10, 80)
        # Stored before the persist stage ends, so that one is only in the result.
        assert row.stages == {k: v for k, v in result.stages.items() if k != "persist"}
        assert row.artifact is not None
        model = ServingModel.from_bytes(row.artifact, ModelMeta(version=1))
    assert sorted(model.user_ids) == sorted({e["user_id"] for e in two_taste_events()})
    # u0 misses i0: it heads their precomputed list.
    u0 = model.user_index["u0"]
    assert model.item_ids[model.top_items[u0][0]] == "i0"
    # Its reason is cached beside it: one of u0's own items.
    because = model.top_because[u0][0]
    assert because >= 0 and model.seen[u0, because] > 0
    np.testing.assert_array_equal(
        model.top_because, explain_all(model.seen, model.top_items, model.neighbours)
    )
    [run] = runs(engine)
    assert (run.status, run.version, run.error) == ("succeeded", 1, None)


def test_an_artifact_stored_without_cached_reasons_gets_them_on_load(
    settings: Settings, engine: Engine
) -> None:
    add_events(engine, two_taste_events())
    run_rebuild(settings, engine=engine)
    with make_session_factory(engine)() as session:
        row = session.get(ModelVersion, 1)
        assert row is not None and row.artifact is not None
        blob = row.artifact
    state = loads(blob)
    cached = state.pop("top_because")
    model = ServingModel.from_bytes(dumps(state), ModelMeta(version=1))
    np.testing.assert_array_equal(model.top_because, cached)
    assert (cached >= 0).any()


def test_rebuild_opens_its_own_engine_when_given_none(settings: Settings, engine: Engine) -> None:
    add_events(engine, two_taste_events())
    assert run_rebuild(settings).version == 1


def test_skipped_while_another_holds_the_lock(settings: Settings, engine: Engine) -> None:
    add_events(engine, two_taste_events())
    other = make_engine(settings.sqlalchemy_url)
    try:
        with rebuild_lock(other) as acquired:
            assert acquired
            result = run_rebuild(settings, engine=engine)
            assert result.status == "skipped"
            assert result.version is None
    finally:
        other.dispose()
    assert runs(engine) == []
    # Released: the next one builds.
    assert run_rebuild(settings, engine=engine).status == "built"


def test_only_the_newest_artifacts_are_kept(settings: Settings, engine: Engine) -> None:
    add_events(engine, two_taste_events())
    for expected in (1, 2, 3):
        assert run_rebuild(settings, engine=engine).version == expected
    with make_session_factory(engine)() as session:
        kept = session.scalars(
            select(ModelVersion.version).where(ModelVersion.artifact.is_not(None))
        ).all()
    assert sorted(kept) == [3]  # only the serving version keeps its arrays


def test_failure_is_recorded_and_raised(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(engine, two_taste_events())

    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("no such model, on purpose")

    monkeypatch.setattr(rebuild_module, "make_model", broken)
    with pytest.raises(ValueError, match="on purpose"):
        run_rebuild(settings, engine=engine)

    [run] = runs(engine)
    assert run.status == "failed"
    assert run.error is not None and "on purpose" in run.error
    with engine.connect() as connection:
        assert versions.latest_version_number(connection) is None
    # The lock was released.
    monkeypatch.undo()
    assert run_rebuild(settings, engine=engine).status == "built"


def test_a_run_left_running_is_marked_interrupted(settings: Settings, engine: Engine) -> None:
    with make_session_factory(engine).begin() as session:
        versions.start_run(session, tune=False, now=utcnow())
    add_events(engine, two_taste_events())

    run_rebuild(settings, engine=engine)

    first, second = runs(engine)
    assert first.status == "failed" and "interrupted" in (first.error or "")
    assert second.status == "succeeded"


def test_algorithm_setting_chooses_the_model(make_settings: Any, engine: Engine) -> None:
    add_events(engine, two_taste_events())
    settings = make_settings(algorithm="popularity")
    result = run_rebuild(settings, engine=engine)
    with make_session_factory(engine)() as session:
        row = session.get(ModelVersion, result.version)
        assert row is not None and row.algorithm == "popularity"


def test_a_store_where_nothing_is_left_to_recommend_still_builds(settings: Settings, engine: Engine) -> None:
    # One shopper who touched every item: no user has a single candidate (regression: the
    # reasons step indexed an empty array and every rebuild of such a store failed).
    add_events(engine, [{"user_id": "solo", "item_id": "A", "type": "view"},
                        {"user_id": "solo", "item_id": "B", "type": "view"}])

    result = run_rebuild(settings, engine=engine)

    assert result.status == "built"
    with make_session_factory(engine)() as session:
        row = session.get(ModelVersion, result.version)
        assert row is not None and row.artifact is not None
        model = ServingModel.from_bytes(row.artifact, ModelMeta(version=result.version))
    assert (model.top_items == -1).all()
    assert model.neighbours[model.item_index["A"], model.item_index["B"]] > 0
