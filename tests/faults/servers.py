"""Real `shoprec serve` processes for fault tests: started on a free port of 127.0.0.1 with their
own environment, waited for on /healthz, and always killed (the whole process group)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from app.config import Settings

SHOPREC = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "shoprec"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    """The parent's environment without any shoprec setting, plus the given ones."""
    fields = {name.upper() for name in Settings.model_fields} | {"SHOPREC_DATA_DIR"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in fields}
    env.update(
        DATABASE_URL=database_url,
        SHOPREC_DATA_DIR=str(data_dir),
        REBUILD_INTERVAL_SECONDS="0",
        AUTO_MIGRATE="false",
        LOG_LEVEL="warning",
    )
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


class Server:
    """One `shoprec serve` subprocess."""

    def __init__(self, database_url: str, workdir: Path, name: str = "server", **settings: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        # cwd=workdir: no stray .env of the repository is read.
        self.process = subprocess.Popen(
            [str(SHOPREC), "serve", "--port", str(self.port)],
            env=server_env(database_url, workdir, **settings),
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy within {timeout} s:\n{self.log()}")

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

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

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]
