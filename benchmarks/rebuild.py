"""Rebuild scaling on PostgreSQL: seconds per stage and peak RSS at 250k, 1M and 4M events.

For each size a fresh store is loaded by COPY (setup, not measured; users = events / 20, 20,000
items, taste clusters and a long tail), then in the same run:

- a raw `COPY (SELECT …) TO STDOUT` of the events table, drained and dropped: the floor of the read;
- `run_rebuild` in a child process (as `REBUILD_WORKER=process` runs it): the stages it returns and
  the child's own peak RSS (ru_maxrss).

    .venv/bin/python benchmarks/rebuild.py                          # 250k, 1M, 4M (~10 minutes)
    .venv/bin/python benchmarks/rebuild.py --events 100000 400000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._shop import synthetic_shop
from benchmarks._store import build_model, drop_database, load_store, psycopg_url
from benchmarks._tables import table, verdict

DB = "shoprec_bench_rebuild"
RAW_COPY = (
    "COPY (SELECT id, user_id, item_id, type, value, extract(epoch from ts) FROM events ORDER BY id) "
    "TO STDOUT"
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, nargs="+", default=[250_000, 1_000_000, 4_000_000])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--users-per-event", type=float, default=1 / 20)
    args = p.parse_args()

    results = []
    try:
        for n in args.events:
            t = time.perf_counter()
            users = max(1, int(n * args.users_per_event))
            url = load_store(DB, synthetic_shop(n, users, args.items))
            print(f"{n:,} events, {users:,} users loaded in {time.perf_counter() - t:.0f} s", flush=True)
            raw = _raw_copy_seconds(url)
            build = build_model(url)
            results.append((n, users, raw, build))
            print(f"  rebuilt: {build['stages']} rss {build['rss_mb']:.0f} MB", flush=True)
    finally:
        drop_database(DB)

    stage_names = list(results[0][3]["stages"])
    rows = []
    for n, users, raw, build in results:
        stages = build["stages"]
        total = sum(stages.values())
        rows.append(
            [
                n,
                users,
                *(stages.get(s, 0.0) for s in stage_names),
                total,
                build["rss_mb"],
                raw,
                stages["read"] / raw,
            ]
        )
    print()
    print(
        table(["events", "users", *stage_names, "total s", "peak RSS MB", "raw COPY s", "read / COPY"], rows)
    )

    print()
    checks = []
    by_n = {n: (sum(b["stages"].values()), b["rss_mb"]) for n, _, _, b in results}
    for n, _, raw, build in results:
        ratio = build["stages"]["read"] / raw
        checks.append([f"{n:,} events: read <= 2 x raw COPY", f"{ratio:.2f}", verdict(ratio <= 2)])
    if 1_000_000 in by_n:
        total, rss = by_n[1_000_000]
        checks.append(["1M events: total < 60 s", f"{total:.1f} s", verdict(total < 60)])
        checks.append(["1M events: peak RSS < 2 GB", f"{rss:,.0f} MB", verdict(rss < 2048)])
        if 4_000_000 in by_n:
            ratio = by_n[4_000_000][0] / total
            checks.append(["4M / 1M time <= 4.5", f"{ratio:.2f}", verdict(ratio <= 4.5)])
    print(table(["target", "observed", "kept"], checks))
    return 0


def _raw_copy_seconds(url: str) -> float:
    with psycopg.connect(psycopg_url(url)) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        with cur.copy(RAW_COPY) as copy:
            for _ in copy:
                pass
        return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
