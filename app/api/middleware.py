"""ASGI middleware: a body-size limit enforced while reading, and a per-request time limit.

The time limit is kept by one watchdog per process rather than a timer per request: a timer (as
`asyncio.wait_for` or `asyncio.timeout` arm one) costs 12-23 us under uvloop, more than serving a
cached answer. Each request notes its deadline in a dict; the watchdog wakes every
`timeout / 10` (at most 1 s), cancels the requests past theirs, and stops when none is in flight.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import PROBLEM


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
