"""GET /metrics: Prometheus' text exposition of the service's metrics (see `app/metrics.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.concurrency import run_in_threadpool

from app.api.deps import KeysDep, RuntimeDep, api_key_header, raw_key
from app.metrics import CONTENT_TYPE
from app.services.serving import operations

router = APIRouter(tags=["operations"])

async def require_scraper(
    request: Request, keys: KeysDep, key: Annotated[str | None, Security(api_key_header)]
) -> None:
    """A write key, in `X-API-Key` or as `Authorization: Bearer <key>` (Prometheus' own way; read
    here rather than declared, so that the document keeps one key scheme)."""
    if not key:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            key = credentials.strip()
    keys.check(raw_key(key), write=True)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[Depends(require_scraper)],
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {CONTENT_TYPE: {}}}},
)
async def get_metrics(runtime: RuntimeDep) -> Response:
    """Requests, events, rebuilds, the serving model and the answer cache, summed over every server
    process in multiprocess mode. Needs a write key when keys are configured."""
    return Response(await run_in_threadpool(operations.scrape, runtime), media_type=CONTENT_TYPE)
