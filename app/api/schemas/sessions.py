"""Anonymous sessions: their recommendations, and merging one into a shopper on login."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import SessionId
from app.api.schemas.recommendations import PlacementRef, RecommendedItem


class SessionRecommendations(BaseModel):
    session_id: str
    items: list[RecommendedItem]
    strategy: Literal["personalized", "realtime", "popular", "trending"]
    model_version: int | None
    generated_at: datetime | None
    placement: PlacementRef | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"session_id": "s-7f1c9a40"}]})

    session_id: SessionId


class MergeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": "u-1001", "session_id": "s-7f1c9a40", "merged": 12}]}
    )

    user_id: str
    session_id: str
    merged: int = Field(description="Events moved by this call; 0 when the session was already merged.")
