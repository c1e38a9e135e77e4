"""Catalog queries: upserts, reads, cursor pages and the change feed servers poll."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from app.store.models import Item, ItemCategory

ITEM_FIELDS = ("title", "description", "categories", "tags", "price", "available", "attributes")


def upsert_items(session: Session, items: Sequence[dict[str, Any]], now: datetime) -> int:
    """Create or replace items (every field given is stored; a deleted item comes back)."""
    if not items:
        return 0
    ids = [it["item_id"] for it in items]
    existing = {
        item.item_id: item for item in session.scalars(select(Item).where(Item.item_id.in_(ids))).all()
    }
    for fields in items:
        item = existing.get(fields["item_id"])
        if item is None:
            item = Item(item_id=fields["item_id"], created_at=now)
            session.add(item)
            existing[item.item_id] = item
        for name in ITEM_FIELDS:
            setattr(item, name, fields[name])
        item.deleted_at = None
        item.updated_at = now
    session.flush()
    session.execute(delete(ItemCategory).where(ItemCategory.item_id.in_(ids)))
    rows = [
        {"item_id": item_id, "category": category}
        for item_id, item in existing.items()
        for category in dict.fromkeys(item.categories)
    ]
    if rows:
        session.execute(ItemCategory.__table__.insert(), rows)
    return len(existing)


def get_item(session: Session, item_id: str) -> Item | None:
    item = session.get(Item, item_id)
    return None if item is None or item.deleted_at is not None else item


def list_items(session: Session, *, category: str | None, limit: int, after: str | None) -> list[Item]:
    stmt = select(Item).where(Item.deleted_at.is_(None))
    if category is not None:
        stmt = stmt.join(ItemCategory, ItemCategory.item_id == Item.item_id).where(
            ItemCategory.category == category
        )
    if after is not None:
        stmt = stmt.where(Item.item_id > after)
    return list(session.scalars(stmt.order_by(Item.item_id).limit(limit)).all())


def soft_delete(session: Session, item_id: str, now: datetime) -> bool:
    item = session.get(Item, item_id)
    if item is None or item.deleted_at is not None:
        return False
    item.deleted_at = now
    item.updated_at = now
    return True


def changed_since(connection: Connection, since: datetime | None) -> list[Any]:
    """Items updated at or after `since` (all items when None), for the serving catalog index."""
    stmt = select(Item.item_id, Item.available, Item.deleted_at, Item.categories, Item.updated_at)
    if since is not None:
        stmt = stmt.where(Item.updated_at >= since)
    return list(connection.execute(stmt).all())


def catalog_texts(connection: Connection) -> list[Any]:
    """(item_id, title, description, categories, tags) of every item, for content features."""
    return list(
        connection.execute(
            select(Item.item_id, Item.title, Item.description, Item.categories, Item.tags)
        ).all()
    )
