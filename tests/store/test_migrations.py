"""The Alembic migrations build exactly the schema the models describe, and run both ways."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app.api.schemas.events import EventIn
from app.shop import EVENT_TYPES
from app.store.db import make_engine
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade
from app.store.models import Base
from tests.conftest import POSTGRES_URL

BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
# Per process: two suites running at once on one server must not drop each other's database.
SCRATCH_DATABASE = f"shoprec_migrations_test_{os.getpid()}"


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a store with nothing in it (a new SQLite file, or a new PostgreSQL database)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    admin = make_engine(POSTGRES_URL)  # type: ignore[arg-type]
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {SCRATCH_DATABASE}"))
    url = make_url(POSTGRES_URL).set(database=SCRATCH_DATABASE)  # type: ignore[arg-type]
    engine = make_engine(url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)"))
    admin.dispose()


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def downgrade_to_base(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")


def test_upgrade_from_empty_creates_every_model_table(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert table_names(empty_engine) == set()

    upgrade(empty_engine)

    assert table_names(empty_engine) == set(Base.metadata.tables)
    assert head_revision() is not None
    assert current_revision(empty_engine) == head_revision()


def test_migrated_schema_matches_the_models(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrated_event_type_check_accepts_exactly_the_api_event_types(empty_engine: Engine) -> None:
    """The migration spells the CHECK constraint out; the API's enum and the shop's tuple must agree."""
    upgrade(empty_engine)
    checks = {c["name"]: c["sqltext"] for c in inspect(empty_engine).get_check_constraints("events")}
    in_database = set(re.findall(r"'([^']+)'", checks["ck_events_type_known"]))
    in_api = set(EventIn.model_json_schema()["properties"]["type"]["enum"])
    assert in_database == in_api == set(EVENT_TYPES)
    with empty_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (user_id, attributes, created_at, updated_at) "
            "VALUES ('u1', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
        connection.execute(text(
            "INSERT INTO items (item_id, categories, tags, available, attributes, created_at, updated_at) "
            "VALUES ('i1', '[]', '[]', true, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
        for k, event_type in enumerate(sorted(in_api)):  # every API type is stored ...
            connection.execute(
                text(
                    "INSERT INTO events (event_id, user_id, item_id, type, value, ts, received_at) "
                    "VALUES (:id, 'u1', 'i1', :type, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": f"e{k}", "type": event_type},
            )
    with pytest.raises(IntegrityError), empty_engine.begin() as connection:  # ... and no other
        connection.execute(text(
            "INSERT INTO events (user_id, item_id, type, value, ts, received_at) "
            "VALUES ('u1', 'i1', 'wishlist', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (user_id, attributes, created_at, updated_at) "
            "VALUES ('u1', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))

    downgrade_to_base(empty_engine)
    assert table_names(empty_engine) == set()
    assert current_revision(empty_engine) is None

    upgrade(empty_engine)
    assert table_names(empty_engine) == set(Base.metadata.tables)
    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 0


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: SQLite stores blobs uncompressed")
def test_model_artifacts_are_compressed_with_lz4_on_postgresql(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    if empty_engine.dialect.name != "postgresql":
        pytest.skip("the SQLite run of this parametrised test")
    with empty_engine.connect() as connection:
        method = connection.execute(
            text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'model_versions'::regclass AND attname = 'artifact'"
            )
        ).scalar()
    assert method == "l"  # lz4 (Debian's and the official images' PostgreSQL are built with it)
