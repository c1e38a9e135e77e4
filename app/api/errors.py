"""Errors as RFC 9457 problem details (`application/problem+json`), never a stack trace."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import fastapi.routing
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, compile_path

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 5


class FieldProblem(BaseModel):
    """One bad field of a request."""

    loc: list[str | int] = Field(description='Where, as a path: ["body", 3, "type"].')
    field: str = Field(description='The same path, written out: "body[3].type".')
    msg: str
    type: str = Field(description="A machine-readable kind of problem, e.g. `missing`.")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; validation errors also list each bad field in `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(default=None, description="422 only: each bad field.")


# What each problem status means, for the OpenAPI document (app/api/openapi.py decides which
# operation can answer which).
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    401: "Missing or unknown API key",
    403: "The API key's scope does not allow this",
    404: "Not found",
    413: "Body larger than MAX_BODY_BYTES, or more than 10,000 elements in a batch",
    422: "Invalid request (a malformed body included): `errors` names each bad field",
    503: "The database is unavailable or the request timed out; retry later",
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
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = getattr(exc, "headers", None)
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8, nested too deep): a malformed
            # body is one more invalid request, answered like all of them with a 422.
            return validation_problem(
                [{"loc": ("body",), "msg": "not a JSON document in UTF-8", "type": "json_invalid"}]
            )
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint"
        if exc.status_code == 405:
            detail = "method not allowed on this endpoint"
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem(exc.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        errors = [_readable(e) for e in exc.errors()]
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


def _readable(error: dict[str, Any]) -> dict[str, Any]:
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        # FastAPI puts the character offset where the field goes: say it in words instead.
        reason = (error.get("ctx") or {}).get("error", "")
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        msg = f"not valid JSON{where}: {reason}".rstrip(": ")
        return {"loc": ("body",), "msg": msg, "type": "json_invalid"}
    return {"loc": loc, "msg": error.get("msg", "invalid"), "type": error.get("type", "")}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path, for `Allow`: each route has one method, and
    the router names only the first route whose path matched."""
    app = request.app
    table = getattr(app.state, "method_table", None)
    if table is None:
        table = app.state.method_table = _method_table(app.routes)
    path = request.scope["path"]
    return sorted({m for pattern, methods in table if pattern.match(path) for m in methods})


def _method_table(routes: Sequence[BaseRoute]) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    # FastAPI >= 0.16x nests included routers; its iterator yields the routes they hold.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    table = []
    for route in flatten(routes) if flatten else routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods:
            table.append((compile_path(path)[0], frozenset(methods)))
    return table


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
