"""Recommendations for a shopper, and popular items. Served from memory, never from the store."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.api.deps import ReadAccess, RuntimeDep
from app.api.recommendations_query import RECOMMENDATIONS_PARAMETERS, parse_recommendations_query
from app.api.schemas.common import MAX_ID_LENGTH, MAX_LIMIT
from app.api.schemas.recommendations import PopularItems, Recommendations
from app.services.serving import recommend

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
    openapi_extra={"parameters": RECOMMENDATIONS_PARAMETERS},
)
async def user_recommendations(
    runtime: RuntimeDep, query: Annotated[recommend.Query, Depends(recommendations_query)]
) -> Response:
    """The top items precomputed at the last rebuild, filtered now (unavailable and deleted items,
    `category`, items already seen) and re-scored from events since the rebuild. An unknown
    shopper gets popular items (`strategy: "popular"`), never a 404."""
    return Response(recommend.answer(runtime, query), media_type="application/json")


@router.get("/popular", response_model=PopularItems, summary="The most popular items")
async def popular_items(
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    category: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
) -> Response:
    return _json(recommend.popular(runtime, limit=limit, category=category))
