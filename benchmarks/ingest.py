"""Ingestion speed: POST /events and `shoprec import events` against PostgreSQL storing the rows.

A PostgreSQL store with a catalog (default 50,000 users, 20,000 items), a history of events loaded
by COPY and a model built from it; then, in the same run, the same measured rows (new event ids
each time) go in five ways:

1. The physical limit: psycopg COPY into a plain events table beside the service's (text ids, the
   unique event_id, the (user, time) index, no foreign keys, the same history), 1,000 rows per
   transaction from `--clients` concurrent connections: PostgreSQL storing the rows with their
   idempotency key, nothing more.
2. The same COPY into the service's own events table (its foreign keys and second index): what the
   schema adds to the limit.
3. POST /events: the rows as JSON batches of 1,000 from `--clients` concurrent httpx clients in
   another process, to `shoprec serve` (production settings, timer rebuilds off).
4. `shoprec import events FILE` of the rows as JSON Lines: the whole command, validation included.

Rows of each part are deleted (and the table vacuumed) before the next. Then the promises that
must survive any speed-up: a re-sent batch is counted as duplicates and stores nothing, a batch
with one bad event is a 422 naming its index, and every accepted row is in the table.

    .venv/bin/python benchmarks/ingest.py                       # 200 batches of 1,000, 2 clients
    .venv/bin/python benchmarks/ingest.py --batches 40 --history 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._shop import TYPES, Shop, synthetic_shop
from benchmarks._store import (
    EVENT_COLUMNS,
    PYTHON,
    ROOT,
    build_model,
    copy_catalog,
    copy_events,
    drop_database,
    event_copy_text,
    fresh_database,
    psycopg_url,
)
from benchmarks._tables import table, verdict
from tests.servers import server_env, serving

DB = "shoprec_bench_ingest"
BATCH = 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=200, help="batches of 1,000 events to measure")
    p.add_argument("--history", type=int, default=500_000, help="events already in the store")
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=2, help="concurrent clients (COPY and POST alike)")
    p.add_argument("--workers", type=int, default=1, help="server workers")
    p.add_argument("--database", default=DB, help="scratch database (created and dropped)")
    args = p.parse_args()

    n = args.batches * BATCH
    shop = synthetic_shop(args.history + n, args.users, args.items, seed=3)
    url = fresh_database(args.database)
    try:
        with psycopg.connect(psycopg_url(url)) as conn:
            copy_catalog(conn, shop.n_users, shop.n_items, shop.n_categories)
            copy_events(conn, shop, 0, args.history, prefix="h")
            conn.commit()
        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        build_model(url)
        lo = args.history
        _plain_table(url)

        limit = _copy_batches(url, shop, lo, lo + n, table="plain_events", clients=args.clients)
        schema = _copy_batches(url, shop, lo, lo + n, table="events", clients=args.clients)
        bodies = [_body(shop, s, s + BATCH) for s in range(lo, lo + n, BATCH)]
        with serving(url, workers=args.workers, REBUILD_INTERVAL_SECONDS="0") as server:
            warm = [_body(shop, s, s + BATCH, prefix="w") for s in range(lo, lo + 5 * BATCH, BATCH)]
            _post_all(server.url, warm, clients=1)
            post = _post_all(server.url, bodies, clients=args.clients)
            checks = _checks(server.url, bodies[:5], shop, lo)
        stored = _count(url, "p-%")
        imported = _import(url, shop, lo, lo + n)

        limit_rate = n / limit
        post_rate = post["accepted"] / post["seconds"]
        import_rate = imported["stored"] / imported["seconds"]
        own_rate = imported["stored"] / imported["own_seconds"]
        c = args.clients
        print()
        print(
            table(
                ["path", "events", "seconds", "events/s", "ratio to the limit", "target"],
                [
                    [
                        f"COPY into a plain events table, {c} connections (the limit)",
                        n,
                        limit,
                        limit_rate,
                        1.0,
                        "",
                    ],
                    [
                        f"COPY into the service's events table, {c} connections",
                        n,
                        schema,
                        n / schema,
                        n / schema / limit_rate,
                        "",
                    ],
                    [
                        f"POST /events, 1,000 per batch, {c} clients, {args.workers} worker(s)",
                        post["accepted"],
                        post["seconds"],
                        post_rate,
                        post_rate / limit_rate,
                        f">= 0.5 {verdict(post_rate / limit_rate >= 0.5)}",
                    ],
                    [
                        "shoprec import events (JSON Lines, the whole command)",
                        imported["stored"],
                        imported["seconds"],
                        import_rate,
                        import_rate / limit_rate,
                        f">= 0.8 {verdict(import_rate / limit_rate >= 0.8)}",
                    ],
                    [
                        "the same, from reading the file to the commit",
                        imported["stored"],
                        imported["own_seconds"],
                        own_rate,
                        own_rate / limit_rate,
                        "",
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
        drop_database(args.database)
    return 0


def _plain_table(url: str) -> None:
    """The limit's table: the same history, text ids, the unique event_id, the (user, time) index."""
    with psycopg.connect(psycopg_url(url)) as conn:
        conn.execute(
            "CREATE TABLE plain_events (id bigserial PRIMARY KEY, event_id text UNIQUE, user_id text, "
            "item_id text, type text, value float8, ts timestamptz, received_at timestamptz)"
        )
        conn.execute(
            f"INSERT INTO plain_events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events ORDER BY id"
        )
        conn.execute("CREATE INDEX ix_plain_events_user_id_ts ON plain_events (user_id, ts)")
        conn.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE plain_events")


def _copy_batches(url: str, shop: Shop, lo: int, hi: int, *, table: str, clients: int) -> float:
    """COPY the rows (event ids `c-…`) batch by batch, one transaction each, from `clients`
    connections at once; then delete them again."""
    texts = [event_copy_text(shop, s, min(s + BATCH, hi), prefix="c") for s in range(lo, hi, BATCH)]
    queue = list(reversed(texts))
    lock = threading.Lock()
    conns = [psycopg.connect(psycopg_url(url)) for _ in range(clients)]

    def worker(conn: psycopg.Connection[Any]) -> None:
        while True:
            with lock:
                if not queue:
                    return
                data = queue.pop()
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({EVENT_COLUMNS}) FROM STDIN") as cp:
                cp.write(data)
            conn.commit()

    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - t
    for conn in conns:
        conn.close()
    with psycopg.connect(psycopg_url(url)) as conn:
        conn.execute(f"DELETE FROM {table} WHERE event_id LIKE 'c-%'")
        conn.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {table}")
    return took


def _import(url: str, shop: Shop, lo: int, hi: int) -> dict[str, Any]:
    """`shoprec import events` of the rows as JSON Lines (event ids `m-…`): the whole command."""
    with tempfile.TemporaryDirectory(prefix="shoprec-import-") as tmp:
        path = Path(tmp) / "events.jsonl"
        with path.open("wb") as f:
            for s in range(lo, hi, BATCH):
                for event in orjson.loads(_body(shop, s, min(s + BATCH, hi), prefix="m")):
                    f.write(orjson.dumps(event) + b"\n")
        t = time.perf_counter()
        out = subprocess.run(
            [PYTHON, "-m", "app.cli", "import", "events", str(path)],
            env=server_env(url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - t
    stored = _count(url, "m-%")
    line = out.stdout.strip().splitlines()[-1]
    print(line)
    # "imported … in 2.1 s (reading and validation …)": the command's own time, without the
    # interpreter's start and imports.
    own = float(line.split(" in ", 1)[1].split(" s ", 1)[0])
    return {"seconds": seconds, "own_seconds": own, "stored": stored}


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
