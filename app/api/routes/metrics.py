"""GET /metrics: Prometheus' text exposition of the service's metrics (see `app/metrics.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import KeysDep, RuntimeDep, api_key_header, raw_key
from app.metrics import CONTENT_TYPE
from app.services.serving import operations

router = APIRouter(tags=["operations"])

_bearer = HTTPBearer(auto_error=False, description="A write key, as Prometheus' `authorization` sends it.")


async def require_scraper(
    keys: KeysDep,
    key: Annotated[str | None, Security(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """A write key, in `X-API-Key` or as `Authorization: Bearer <key>` (Prometheus' own way)."""
    keys.check(raw_key(key or (bearer.credentials if bearer else None)), write=True)


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
