"""Shoppers: /users/{user_id} and their event history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from app.api.deps import RuntimeDep, SessionDep, WriteAccess
from app.api.schemas.common import TimeBound, UserIdPath
from app.api.schemas.events import EventOut
from app.api.schemas.sessions import MergeIn, MergeOut
from app.api.schemas.users import UserIn, UserOut
from app.services.writes import erasure, sessions, users

router = APIRouter(prefix="/users", tags=["users"])


@router.put(
    "/{user_id}", response_model=UserOut, dependencies=[WriteAccess], summary="Create or update a user"
)
def put_user(user_id: UserIdPath, body: UserIn, session: SessionDep) -> Any:
    users.put_user(session, user_id, body.attributes)
    return users.user_with_counts(session, user_id)


@router.get(
    "/{user_id}", response_model=UserOut, dependencies=[WriteAccess], summary="A user and event counts"
)
def get_user(user_id: UserIdPath, session: SessionDep) -> Any:
    user = users.user_with_counts(session, user_id)
    if user is None:
        raise HTTPException(404, f"user {user_id!r} not found")
    return user


@router.delete("/{user_id}", status_code=204, dependencies=[WriteAccess], summary="Erase a user")
def delete_user(user_id: UserIdPath, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Erases the user, all their events and their cached recommendations, durably: every server
    process stops serving them at its next poll, a restarted one at start. Starts a rebuild so
    that nothing of their history shapes what others are served."""
    if not erasure.erase_user(runtime, session, user_id):
        raise HTTPException(404, f"user {user_id!r} not found")
    return Response(status_code=204)


@router.get(
    "/{user_id}/events",
    response_model=list[EventOut],
    dependencies=[WriteAccess],
    tags=["events"],
    summary="A user's history, newest first",
)
def user_events(
    user_id: UserIdPath,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        TimeBound | None, Query(description="Only events strictly older (RFC 3339, with a UTC offset).")
    ] = None,
) -> Any:
    rows = users.history(session, user_id, limit=limit, before=before)
    return [
        EventOut(
            event_id=r.event_id,
            user_id=r.user_id,
            item_id=r.item_id,
            type=r.type,
            value=r.value,
            timestamp=r.ts,
            received_at=r.received_at,
        )
        for r in rows
    ]


@router.post(
    "/{user_id}/merge",
    response_model=MergeOut,
    dependencies=[WriteAccess],
    summary="Merge an anonymous session into a shopper (on login)",
)
def merge_session(user_id: UserIdPath, body: MergeIn, runtime: RuntimeDep, session: SessionDep) -> Any:
    """Moves the session's events to the shopper (created if new), so the shopper's next answer
    reflects them. Idempotent: merging again moves nothing (`merged: 0`)."""
    merged, rows = sessions.merge(session, user_id, body.session_id)
    session.commit()
    sessions.publish_merge(runtime, merged, rows)
    return merged
