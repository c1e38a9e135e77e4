"""ASGI middleware: a body-size limit enforced while reading, and a per-request time limit.

The time limit is kept by one watchdog per process rather than a timer per request: a timer (as
`asyncio.wait_for` or `asyncio.timeout` arm one) costs 12-23 us under uvloop, more than serving a
cached answer. Each request notes its deadline in a dict; the watchdog wakes every
`timeout / 10` (at most 1 s), cancels the requests past theirs, and stops when none is in flight.

`RequestContextMiddleware`, in front of everything, gives each request its id and counts it (for
the logs and /metrics).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import PROBLEM
from app.logs import request_id

access = logging.getLogger("shoprec.access")


class _TooLarge(Exception):
    pass


async def send_problem(send: Send, status: int, title: str, detail: str) -> None:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Deadlines:
    """Cancels the tasks of requests that outlive `timeout_seconds` (see the module's docstring)."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self.tick = min(1.0, timeout_seconds / 10)
        self._deadlines: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def enter(self) -> asyncio.Task[object]:
        """Start the current request's clock; pass what it returns to `leave` or `expired`."""
        task = asyncio.current_task()
        assert task is not None  # an ASGI request always runs in a task
        loop = task.get_loop()
        self._deadlines[task] = loop.time() + self.timeout_seconds
        watchdog = self._watchdog
        if watchdog is None or watchdog.done() or watchdog.get_loop() is not loop:
            self._watchdog = loop.create_task(self._watch())
        return task

    def leave(self, task: asyncio.Task[object]) -> None:
        self._deadlines.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """True (once) when the task's cancellation was the time limit's: it is then uncancelled,
        so that the request can still answer."""
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._deadlines:
            await asyncio.sleep(self.tick)
            now = loop.time()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now and task not in self._expired:
                    if task.get_loop() is loop:
                        self._expired.add(task)
                        task.cancel()


def stopped_detail(timeout_seconds: float) -> str:
    return f"the request took longer than {timeout_seconds:g} s and was stopped"


class LimitsMiddleware:
    """413 for bodies over `max_body_bytes` (declared or streamed); 503 past the time limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, deadlines: Deadlines) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.deadlines = deadlines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await send_problem(send, 413, "Content Too Large", f"body larger than {limit} bytes")
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        deadlines = self.deadlines
        task = deadlines.enter()
        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_problem(send, 413, "Content Too Large", f"body larger than {limit} bytes")
        except asyncio.CancelledError:
            if not deadlines.expired(task):
                raise
            if not started:
                detail = stopped_detail(deadlines.timeout_seconds)
                await send_problem(send, 503, "Service Unavailable", detail)
        finally:
            deadlines.leave(task)


RECOMMENDATIONS_ROUTE = "/users/{user_id}/recommendations"
_NO_STATE: dict[str, Any] = {}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The route template a request matched (bounded, unlike paths), for metrics."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    path = scope["path"]
    # Answered by the fast path, ahead of the router, which then sets no route.
    if path.startswith("/users/") and path.endswith("/recommendations") and path.count("/") == 3:
        return RECOMMENDATIONS_ROUTE
    return "unmatched"


class RequestContextMiddleware:
    """Outermost: gives each request an id, returned in `X-Request-ID` and carried by every log line
    written while it runs, and counts it and its latency by route template for /metrics.

    The id is made here, never taken from the request, so a client cannot forge another's.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log
        self._prefix = secrets.token_hex(4).encode()  # one per process: ids stay unique across workers
        self._numbers = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = b"%b-%x" % (self._prefix, next(self._numbers))  # bytes: what the header needs
        header = (b"x-request-id", rid)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        runtime = scope.get("state", _NO_STATE).get("runtime")  # the lifespan's, as deps read it
        if runtime is not None:
            runtime.counts.count_request(route_label(scope), method, status, seconds)
        if self.access_log:
            path, ms = scope["path"], round(seconds * 1000, 3)
            access.info(
                "%s %s %d %.1f ms",
                method,
                path,
                status,
                ms,
                extra={"method": method, "path": path, "status": status, "duration_ms": ms},
            )
