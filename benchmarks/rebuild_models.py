"""Rebuild cost of every recommender on a synthetic shop: seconds per stage and peak RSS.

1,000,000 events (50,000 users x 20,000 items, fixed seed) with taste clusters and long-tail
item popularity -> Vocabulary -> confidence_matrix -> fit -> recommend_all top-100 for all
users. Each model runs in its own process so its peak RSS is its own.

    .venv/bin/python benchmarks/rebuild_models.py                 # every model
    .venv/bin/python benchmarks/rebuild_models.py --model itemknn # one model, this process
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.recommender.matrix import confidence_matrix
from app.recommender.persist import dumps
from app.recommender.registry import MODELS, make_model
from app.recommender.topn import recommend_all
from app.shop import ConfidenceConfig
from app.vocabulary import Vocabulary
from benchmarks._shop import synthetic_shop

N_EVENTS, N_USERS, N_ITEMS, N_CLUSTERS, SEED = 1_000_000, 50_000, 20_000, 50, 42


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def run_one(name: str) -> None:
    t = {}
    rng = np.random.default_rng(SEED)
    shop = synthetic_shop(N_EVENTS, N_USERS, N_ITEMS, clusters=N_CLUSTERS, seed=SEED)
    start = time.perf_counter()
    users, user_codes = Vocabulary.fit(shop.user_ids)
    items, item_codes = Vocabulary.fit(shop.item_ids)
    t["vocab"] = time.perf_counter() - start
    start = time.perf_counter()
    X = confidence_matrix(
        user_codes, item_codes, shop.types, shop.values, shop.timestamps,
        len(users), len(items), ConfidenceConfig(half_life_days=60.0),
    )
    t["matrix"] = time.perf_counter() - start
    del shop
    texts = None
    if name in ("content",):
        words = np.array([f"w{k}" for k in range(2000)])
        texts = [" ".join(words[rng.integers(0, 2000, 12)]) for _ in range(X.shape[1])]
    start = time.perf_counter()
    model = make_model(name, item_features=texts)
    try:
        model.fit(X)
    except ValueError as exc:
        print(f"{name:<11} refused: {exc}", flush=True)
        return
    t["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    recommend_all(model, X, 100)
    t["top100_all"] = time.perf_counter() - start
    start = time.perf_counter()
    size = len(dumps(model.get_state()))
    t["dumps"] = time.perf_counter() - start
    stages = "  ".join(f"{k}={v:6.2f}s" for k, v in t.items())
    total = sum(t.values())
    print(
        f"{name:<11} {stages}  total={total:6.2f}s  state={size / 1e6:7.1f} MB  "
        f"peak_rss={peak_rss_mb():6.0f} MB  (X {X.shape[0]}x{X.shape[1]}, nnz={X.nnz})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), help="run one model in-process")
    args = parser.parse_args()
    if args.model:
        run_one(args.model)
        return
    for name in MODELS:
        subprocess.run([sys.executable, __file__, "--model", name], check=False)


if __name__ == "__main__":
    main()
