"""Fixtures of the fault tests: real server processes that are always killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import Server


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `shoprec serve` subprocesses on the test's store; killed at the end of the test."""
    servers: list[Server] = []

    def start(name: str = "server", **settings: object) -> Server:
        # No timed rebuilds: a test starts the rebuilds it needs.
        server = Server(database_url, tmp_path / name, name, **{"rebuild_interval_seconds": 0, **settings})
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
