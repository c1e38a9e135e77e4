"""Event bodies: what a shop sends when a shopper views, carts, buys or rates an item."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from app.api.schemas.common import ExternalId, SessionId, StrictNumber, Timestamp
from app.shop import FUTURE_TOLERANCE, EventType

EVENT_EXAMPLE: dict[str, Any] = {
    "event_id": "7f1c9a40-0001",
    "user_id": "u-1001",
    "item_id": "sku-42",
    "type": "purchase",
    "value": 2,
    "timestamp": "2026-11-20T14:03:00Z",
}


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    event_id: ExternalId | None = Field(
        default=None, description="Client id for idempotency: a repeated one is stored once."
    )
    user_id: ExternalId | None = Field(default=None, description="The shopper; or send `session_id`.")
    session_id: SessionId | None = Field(
        default=None,
        description="An anonymous visitor's session, in place of `user_id` (1-127 characters): "
        "recommended at once under /sessions/{session_id}/recommendations, merged into a shopper "
        "with POST /users/{user_id}/merge, erased after SESSION_TTL_DAYS without activity.",
    )
    item_id: ExternalId
    type: EventType
    value: StrictNumber | None = Field(
        default=None,
        description="rating: required, 0..RATING_MAX; purchase: quantity >= 1 (default 1); "
        "view/add_to_cart: optional weight >= 0 (default 1).",
    )
    timestamp: Timestamp | None = Field(
        default=None, description="RFC 3339; default: the time the server receives it."
    )

    @model_validator(mode="after")
    def _check_value_and_time(self) -> EventIn:
        if (self.user_id is None) == (self.session_id is None):
            raise ValueError("user_id: give either user_id or session_id (exactly one)")
        if self.type == "rating":
            if self.value is None:
                raise ValueError("value: a rating needs a value")
            if self.value < 0:
                raise ValueError("value: a rating must be >= 0")
        elif self.type == "purchase":
            if self.value is None:
                self.value = 1.0
            elif self.value < 1:
                raise ValueError("value: a purchase quantity must be >= 1")
        elif self.value is None:
            self.value = 1.0
        elif self.value < 0:
            raise ValueError("value: must be >= 0")
        if self.timestamp is not None:
            if self.timestamp.tzinfo is None:
                raise ValueError("timestamp: needs a UTC offset (RFC 3339), e.g. 2026-11-20T14:03:00Z")
            # Plain seconds: datetime.now(UTC) per event was a third of a batch's validation.
            if self.timestamp.timestamp() - time.time() > FUTURE_TOLERANCE.total_seconds():
                raise ValueError("timestamp: more than a day in the future")
        return self


class EventOut(BaseModel):
    event_id: str | None
    user_id: str
    item_id: str
    type: EventType
    value: float
    timestamp: datetime
    received_at: datetime


class EventsAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"accepted": 2, "duplicates": 1}]})

    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events whose event_id was already stored (or repeated).")


class EventBatchError(Exception):
    """A batch failed validation; `errors` are pydantic-style dicts whose loc starts at the index."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid event(s)")
        self.errors = errors


_batch = TypeAdapter(list[EventIn])


def parse_events(data: Any, *, rating_max: float) -> list[EventIn]:
    """Validate one event object or a list of them; every error names its element's index."""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise EventBatchError(
            [{"loc": (), "msg": "expected an event object or an array of events", "type": "type_error"}]
        )
    try:
        events = _batch.validate_python(data)
    except ValidationError as exc:
        raise EventBatchError(
            [
                {"loc": tuple(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
        ) from None
    too_high = [
        {"loc": (i, "value"), "msg": f"a rating must be <= {rating_max:g}", "type": "less_than_equal"}
        for i, e in enumerate(events)
        if e.type == "rating" and e.value is not None and e.value > rating_max
    ]
    if too_high:
        raise EventBatchError(too_high)
    return events
