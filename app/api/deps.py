"""Dependencies: the process runtime, a session per request, and API-key scopes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from app.api.keys import ApiKeys
from app.services.serving.runtime import RebuildRequests, Runtime


async def get_runtime(request: Request) -> Runtime:
    return request.state.runtime  # the lifespan's (main.py)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_background(runtime: RuntimeDep) -> RebuildRequests:
    assert runtime.background is not None  # started by the lifespan before any request
    return runtime.background


BackgroundDep = Annotated[RebuildRequests, Depends(get_background)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session per request, closed after it. The services commit their own unit of work;
    whatever a failed request left uncommitted is rolled back."""
    with runtime.sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="A read or write key.")


async def get_keys(request: Request) -> ApiKeys:
    return request.state.keys  # type: ignore[no-any-return]  # the lifespan's (main.py)


KeysDep = Annotated[ApiKeys, Depends(get_keys)]


def raw_key(key: str | None) -> bytes | None:
    # Starlette decodes header values as latin-1: encoding back gives the bytes that were sent.
    return None if key is None else key.encode("latin-1")


async def require_read(keys: KeysDep, key: Annotated[str | None, Security(api_key_header)]) -> None:
    keys.check(raw_key(key), write=False)


async def require_write(keys: KeysDep, key: Annotated[str | None, Security(api_key_header)]) -> None:
    keys.check(raw_key(key), write=True)


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
