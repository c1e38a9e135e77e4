"""The background worker of a server process: timed and requested rebuilds, and polling.

Rebuilds run in a child process by default (`REBUILD_WORKER=process`), so the maths never competes
with request handling for the interpreter lock, and a crash of the build cannot take the server down.
Every `POLL_INTERVAL_SECONDS` the worker picks up a newer model version (built here or by another
process), catalog changes and new events accepted by other processes.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.config import Settings
from app.services.building import expiry
from app.services.building.rebuild import RebuildResult, mark_interrupted, run_rebuild
from app.services.serving import operations
from app.services.serving.runtime import RebuildStatus, Runtime
from app.store import events as event_store

log = logging.getLogger(__name__)

THREAD_STOP_SECONDS = 60  # how long shutdown waits for a rebuild running in a thread
# An erasure still not covered by the serving model this long after this process asked for a
# rebuild (another process held the lock, or the build failed) asks again.
ERASURE_RETRY_SECONDS = 60.0


def lower_priority(nice: int) -> None:
    """Make this process yield the CPU to others: on a busy machine the rebuild's maths then waits
    for idle cycles instead of delaying requests. Linux keeps a niceness per thread, and the BLAS
    threads exist from numpy's import on, so each thread is lowered; threads started later inherit."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # elsewhere: the process (or the calling thread)
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        except OSError:  # the thread ended meanwhile, or the system refuses: not worth failing a rebuild
            continue


