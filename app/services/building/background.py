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

from app.config import Settings
from app.services.building.rebuild import RebuildResult, mark_interrupted, run_rebuild
from app.services.serving.runtime import RebuildStatus, Runtime
from app.store import events as event_store

log = logging.getLogger(__name__)

THREAD_STOP_SECONDS = 60  # how long shutdown waits for a rebuild running in a thread


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

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._rebuild_loop(), name="shoprec-rebuild"),
            asyncio.create_task(self._poll_loop(), name="shoprec-poll"),
        ]

    async def stop(self) -> None:
        child = self._child
        if child is not None and child.is_alive():
            # The rebuild lock dies with the child; the next rebuild marks its run interrupted.
            child.terminate()
            await asyncio.to_thread(child.join, 5)
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
        self._wake.set()
        return status

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
        try:
            with self.runtime.engine.connect() as connection:
                return event_store.max_event_id(connection) > self.runtime.model.meta.last_event_id
        except SQLAlchemyError:
            return False

    async def rebuild_now(self) -> RebuildResult | None:
        tune = True if self._tune_requested else None  # None: the store's history decides
        self._tune_requested = False
        self.building = True
        try:
            result = await self._run(tune)
        except Exception as exc:  # recorded in rebuild_runs by run_rebuild; keep serving
            log.error("rebuild failed, the previous model keeps serving: %s", exc)
            return None
        finally:
            self.building = False
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
            await asyncio.to_thread(mark_interrupted, self.runtime.engine, message, tune=bool(tune))
            raise RuntimeError(message) from None
        finally:
            receiver.close()
            self._child = None
        await asyncio.to_thread(child.join)
        if status != "ok":
            raise RuntimeError(payload)
        return payload  # type: ignore[no-any-return]

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
        self.runtime.load_latest_model()
        self.runtime.refresh_catalog()
        self.runtime.tail_events()
