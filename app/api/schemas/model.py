"""Model status and rebuild bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class ModelInfo(BaseModel):
    version: int | None
    status: Literal["empty", "building", "ready"]
    built_at: datetime | None
    build_seconds: float | None
    algorithm: str | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    engine: Literal["local", "spark"]
    n_users: int
    n_items: int
    n_events: int
    events_since_build: int
    last_error: str | None


class RebuildAccepted(BaseModel):
    status: Literal["scheduled", "running"]


class EvaluationTable(BaseModel):
    created_at: datetime | None
    settings: dict[str, Any]
    rows: list[dict[str, Any]]
