"""SQLAlchemy models: the tables shoprec keeps.

External ids (the shop's strings) are the primary keys of users and items, so an event insert needs
no id lookup; the rebuild maps them to contiguous matrix indices once per build.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.shop import EVENT_TYPES, MAX_ID_LENGTH

# The CHECK constraint on events.type, from the shop's event types (the migrations spell it out;
# tests/store/test_migrations.py holds the two equal).
EVENT_TYPE_CHECK = "type IN ({})".format(", ".join(f"'{t}'" for t in EVENT_TYPES))

# Integer keys autoincrement on SQLite only when declared INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Item(Base):
    __tablename__ = "items"

    item_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    price: Mapped[float | None] = mapped_column(Float)
    image_url: Mapped[str | None] = mapped_column(Text)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Soft delete: events keep their item, the item is never served again.
    deleted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ItemCategory(Base):
    """One row per (item, category): the index behind `GET /items?category=`."""

    __tablename__ = "item_categories"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)

    __table_args__ = (Index("ix_item_categories_category_item_id", "category", "item_id"),)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH), unique=True)
    # No foreign keys: every write creates the shopper and the item it names in its own
    # transaction, and an erasure excludes concurrent writes for its shopper (`store.events`),
    # so each event has its user and item without a per-row check and row lock on every insert.
    user_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    item_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    ts: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(EVENT_TYPE_CHECK, name="type_known"),
        Index("ix_events_user_id_ts", "user_id", "ts"),
        Index("ix_events_ts", "ts"),
    )


class ModelVersion(Base):
    """A built model. `artifact` holds its arrays (npz, no pickle) for the newest versions only."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    algorithm: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    build_seconds: Mapped[float] = mapped_column(Float)
    n_users: Mapped[int] = mapped_column(Integer)
    n_items: Mapped[int] = mapped_column(Integer)
    n_events: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    # The newest erasure whose shopper this model was built without: any later one is filtered
    # out at serve time until a model that covers it replaces this one.
    last_erasure_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)


class RebuildRun(Base):
    """One attempt to rebuild; a failed one keeps its error for `GET /model`."""

    __tablename__ = "rebuild_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    tune: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # Refreshed by the running rebuild every few seconds: a run whose heartbeat is older than the
    # lease belongs to a process that is gone.
    heartbeat_at: Mapped[datetime | None] = mapped_column()


class Erasure(Base):
    """A shopper erased (`DELETE /users/{id}`), recorded in the deletion's own transaction.

    Every server process reads the erasures newer than its model's `last_erasure_id` at start and
    at each poll, and serves those shoppers as unknown until a model built without them loads; the
    rows are deleted in the transaction that stores such a model, so an erased id lingers no longer.
    """

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evaluation(Base):
    """The table of the last offline evaluation (one row per model and parameters)."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Placement(Base):
    """One version of a named placement; the highest version of a name is the one served."""

    __tablename__ = "placements"

    name: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(16))
    limit: Mapped[int] = mapped_column(Integer)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    @property
    def updated_at(self) -> datetime:
        """When this version was written: the placement's last update."""
        return self.created_at
