"""Placements: /placements/{name}, a page slot's strategy, default limit and merchandising rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.openapi.models import Example

from app.api.deps import RuntimeDep, SessionDep, WriteAccess
from app.api.schemas.common import PlacementNamePath
from app.api.schemas.placements import PLACEMENT_EXAMPLE, PlacementIn, PlacementOut
from app.services.writes import placements

router = APIRouter(prefix="/placements", tags=["placements"], dependencies=[WriteAccess])

_EXAMPLES: dict[str, Example] = {
    "rules": {"summary": "Filters, a boost, a pin and diversity", "value": PLACEMENT_EXAMPLE},
    "trending": {
        "summary": "Trending items under 50",
        "value": {"strategy": "trending", "limit": 6, "rules": [{"filter": {"price_max": 50}}]},
    },
    "mmr": {
        "summary": "A varied home page",
        "value": {"strategy": "personalized", "rules": [{"diversity": {"mmr_lambda": 0.7}}]},
    },
}


def _out(row: placements.StoredPlacement) -> PlacementOut:
    return PlacementOut.model_validate(row, from_attributes=True)


@router.put(
    "/{name}",
    response_model=PlacementOut,
    summary="Create or replace a placement",
    responses={409: {"description": "Another request changed the placement at the same time"}},
)
def put_placement(
    name: PlacementNamePath,
    runtime: RuntimeDep,
    session: SessionDep,
    body: PlacementIn = Body(openapi_examples=_EXAMPLES),  # noqa: B008
) -> Any:
    """Stores the next version of the placement; it applies at once to requests with
    `?placement=<name>`, without a rebuild. Rules are checked here: a bad one is a 422 naming its
    index (`body.rules[2].filter.price_min`)."""
    try:
        row = placements.put_placement(
            session, name, strategy=body.strategy, limit=body.limit, rules=body.stored_rules()
        )
    except placements.PlacementConflict:
        raise HTTPException(409, f"placement {name!r} changed meanwhile in another request; retry") from None
    session.commit()
    placements.publish(runtime.placements, row)
    return _out(row)


@router.get("/{name}", response_model=PlacementOut, summary="A placement's current version")
def get_placement(name: PlacementNamePath, session: SessionDep) -> Any:
    row = placements.get_placement(session, name)
    if row is None:
        raise HTTPException(404, f"placement {name!r} not found")
    return _out(row)
