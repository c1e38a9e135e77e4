"""What the readiness probe checks: the store's schema revision against this version's."""

from __future__ import annotations

from app.services.serving.runtime import Runtime
from app.store.migrate import current_revision, head_revision


def schema_revision(runtime: Runtime) -> str | None:
    """The store's migration revision (None: no schema yet). Raises SQLAlchemyError when the
    store is unreachable."""
    return current_revision(runtime.engine)


def required_revision() -> str | None:
    """The revision this version of the code needs: the newest migration."""
    return head_revision()
