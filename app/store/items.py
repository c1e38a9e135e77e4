"""Catalog queries: upserts, reads, cursor pages and the change feed servers poll."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session

from app.store.models import Item, ItemCategory
from app.store.upsert import insert, upsert

ITEM_FIELDS = ("title", "description", "categories", "tags", "price", "image_url", "available", "attributes")


def upsert_items(session: Session, items: Sequence[dict[str, Any]], now: datetime) -> list[Item]:
    """Create or replace items (every field given is stored; a deleted item comes back), in one
    atomic statement per table; the last of repeated ids wins. Returns the stored items."""
    # Sorted: concurrent batches lock their rows in one order and cannot deadlock.
    latest = {it["item_id"]: it for it in items}
    ids = sorted(latest)
    if not ids:
        return []
    rows = [
        {"item_id": i, **{name: latest[i][name] for name in ITEM_FIELDS}, "deleted_at": None}
        | {"created_at": now, "updated_at": now}
        for i in ids
    ]
    upsert(session, Item, rows, update=(*ITEM_FIELDS, "deleted_at", "updated_at"))
    session.execute(delete(ItemCategory).where(ItemCategory.item_id.in_(ids)))
    categories = [
        {"item_id": i, "category": c} for i in ids for c in dict.fromkeys(latest[i]["categories"])
    ]
    if categories:
        session.execute(insert(session, ItemCategory).on_conflict_do_nothing(), categories)
    stored = session.scalars(
        select(Item).where(Item.item_id.in_(ids)).execution_options(populate_existing=True)
    )
    by_id = {item.item_id: item for item in stored}
    return [by_id[i] for i in latest if i in by_id]


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
    stmt = select(
        Item.item_id,
        Item.available,
        Item.deleted_at,
        Item.categories,
        Item.updated_at,
        Item.price,
        Item.attributes,
        Item.created_at,
    )
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


def items_by_id(session: Session, item_ids: Sequence[str]) -> dict[str, Item]:
    """The stored items among `item_ids` (deleted ones included: a history may name them)."""
    if not item_ids:
        return {}
    rows = session.scalars(select(Item).where(Item.item_id.in_(set(item_ids)))).all()
    return {item.item_id: item for item in rows}


def count_items(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Item).where(Item.deleted_at.is_(None))) or 0
