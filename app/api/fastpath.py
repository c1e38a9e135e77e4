"""The hot path: `GET /users/{user_id}/recommendations` answered in front of the framework.

FastAPI's own layers (its OpenTelemetry check, which reads the environment three times a request,
its error and body-limit middleware) and its dependency machinery cost several times a cached
answer. So the app (`main.ShopApp`) hands every HTTP request to this class first; what it does not
answer goes on to the full stack. What those layers do for this request, it does too: the time
limit (the same `Deadlines`), CORS (Starlette's own middleware around the answer, when origins are
configured), a request with a body goes on to the full stack and its body limit.

It is the route's twin, not a second implementation: the same key check (`ApiKeys`), the same
parser and defaults (`parse_recommendations_query`), the same answer (`recommend.answer`) and the
same error mapping (`errors.problem_for`). A request it does not answer (another method or path, a
missing or refused key, a query the parser refuses) goes on to the documented route, which answers
it with its problem details; a property test holds the two equal (tests/api/test_fastpath.py).

A shop's pages ask for the same few URLs again and again, so the parse of an accepted URL is kept:
only after its key was accepted and its query parsed, and bounded by bytes (`PARSED_URL_BYTES`,
forgotten all at once when full). Nothing a refused or malformed request sends is kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import problem_for
from app.api.keys import ApiKeys
from app.api.middleware import Deadlines
from app.api.recommendations_query import parse_recommendations_query
from app.services.serving import recommend

_PREFIX, _SUFFIX = "/users/", "/recommendations"
_NO_STATE: dict[str, object] = {}
PARSED_URL_BYTES = 4 << 20  # the memo of parsed URLs, in bytes of URL plus the entry's overhead
ENTRY_OVERHEAD = 400  # bytes of a memo entry besides its URL: dict slot, tuples, the Query, ints
MEMO_MAX_URL = 2048  # longer URLs are parsed each time, never kept


def _placement_known(runtime: Any, query: recommend.Query) -> bool:
    """No placement, or one this process serves: an unknown one is the route's 404 to explain."""
    return query.placement is None or query.placement in runtime.placements


def query_of(path: str, query_string: bytes) -> recommend.Query | None:
    """The query of a request for this route, or None when the route itself must answer (no such
    path, or a query the parser refuses: the route then raises the same error and explains it)."""
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    user_id = path[len(_PREFIX) : -len(_SUFFIX)]
    if not user_id or "/" in user_id:  # the route's `{user_id}` is one non-empty path segment
        return None
    try:
        return parse_recommendations_query(user_id, query_string)
    except RequestValidationError:
        return None


class RecommendationsFastPath:
    """`app`: the full stack, for every request this does not answer. `cors`: the options of the
    stack's `CORSMiddleware`, or None when no origins are configured."""

    def __init__(
        self, app: ASGIApp, *, keys: ApiKeys, deadlines: Deadlines, cors: dict[str, Any] | None = None
    ) -> None:
        self.app = app
        self.keys = keys
        self.deadlines = deadlines
        self._respond: ASGIApp = _respond if cors is None else CORSMiddleware(_respond, **cors)
        self._parsed: dict[tuple[str, bytes], recommend.Query] = {}
        self._parsed_bytes = 0

    def _query(self, path: str, query_string: bytes) -> recommend.Query | None:
        url = (path, query_string)
        query = self._parsed.get(url)
        if query is not None:
            return query
        query = query_of(path, query_string)
        if query is None:
            return None
        size = len(path) + len(query_string)
        if size <= MEMO_MAX_URL:
            if self._parsed_bytes + size + ENTRY_OVERHEAD > PARSED_URL_BYTES:
                self._parsed.clear()
                self._parsed_bytes = 0
            self._parsed[url] = query
            self._parsed_bytes += size + ENTRY_OVERHEAD
        return query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                runtime = scope.get("state", _NO_STATE).get("runtime")  # as `deps.get_runtime` reads it
                if runtime is not None and self._allowed(scope):
                    query = self._query(path, scope["query_string"])
                    if query is not None and _placement_known(runtime, query):
                        scope["shoprec.answer"] = (runtime, query)
                        await self._answer(scope, receive, send)
                        return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        """An accepted key (the first X-API-Key, as the route reads it) and no request body."""
        keys = self.keys
        key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                if key is None:
                    key = value
            elif (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
                return False  # a body: the full stack applies its limit
        return keys.allows_read(key)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadlines = self.deadlines
        task = deadlines.enter()
        try:
            await self._respond(scope, receive, send)
        except asyncio.CancelledError:
            # The answer was computed before its first send: past the time limit the response has
            # started, so, as the full stack's `LimitsMiddleware` does then, it is only stopped.
            if not deadlines.expired(task):
                raise
        finally:
            deadlines.leave(task)


async def _respond(scope: Scope, receive: Receive, send: Send) -> None:
    runtime, query = scope["shoprec.answer"]
    try:
        body = recommend.answer(runtime, query)
    except Exception as exc:  # answered as the route's exception handlers would
        await problem_for(exc)(scope, receive, send)
        return
    await _send_json(send, body)


_JSON = (b"content-type", b"application/json")


async def _send_json(send: Send, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode()), _JSON]  # as the route's `Response`
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
