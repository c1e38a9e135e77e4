"""`settle`: what survives a full collection is frozen out of later ones, until the next settle;
a server settles once at start."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.api.schemas.events import EventIn
from app.config import Settings
from app.services.building.rebuild import run_rebuild
from app.services.serving import memory
from app.services.serving import runtime as runtime_module
from app.services.serving.memory import settle
from app.services.serving.runtime import Runtime
from app.services.writes.ingest import store_events
from app.store.db import make_engine, make_session_factory
from app.store.migrate import upgrade
from tests.conftest import two_taste_events


class Node:
    pass


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_survivors_are_left_out_of_later_collections() -> None:
    kept = Node()
    settle()
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # in no generation a collection walks
    made_after = Node()
    assert any(o is made_after for o in gc.get_objects())


def test_a_frozen_object_in_a_cycle_goes_at_the_next_settle() -> None:
    node = Node()
    settle()
    node.self = node  # type: ignore[attr-defined]
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is not None  # frozen: the collections in between leave it
    settle()
    assert gone() is None


def test_a_server_start_settles_once_with_or_without_a_model(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settled: list[None] = []
    counting = lambda: settled.append(None)  # noqa: E731
    monkeypatch.setattr(memory, "settle", counting)  # what a model swap calls
    monkeypatch.setattr(runtime_module, "settle", counting)  # what the start calls otherwise
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)

    empty = Runtime.create(settings)
    empty.safe_startup_load()
    assert len(settled) == 1 and empty.model.version is None
    empty.close()

    with make_session_factory(engine).begin() as session:
        store_events(session, [EventIn(**e) for e in two_taste_events()])
    run_rebuild(settings, engine=engine)
    engine.dispose()
    loaded = Runtime.create(settings)
    loaded.safe_startup_load()
    assert len(settled) == 2 and loaded.model.version == 1
    loaded.close()
