"""The catalog: item writes with the live catalog index kept in step, and item reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.shop import item_text
from app.store import items as item_store
from app.store.models import Item, utcnow

if TYPE_CHECKING:  # the serving stack (numpy, scipy) stays out of file imports
    from app.services.serving.runtime import Runtime


def put_items(runtime: Runtime, session: Session, items: list[dict[str, Any]]) -> list[Item]:
    """Create or replace items and commit; their availability and categories then take effect in
    this process at once."""
    stored = upsert_items(session, items)
    session.commit()
    runtime.catalog.apply_items(stored)
    return stored


def upsert_items(session: Session, items: list[dict[str, Any]]) -> list[Item]:
    """Create or replace items in the caller's transaction (bulk loads commit once at the end)."""
    return item_store.upsert_items(session, items, utcnow())


def delete_item(runtime: Runtime, session: Session, item_id: str) -> bool:
    """Soft-delete an item and commit; from then on this process never serves it. False: no such item."""
    if not item_store.soft_delete(session, item_id, utcnow()):
        return False
    session.commit()
    runtime.catalog.apply(item_id, available=False, deleted=True, categories=())
    return True


def get_item(session: Session, item_id: str) -> Item | None:
    return item_store.get_item(session, item_id)


def list_items(session: Session, *, category: str | None, limit: int, after: str | None) -> list[Item]:
    return item_store.list_items(session, category=category, limit=limit, after=after)


def stored_item_text(session: Session, item_id: str) -> str | None:
    """The content model's text of a stored item (None if there is no such item)."""
    item = item_store.get_item(session, item_id)
    return None if item is None else item_text(item.__dict__)
