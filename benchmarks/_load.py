"""Load generation for the serving benchmarks: wrk when installed, else httpx in another process;
p50/p99 over all requests, compared against a reference measured in the same run."""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def combined(cls, rounds: Sequence[Load]) -> Load:
        """Several runs as one: requests over seconds summed; p50 and p99 the rounds' medians."""
        return cls(
            requests=sum(r.requests for r in rounds),
            seconds=sum(r.seconds for r in rounds),
            p50_ms=float(np.median([r.p50_ms for r in rounds])),
            p99_ms=float(np.median([r.p99_ms for r in rounds])),
            errors=sum(r.errors for r in rounds),
        )


def compare_loads(
    base: str,
    paths: Sequence[str],
    reference: Sequence[str],
    *,
    connections: int,
    seconds: float,
    rounds: int = 5,
) -> tuple[Load, Load]:
    """`paths` against `reference` in alternating runs of seconds / rounds each, combined: a noisy
    neighbour on the shared machine then slows both sides alike instead of one."""
    each = max(1.0, seconds / rounds)
    runs = [
        (
            run_get_load(base, reference, connections=connections, seconds=each),
            run_get_load(base, paths, connections=connections, seconds=each),
        )
        for _ in range(rounds)
    ]
    return Load.combined([r for _, r in runs]), Load.combined([ref for ref, _ in runs])


def request_each(
    base: str, paths: Sequence[str], *, connections: int = 8, headers: dict[str, str] | None = None
) -> None:
    """Every path once, in order, over `connections` connections: fills a server's caches."""
    import httpx

    async def main() -> None:
        pending = iter(paths)
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:

            async def worker() -> None:
                for path in pending:  # shared: each path goes to one worker
                    (await client.get(path)).raise_for_status()

            await asyncio.gather(*(worker() for _ in range(connections)))

    asyncio.run(main())


# Requests are formatted once, up front: per request, wrk only picks one (its Lua formatting a
# request each time cost more CPU, taken from the server on the same machine).
_WRK_LUA = """
local requests = {}
for line in io.lines("%s") do requests[#requests + 1] = wrk.format("GET", line) end
math.randomseed(%d)
request = function()
  return requests[math.random(#requests)]
end
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    value = float(m.group(1))
    return {"us": value / 1000, "ms": value, "s": value * 1000}[m.group(2)]


def run_get_load(base: str, paths: Sequence[str], *, connections: int, seconds: float) -> Load:
    """GETs over `paths` (random order) from another process: wrk if installed, else httpx."""
    if shutil.which("wrk"):
        return _wrk(base, paths, connections=connections, seconds=seconds)
    return _httpx_load(base, paths, connections=connections, seconds=seconds)


def _wrk(base: str, paths: Sequence[str], *, connections: int, seconds: float) -> Load:
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp, "paths.txt")
        listing.write_text("\n".join(paths) + "\n")
        script = Path(tmp, "random.lua")
        script.write_text(_WRK_LUA % (listing, random.randrange(1 << 30)))
        threads = min(2, connections)
        out = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",  # wrk takes whole seconds only
                "--latency",
                "-s",
                str(script),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    took = re.search(r"requests in ([\d.]+\w+),", out).group(1)  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return Load(requests, _ms(took) / 1000, p50, p99, errors)


def _httpx_load(base: str, paths: Sequence[str], *, connections: int, seconds: float) -> Load:
    code = (
        "import json, sys; from benchmarks._load import _httpx_main;"
        "print(json.dumps(_httpx_main(*json.loads(sys.argv[1]))))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code, json.dumps([base, list(paths), connections, seconds])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return Load(**json.loads(out.strip().splitlines()[-1]))


def _httpx_main(base: str, paths: list[str], connections: int, seconds: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        rng = random.Random()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                r = await client.get(rng.choice(paths))
                if r.status_code >= 400:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    async def main() -> float:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(client, t0 + seconds) for _ in range(connections)))
            return time.perf_counter() - t0

    took = asyncio.run(main())
    lat = np.array(latencies) * 1000
    return {
        "requests": len(lat),
        "seconds": took,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": errors,
    }
