"""Recommendation answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    reason: dict[str, str] | None = Field(
        default=None, description='Why it is here, e.g. {"because": "<item_id>"}.'
    )


class Recommendations(BaseModel):
    user_id: str
    items: list[RecommendedItem]
    strategy: Literal["personalized", "realtime", "popular"]
    model_version: int | None
    generated_at: datetime | None


class ScoredItem(BaseModel):
    item_id: str
    score: float


class SimilarItems(BaseModel):
    item_id: str
    items: list[ScoredItem]
    strategy: Literal["collaborative", "content", "popular"]
    model_version: int | None


class PopularItems(BaseModel):
    items: list[ScoredItem]
    model_version: int | None

