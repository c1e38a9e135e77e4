"""The catalog: item writes with the live catalog index kept in step, and item reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.shop import item_text
from app.store import items as item_store
from app.store.models import Item, utcnow

if TYPE_CHECKING:  # the serving stack (numpy, scipy) stays out of file imports
    from app.services.serving.runtime import Runtime


def upsert_items(session: Session, items: list[dict[str, Any]]) -> list[Item]:
    return item_store.upsert_items(session, items, utcnow())


def publish_items(runtime: Runtime, items: list[Item]) -> None:
    """After commit: availability and categories take effect in this process at once."""
    runtime.catalog.apply_items(items)


def delete_item(session: Session, item_id: str) -> bool:
    return item_store.soft_delete(session, item_id, utcnow())


def publish_item_deleted(runtime: Runtime, item_id: str) -> None:
    runtime.catalog.apply(item_id, available=False, deleted=True, categories=())


def get_item(session: Session, item_id: str) -> Item | None:
    return item_store.get_item(session, item_id)


def list_items(session: Session, *, category: str | None, limit: int, after: str | None) -> list[Item]:
    return item_store.list_items(session, category=category, limit=limit, after=after)


def stored_item_text(session: Session, item_id: str) -> str | None:
    """The content model's text of a stored item (None if there is no such item)."""
    item = item_store.get_item(session, item_id)
    return None if item is None else item_text(item.__dict__)
