"""The real-time re-score's core against scipy doing the same, as the catalog grows.

For a shopper who acted since the rebuild, serving sums the item-item neighbour rows of their
history and names each candidate's strongest contributor (`app.recommender.rescore`). The
reference is scipy's own way of computing the same: slice the rows, multiply by the weights, sum
the columns, `argmax(axis=0)` for the reasons. Random neighbours (50 per item), a history of 30
items; mean over repeated calls, both in this process.

    .venv/bin/python benchmarks/rescore.py
    .venv/bin/python benchmarks/rescore.py --items 20000 1000000 --history 100
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.recommender.rescore import neighbour_scores  # noqa: E402
from benchmarks._tables import table  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    p.add_argument("--neighbours", type=int, default=50)
    p.add_argument("--history", type=int, default=30)
    args = p.parse_args()

    rng = np.random.default_rng(0)
    rows = []
    for n in args.items:
        k = args.neighbours
        S = sp.csr_matrix(
            (rng.random(n * k, dtype=np.float32), rng.integers(0, n, n * k), np.arange(0, n * k + 1, k)),
            shape=(n, n),
        )
        history = np.sort(rng.choice(n, args.history, replace=False))
        weights = rng.choice([1.0, 3.0, 5.0], args.history)
        ours = _mean_us(neighbour_scores, (S, history, weights), repeat=50)
        scipy_way = _mean_us(_with_scipy, (S, history, weights), repeat=3)
        rows.append([f"{n:,}", ours, scipy_way, scipy_way / ours])
    print(table(["items", "neighbour_scores us", "scipy us", "speed-up"], rows))
    return 0


def _with_scipy(S: sp.csr_matrix, history: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    contrib = sp.csr_matrix(S[history].multiply(weights[:, None]))
    r = np.asarray(contrib.sum(axis=0)).ravel()
    best = np.asarray(contrib.argmax(axis=0)).ravel()
    return r, np.where(r > 0, history[best], -1)


def _mean_us(call: Callable[..., object], args: tuple[object, ...], *, repeat: int) -> float:
    call(*args)  # warm
    t = time.perf_counter()
    for _ in range(repeat):
        call(*args)
    return (time.perf_counter() - t) / repeat * 1e6


if __name__ == "__main__":
    raise SystemExit(main())
