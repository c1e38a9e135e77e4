"""POST /events: what shoppers do."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.api.deps import RuntimeDep, SessionDep, WriteAccess
from app.api.errors import validation_problem
from app.api.openapi import component_schemas
from app.api.schemas.events import (
    EVENT_EXAMPLE,
    EventBatchError,
    EventIn,
    EventsAccepted,
    parse_events,
)
from app.services.serving.runtime import Runtime
from app.services.writes import ingest

router = APIRouter(prefix="/events", tags=["events"])

_BODY_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/EventIn"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/EventIn"}, "maxItems": 10000},
                ],
                "$defs": component_schemas(EventIn),  # moved to components.schemas
            },
            "examples": {
                "one": {"summary": "One event", "value": EVENT_EXAMPLE},
                "batch": {
                    "summary": "A batch",
                    "value": [
                        {"user_id": "u-1001", "item_id": "sku-42", "type": "view"},
                        {"user_id": "u-1001", "item_id": "sku-42", "type": "add_to_cart"},
                        {"user_id": "u-1001", "item_id": "sku-7", "type": "rating", "value": 4.5},
                    ],
                },
            },
        }
    },
}


@router.post(
    "",
    status_code=202,
    response_model=EventsAccepted,
    dependencies=[WriteAccess],
    openapi_extra={"requestBody": _BODY_SCHEMA},
    summary="Record one event or a batch of up to 10,000",
    responses={
        409: {"description": "The batch kept losing races with erasures of its shoppers; nothing stored"},
        413: {"description": "More than 10,000 events, or a body larger than MAX_BODY_BYTES"},
        422: {"description": "Not JSON, or an invalid event: `errors` names its index and field"},
    },
)
async def post_events(request: Request, runtime: RuntimeDep, session: SessionDep) -> Any:
    """Stores the events in one transaction: a batch with one invalid event is rejected whole,
    naming the index of the bad element. A repeated `event_id` is counted as a duplicate. An event
    for a shopper erased before it was stored starts a new history for that id."""
    body = await request.body()
    settings = runtime.settings
    if len(body) > settings.max_body_bytes:
        raise HTTPException(413, f"body larger than {settings.max_body_bytes} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return validation_problem(
            [{"loc": ("body",), "msg": f"not valid JSON: {exc}", "type": "json_invalid"}]
        )
    if isinstance(data, list) and len(data) > settings.max_batch_events:
        raise HTTPException(413, f"at most {settings.max_batch_events} events per request, got {len(data)}")
    try:
        result = await run_in_threadpool(_validate_store_publish, runtime, session, data)
    except EventBatchError as exc:
        return validation_problem([{**e, "loc": ("body", *e["loc"])} for e in exc.errors])
    except ingest.WriteConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return EventsAccepted(accepted=result.accepted, duplicates=result.duplicates)


def _validate_store_publish(runtime: Runtime, session: Session, data: Any) -> ingest.IngestResult:
    """One trip to the threadpool: validation, the transaction, then the real-time index."""
    events = parse_events(data, rating_max=runtime.settings.rating_max)
    return ingest.record_events(runtime, session, events)  # committed: a 202 means durable
