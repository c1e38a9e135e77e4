"""Catalog bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.api.schemas.common import Attributes, ExternalId, Label, StrictBoolean, StrictNumber, text

ITEM_EXAMPLE: dict[str, Any] = {
    "title": "Trail running shoe",
    "description": "Light shoe with a grippy sole for muddy trails.",
    "categories": ["shoes", "running"],
    "tags": ["trail", "waterproof"],
    "price": 89.9,
    "image_url": "https://shop.example/images/sku-42.jpg",
    "available": True,
    "attributes": {"brand": "Acme", "sizes": [40, 41, 42]},
}


_URL = re.compile(r"https?://[^\s<>\"'`]+")


def _absolute_http_url(value: str) -> str:
    if not _URL.fullmatch(value):
        raise ValueError("must be an absolute http:// or https:// address without spaces or quotes")
    return value


# As a shop page would put it in <img src>; kept as sent.
ImageUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(_absolute_http_url),
    Field(description="Absolute http(s) address of the item's picture (shown by the dashboard)."),
]


class ItemFields(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ITEM_EXAMPLE]})

    title: text(1000) | None = None  # type: ignore[valid-type]
    description: text(20_000) | None = None  # type: ignore[valid-type]
    categories: Annotated[list[Label], Field(max_length=50)] = Field(default_factory=list)
    tags: Annotated[list[Label], Field(max_length=100)] = Field(default_factory=list)
    price: StrictNumber | None = Field(default=None, ge=0)
    image_url: ImageUrl | None = None
    available: StrictBoolean = True
    attributes: Attributes = Field(default_factory=dict)


class ItemIn(ItemFields):
    """An item in a bulk upsert: the fields plus its id."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"item_id": "sku-42", **ITEM_EXAMPLE}]}
    )

    item_id: ExternalId


class ItemOut(ItemIn):
    model_config = ConfigDict(
        extra="ignore",
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "item_id": "sku-42",
                    **ITEM_EXAMPLE,
                    "created_at": "2026-11-02T09:30:00Z",
                    "updated_at": "2026-11-20T14:03:00Z",
                }
            ]
        },
    )

    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class ItemsUpserted(BaseModel):
    upserted: int

