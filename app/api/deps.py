"""Dependencies: the process runtime, a session per request, and API-key scopes."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from app.services.serving.runtime import RebuildRequests, Runtime


async def get_runtime(request: Request) -> Runtime:
    return request.state.runtime  # type: ignore[no-any-return]  # the lifespan's (main.py)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_background(runtime: RuntimeDep) -> RebuildRequests:
    assert runtime.background is not None  # started by the lifespan before any request
    return runtime.background


BackgroundDep = Annotated[RebuildRequests, Depends(get_background)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back if it raises."""
    with runtime.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A read or write key.")


def _matches(key: str, keys: list[str]) -> bool:
    # Compare against every key (no early exit) so timing says nothing about which one matched.
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(key.encode(), candidate.encode())
    return found


def check_key(runtime: Runtime, key: str | None, *, write: bool) -> None:
    settings = runtime.settings
    if not settings.auth_enabled:
        return
    if not key:
        raise HTTPException(
            401, "missing API key: send it in the X-API-Key header", headers={"WWW-Authenticate": "ApiKey"}
        )
    is_write = _matches(key, settings.api_write_keys)
    if is_write:
        return
    if _matches(key, settings.api_read_keys):
        if write:
            raise HTTPException(403, "this API key may only read: writes need a write key")
        return
    raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "ApiKey"})


async def require_read(runtime: RuntimeDep, key: Annotated[str | None, Security(_api_key)]) -> None:
    check_key(runtime, key, write=False)


async def require_write(runtime: RuntimeDep, key: Annotated[str | None, Security(_api_key)]) -> None:
    check_key(runtime, key, write=True)


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
