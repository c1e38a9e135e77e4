"""Field types shared by the schemas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, Field, StringConstraints

from app.shop import ID_PATTERN, MAX_ID_LENGTH

MAX_LIMIT = 100  # items per recommendation list (recommendations, similar, popular)
MAX_OFFSET = 1000
MAX_ATTRIBUTE_DEPTH = 5
MAX_ATTRIBUTES_BYTES = 16_384

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _bounded_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if _has_nul(value):
        raise ValueError("attributes may not contain NUL characters")
    if _depth(value) > MAX_ATTRIBUTE_DEPTH:
        raise ValueError(f"attributes nest deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if len(repr(value)) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes are larger than {MAX_ATTRIBUTES_BYTES} characters")
    return value


Attributes = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_attributes),
    Field(description="Free-form JSON object (at most 5 levels deep, 16 KB)."),
]

# Path parameters obey the same rule as ids in bodies.
UserIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, examples=["u-1001"])
]
ItemIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, examples=["sku-42"])
]

# Categories and tags: the id rule (printable, no surrounding blanks once stripped).
Label = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, strip_whitespace=True, pattern=ID_PATTERN),
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("may not contain NUL characters")
    return value


def text(max_length: int) -> Any:
    """Free text (titles, descriptions): anything but NUL, which no SQL text column stores."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_no_nul)]
