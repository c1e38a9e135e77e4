"""Batch export speed: `shoprec export recommendations`' writer over a synthetic model, in process.

A model of `--users` shoppers (each with a cached list of 100 items out of `--items`, as a rebuild
leaves it), 1 % of the catalog unavailable (so some lists are filtered and a few topped up), written
as JSON Lines and as CSV to a null sink. Prints shoppers per second for each format and limit
(target: at least 50,000 shoppers/s). On a shared machine the wall-clock rate falls with the load;
the rate per CPU second of this process is what the code costs.

    .venv/bin/python benchmarks/export.py                       # 200,000 shoppers, 20,000 items
    .venv/bin/python benchmarks/export.py --users 50000
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.services.serving.export import export_recommendations  # noqa: E402
from app.services.serving.model import ModelMeta, ServingModel  # noqa: E402
from app.services.serving.runtime import Runtime  # noqa: E402

TARGET = 50_000


class Null(io.RawIOBase):
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.bytes += len(b)
        return len(b)


def synthetic_model(n_users: int, n_items: int, cache: int, seed: int = 7) -> ServingModel:
    rng = np.random.default_rng(seed)
    top = np.stack([rng.choice(n_items, cache, replace=False) for _ in range(min(n_users, 2000))])
    top = top[rng.integers(0, len(top), n_users)].astype(np.int32)  # distinct rows, reused
    scores = np.sort(rng.random((n_users, cache), dtype=np.float32), axis=1)[:, ::-1].copy()
    because = np.where(rng.random((n_users, cache)) < 0.8, rng.integers(0, n_items, (n_users, cache)), -1)
    per_user = 5  # what each shopper touched: 5 items
    seen = sp.csr_matrix(
        (
            np.ones(n_users * per_user, dtype=np.float32),
            rng.integers(0, n_items, n_users * per_user),
            np.arange(0, n_users * per_user + 1, per_user),
        ),
        shape=(n_users, n_items),
    )
    seen.sum_duplicates()
    popular = rng.permutation(n_items).astype(np.int32)
    return ServingModel(
        meta=ModelMeta(version=1, algorithm="synthetic"),
        user_ids=[f"user-{u:07d}" for u in range(n_users)],
        item_ids=[f"sku-{i:06d}" for i in range(n_items)],
        top_items=top,
        top_scores=scores,
        top_because=because.astype(np.int32),
        seen=seen,
        neighbours=sp.csr_matrix((n_items, n_items), dtype=np.float32),
        popular=popular,
        popular_scores=np.linspace(1, 0.01, n_items, dtype=np.float32),
        category_names=[],
        category_indptr=np.zeros(1, dtype=np.int64),
        category_items=np.empty(0, dtype=np.int32),
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=200_000)
    p.add_argument("--items", type=int, default=20_000)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime.create(Settings(_env_file=None, data_dir=Path(tmp)))  # type: ignore[call-arg]
        runtime.model = synthetic_model(args.users, args.items, cache=100)
        rng = np.random.default_rng(1)
        for i in rng.choice(args.items, args.items // 100, replace=False).tolist():
            runtime.catalog.apply(f"sku-{i:06d}", available=False, deleted=False, categories=())
        print(f"{args.users:,} shoppers, {args.items:,} items, 1 % of them unavailable\n")
        print("| format | limit | shoppers/s (wall) | shoppers per CPU second | MB written | target |")
        print("|---|---|---|---|---|---|")
        for fmt in ("jsonl", "csv"):
            for limit in (10, 50):
                sink = Null()
                started, cpu = time.perf_counter(), time.process_time()
                n = export_recommendations(runtime, sink, limit=limit, fmt=fmt)  # type: ignore[arg-type]
                rate = n / (time.perf_counter() - started)
                cpu_rate = n / (time.process_time() - cpu)
                verdict = "ok" if rate >= TARGET else "MISSED"
                megabytes = sink.bytes / 1e6
                print(f"| {fmt} | {limit} | {rate:,.0f} | {cpu_rate:,.0f} | {megabytes:,.1f} | {verdict} |")
        runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
