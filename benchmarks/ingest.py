"""Ingestion speed: POST /events in batches of 1,000 against psycopg's COPY of the same rows.

A PostgreSQL store with a catalog (default 50,000 users, 20,000 items), a history of events loaded
by COPY and a model built from it; then, in the same run:

1. COPY: the measured rows, batch by batch (1,000 rows, one transaction each), straight into the
   events table over one psycopg connection: the floor of what the database itself costs. The rows
   are deleted again (and the table vacuumed) before the second part.
2. POST /events: the same rows as JSON batches (their own event ids) from `--clients` concurrent
   httpx clients in another process, to `shoprec serve` (production settings, timer rebuilds off).

Then the promises that must survive any speed-up: a re-sent batch is counted as duplicates and
stores nothing, a batch with one bad event is a 422 naming its index, and every accepted row is in
the table.

    .venv/bin/python benchmarks/ingest.py                       # 200 batches of 1,000
    .venv/bin/python benchmarks/ingest.py --batches 40 --history 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    EVENT_COLUMNS,
    PYTHON,
    ROOT,
    TYPES,
    Shop,
    build_model,
    copy_catalog,
    copy_events,
    drop_database,
    event_copy_text,
    fresh_database,
    psycopg_url,
    serving,
    synthetic_shop,
    table,
    verdict,
)

DB = "shoprec_bench_ingest"
BATCH = 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=200, help="batches of 1,000 events to measure")
    p.add_argument("--history", type=int, default=500_000, help="events already in the store")
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=4, help="concurrent POST clients")
    p.add_argument("--workers", type=int, default=1, help="server workers")
    args = p.parse_args()

    n = args.batches * BATCH
    shop = synthetic_shop(args.history + n, args.users, args.items, seed=3)
    url = fresh_database(DB)
    try:
        with psycopg.connect(psycopg_url(url)) as conn:
            copy_catalog(conn, shop.n_users, shop.n_items, shop.n_categories)
            copy_events(conn, shop, 0, args.history, prefix="h")
            conn.commit()
        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        build_model(url)
        lo = args.history

        copy_seconds = _copy_batches(url, shop, lo, lo + n)
        bodies = [_body(shop, s, s + BATCH) for s in range(lo, lo + n, BATCH)]
        with serving(url, workers=args.workers, REBUILD_INTERVAL_SECONDS="0") as server:
            warm = [_body(shop, s, s + BATCH, prefix="w") for s in range(lo, lo + 5 * BATCH, BATCH)]
            _post_all(server.base, warm, clients=1)
            post = _post_all(server.base, bodies, clients=args.clients)
            checks = _checks(server.base, bodies[:5], shop, lo)
        stored = _count(url, "p-%")

        copy_rate = n / copy_seconds
        post_rate = post["accepted"] / post["seconds"]
        ratio = post_rate / copy_rate
        print()
        print(
            table(
                ["path", "events", "seconds", "events/s", "ratio to COPY", "target (>= 0.5)"],
                [
                    ["psycopg COPY, 1,000 rows per transaction", n, copy_seconds, copy_rate, 1.0, ""],
                    [
                        f"POST /events, 1,000 per batch, {args.clients} clients, {args.workers} worker(s)",
                        post["accepted"],
                        post["seconds"],
                        post_rate,
                        ratio,
                        verdict(ratio >= 0.5),
                    ],
                ],
            )
        )
        print(
            f"POST latency per batch: p50 {post['p50_ms']:.0f} ms, p99 {post['p99_ms']:.0f} ms; "
            f"errors {post['errors']}"
        )
        print()
        rows = [
            [
                "every accepted event stored",
                f"{stored:,} rows for {post['accepted']:,} accepted",
                stored == n,
            ],
            *checks,
        ]
        print(table(["promise", "observed", "kept"], [[a, b, verdict(c)] for a, b, c in rows]))
    finally:
        drop_database(DB)
    return 0


def _copy_batches(url: str, shop: Shop, lo: int, hi: int) -> float:
    """COPY the rows batch by batch (event ids `c-…`), then delete them again."""
    texts = [event_copy_text(shop, s, min(s + BATCH, hi), prefix="c") for s in range(lo, hi, BATCH)]
    with psycopg.connect(psycopg_url(url)) as conn:
        t = time.perf_counter()
        for data in texts:
            with conn.cursor() as cur, cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as cp:
                cp.write(data)
            conn.commit()
        took = time.perf_counter() - t
        conn.execute("DELETE FROM events WHERE event_id LIKE 'c-%'")
        conn.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
    return took


def _body(shop: Shop, lo: int, hi: int, *, prefix: str = "p") -> bytes:
    ts = np.datetime_as_string((shop.timestamps[lo:hi] * 1e6).astype("datetime64[us]"), unit="us")
    return orjson.dumps(
        [
            {
                "event_id": f"{prefix}-{n}",
                "user_id": u,
                "item_id": i,
                "type": t,
                "value": v,
                "timestamp": s + "Z",
            }
            for n, u, i, t, v, s in zip(
                range(lo, hi),
                shop.user_ids[lo:hi].tolist(),
                shop.item_ids[lo:hi].tolist(),
                np.array(TYPES)[shop.types[lo:hi]].tolist(),
                shop.values[lo:hi].tolist(),
                ts.tolist(),
                strict=True,
            )
        ]
    )


def _post_all(base: str, bodies: list[bytes], *, clients: int) -> dict[str, Any]:
    """POST the bodies from `clients` concurrent connections in another process."""
    with _tmp_json(bodies) as path:
        code = "import sys; from benchmarks.ingest import _post_main; _post_main(*sys.argv[1:])"
        out = subprocess.run(
            [PYTHON, "-c", code, base, path, str(clients)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


class _tmp_json:
    def __init__(self, bodies: list[bytes]) -> None:
        import tempfile

        self.file = tempfile.NamedTemporaryFile(prefix="shoprec-bodies-", suffix=".jsonl", delete=False)
        for b in bodies:
            self.file.write(b + b"\n")
        self.file.close()

    def __enter__(self) -> str:
        return self.file.name

    def __exit__(self, *_: object) -> None:
        Path(self.file.name).unlink()


def _post_main(base: str, path: str, clients: str) -> None:
    import asyncio

    bodies = Path(path).read_bytes().splitlines()
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0, "errors": 0}

    async def worker(client: httpx.AsyncClient, queue: list[bytes]) -> None:
        while queue:
            body = queue.pop()
            t = time.perf_counter()
            r = await client.post("/events", content=body, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - t)
            if r.status_code != 202:
                totals["errors"] += 1
                continue
            answer = r.json()
            totals["accepted"] += answer["accepted"]
            totals["duplicates"] += answer["duplicates"]

    async def run() -> float:
        queue = list(reversed(bodies))
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            t = time.perf_counter()
            await asyncio.gather(*(worker(client, queue) for _ in range(int(clients))))
            return time.perf_counter() - t

    seconds = asyncio.run(run())
    lat = np.array(latencies) * 1000
    print(
        json.dumps(
            {
                **totals,
                "seconds": seconds,
                "p50_ms": float(np.percentile(lat, 50)),
                "p99_ms": float(np.percentile(lat, 99)),
            }
        )
    )


def _checks(base: str, sent: list[bytes], shop: Shop, lo: int) -> list[list[Any]]:
    again = [
        httpx.post(f"{base}/events", content=b, headers={"Content-Type": "application/json"}, timeout=60)
        for b in sent
    ]
    dup = sum(r.json()["duplicates"] for r in again)
    acc = sum(r.json()["accepted"] for r in again)
    events = orjson.loads(sent[0])
    events[3]["type"] = "teleport"
    bad = httpx.post(f"{base}/events", content=orjson.dumps(events), timeout=60)
    field = bad.json().get("errors", [{}])[0].get("field") if bad.status_code == 422 else None
    return [
        [
            "a re-sent batch counts duplicates",
            f"accepted {acc}, duplicates {dup:,}",
            acc == 0 and dup == len(sent) * BATCH,
        ],
        [
            "one bad event rejects the batch, naming it",
            f"{bad.status_code} {field}",
            bad.status_code == 422 and field == "body[3].type",
        ],
    ]


def _count(url: str, pattern: str) -> int:
    with psycopg.connect(psycopg_url(url)) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE event_id LIKE %s", (pattern,)).fetchone()[0]  # type: ignore[index]


if __name__ == "__main__":
    raise SystemExit(main())
