"""The first rebuild a new shop waits for: `shoprec import events` then `shoprec rebuild`.

A synthetic shop (1M events, 50,000 shoppers, 20,000 items by default: taste clusters, a long tail,
Pareto activity; `_common.synthetic_shop`) is written to a CSV file and imported into a fresh
default SQLite store with the command line, as a shop would; then, in the same run:

- `shoprec rebuild`: the first rebuild, which selects the model (ALGORITHM=auto, default settings);
- `shoprec rebuild` again: a refit of the chosen model without selection, the reference.

Each command runs in its own process; the figures are wall seconds of each process and the peak RSS
of the rebuild (ru_maxrss of the children). The target is a first rebuild under 60 s.

    .venv/bin/python benchmarks/first_rebuild.py
    .venv/bin/python benchmarks/first_rebuild.py --events 200000 --users 10000
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._shop import TYPES, synthetic_shop  # noqa: E402

SHOPREC = [sys.executable, "-m", "app.cli"]


def write_csv(path: Path, n_events: int, n_users: int, n_items: int) -> None:
    shop = synthetic_shop(n_events, n_users, n_items)
    stamps = np.datetime_as_string(shop.timestamps.astype("datetime64[s]"), unit="s")
    types = np.array(TYPES)[shop.types]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "user_id", "item_id", "type", "value", "timestamp"])
        w.writerows(
            zip(
                (f"e-{n}" for n in range(len(shop))),
                shop.user_ids.tolist(),
                shop.item_ids.tolist(),
                types.tolist(),
                shop.values.tolist(),
                (s + "Z" for s in stamps.tolist()),
                strict=True,
            )
        )


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(SHOPREC + args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"shoprec {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return seconds, out.stdout.strip().splitlines()[-1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="shoprec_first_rebuild_", dir=args.workdir) as tmp:
        events = Path(tmp) / "events.csv"
        t0 = time.perf_counter()
        write_csv(events, args.events, args.users, args.items)
        print(f"{args.events:,} events, {args.users:,} shoppers, {args.items:,} items written in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        # A fresh service's settings: the defaults, a new SQLite store in its own data directory.
        fresh = ("DATABASE_URL", "ALGORITHM", "TUNE_", "SHOPREC_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(fresh)}
        env.update({"SHOPREC_DATA_DIR": tmp, "LOG_LEVEL": "warning"})
        seconds, line = run(["import", "events", str(events)], env)
        print(f"shoprec import events: {seconds:.1f} s ({line})", flush=True)
        first, line = run(["rebuild"], env)
        print(f"shoprec rebuild (first, selects the model): {first:.1f} s ({line})", flush=True)
        refit, line = run(["rebuild"], env)
        print(f"shoprec rebuild (refit, reference): {refit:.1f} s ({line})", flush=True)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\nfirst rebuild {first:.1f} s (target < 60 s): {'PASS' if first < 60 else 'FAIL'}; "
          f"refit {refit:.1f} s; selection's share {first - refit:.1f} s; "
          f"ratio first / refit {first / refit:.2f}; peak RSS of the commands {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
