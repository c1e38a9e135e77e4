"""Shared helpers of the service benchmarks: a synthetic shop, a scratch PostgreSQL database loaded
with COPY, a `shoprec serve` subprocess, load generation from another process, RSS and tables.

The machine these run on is shared and noisy, so every script reports RATIOS against a reference
measured in the same run (the bare /ping endpoint, psycopg's COPY, a raw COPY TO STDOUT).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app.shop import EVENT_TYPES as TYPES  # noqa: E402  (the index of a type is its code)

PYTHON = sys.executable
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


# --- the synthetic shop --------------------------------------------------------------------------


@dataclass
class Shop:
    user_ids: np.ndarray  # str per event
    item_ids: np.ndarray  # str per event
    types: np.ndarray  # int8 index into TYPES
    values: np.ndarray  # float32
    timestamps: np.ndarray  # float64 epoch seconds
    n_users: int
    n_items: int
    n_categories: int

    def __len__(self) -> int:
        return len(self.types)


def synthetic_shop(n_events: int, n_users: int, n_items: int, *, clusters: int = 50, seed: int = 42) -> Shop:
    """Shop-like events: Zipf-ish item popularity (a long tail), Pareto user activity, and taste
    clusters (80 % of a user's events inside their cluster's items)."""
    rng = np.random.default_rng(seed)
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.9
    item_weight = item_weight[rng.permutation(n_items)]
    item_cluster = rng.integers(0, clusters, n_items)
    # Per-cluster CDFs laid end to end on [c, c + 1): one searchsorted samples every event.
    order = np.argsort(item_cluster, kind="stable")
    w = item_weight[order]
    cluster_sorted = item_cluster[order]
    totals = np.bincount(cluster_sorted, weights=w, minlength=clusters)
    t = np.maximum(totals[cluster_sorted], 1e-12)
    cdf = cluster_sorted + (np.cumsum(w) - np.cumsum(totals)[cluster_sorted] + t) / t
    global_cdf = np.cumsum(item_weight) / item_weight.sum()

    user_weight = rng.pareto(1.5, n_users) + 1.0
    # Every user gets at least one event, the rest follow the activity weights.
    users = np.concatenate(
        [
            rng.permutation(n_users),
            rng.choice(n_users, max(n_events - n_users, 0), p=user_weight / user_weight.sum()),
        ]
    )[:n_events]
    user_cluster = rng.integers(0, clusters, n_users)
    in_cluster = rng.random(n_events) < 0.8
    items = np.minimum(np.searchsorted(global_cdf, rng.random(n_events)), n_items - 1)
    c = user_cluster[users[in_cluster]]
    pos = np.minimum(np.searchsorted(cdf, c + rng.random(c.size)), n_items - 1)
    items[in_cluster] = order[pos]
    types = rng.choice(4, n_events, p=[0.80, 0.12, 0.05, 0.03]).astype(np.int8)
    values = np.where(types == 3, rng.integers(1, 6, n_events), 1).astype(np.float32)
    timestamps = np.sort(1.7e9 + rng.uniform(0, 180 * 86400, n_events))
    return Shop(
        user_ids=user_id(users),
        item_ids=item_id(items),
        types=types,
        values=values,
        timestamps=timestamps,
        n_users=n_users,
        n_items=n_items,
        n_categories=12,
    )


def user_id(codes: np.ndarray) -> np.ndarray:
    return np.char.add("u-", codes.astype(str))


def item_id(codes: np.ndarray) -> np.ndarray:
    return np.char.add("sku-", codes.astype(str))


def category_of(code: int, n_categories: int) -> str:
    return f"cat-{code % n_categories:02d}"


# --- a scratch PostgreSQL database -------------------------------------------------------------


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql)


def fresh_database(name: str) -> str:
    """Drop and recreate `name`, migrate it, return its SQLAlchemy URL. Never the `test` database."""
    assert name not in ("test", "postgres"), name
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_execute(f'CREATE DATABASE "{name}"')
    url = f"{PG}/{name}"
    migrate(url)
    return url


def migrate(url: str) -> None:
    """Bring the store at `url` to the current schema."""
    from app.store.db import make_engine
    from app.store.migrate import upgrade

    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    engine.dispose()


def existing_store(name: str) -> str | None:
    """The URL of `name` if it exists and holds a built model (for --reuse-db), migrated to the
    current schema, else None."""
    import psycopg

    url = f"{PG}/{name}"
    try:
        with psycopg.connect(psycopg_url(url)) as conn:
            built = conn.execute("SELECT stages FROM model_versions ORDER BY version DESC LIMIT 1").fetchone()
    except psycopg.Error:
        return None
    if not built:
        return None
    migrate(url)
    return url


def drop_database(name: str) -> None:
    assert name not in ("test", "postgres"), name
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _iso(timestamps: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string((timestamps * 1e6).astype("datetime64[us]"), unit="us"), "+00")


def copy_catalog(conn: Any, n_users: int, n_items: int, n_categories: int) -> None:
    """Users and items (with a category each) straight into the tables: setup, not measured."""
    now = "2024-01-01 00:00:00+00"
    buf = io.StringIO()
    for u in user_id(np.arange(n_users)).tolist():
        buf.write(f"{u}\t{{}}\t{now}\t{now}\n")
    with (
        conn.cursor() as cur,
        cur.copy("COPY users (user_id, attributes, created_at, updated_at) FROM STDIN") as cp,
    ):
        cp.write(buf.getvalue())
    buf = io.StringIO()
    cats = io.StringIO()
    for code, i in enumerate(item_id(np.arange(n_items)).tolist()):
        cat = category_of(code, n_categories)
        buf.write(f'{i}\tItem {code}\t["{cat}"]\t[]\tt\t{{}}\t{now}\t{now}\n')
        cats.write(f"{i}\t{cat}\n")
    cols = "item_id, title, categories, tags, available, attributes, created_at, updated_at"
    with conn.cursor() as cur, cur.copy(f"COPY items ({cols}) FROM STDIN") as cp:
        cp.write(buf.getvalue())
    with conn.cursor() as cur, cur.copy("COPY item_categories (item_id, category) FROM STDIN") as cp:
        cp.write(cats.getvalue())


EVENT_COLUMNS = "event_id, user_id, item_id, type, value, ts, received_at"


def event_copy_text(shop: Shop, lo: int, hi: int, *, prefix: str = "e") -> str:
    """Rows lo..hi of the shop in COPY text format (event ids `<prefix>-<n>`)."""
    ts = _iso(shop.timestamps[lo:hi]).tolist()
    types = np.array(TYPES)[shop.types[lo:hi]].tolist()
    return "".join(
        f"{prefix}-{n}\t{u}\t{i}\t{t}\t{v}\t{s}\t{s}\n"
        for n, u, i, t, v, s in zip(
            range(lo, hi),
            shop.user_ids[lo:hi].tolist(),
            shop.item_ids[lo:hi].tolist(),
            types,
            shop.values[lo:hi].tolist(),
            ts,
            strict=True,
        )
    )


def copy_events(conn: Any, shop: Shop, lo: int = 0, hi: int | None = None, *, prefix: str = "e") -> None:
    hi = len(shop) if hi is None else hi
    step = 500_000
    for start in range(lo, hi, step):
        data = event_copy_text(shop, start, min(start + step, hi), prefix=prefix)
        with conn.cursor() as cur, cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as cp:
            cp.write(data)


def load_store(name: str, shop: Shop) -> str:
    """A fresh database holding the shop's catalog and events; returns its SQLAlchemy URL."""
    import psycopg

    url = fresh_database(name)
    with psycopg.connect(psycopg_url(url)) as conn:
        copy_catalog(conn, shop.n_users, shop.n_items, shop.n_categories)
        copy_events(conn, shop)
        conn.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def server_env(url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "AUTO_MIGRATE": "false", "LOG_LEVEL": "warning"})
    env.update(extra)
    return env


