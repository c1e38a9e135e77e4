"""Placements: a page slot's strategy, default limit and ordered merchandising rules.

A rule is an object with exactly one key (`filter`, `boost`, `pin`, `diversity`, `backfill`);
unknown keys, bad ranges and wrong types are refused on write with a 422 naming the rule's index
(`body.rules[2].filter.price_min`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.schemas.common import MAX_ID_LENGTH, MAX_LIMIT, ExternalId, Label, text

MAX_RULES = 50
MAX_LIST = 1000  # categories or attribute values in one condition
Strategy = Literal["personalized", "similar", "basket", "trending", "popular"]
if TYPE_CHECKING:  # `text()` builds its constrained type at run time
    AttributeValue = str | int | float | bool
else:
    AttributeValue = (
        text(MAX_ID_LENGTH * 8)
        | Annotated[int, Field(strict=True)]
        | Annotated[float, Field(strict=True, allow_inf_nan=False)]
        | Annotated[bool, Field(strict=True)]
    )

PLACEMENT_EXAMPLE: dict[str, Any] = {
    "strategy": "personalized",
    "limit": 8,
    "rules": [
        {"filter": {"category_in": ["running", "hiking"]}},
        {"filter": {"price_min": 10, "price_max": 200}},
        {"boost": {"attributes": {"brand": "Acme"}, "factor": 1.5}},
        {"pin": {"item_id": "sku-00042", "position": 1}},
        {"diversity": {"max_per_category": 3}},
    ],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Strict):
    category_in: list[Label] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    category_not_in: list[Label] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    price_min: float | None = Field(strict=True, default=None, ge=0, allow_inf_nan=False)
    price_max: float | None = Field(strict=True, default=None, ge=0, allow_inf_nan=False)
    attributes: dict[ExternalId, AttributeValue | list[AttributeValue]] | None = Field(
        default=None,
        max_length=20,
        description="Attribute name -> a value (equals) or a list of values (in).",
    )
    newer_than_days: float | None = Field(strict=True,
        default=None, gt=0, le=36500, allow_inf_nan=False, description="Items created within N days."
    )

    @model_validator(mode="after")
    def _ranges(self) -> Condition:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min is greater than price_max")
        for name, value in (self.attributes or {}).items():
            if isinstance(value, list) and not 1 <= len(value) <= MAX_LIST:
                raise ValueError(f"attributes.{name}: give 1-{MAX_LIST} values")
        return self


class Filter(Condition):
    exclude_interacted: bool = Field(strict=True,
        default=False, description="Leave out items the shopper viewed, carted, bought or rated."
    )
    exclude_purchased: bool = Field(
        strict=True, default=False, description="Leave out items the shopper bought."
    )


class Boost(Condition):
    factor: float = Field(strict=True, gt=0, le=1000, allow_inf_nan=False, description="Score multiplier.")

    @model_validator(mode="after")
    def _has_condition(self) -> Boost:
        if self.model_dump(exclude_none=True).keys() <= {"factor"}:
            raise ValueError("a boost needs a condition (category_in, attributes, price_min, ...)")
        return self


class Pin(_Strict):
    item_id: ExternalId
    position: int = Field(strict=True, ge=1, le=MAX_LIMIT, description="1 is the first slot.")


class Diversity(_Strict):
    max_per_category: int | None = Field(strict=True, default=None, ge=1, le=MAX_LIMIT)
    mmr_lambda: float | None = Field(strict=True,
        default=None, ge=0, le=1, description="Maximal marginal relevance: 1 = pure score, 0 = pure variety."
    )

    @model_validator(mode="after")
    def _one(self) -> Diversity:
        if self.max_per_category is None and self.mmr_lambda is None:
            raise ValueError("give max_per_category or mmr_lambda")
        return self


class Backfill(_Strict):
    source: Literal["popular_in_category", "popular", "none"] = "popular_in_category"


class Rule(_Strict):
    filter: Filter | None = None
    boost: Boost | None = None
    pin: Pin | None = None
    diversity: Diversity | None = None
    backfill: Backfill | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, data: Any) -> Any:
        if isinstance(data, dict):  # a key set to null is a key left out, as the schema allows
            data = {key: value for key, value in data.items() if value is not None}
        if not isinstance(data, dict) or len(data) != 1:
            raise ValueError(
                "a rule is an object with exactly one key: filter, boost, pin, diversity or backfill"
            )
        return data


class PlacementIn(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PLACEMENT_EXAMPLE]})

    strategy: Strategy = "personalized"
    limit: int | None = Field(
        strict=True, default=None, ge=1, le=MAX_LIMIT, description="Default list length (10)."
    )
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)

    def stored_rules(self) -> list[dict[str, Any]]:
        """The rules as stored: one-keyed objects without unset fields."""
        return [r.model_dump(exclude_unset=True) for r in self.rules]


class PlacementOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "home", "version": 2, "updated_at": "2026-11-20T14:03:00Z", **PLACEMENT_EXAMPLE}
            ]
        }
    )

    name: str = Field(max_length=MAX_ID_LENGTH)
    version: int = Field(description="Bumped by every PUT; the newest version is the one served.")
    strategy: Strategy
    limit: int
    rules: list[dict[str, Any]]
    updated_at: datetime
