"""Recommendation answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.schemas.common import MAX_LIMIT, ExternalId, SessionId


class PlacementRef(BaseModel):
    """The placement whose rules shaped the list, and the version applied."""

    name: str
    version: int


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    reason: dict[str, str] | None = Field(
        default=None, description='Why it is here, e.g. {"because": "<item_id>"}.'
    )


class Recommendations(BaseModel):
    user_id: str
    items: list[RecommendedItem]
    strategy: Literal["personalized", "realtime", "popular", "trending"]
    model_version: int | None
    generated_at: datetime | None
    placement: PlacementRef | None = None


class ScoredItem(BaseModel):
    item_id: str
    score: float


class SimilarItems(BaseModel):
    item_id: str
    items: list[ScoredItem]
    strategy: Literal["collaborative", "content", "popular"]
    model_version: int | None
    placement: PlacementRef | None = None


class PopularItems(BaseModel):
    items: list[ScoredItem]
    model_version: int | None
    placement: PlacementRef | None = None


TrendingWindow = Literal["1h", "24h", "7d"]


class TrendingItems(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [{"item_id": "sku-42", "score": 12.4}], "window": "24h", "model_version": 3}
            ]
        }
    )

    items: list[ScoredItem] = Field(description="Best first; `score` is the rise's z-score.")
    window: TrendingWindow
    model_version: int | None
    placement: PlacementRef | None = None


MAX_BASKET = 100

BASKET_EXAMPLE: dict[str, Any] = {"items": ["sku-00042", "sku-00007"], "user_id": "u-1001", "limit": 5}


class BasketIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [BASKET_EXAMPLE]})

    items: list[ExternalId] = Field(min_length=1, max_length=MAX_BASKET, description="The basket's item ids.")
    user_id: ExternalId | None = Field(default=None, description="The shopper, to personalise the list.")
    session_id: SessionId | None = Field(default=None, description="Or an anonymous session.")
    limit: int | None = Field(
        default=None, ge=1, le=MAX_LIMIT, description="Default: the placement's, or 10."
    )

    @model_validator(mode="after")
    def _one_shopper(self) -> BasketIn:
        if self.user_id is not None and self.session_id is not None:
            raise ValueError("give user_id or session_id, not both")
        return self


class BasketRecommendations(BaseModel):
    items: list[RecommendedItem] = Field(
        description="Best first; `reason.because` names the basket item the rule starts from."
    )
    strategy: Literal["basket", "popular"]
    model_version: int | None
    user_id: str | None = None
    session_id: str | None = None
    placement: PlacementRef | None = None
