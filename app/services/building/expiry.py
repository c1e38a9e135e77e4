"""Session expiry: sessions inactive for `SESSION_TTL_DAYS` are erased with their events."""

from __future__ import annotations

import logging
from datetime import timedelta

from app.services.serving.runtime import Runtime
from app.shop import SESSION_PREFIX
from app.store import erasures as erasure_store
from app.store import sessions as session_store
from app.store.models import utcnow

log = logging.getLogger(__name__)

EXPIRE_BATCH = 1000
EXPIRY_INTERVAL_SECONDS = 3600.0  # how often a server looks for expired sessions


def expire_sessions(runtime: Runtime) -> int:
    """Erase the sessions inactive for `SESSION_TTL_DAYS` with their events, durably (an erasure
    record each, as `DELETE /users/{id}` leaves, so every process stops serving them and a rebuild
    removes them from the model); how many."""
    cutoff = utcnow() - timedelta(days=runtime.settings.session_ttl_days)
    total = 0
    newest = 0
    while True:
        now = utcnow()
        with runtime.sessions.begin() as session:
            keys = session_store.inactive(session, SESSION_PREFIX, cutoff, EXPIRE_BATCH)
            session_store.erase(session, keys)
            erasures = [erasure_store.record(session, key, now) for key in keys]
        for key, erasure_id in zip(keys, erasures, strict=True):
            runtime.forget(key, erasure_id)
            newest = max(newest, erasure_id)
        total += len(keys)
        if len(keys) < EXPIRE_BATCH:
            break
    if total:
        log.info("erased %d sessions inactive for %g days", total, runtime.settings.session_ttl_days)
        if runtime.background is not None:
            runtime.background.request_erasure_rebuild(newest)
    return total
