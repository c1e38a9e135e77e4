"""Query parameters shared by every recommendation endpoint: `exclude` and `placement`.

The fast path (`fastpath.py`) parses them with the same functions, so both accept and refuse alike.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from app.api.deps import RuntimeDep
from app.api.schemas.common import MAX_LIMIT
from app.services.serving.placements import LivePlacement
from app.services.serving.recommend import MAX_EXCLUDE
from app.shop import ID_PATTERN, MAX_ID_LENGTH

_ID = re.compile(ID_PATTERN)


def parse_exclude(value: str | None) -> frozenset[str]:
    """`a,b,c` -> the ids; ValueError naming the problem when one is not an id or there are too many."""
    if not value:
        return frozenset()
    ids = value.split(",")
    if len(ids) > MAX_EXCLUDE:
        raise ValueError(f"at most {MAX_EXCLUDE} ids, got {len(ids)}")
    for item_id in ids:
        if not 0 < len(item_id) <= MAX_ID_LENGTH or not _ID.match(item_id):
            raise ValueError(f"{item_id[:MAX_ID_LENGTH]!r} is not an item id (1-128 printable characters)")
    return frozenset(ids)


def exclude_ids(
    exclude: Annotated[
        str | None,
        Query(
            max_length=MAX_EXCLUDE * (MAX_ID_LENGTH + 1),
            description=f"Comma-separated item ids never to answer with (at most {MAX_EXCLUDE}).",
            examples=["sku-00001,sku-00002"],
        ),
    ] = None,
) -> frozenset[str]:
    try:
        return parse_exclude(exclude)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("query", "exclude"), "msg": str(exc), "type": "value_error"}]
        ) from None


ExcludeDep = Annotated[frozenset[str], Depends(exclude_ids)]


def placement_named(
    runtime: RuntimeDep,
    placement: Annotated[
        str | None,
        Query(
            max_length=MAX_ID_LENGTH,
            pattern=ID_PATTERN,
            description="A placement's name (`PUT /placements/{name}`): its rules and default limit apply.",
            examples=["home"],
        ),
    ] = None,
) -> LivePlacement | None:
    if placement is None:
        return None
    found = runtime.placements.get(placement)
    if found is None:
        raise HTTPException(404, f"placement {placement!r} not found")
    return found


PlacementDep = Annotated[LivePlacement | None, Depends(placement_named)]

LimitParam = Annotated[
    int | None, Query(ge=1, le=MAX_LIMIT, description="Default: the placement's limit, or 10.")
]

# Every list endpoint taking `placement` may answer 404 (no placement of that name): documented.
PLACEMENT_NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "No placement of that name"}}
