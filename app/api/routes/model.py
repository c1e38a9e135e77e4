"""The model: status, rebuilds and the last evaluation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from app.api.deps import BackgroundDep, RuntimeDep, SessionDep, WriteAccess
from app.api.schemas.model import EvaluationTable, ModelInfo, RebuildAccepted
from app.services.serving import status

router = APIRouter(prefix="/model", tags=["model"], dependencies=[WriteAccess])


@router.get("", response_model=ModelInfo, summary="The serving model and the last rebuild")
def get_model(runtime: RuntimeDep, background: BackgroundDep, session: SessionDep) -> Any:
    return status.describe(runtime, session, building_here=background.building)


@router.post(
    "/rebuild", status_code=202, response_model=RebuildAccepted, summary="Rebuild now, in the background"
)
async def post_rebuild(
    background: BackgroundDep,
    tune: Annotated[
        bool, Query(description="Also evaluate the candidate models and serve the best.")
    ] = False,
) -> Any:
    return RebuildAccepted(status=background.request_rebuild(tune=tune))


@router.get("/evaluation", response_model=EvaluationTable, summary="The last evaluation table")
async def get_evaluation(runtime: RuntimeDep) -> Any:
    return await run_in_threadpool(status.last_evaluation, runtime)
