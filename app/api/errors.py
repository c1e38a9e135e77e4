"""Errors as RFC 9457 problem details (`application/problem+json`), never a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 5


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; validation errors also list each bad field in `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def _doc(description: str) -> dict[str, Any]:
    return {"model": ProblemDetails, "description": description, "content": {PROBLEM: {}}}


# Documented on every operation: what any endpoint may answer besides its own success codes.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing or unknown API key"),
    403: _doc("The API key's scope does not allow this"),
    404: _doc("Not found"),
    413: _doc("Body or batch too large"),
    422: _doc("Invalid request: `errors` names each bad field"),
    503: _doc("The database is unavailable or the request timed out; retry later"),
}


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


_FRIENDLY = {
    "string_pattern_mismatch": "must be 1-128 printable characters without surrounding spaces",
}


def validation_problem(errors: list[dict[str, Any]]) -> Response:
    items = [
        {
            "loc": list(e["loc"]),
            "field": _where(e["loc"]),
            "msg": _FRIENDLY.get(e.get("type", ""), e["msg"]),
            "type": e.get("type", "value_error"),
        }
        for e in errors
    ]
    first = items[0]
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return problem(422, f"{first['field']}: {first['msg']}{more}", errors=items)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint"
        if exc.status_code == 405:
            detail = "method not allowed on this endpoint"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": tuple(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return validation_problem(errors or [{"loc": ("body",), "msg": "invalid request", "type": ""}])

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def store_unavailable(_: Request, exc: Exception) -> Response:
        return store_problem(exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        return unexpected_problem(exc)


STORE_ERRORS = (OperationalError, PoolTimeoutError)


def store_problem(exc: Exception) -> Response:
    """503 with `Retry-After` when the store cannot be reached; 500 for any other store error."""
    if isinstance(exc, DBAPIError) and not _is_connection_problem(exc):
        log.error("database error: %s", exc)
        return problem(500, "internal error in the store; see the server log")
    log.warning("store unavailable: %s", exc.__class__.__name__)
    return problem(
        503,
        "the database is unavailable; nothing was stored, retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def unexpected_problem(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal server error; see the server log")


def problem_for(exc: Exception) -> Response:
    """The answer the handlers above give to `exc`: for code that runs outside them (the fast path)."""
    if isinstance(exc, STORE_ERRORS):
        return store_problem(exc)
    return unexpected_problem(exc)


def _is_connection_problem(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower() if exc.orig is not None else ""
    markers = (
        "connection",
        "could not connect",
        "server closed",
        "terminating",
        "timeout",
        "database is locked",
        "shutting down",
        "the database system is",
    )
    return any(m in text for m in markers)
