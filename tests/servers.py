"""Real `shoprec serve` processes, for the fault tests and the benchmarks alike.

A server starts on a free port of 127.0.0.1 in its own process group, with the parent's environment
minus every shoprec setting, plus the ones given, and its working directory and log in `workdir`
(no stray `.env` of the repository is read). It is stopped gracefully (`stop`: SIGTERM, then
SIGKILL) or killed outright (`kill`: SIGKILL to the whole group, its rebuild child included).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.config import Settings

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, data_dir: Path | None = None, **settings: object) -> dict[str, str]:
    """The parent's environment without any shoprec setting, plus the given ones (any case)."""
    fields = {name.upper() for name in Settings.model_fields} | {"SHOPREC_DATA_DIR"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in fields}
    env.update(DATABASE_URL=database_url, AUTO_MIGRATE="false", LOG_LEVEL="warning")
    if data_dir is not None:
        env["SHOPREC_DATA_DIR"] = str(data_dir)
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


class Server:
    """One `shoprec serve` subprocess (``workers`` uvicorn workers). ``app_dir``: the checkout whose
    `app` it serves (the installed one by default; another to compare versions)."""

    def __init__(
        self,
        database_url: str,
        workdir: Path | None = None,
        name: str = "server",
        *,
        workers: int = 1,
        app_dir: Path | None = None,
        **settings: object,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="shoprec-serve-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        env = server_env(database_url, self.workdir, **settings)
        if app_dir is not None:  # first on the import path, before the installed checkout
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(app_dir), env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT, path: str = "/healthz") -> Server:
        """Wait until ``path`` answers 200 (`/readyz`: the store is reachable and migrated too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready ({path}) within {timeout} s:\n{self.log()}")

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn workers, the rebuild child)."""
        found = [self.process.pid]
        frontier = [self.process.pid]
        while frontier:
            pid = frontier.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            for c in children:
                found.append(int(c))
                frontier.append(int(c))
        return found

    def rss_mb(self, pids: Sequence[int] | None = None) -> float:
        return sum(rss_mb(p) for p in (pids or self.pids()))

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a graceful shutdown), SIGKILL if it takes longer than ``timeout``."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL the server and everything it started (its rebuild child included)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=10)
        finally:
            self._log.close()
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]


@contextmanager
def serving(
    database_url: str,
    *,
    workers: int = 1,
    ready: str = "/readyz",
    app_dir: Path | None = None,
    **settings: object,
) -> Iterator[Server]:
    """A server for the duration of a block, ready on ``ready`` (within 120 s) when it starts."""
    server = Server(database_url, workers=workers, app_dir=app_dir, **settings)
    try:
        server.wait_ready(timeout=120.0, path=ready)
        yield server
    finally:
        server.stop()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
