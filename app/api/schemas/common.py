"""Field types shared by the schemas."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema

from app.shop import ID_PATTERN, MAX_ID_LENGTH, MAX_SESSION_ID_LENGTH

MAX_LIMIT = 100  # items per recommendation list (recommendations, similar, popular)
MAX_OFFSET = 1000
MAX_ATTRIBUTE_DEPTH = 5
MAX_ATTRIBUTES_BYTES = 16_384

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]

# A session id becomes a shopper key one character longer (`app.shop.session_key`).
SessionId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SESSION_ID_LENGTH, pattern=ID_PATTERN)
]


# Strict where lax parsing would corrupt a shop's data without a word: a JSON `false` is no price
# (lax: 0.0), "12.5" is text (lax: 12.5), and 0.5 is no time (lax: half a second after 1970).
StrictNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
StrictBoolean = Annotated[bool, Field(strict=True)]

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a UTC offset, e.g. 2026-11-20T14:03:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset (RFC 3339), e.g. 2026-11-20T14:03:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError("must fall between the years 1 and 9999 in UTC") from None


def _clamped_to_utc(value: datetime) -> datetime:
    try:
        return _in_utc(value)
    except ValueError:
        # Past the ends of the UTC calendar by a few hours: as a bound, the end itself.
        return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(tzinfo=UTC)


# A time a shop sends: RFC 3339 text with an offset, kept in UTC.
Timestamp = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]
# A time that bounds a query: the same text; beyond the calendar it means its end.
TimeBound = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_clamped_to_utc)]


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


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def _bounded_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if _has_nul(value):
        raise ValueError("attributes may not contain NUL characters")
    if _has_non_finite(value):
        # JSON has no infinity: 1e999 would be stored as null without a word.
        raise ValueError("attributes may only hold finite numbers")
    if _depth(value) > MAX_ATTRIBUTE_DEPTH:
        raise ValueError(f"attributes nest deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if len(repr(value)) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes are larger than {MAX_ATTRIBUTES_BYTES} characters")
    return value


_NO_NUL = "^[^\\u0000]*$"


def _json_value_schema(containers_left: int) -> dict[str, Any]:
    """Any JSON value without NUL in its strings and keys, nesting at most `containers_left`
    more arrays or objects: the rules of `_bounded_attributes` that a JSON Schema can state."""
    scalars: list[dict[str, Any]] = [
        {"type": "string", "pattern": _NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
    if containers_left == 0:
        return {"anyOf": scalars}
    inner = _json_value_schema(containers_left - 1)
    return {
        "anyOf": [
            *scalars,
            {"type": "array", "items": inner},
            {"type": "object", "propertyNames": {"pattern": _NO_NUL}, "additionalProperties": inner},
        ]
    }


Attributes = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_attributes),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": _NO_NUL},
            "additionalProperties": _json_value_schema(MAX_ATTRIBUTE_DEPTH - 1),
            "description": "Free-form JSON object: at most 5 levels deep, 16 KB, finite numbers, no NUL.",
        }
    ),
]

# Path parameters obey the same rule as ids in bodies.
UserIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, examples=["u-1001"])
]
ItemIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, examples=["sku-42"])
]
SessionIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_SESSION_ID_LENGTH, pattern=ID_PATTERN, examples=["s-7f1c9a40"])
]
PlacementNamePath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, examples=["home"])
]

# Categories and tags: the id rule (printable, no surrounding blanks). Not stripped: stripping
# also removes blanks the rule allows (a no-break space), turning a valid label into none.
Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("may not contain NUL characters")
    return value


def text(max_length: int) -> Any:
    """Free text (titles, descriptions): anything but NUL, which no SQL text column stores."""
    return Annotated[
        str,
        StringConstraints(max_length=max_length),
        AfterValidator(_no_nul),
        Field(json_schema_extra={"pattern": _NO_NUL}),
    ]