def _child_main(settings: Settings, tune: bool | None, conn: Connection) -> None:
    """Entry point of the rebuild process: the result (or the error) goes back through a pipe."""
    logging.basicConfig(level=settings.log_level.upper())
    lower_priority(settings.rebuild_nice)
    try:
        conn.send(("ok", run_rebuild(settings, tune=tune)))
    except BaseException as exc:  # reported to the parent, which keeps serving
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class Background:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.building = False
        self._wake = asyncio.Event()
        self._tune_requested = False
        self._tasks: list[asyncio.Task[None]] = []
        self._child: BaseProcess | None = None
        self._thread: asyncio.Future[RebuildResult] | None = None
        self._last_build_check = time.monotonic()
        self._erasure_requested = 0  # the newest erasure a rebuild was asked for
        self._erasure_requested_at = 0.0  # monotonic
        self._polled = False  # whether a poll has completed since start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        # Sessions expire within a tenth of their lifetime (hourly at most).
        self._expiry_every = min(expiry.EXPIRY_INTERVAL_SECONDS, self.settings.session_ttl_days * 8640)
        self._next_expiry = time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._rebuild_loop(), name="shoprec-rebuild"),
            asyncio.create_task(self._poll_loop(), name="shoprec-poll"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        child = self._child
        if child is not None and child.is_alive():
            # The rebuild lock dies with the child: its run is marked failed now, not left
            # 'running' for `GET /model` to report until the next rebuild starts.
            child.terminate()
            await asyncio.to_thread(child.join, 5)
            try:
                await asyncio.to_thread(
                    mark_interrupted, self.runtime.engine, "interrupted (the server shut down)"
                )
            except SQLAlchemyError as exc:
                log.warning("could not mark the interrupted rebuild: %s", exc.__class__.__name__)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._thread is not None and not self._thread.done():
            await asyncio.wait([self._thread], timeout=THREAD_STOP_SECONDS)

    # --- rebuilds ----------------------------------------------------------------------------

    def request_rebuild(self, *, tune: bool = False) -> RebuildStatus:
        """Ask for a rebuild; 'running' if one is already under way, else 'scheduled'."""
        self._tune_requested = self._tune_requested or tune
        status: RebuildStatus = "running" if self.building else "scheduled"
        # Routes and polls call this from worker threads: an asyncio.Event is set on its loop.
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)
        return status

    def request_erasure_rebuild(self, erasure_id: int) -> None:
        """Ask for the rebuild that removes an erased shopper from the stored model (timer or not,
        new events or not)."""
        self._erasure_requested = max(self._erasure_requested, erasure_id)
        self._erasure_requested_at = time.monotonic()
        self.request_rebuild()

    def _rebuild_for_erasures(self) -> None:
        """After a poll: erasures the serving model does not cover get a rebuild. Those pending at
        start (their process may have died before rebuilding) at once; one another process just
        recorded is its own to rebuild for, so here only if it is still uncovered
        ERASURE_RETRY_SECONDS later (that process died, or its build failed)."""
        pending = max(self.runtime.erased.values(), default=0)
        now = time.monotonic()
        if pending > self._erasure_requested:
            self._erasure_requested = pending
            if self._polled:  # recorded since start: give the recording process its time
                self._erasure_requested_at = now
                return
            self._erasure_requested_at = now - 2 * ERASURE_RETRY_SECONDS  # pending at start: now
        if pending and not self.building and now - self._erasure_requested_at > ERASURE_RETRY_SECONDS:
            self.request_erasure_rebuild(pending)

    async def _rebuild_loop(self) -> None:
        interval = self.settings.rebuild_interval_seconds
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval or None)
                requested = True
            except TimeoutError:
                requested = False
            self._wake.clear()
            if not requested and not await asyncio.to_thread(self._has_new_events):
                continue
            await self.rebuild_now()

    def _has_new_events(self) -> bool:
        if self.runtime.erased:  # an erasure the serving model does not cover
            return True
        try:
            with self.runtime.engine.connect() as connection:
                return event_store.max_event_id(connection) > self.runtime.model.meta.last_event_id
        except SQLAlchemyError:
            return False

    async def rebuild_now(self) -> RebuildResult | None:
        tune = True if self._tune_requested else None  # None: the store's history decides
        self._tune_requested = False
        self.building = True
        started = time.monotonic()
        try:
            result = await self._run(tune)
        except Exception as exc:  # recorded in rebuild_runs by run_rebuild; keep serving
            metrics.record_rebuild("failed", time.monotonic() - started, {})
            log.error("rebuild failed, the previous model keeps serving: %s", exc)
            return None
        finally:
            self.building = False
        metrics.record_rebuild(result.status, time.monotonic() - started, result.stages)
        if result.status == "built":
            await asyncio.to_thread(self.runtime.load_latest_model)
        return result

    async def _run(self, tune: bool | None) -> RebuildResult:
        if self.settings.rebuild_worker == "thread":
            self._thread = asyncio.ensure_future(
                asyncio.to_thread(run_rebuild, self.settings, engine=self.runtime.engine, tune=tune)
            )
            # Shielded: shutdown waits for the thread (it cannot be cancelled) instead of leaving
            # it writing to a store whose engine is being disposed.
            return await asyncio.shield(self._thread)
        return await self._run_in_child(tune)

    async def _run_in_child(self, tune: bool | None) -> RebuildResult:
        ctx = multiprocessing.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child_main, args=(self.settings, tune, sender), daemon=True)
        child.start()
        sender.close()
        self._child = child
        try:
            # recv() returns when the child answers, or raises EOFError when it died without one.
            status, payload = await asyncio.to_thread(receiver.recv)
        except EOFError:
            await asyncio.to_thread(child.join)
            message = f"the rebuild process died (exit code {child.exitcode})"
            if not self._stopping:  # else `stop` marks it, before the engine goes
                await asyncio.to_thread(mark_interrupted, self.runtime.engine, message, tune=bool(tune))
            raise RuntimeError(message) from None
        finally:
            receiver.close()
            self._child = None
        await asyncio.to_thread(child.join)
        if status != "ok":
            raise RuntimeError(payload)
        return payload

    # --- polling -----------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.settings.poll_interval_seconds)
            try:
                await asyncio.to_thread(self._poll_once)
                failures = 0
            except (SQLAlchemyError, KeyError, ValueError, OSError) as exc:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning(
                        "polling the store failed (%d in a row): %s", failures, exc.__class__.__name__
                    )

    def _poll_once(self) -> None:
        self.runtime.refresh_erasures()  # before the model (see `refresh_erasures`)
        self.runtime.load_latest_model()
        self._rebuild_for_erasures()
        self._polled = True
        self.runtime.refresh_catalog()
        self.runtime.tail_events()
        operations.publish(self.runtime)
        if time.monotonic() >= self._next_expiry:
            self._next_expiry = time.monotonic() + self._expiry_every
            expiry.expire_sessions(self.runtime)
