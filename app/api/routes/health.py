"""Liveness and readiness probes (always open, no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import RuntimeDep
from app.api.errors import problem
from app.services.serving import health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store is reachable and its schema is current")
async def readyz(runtime: RuntimeDep) -> Any:
    try:
        current = await run_in_threadpool(health.schema_revision, runtime)
    except SQLAlchemyError as exc:
        return problem(503, f"database unreachable: {exc.__class__.__name__}")
    head = health.required_revision()
    if current != head:
        return problem(
            503,
            f"database schema is at {current or 'nothing'}, this version needs {head}: run `shoprec migrate`",
        )
    return {"status": "ready", "schema": current, "model_version": runtime.model.version}

