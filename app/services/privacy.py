"""Erasing a shopper from what this process serves, right after their rows are deleted."""

from __future__ import annotations

from app.services.runtime import Runtime
from app.store.models import utcnow


def forget_user(runtime: Runtime, user_id: str) -> None:
    """Their cached list and recent activity stop counting now; the rebuild this requests
    removes their influence on everyone else's recommendations and on item neighbours."""
    runtime.erased[user_id] = utcnow()
    runtime.activity.forget(user_id)
    runtime.answers.forget(user_id)
    if runtime.background is not None:
        runtime.background.request_rebuild()
