"""Placement writes: every PUT stores the next version of the placement, then publishes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.services.serving.placements import DEFAULT_LIMIT, PlacementIndex
from app.store import placements as placement_store
from app.store.models import Placement, utcnow


class StoredPlacement(Protocol):
    """A stored version of a placement, as the API shows it."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def strategy(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def rules(self) -> list[dict[str, Any]]: ...
    @property
    def updated_at(self) -> datetime: ...


class PlacementConflict(Exception):
    """Another request stored a version of the same placement meanwhile."""


def put_placement(
    session: Session, name: str, *, strategy: str, limit: int | None, rules: list[dict[str, Any]]
) -> Placement:
    try:
        return placement_store.add_version(
            session, name, strategy=strategy, limit=limit or DEFAULT_LIMIT, rules=rules, now=utcnow()
        )
    except IntegrityError:  # the same version number, taken first by the other writer
        raise PlacementConflict(name) from None


def publish(index: PlacementIndex, row: Placement) -> None:
    """After commit: the new version serves in this process at once."""
    index.apply(row.name, row.version, row.strategy, row.limit, row.rules)


def get_placement(session: Session, name: str) -> Placement | None:
    return placement_store.current(session, name)
