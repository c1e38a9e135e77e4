"""Each write service owns its unit of work: it commits, then updates the process's live indexes.
The request's session dependency only closes the session (rolling back what nobody committed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.deps import get_session
from app.api.schemas.events import parse_events
from app.api.schemas.items import ItemIn
from app.config import Settings
from app.services.serving.runtime import Runtime
from app.services.writes import catalog, erasure, ingest, users
from app.store.models import Event, Item, User


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.create(settings)
    yield runtime
    runtime.close()


def committed(runtime: Runtime, model: type, **where: str) -> int:
    """Rows another connection sees: only what was committed."""
    with runtime.sessions() as other:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return other.scalar(stmt) or 0


def test_recorded_events_are_committed_then_count_at_once(runtime: Runtime) -> None:
    events = parse_events(
        [{"event_id": "e1", "user_id": "u1", "item_id": "new-item", "type": "purchase"}], rating_max=5
    )
    with runtime.sessions() as session:
        result = ingest.record_events(runtime, session, events)
        assert not session.in_transaction()  # committed, nothing left open
    assert (result.accepted, result.duplicates) == (1, 0)
    assert committed(runtime, Event, user_id="u1") == 1
    assert runtime.activity.get("u1", 0) == {"new-item": pytest.approx(runtime.confidence.purchase)}
    assert runtime.catalog.exists("new-item")


def test_items_put_and_deleted_are_committed_then_served_accordingly(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        item = ItemIn(item_id="sku", categories=["shoes"]).model_dump()  # as the route sends it
        stored = catalog.put_items(runtime, session, [item])
        assert [item.item_id for item in stored] == ["sku"] and not session.in_transaction()
    assert committed(runtime, Item, item_id="sku") == 1
    assert runtime.catalog.servable("sku", "shoes")

    with runtime.sessions() as session:
        assert catalog.delete_item(runtime, session, "sku")
        assert not catalog.delete_item(runtime, session, "no-such-item")
    with runtime.sessions() as other:
        assert other.get(Item, "sku").deleted_at is not None  # type: ignore[union-attr]
    assert not runtime.catalog.servable("sku", None)


def test_put_user_commits_and_reports_counts(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        user = users.put_user(session, "u7", {"tier": "gold"})
    assert user["attributes"] == {"tier": "gold"} and user["event_counts"]["view"] == 0
    assert committed(runtime, User, user_id="u7") == 1


def test_erasure_commits_then_forgets_the_shopper_here(runtime: Runtime) -> None:
    events = parse_events([{"user_id": "gone", "item_id": "i1", "type": "view"}], rating_max=5)
    with runtime.sessions() as session:
        ingest.record_events(runtime, session, events)
    with runtime.sessions() as session:
        assert not erasure.erase_user(runtime, session, "nobody")
        assert erasure.erase_user(runtime, session, "gone")
    assert committed(runtime, User, user_id="gone") == 0
    assert committed(runtime, Event, user_id="gone") == 0
    assert "gone" in runtime.erased and runtime.activity.get("gone", 0) == {}


def test_the_session_dependency_never_commits(runtime: Runtime) -> None:
    dependency = get_session(runtime)
    session: Session = next(dependency)
    session.add(User(user_id="uncommitted", attributes={}))
    session.flush()
    with pytest.raises(StopIteration):
        next(dependency)  # the route returned
    assert committed(runtime, User, user_id="uncommitted") == 0
