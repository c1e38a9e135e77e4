"""Nothing a refused request sends is kept: a real server's RSS under keyless requests with huge
query strings (issue 13's reproduction: the fast path used to keep each URL's parse, ~57 KB each)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from tests.servers import Server

FILLER = b"a" * 60_000


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _keyless_requests(port: int, first: int, count: int) -> None:
    """`count` GETs on one keep-alive connection, each answered 401 before the next is sent."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        stream = sock.makefile("rb")
        for i in range(first, first + count):
            sock.sendall(
                b"GET /users/u%d/recommendations?z%d=%s HTTP/1.1\r\nHost: test\r\n\r\n" % (i, i, FILLER)
            )
            status = stream.readline()
            assert status.startswith(b"HTTP/1.1 401"), status
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            stream.read(length)


def test_keyless_requests_with_huge_queries_keep_nothing(serve: Callable[..., Server]) -> None:
    server = serve(api_write_keys="w-secret", api_read_keys="r-public").wait_ready()
    _keyless_requests(server.port, 0, 300)  # warm-up: the stack's own first-use allocations
    before = _rss_mb(server.process.pid)
    _keyless_requests(server.port, 300, 6_000)
    grown = _rss_mb(server.process.pid) - before
    # Before the fix: +340 MB (each refused URL's parse kept, up to 50,000 of them).
    assert grown < 30, f"the server's RSS grew by {grown:.0f} MB over 6,000 refused requests"