def build_model(url: str) -> dict[str, Any]:
    """One rebuild in a child process: its stages and its own peak RSS (ru_maxrss, MB)."""
    code = (
        "import json, resource\n"
        "from app.config import Settings\n"
        "from app.services.building.rebuild import run_rebuild\n"
        "r = run_rebuild(Settings(), tune=False)\n"  # the refit; model selection is timed apart
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'status': r.status, 'stages': r.stages, 'rss_mb': rss}))\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], env=server_env(url), cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"rebuild failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- a server subprocess -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`shoprec serve` in its own process group; stopped (and its workers) on exit. `app_dir`: the
    checkout whose `app` it serves (this one by default; another to compare versions)."""

    def __init__(self, url: str, *, workers: int = 1, app_dir: Path = ROOT, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="shoprec-serve-", suffix=".log", delete=False)
        cmd = [PYTHON, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(workers)]
        self.proc = subprocess.Popen(
            cmd,
            env=server_env(url, **env),
            cwd=app_dir,  # `python -m` puts the working directory first on the import path
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{Path(self.log.name).read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("server not ready in time")

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn workers, the rebuild child)."""
        found = [self.proc.pid]
        frontier = [self.proc.pid]
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

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


@contextmanager
def serving(url: str, *, workers: int = 1, app_dir: Path = ROOT, **env: str) -> Iterator[Server]:
    server = Server(url, workers=workers, app_dir=app_dir, **env)
    try:
        server.wait_ready()
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


# --- load generation ------------------------------------------------------------------------------


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
        "import json, sys; from benchmarks._common import _httpx_main;"
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


# --- tables -------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, rule, *body])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}" if value < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"
