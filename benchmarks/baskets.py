"""Offline comparison for "frequently bought together" on the grocery baskets (complete-journey).

Train on the first 80 % of the purchase lines by time, grouped into baskets the way the service
groups events (a household's lines with pauses under an hour: `basket_ids`); test on every basket
of the last 20 % with at least two products: each product in turn is held out and the others are
the query (leave-one-out). HR@10: the held-out product is among the 10 answers (the query's own
products never are); MRR@10 its reciprocal rank; answered: queries with at least one answer before
any popularity top-up. Rows:

- rules (confidence / lift / cosine): association rules over the training baskets (`fit_rules`);
- item-item on purchases: the service's ItemKNN (cosine, shrinkage 10) fitted on the
  household x product purchase matrix, its neighbours summed over the query (as `complete`);
- popularity: the most bought products of the training period;
- each model "+ popular": topped up with popular products to 10, as the service serves.

    .venv/bin/python benchmarks/baskets.py [--data /work/shared/data/complete-journey]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from app.recommender.baskets import BasketModel, basket_ids, basket_matrix, complete, fit_rules
from app.recommender.itemknn import ItemKNN

K = 10


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(household code, product code, basket code, unix time) per line."""
    households: dict[str, int] = {}
    products: dict[str, int] = {}
    baskets: dict[str, int] = {}
    rows = []
    with open(path / "transactions_sample.csv", newline="") as f:
        for r in csv.DictReader(f):
            rows.append(
                (
                    households.setdefault(r["household_id"], len(households)),
                    products.setdefault(r["product_id"], len(products)),
                    baskets.setdefault(r["basket_id"], len(baskets)),
                    datetime.strptime(r["transaction_timestamp"], "%Y-%m-%dT%H:%M:%S%z").timestamp(),
                )
            )
    h, p, b, t = (np.array(c) for c in zip(*rows, strict=True))
    return h.astype(np.int64), p.astype(np.int64), b.astype(np.int64), t.astype(np.float64)


def evaluate(
    name: str,
    recommend: Callable[[np.ndarray], np.ndarray],
    queries: list[tuple[np.ndarray, int]],
    popular: np.ndarray,
) -> None:
    hits = hits_up = 0
    rr = rr_up = 0.0
    answered = 0
    started = time.perf_counter()
    for query, held_out in queries:
        got = recommend(query)[:K]
        answered += len(got) > 0
        if held_out in got:
            hits += 1
            rr += 1 / (int(np.flatnonzero(got == held_out)[0]) + 1)
        topped = list(got)
        for p in popular:
            if len(topped) >= K:
                break
            if p not in topped and p not in query:
                topped.append(p)
        if held_out in topped:
            hits_up += 1
            rr_up += 1 / (topped.index(held_out) + 1)
    n = len(queries)
    ms = 1000 * (time.perf_counter() - started) / n
    print(
        f"| {name} | {hits / n:.4f} | {rr / n:.4f} | {hits_up / n:.4f} | {rr_up / n:.4f} | "
        f"{answered / n:.3f} | {ms:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/complete-journey"))
    args = parser.parse_args()
    h, p, b, t = load(args.data)
    n_items = int(p.max()) + 1
    cut = np.quantile(t, 0.8)
    train, test = t < cut, t >= cut

    # Training baskets as the service forms them: a household's lines with pauses under an hour.
    B = basket_matrix(basket_ids(h[train], t[train]), p[train], n_items)
    real = len(np.unique(b[train]))
    print(f"{train.sum()} training lines: {B.shape[0]} baskets by the one-hour rule, {real} by basket_id")
    counts = np.bincount(p[train], minlength=n_items)
    popular = np.argsort(-counts, kind="stable")[: 5 * K]

    queries: list[tuple[np.ndarray, int]] = []
    order = np.argsort(b[test], kind="stable")
    tb, tp = b[test][order], p[test][order]
    for items in np.split(tp, np.flatnonzero(np.diff(tb)) + 1):
        items = np.unique(items)
        if len(items) < 2:
            continue
        for j in range(len(items)):
            queries.append((np.delete(items, j), int(items[j])))
    print(f"{len(queries)} leave-one-out queries from the test baskets of two or more products\n")

    print("| model | HR@10 | MRR@10 | HR@10 + popular | MRR@10 + popular | answered | ms / query |")
    print("|---|---|---|---|---|---|---|")
    for measure in ("confidence", "lift", "cosine"):
        for min_count in (1, 2):
            rules = fit_rules(B, measure=measure, min_count=min_count)  # type: ignore[arg-type]
            evaluate(
                f"rules: {measure}, min count {min_count}",
                lambda q, r=rules: complete(r, q)[0],
                queries,
                popular,
            )
    for shrinkage in (5.0, 20.0):
        for min_count in (1, 2):
            model = BasketModel.fit(B, shrinkage=shrinkage, min_count=min_count)
            evaluate(
                f"rules with prior: confidence, a={shrinkage:g}, min count {min_count}",
                lambda q, m=model: m.complete(q)[0],
                queries,
                popular,
            )
    X = sp.csr_matrix(
        (np.ones(train.sum(), dtype=np.float32), (h[train], p[train])), shape=(h.max() + 1, n_items)
    )
    X.sum_duplicates()
    neighbours = ItemKNN(k=50).fit(X).neighbours
    evaluate("item-item on purchases (ItemKNN)", lambda q: complete(neighbours, q)[0], queries, popular)
    evaluate("popularity", lambda q: np.array([i for i in popular if i not in q][:K]), queries, popular)


if __name__ == "__main__":
    main()
