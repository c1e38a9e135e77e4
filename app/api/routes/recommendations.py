"""Recommendations for a shopper, and popular items. Served from memory, never from the store."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.openapi.models import Example
from fastapi.responses import Response

from app.api.deps import ReadAccess, RuntimeDep
from app.api.params import PLACEMENT_NOT_FOUND, ExcludeDep, LimitParam, PlacementDep
from app.api.recommendations_query import RECOMMENDATIONS_PARAMETERS, parse_recommendations_query
from app.api.schemas.common import MAX_ID_LENGTH
from app.api.schemas.recommendations import (
    BASKET_EXAMPLE,
    BasketIn,
    BasketRecommendations,
    PopularItems,
    Recommendations,
    TrendingItems,
    TrendingWindow,
)
from app.services.serving import recommend
from app.shop import shopper_key

router = APIRouter(tags=["recommendations"], dependencies=[ReadAccess])


def _json(body: dict[str, Any]) -> Response:
    # Serialised directly: the hot path skips response-model validation (the schema is still
    # declared for /docs, and the tests hold answers against it).
    return Response(orjson.dumps(body), media_type="application/json")


async def recommendations_query(request: Request) -> recommend.Query:
    # The one parser, shared with the fast path (`app/api/fastpath.py`); its parameters are
    # documented from the same schema (`openapi_extra` below).
    return parse_recommendations_query(request.path_params["user_id"], request.scope["query_string"])


@router.get(
    "/users/{user_id}/recommendations",
    response_model=Recommendations,
    summary="A shopper's recommendations",
    responses=PLACEMENT_NOT_FOUND,
    openapi_extra={"parameters": RECOMMENDATIONS_PARAMETERS},
)
async def user_recommendations(
    runtime: RuntimeDep, query: Annotated[recommend.Query, Depends(recommendations_query)]
) -> Response:
    """The top items precomputed at the last rebuild, filtered now (unavailable and deleted items,
    `category`, items already seen, `exclude`) and re-scored from events since the rebuild, then
    shaped by the `placement`'s rules. An unknown shopper gets popular items
    (`strategy: "popular"`), never a 404; an unknown placement is a 404."""
    if query.placement is not None and query.placement not in runtime.placements:
        raise HTTPException(404, f"placement {query.placement!r} not found")
    return Response(recommend.answer(runtime, query), media_type="application/json")


@router.get(
    "/popular", response_model=PopularItems, summary="The most popular items", responses=PLACEMENT_NOT_FOUND
)
async def popular_items(
    runtime: RuntimeDep,
    placement: PlacementDep,
    exclude: ExcludeDep,
    limit: LimitParam = None,
    category: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
) -> Response:
    return _json(
        recommend.popular(runtime, limit=limit, category=category, exclude=exclude, placement=placement)
    )


@router.get(
    "/trending", response_model=TrendingItems, summary="Items trending now", responses=PLACEMENT_NOT_FOUND
)
async def trending_items(
    runtime: RuntimeDep,
    placement: PlacementDep,
    exclude: ExcludeDep,
    window: TrendingWindow = "24h",
    limit: LimitParam = None,
    category: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
) -> Response:
    """Items whose event rate within the `window` rose most over their own baseline (not the most
    popular ones): counted live from the event stream, without a rebuild. An item trends only when
    at least `TRENDING_MIN_SHOPPERS` distinct shoppers acted on it within the window, so the list
    may be shorter than `limit`; a `placement` backfills it."""
    return _json(
        recommend.trending(
            runtime, window=window, limit=limit, category=category, exclude=exclude, placement=placement
        )
    )


_BASKET_EXAMPLES: dict[str, Example] = {
    "cart": {"summary": "A cart, for a shopper", "value": BASKET_EXAMPLE},
    "anonymous": {"summary": "An anonymous cart", "value": {"items": ["sku-00042"]}},
}


@router.post(
    "/recommendations/basket",
    response_model=BasketRecommendations,
    summary="Frequently bought together: items that complete a basket",
    responses=PLACEMENT_NOT_FOUND,
)
def basket_recommendations(
    runtime: RuntimeDep,
    placement: PlacementDep,
    exclude: ExcludeDep,
    body: BasketIn = Body(openapi_examples=_BASKET_EXAMPLES),  # noqa: B008
) -> Response:
    """Items bought or carted together with the basket's items in the same visit (association
    rules mined at each rebuild: `reason.because` names the basket item), never the basket's own
    items; re-ranked by the shopper's tastes when `user_id` (or `session_id`) is given, topped up
    with popular items (`strategy: "popular"` when none of the basket's items has rules yet)."""
    shopper = None
    if body.user_id is not None or body.session_id is not None:
        shopper = shopper_key(body.user_id, body.session_id)
    answer = recommend.basket(
        runtime, body.items, shopper=shopper, limit=body.limit, exclude=exclude, placement=placement
    )
    if body.user_id is not None:
        answer["user_id"] = body.user_id
    if body.session_id is not None:
        answer["session_id"] = body.session_id
    return _json(answer)
