"""`INSERT ... ON CONFLICT` in the dialect of the store (SQLite or PostgreSQL).

One statement decides between insert and update inside the database, so two writers of one id
never both take the insert branch: a read-then-insert answers the second with a unique-key error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.store.models import Base


def insert(session: Session, model: type[Base]) -> Any:
    """The dialect's INSERT, the one with `on_conflict_do_nothing` / `on_conflict_do_update`."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def upsert(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], *, update: Sequence[str]
) -> None:
    """Insert `rows`, or overwrite the `update` columns of those whose primary key exists."""
    if not rows:
        return
    stmt = insert(session, model)
    key = [column.name for column in inspect(model).primary_key]
    session.execute(
        stmt.on_conflict_do_update(index_elements=key, set_={name: stmt.excluded[name] for name in update}),
        list(rows),
    )
