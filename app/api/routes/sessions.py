"""Anonymous sessions: /sessions/{session_id}/recommendations."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.api.deps import ReadAccess, RuntimeDep
from app.api.params import ExcludeDep, LimitParam, PlacementDep
from app.api.schemas.common import MAX_ID_LENGTH, MAX_OFFSET, SessionIdPath
from app.api.schemas.sessions import SessionRecommendations
from app.services.serving import recommend
from app.shop import session_key

router = APIRouter(prefix="/sessions", tags=["recommendations"], dependencies=[ReadAccess])


@router.get(
    "/{session_id}/recommendations",
    response_model=SessionRecommendations,
    summary="An anonymous session's recommendations",
)
def session_recommendations(
    runtime: RuntimeDep,
    session_id: SessionIdPath,
    placement: PlacementDep,
    exclude: ExcludeDep,
    limit: LimitParam = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    category: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    exclude_seen: bool = True,
) -> Any:
    """Recommendations from the session's own events, at once (events sent with `session_id`);
    popular items for a session without events. The same parameters as a shopper's."""
    query = recommend.Query(
        session_key(session_id),
        limit,
        offset,
        category,
        exclude_seen,
        placement.name if placement else None,
        exclude,
    )
    body = recommend.recommend(runtime, query)
    del body["user_id"]
    return Response(orjson.dumps({"session_id": session_id, **body}), media_type="application/json")
