"""Serving speed: recommendations against the bare /ping endpoint of the same app, and during a rebuild.

A PostgreSQL store with a synthetic shop (default 1,000,000 events, 50,000 users, 20,000 items) and a
model built from it; `shoprec serve` with production settings, 1 and 2 workers; wrk (or an httpx
client in another process) at 8 and 32 connections on GET /users/{id}/recommendations?limit=10 over
20,000 random known users and on GET /ping (a constant answered at the same ASGI layer: the floor of
the stack), requested as /ping?user={id}&limit=10 over the same users, so that the load generator
(on the same two cores) picks among as many requests of the same length for both. The two loads
alternate, five rounds of a fifth of `--seconds` each, so that the machine's noise (and, with two
workers, how the kernel happens to spread the connections between them) falls on both alike.

Each server runs twice: as configured by default (a repeated shopper's answer comes from the answer
cache; a warm-up asks for each shopper's once, so every timed request repeats one) and with
ANSWER_CACHE_SHOPPERS=0 (every answer computed). Then the service functions alone (timed in this
process), and the recommendations' p99 while a rebuild runs in the server, beside the p99 next to an
idle-priority CPU burner on every core (what any background work costs serving on this machine).

    .venv/bin/python benchmarks/serving.py                          # the full run (~8 minutes)
    .venv/bin/python benchmarks/serving.py --events 200000 --users 10000 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    Load,
    build_model,
    compare_loads,
    drop_database,
    existing_store,
    load_store,
    request_each,
    run_get_load,
    serving,
    synthetic_shop,
    table,
    user_id,
    verdict,
)

DB = "shoprec_bench_serving"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=10, help="per load run")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    p.add_argument("--skip-rebuild", action="store_true", help="skip the serving-during-rebuild phase")
    p.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep the store afterwards, and reuse it if it already holds a model",
    )
    args = p.parse_args()

    t0 = time.perf_counter()
    url = existing_store(DB) if args.reuse_db else None
    if url is None:
        url = load_store(DB, synthetic_shop(args.events, args.users, args.items))
    build = build_model(url)
    print(
        f"setup: {args.events:,} events, {args.users:,} users loaded and built in "
        f"{time.perf_counter() - t0:.0f} s (rebuild {sum(build['stages'].values()):.1f} s)",
        flush=True,
    )

    rng = np.random.default_rng(1)
    users = user_id(rng.choice(args.users, min(args.users, 20_000), replace=False)).tolist()
    rec_paths = [f"/users/{u}/recommendations?limit=10" for u in users]
    ping_paths = [f"/ping?user={u}&limit=10" for u in users]  # the query is ignored
    rows = []
    try:
        for workers in args.workers:
            # The default server, then one that computes every answer (its answer cache off).
            for answers, env in (("cached", {}), ("computed", {"ANSWER_CACHE_SHOPPERS": "0"})):
                with serving(url, workers=workers, **env) as server:
                    request_each(server.base, rec_paths)  # each shopper's answer asked for once
                    for conns in args.connections:
                        recs, ping = compare_loads(
                            server.base, rec_paths, ping_paths, connections=conns, seconds=args.seconds
                        )
                        rows.append(_row(workers, conns, answers, ping, recs))
        print()
        print(
            table(
                [
                    "workers",
                    "conns",
                    "answers",
                    "/ping req/s",
                    "p50 ms",
                    "p99 ms",
                    "recs req/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "rps ratio (>=0.8)",
                    "p99 ratio (<=1.5)",
                    "target",
                ],
                rows,
            )
        )

        print()
        print(
            table(
                ["known shopper, limit=10, in process", "mean us", "p50 us", "p99 us", "target (< 1000 us)"],
                _service_time(url, users),
            )
        )
        if not args.skip_rebuild:
            print()
            print(
                _during_rebuild(
                    url, rec_paths, seconds=args.seconds, rebuild_seconds=sum(build["stages"].values())
                )
            )
    finally:
        if not args.reuse_db:
            drop_database(DB)
    return 0


def _row(workers: int, conns: int, answers: str, ping: Load, recs: Load) -> list[object]:
    rps_ratio = recs.rps / ping.rps
    p99_ratio = recs.p99_ms / ping.p99_ms
    good = rps_ratio >= 0.8 and p99_ratio <= 1.5 and (conns != 8 or recs.p99_ms < 10)
    return [
        workers,
        conns,
        answers,
        ping.rps,
        ping.p50_ms,
        ping.p99_ms,
        recs.rps,
        recs.p50_ms,
        recs.p99_ms,
        ping.errors + recs.errors,
        rps_ratio,
        p99_ratio,
        verdict(good),
    ]


def _service_time(url: str, users: list[str]) -> list[list[object]]:
    """On a runtime loaded like a server's, one call per user, timed one by one: the answer computed
    (recommend.recommend) and the serialised answer served again (recommend.answer, a cache hit)."""
    from app.config import Settings
    from app.services.serving import recommend
    from app.services.serving.runtime import Runtime

    runtime = Runtime.create(Settings(database_url=url))
    runtime.safe_startup_load()
    queries = [recommend.Query(u, 10) for u in users]
    rows = []

    def act_since_rebuild() -> None:
        runtime.record_events(_views_since_rebuild(runtime.model, users, events_each=5))

    try:
        for label, call, before in (
            ("answer computed (recommend.recommend)", recommend.recommend, None),
            ("answer served again (recommend.answer, cache hit)", recommend.answer, None),
            (
                "answer computed, 5 events since the rebuild (real-time)",
                recommend.recommend,
                act_since_rebuild,
            ),
        ):
            if before is not None:
                before()
            for q in queries:
                call(runtime, q)  # warm: the hit row times the second call for each shopper
            times = np.empty(len(queries))
            for n, q in enumerate(queries):
                t = time.perf_counter()
                call(runtime, q)
                times[n] = time.perf_counter() - t
            us = times * 1e6
            mean, p50, p99 = float(us.mean()), float(np.percentile(us, 50)), float(np.percentile(us, 99))
            rows.append([label, mean, p50, p99, verdict(mean < 1000)])
    finally:
        runtime.close()
    return rows


def _views_since_rebuild(
    model: Any, users: list[str], *, events_each: int
) -> list[tuple[int, str, str, str, float]]:
    """`events_each` views of random items per shopper, newer than the model: as if just posted."""
    rng = np.random.default_rng(7)
    event_id = iter(range(model.meta.last_event_id + 1, 1 << 62))
    items = rng.integers(len(model.item_ids), size=(len(users), events_each)).tolist()
    return [
        (next(event_id), u, model.item_ids[i], "view", 1.0)
        for u, picks in zip(users, items, strict=True)
        for i in picks
    ]


def _during_rebuild(url: str, rec_paths: list[str], *, seconds: float, rebuild_seconds: float) -> str:
    """p99 at 8 connections: idle, while the server rebuilds (its default child-process worker), and
    beside a CPU burner at idle priority on every core: the floor of this machine for serving next to
    any background work, however low its priority (shared caches, SMT siblings, the hypervisor)."""
    with serving(url, workers=1) as server:
        run_get_load(server.base, rec_paths, connections=8, seconds=min(seconds, 5))  # warm-up
        idle = run_get_load(server.base, rec_paths, connections=8, seconds=seconds)
        before = httpx.get(f"{server.base}/model").json().get("version")
        httpx.post(f"{server.base}/model/rebuild")
        # Load for most of the rebuild's expected time, so every sample is taken while it runs.
        busy = run_get_load(server.base, rec_paths, connections=8, seconds=max(3.0, 0.8 * rebuild_seconds))
        deadline = time.monotonic() + 10 * rebuild_seconds + 60
        while time.monotonic() < deadline:
            if httpx.get(f"{server.base}/model").json().get("version") != before:
                break
            time.sleep(0.5)
        after = httpx.get(f"{server.base}/model").json().get("version")
        with _idle_burners():
            burned = run_get_load(server.base, rec_paths, connections=8, seconds=seconds)
    ratio = busy.p99_ms / idle.p99_ms
    return table(
        [
            "recommendations, 1 worker, 8 conns",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "p99 / idle p99",
            "target (<= 3)",
        ],
        [
            ["idle", idle.rps, idle.p50_ms, idle.p99_ms, idle.errors, 1.0, ""],
            [
                f"during a rebuild (model v{before} -> v{after})",
                busy.rps,
                busy.p50_ms,
                busy.p99_ms,
                busy.errors,
                ratio,
                verdict(ratio <= 3),
            ],
            [
                "reference: idle-priority matrix products on every core",
                burned.rps,
                burned.p50_ms,
                burned.p99_ms,
                burned.errors,
                burned.p99_ms / idle.p99_ms,
                "",
            ],
        ],
    )


_BURNER = """
import os
import numpy as np
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
a = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)
while True:
    a @ a
"""


@contextmanager
def _idle_burners() -> Iterator[None]:
    """One single-threaded numpy burner per core, each at SCHED_IDLE (runs only on idle cycles)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    burners = [subprocess.Popen([sys.executable, "-c", _BURNER], env=env) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(2)  # started and spinning
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait()


if __name__ == "__main__":
    raise SystemExit(main())
