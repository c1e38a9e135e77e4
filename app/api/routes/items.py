"""The catalog: /items, and /items/{item_id}/similar."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response

from app.api.deps import ReadAccess, RuntimeDep, SessionDep, WriteAccess
from app.api.params import ExcludeDep, LimitParam, PlacementDep
from app.api.schemas.common import MAX_ID_LENGTH, ItemIdPath
from app.api.schemas.items import ItemFields, ItemIn, ItemOut, ItemPage, ItemsUpserted
from app.api.schemas.recommendations import SimilarItems
from app.services.serving import recommend
from app.services.writes import catalog

router = APIRouter(prefix="/items", tags=["items"])

MAX_BULK = 10_000
# URL-safe base64, padded or not; never a length that leaves a lone character.
CURSOR_PATTERN = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3}={0,2})?$"


@router.put(
    "/{item_id}", response_model=ItemOut, dependencies=[WriteAccess], summary="Create or replace an item"
)
def put_item(item_id: ItemIdPath, fields: ItemFields, runtime: RuntimeDep, session: SessionDep) -> Any:
    return catalog.put_items(runtime, session, [{"item_id": item_id, **fields.model_dump()}])[0]


@router.post(
    "",
    response_model=ItemsUpserted,
    dependencies=[WriteAccess],
    summary="Create or replace up to 10,000 items",
    responses={413: {"description": "More than 10,000 items, or a body larger than MAX_BODY_BYTES"}},
)
def post_items(
    runtime: RuntimeDep,
    session: SessionDep,
    items: Annotated[list[ItemIn], Body(json_schema_extra={"maxItems": MAX_BULK})],
) -> Any:
    if len(items) > MAX_BULK:  # checked here, not by the schema: too many is a 413, as documented
        raise HTTPException(413, f"at most {MAX_BULK} items per request, got {len(items)}")
    unique = {it.item_id: it.model_dump() for it in items}  # the last version of an id wins
    stored = catalog.put_items(runtime, session, list(unique.values()))
    return ItemsUpserted(upserted=len(stored))


@router.get("/{item_id}", response_model=ItemOut, dependencies=[ReadAccess], summary="One item")
def get_item(item_id: ItemIdPath, session: SessionDep) -> Any:
    item = catalog.get_item(session, item_id)
    if item is None:
        raise HTTPException(404, f"item {item_id!r} not found")
    return item


@router.get("", response_model=ItemPage, dependencies=[ReadAccess], summary="List items, a page at a time")
def list_items(
    session: SessionDep,
    category: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=4 * MAX_ID_LENGTH, pattern=CURSOR_PATTERN, description="From `next_cursor`."),
    ] = None,
) -> Any:
    after = _decode_cursor(cursor) if cursor else None
    rows = catalog.list_items(session, category=category, limit=limit + 1, after=after)
    next_cursor = _encode_cursor(rows[limit - 1].item_id) if len(rows) > limit else None
    return ItemPage(items=[ItemOut.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor)


@router.delete("/{item_id}", status_code=204, dependencies=[WriteAccess], summary="Delete an item")
def delete_item(item_id: ItemIdPath, runtime: RuntimeDep, session: SessionDep) -> Response:
    """From this moment the item is never recommended; its past events stay in the history."""
    if not catalog.delete_item(runtime, session, item_id):
        raise HTTPException(404, f"item {item_id!r} not found")
    return Response(status_code=204)


@router.get(
    "/{item_id}/similar",
    response_model=SimilarItems,
    dependencies=[ReadAccess],
    tags=["recommendations"],
    summary="Items similar to this one",
)
def similar_items(
    item_id: ItemIdPath,
    runtime: RuntimeDep,
    session: SessionDep,
    placement: PlacementDep,
    exclude: ExcludeDep,
    limit: LimitParam = None,
) -> Any:
    """From the item-item neighbours of the model (`strategy: collaborative`); an item nobody has
    touched yet gets its nearest items by title, description, categories and tags
    (`strategy: content`), then popular items of its categories. Unavailable items and `exclude`
    are left out; a `placement`'s rules shape the list."""
    answer = recommend.similar(
        runtime,
        item_id,
        limit=limit,
        load_text=lambda: catalog.stored_item_text(session, item_id),
        exclude=exclude,
        placement=placement,
    )
    if answer is None:
        raise HTTPException(404, f"item {item_id!r} not found")
    return answer


def _encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    """The position after which the page starts. Any string of the pattern decodes: a cursor
    made up by hand is a position too (bytes that are not UTF-8 read as U+FFFD; NUL, which no
    SQL text holds, as U+0001: no id has a control character, so the order is the same)."""
    data = cursor.rstrip("=")
    position = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode(errors="replace")
    return position.replace("\x00", "\x01")
