"""What an operator scrapes: the process's metrics, brought up to date at the moment of the scrape."""

from __future__ import annotations

from datetime import UTC

from app import metrics
from app.services.serving.runtime import Runtime


def publish(runtime: Runtime) -> None:
    """Move the serving path's plain counts and the serving model's version and age into the
    Prometheus metrics (each poll does it too, so other workers' values stay fresh)."""
    metrics.publish_counts(runtime.counts)
    built_at = runtime.model.meta.built_at
    if built_at is not None and built_at.tzinfo is None:
        built_at = built_at.replace(tzinfo=UTC)  # SQLite hands back UTC without its zone
    metrics.record_model(runtime.model.meta.version, built_at.timestamp() if built_at else None)


def scrape(runtime: Runtime) -> bytes:
    publish(runtime)
    return metrics.exposition()
