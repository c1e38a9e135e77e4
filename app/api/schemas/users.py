"""User bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import Attributes


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"attributes": {"segment": "vip", "country": "DE"}}]},
    )

    attributes: Attributes = Field(default_factory=dict)


class UserOut(BaseModel):
    user_id: str
    attributes: dict
    created_at: datetime
    updated_at: datetime
    event_counts: dict[str, int] = Field(description="Events stored for the user, by type.")
