"""Soak: a bounded mixed load on loopback, counting errors and watching the server's memory.

A PostgreSQL store with a synthetic shop and a model; `shoprec serve` (production settings, rebuilds
every `--rebuild-every` seconds on top of the timer); for `--seconds` (default 600) an httpx client
in another process mixes, at a bounded rate: recommendations of known and unknown shoppers, event
batches (new and re-sent), catalog upserts and availability changes, similar and popular items, and
rebuild requests. Every answer outside 2xx (and every transport error) is an error.

The server's RSS (its processes, the rebuild child excluded) is sampled every second; the growth is
measured from the end of the warm-up (the first fifth of the run) to the end. Shoppers and items
the store has never seen come from bounded pools, so the shop keeps its size after the warm-up and
the memory its model needs stays put: what grows then is a leak. The table shows the model's size
after the warm-up and at the end, to check.

    .venv/bin/python benchmarks/soak.py                # 10 minutes
    .venv/bin/python benchmarks/soak.py --seconds 60 --events 100000 --users 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._shop import TYPES, synthetic_shop
from benchmarks._store import PYTHON, ROOT, build_model, drop_database, load_store
from benchmarks._tables import table, verdict
from tests.servers import serving

DB = "shoprec_bench_soak"
NEW_SHOPPERS = 2_000  # ids of shoppers the store has never seen, sent among the known ones
NEW_ITEMS = 200


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--users", type=int, default=15_000)
    p.add_argument("--items", type=int, default=5_000)
    p.add_argument("--rebuild-every", type=float, default=60)
    p.add_argument("--rate", type=float, default=200, help="requests per second, at most")
    args = p.parse_args()

    url = load_store(DB, synthetic_shop(args.events, args.users, args.items, seed=11))
    build_model(url)
    samples: list[tuple[float, float]] = []
    warm_at = args.seconds / 5
    models: dict[str, dict[str, Any]] = {}  # /model after the warm-up and at the end
    try:
        with serving(url, workers=1) as server:
            stop = threading.Event()
            server_pids = [pid for pid in server.pids()]  # uvicorn's processes, before any rebuild child

            def sample() -> None:
                t0 = time.monotonic()
                while not stop.wait(1.0):
                    samples.append((time.monotonic() - t0, server.rss_mb(server_pids)))
                    if "warm" not in models and samples[-1][0] >= warm_at:
                        models["warm"] = httpx.get(f"{server.url}/model", timeout=30).json()

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            config = json.dumps(
                [server.url, args.seconds, args.users, args.items, args.rebuild_every, args.rate]
            )
            out = subprocess.run(
                [
                    PYTHON,
                    "-c",
                    "import sys; from benchmarks.soak import _client; _client(sys.argv[1])",
                    config,
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=args.seconds + 300,
            ).stdout
            stop.set()
            sampler.join()
            models["end"] = httpx.get(f"{server.url}/model", timeout=30).json()
    finally:
        drop_database(DB)

    counts = json.loads(out.strip().splitlines()[-1])
    rows = [[k, v["n"], v["errors"], v["p50_ms"], v["p99_ms"]] for k, v in sorted(counts["ops"].items())]
    errors = sum(v["errors"] for v in counts["ops"].values())
    print()
    print(table(["operation", "requests", "errors", "p50 ms", "p99 ms"], rows))
    if counts["examples"]:
        print("error examples:", *counts["examples"][:5], sep="\n  ")
    after = [rss for t, rss in samples if t >= warm_at]
    start, end, peak = after[0], after[-1], max(after)
    growth = (end - start) / start
    print()
    print(
        table(
            ["figure", "observed", "target", "kept"],
            [
                ["errors", errors, "0", verdict(errors == 0)],
                ["server RSS after warm-up, MB", start, "", ""],
                ["server RSS at the end, MB", end, "", ""],
                ["server RSS peak after warm-up, MB", peak, "", ""],
                ["RSS growth after warm-up", f"{growth:+.1%}", "< 10 %", verdict(growth < 0.10)],
                ["model version at the end", models["end"].get("version"), "", ""],
                ["shoppers x items, events; after warm-up", _size(models.get("warm", {})), "", ""],
                ["shoppers x items, events; at the end", _size(models["end"]), "", ""],
            ],
        )
    )
    return 0


def _size(model: dict[str, Any]) -> str:
    events = model.get("n_events", 0) + model.get("events_since_build", 0)
    return f"{model.get('n_users', 0):,} x {model.get('n_items', 0):,}, {events:,}"


def _client(config: str) -> None:
    base, seconds, n_users, n_items, rebuild_every, rate = json.loads(config)
    rng = random.Random(5)
    stats: dict[str, dict[str, Any]] = {}
    examples: list[str] = []
    sent: list[bytes] = []
    counter = iter(range(10**9))

    # New shoppers and items come from bounded pools, met early in the run: the shop keeps its size,
    # so the memory the model needs stays put and any growth left is a leak.
    def user() -> str:
        return f"u-{rng.randrange(n_users)}" if rng.random() < 0.9 else f"new-{rng.randrange(NEW_SHOPPERS)}"

    def item() -> str:
        known = rng.random() < 0.98
        return f"sku-{rng.randrange(n_items)}" if known else f"sku-new-{rng.randrange(NEW_ITEMS)}"

    def batch() -> bytes:
        # Mostly a page's few events; now and then a backlog of 1,000.
        n = rng.choices([1, 10, 100, 1000], weights=[50, 30, 15, 5])[0]
        events = [
            {
                "event_id": f"soak-{next(counter)}",
                "user_id": user(),
                "item_id": item(),
                "type": rng.choice(TYPES),
                "value": 4.0,
            }
            for _ in range(n)
        ]
        body = json.dumps(events).encode()
        sent.append(body)
        return body

    def request() -> tuple[str, str, str, bytes | None]:
        r = rng.random()
        if r < 0.70:
            return "recommendations", "GET", f"/users/{user()}/recommendations?limit=10", None
        if r < 0.78:
            # Items of the loaded catalog: a random new id may never have been created (a right 404).
            return "similar", "GET", f"/items/sku-{rng.randrange(n_items)}/similar?limit=10", None
        if r < 0.82:
            return "popular", "GET", "/popular?limit=10", None
        if r < 0.93:
            return "events", "POST", "/events", batch()
        if r < 0.95 and sent:
            return "events re-sent", "POST", "/events", rng.choice(sent[-50:])
        if r < 0.98:
            i = rng.randrange(n_items)
            body = {
                "title": f"Item {i}",
                "categories": [f"cat-{i % 12:02d}"],
                "available": rng.random() < 0.9,
            }
            return "catalog upsert", "PUT", f"/items/sku-{i}", json.dumps(body).encode()
        return "user history", "GET", f"/users/u-{rng.randrange(n_users)}/events?limit=20", None

    def record(op: str, took: float, ok: bool, what: str) -> None:
        s = stats.setdefault(op, {"lat": [], "errors": 0})
        s["lat"].append(took)
        if not ok:
            s["errors"] += 1
            if len(examples) < 20:
                examples.append(f"{op}: {what}")

    async def call(client: httpx.AsyncClient, op: str, method: str, path: str, body: bytes | None) -> None:
        t = time.perf_counter()
        try:
            headers = {"Content-Type": "application/json"} if body is not None else None
            r = await client.request(method, path, content=body, headers=headers)
            record(op, time.perf_counter() - t, r.status_code < 300, f"{r.status_code} {r.text[:200]}")
        except httpx.HTTPError as exc:
            record(op, time.perf_counter() - t, False, repr(exc))

    async def run() -> None:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            end = time.monotonic() + seconds
            next_rebuild = time.monotonic() + rebuild_every
            pending: set[asyncio.Task[None]] = set()
            while time.monotonic() < end:
                if time.monotonic() >= next_rebuild:
                    next_rebuild += rebuild_every
                    pending.add(
                        asyncio.create_task(call(client, "rebuild request", "POST", "/model/rebuild", None))
                    )
                if len(pending) < 16:
                    pending.add(asyncio.create_task(call(client, *request())))
                pending = {t for t in pending if not t.done()}
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*pending)

    asyncio.run(run())
    import numpy as np

    ops = {}
    for op, s in stats.items():
        lat = np.array(s["lat"]) * 1000
        ops[op] = {
            "n": len(lat),
            "errors": s["errors"],
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
        }
    print(json.dumps({"ops": ops, "examples": examples}))


if __name__ == "__main__":
    raise SystemExit(main())
