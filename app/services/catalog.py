"""Catalog and user writes and reads, with the live indexes kept in step."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.services.runtime import Runtime
from app.store import events as event_store
from app.store import items as item_store
from app.store import users as user_store
from app.store.models import Item, User, utcnow


def upsert_items(session: Session, items: list[dict[str, Any]]) -> list[Item]:
    item_store.upsert_items(session, items, utcnow())
    return [item for item in (session.get(Item, it["item_id"]) for it in items) if item is not None]


def publish_items(runtime: Runtime, items: list[Item]) -> None:
    """After commit: availability and categories take effect in this process at once."""
    runtime.catalog.apply_items(items)


def delete_item(session: Session, item_id: str) -> bool:
    return item_store.soft_delete(session, item_id, utcnow())


def publish_item_deleted(runtime: Runtime, item_id: str) -> None:
    runtime.catalog.apply(item_id, available=False, deleted=True, categories=())


def put_user(session: Session, user_id: str, attributes: dict[str, Any]) -> User:
    return user_store.upsert_user(session, user_id, attributes, utcnow())


def user_with_counts(session: Session, user_id: str) -> dict[str, Any] | None:
    user = user_store.get_user(session, user_id)
    if user is None:
        return None
    return {
        "user_id": user.user_id,
        "attributes": user.attributes,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "event_counts": event_store.count_by_type(session, user_id),
    }


def erase_user(session: Session, user_id: str) -> bool:
    """Erase the user and all their events (the caller then starts the rebuild that replaces the
    stored model built from their history; only the newest model is ever kept)."""
    event_store.delete_for_user(session, user_id)
    return user_store.delete_user(session, user_id)
