"""Accuracy benchmark: shoprec against tuned reference recommenders on three real data sets.

Every data set goes through what a shop's events go through: each record becomes an event body,
validated by the service's schema (`app.api.schemas.events.parse_events`), mapped to codes by the
same `Vocabulary`, and shoprec models train on `confidence_matrix`.  All models, shoprec's and the
references, are scored by the same code (`app.recommender.evaluation`): top-10 with every item the
user touched in training excluded, truth = items new to the user in the test period.

Each data set is split twice (--splits): a global time cut (train before it, test after: what a
deployment sees) and per user (each user's latest 20 % held out).  Rows, each labelled by what ran:
  served (<model>)      the service path: a fresh SQLite store with default Settings, the training
                        events imported with their timestamps, `run_rebuild` as the server runs it
                        (the first rebuild selects the model, ALGORITHM=auto), then `recommend` for
                        every test shopper, as `GET /users/{id}/recommendations?limit=10` answers
  model <name> (evaluate_model)
                        a shoprec model with its registry defaults, fitted on the confidence matrix
                        and scored by `evaluate_model` (--models; default: the fallback hybrid)
  ref *                 references, each tuned on a validation holdout carved from training the same
                        way, over the grid in REFERENCE_GRIDS, then refit on all training events:
                        implicit ALS, implicit BM25 and cosine item-kNN, EASE (below), popularity.
References see an implicit-feedback matrix built from the same training events, ignoring event
types: `binary` (1 per touched pair) or `log_count` (log1p of the number of events); which one is
part of each grid.

Usage (from the repo root):
  .venv/bin/python benchmarks/accuracy.py [--datasets movielens,grocery,taobao]
      [--splits global,per_user] [--models hybrid,ease] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.api.schemas.events import EventIn, parse_events  # noqa: E402
from app.bulk_import import ImportReport, write_events  # noqa: E402
from app.config import Settings  # noqa: E402
from app.recommender.evaluation import (  # noqa: E402
    EvalResult,
    Events,
    Split,
    SplitMethod,
    evaluate_model,
    evaluate_scorer,
    evaluate_topk,
    format_table,
    holdout_mask,
    temporal_split,
    validation_split,
)
from app.services.building.rebuild import run_rebuild  # noqa: E402
from app.services.building.tuning import DEFAULT_ALGORITHM  # noqa: E402
from app.services.serving.recommend import Query, recommend  # noqa: E402
from app.services.serving.runtime import Runtime  # noqa: E402
from app.services.serving.status import last_evaluation  # noqa: E402
from app.shop import EVENT_TYPES, ConfidenceConfig  # noqa: E402
from app.store.db import make_engine, make_session_factory  # noqa: E402
from app.store.migrate import upgrade  # noqa: E402
from app.vocabulary import Vocabulary  # noqa: E402

# The shared data sets sit beside the checkout (../shared/data), or beside a folder of checkouts.
DATA = next(
    (d / "shared" / "data" for d in REPO.parents if (d / "shared" / "data").is_dir()),
    REPO.parent / "shared" / "data",
)
SEED = 42
K = 10
TEST_FRACTION = 0.2


# --------------------------------------------------------------------------------------------
# Data: records -> event bodies -> validated events -> code arrays


@dataclass
class Dataset:
    name: str
    events: Events
    user_ids: list[str]
    item_ids: list[str]
    item_texts: list[str] | None
    rating_max: float
    validated: list[EventIn]  # in the order of `events`: what the service's path ingests


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


def to_events(
    bodies: list[dict[str, Any]], rating_max: float
) -> tuple[Events, list[str], list[str], list[EventIn]]:
    """Validate event bodies as the API does, then encode ids as a rebuild does."""
    validated = parse_events(bodies, rating_max=rating_max)
    users, user_codes = Vocabulary.fit(np.array([e.user_id for e in validated]))
    items, item_codes = Vocabulary.fit(np.array([e.item_id for e in validated]))
    type_index = {t: i for i, t in enumerate(EVENT_TYPES)}
    events = Events.from_arrays(
        user_codes,
        item_codes,
        np.array([type_index[e.type] for e in validated], dtype=np.int8),
        np.array([e.value for e in validated], dtype=np.float32),
        np.array([_epoch(e.timestamp) for e in validated], dtype=np.float64),
    )
    return events, users.ids, items.ids, validated


def load_movielens(ratings: Path, movies: Path | None) -> Dataset:
    with ratings.open(newline="") as f:
        bodies = [
            {
                "user_id": r["userId"], "item_id": r["movieId"], "type": "rating",
                "value": float(r["rating"]),
                "timestamp": datetime.fromtimestamp(int(r["timestamp"]), UTC),
            }
            for r in csv.DictReader(f)
        ]
    events, user_ids, item_ids, validated = to_events(bodies, rating_max=5.0)
    texts = None
    if movies is not None and movies.exists():
        with movies.open(newline="") as f:
            genres = {r["movieId"]: r["genres"].replace("|", " ") for r in csv.DictReader(f)}
        texts = [genres.get(i, "") for i in item_ids]
    return Dataset("movielens", events, user_ids, item_ids, texts, 5.0, validated)


def load_grocery(transactions: Path, products: Path | None) -> Dataset:
    with transactions.open(newline="") as f:
        bodies = [
            {
                "user_id": r["household_id"], "item_id": r["product_id"], "type": "purchase",
                # The schema wants a quantity >= 1; the file has some zeros (weighed goods).
                "value": max(1.0, float(r["quantity"])),
                "timestamp": datetime.strptime(r["transaction_timestamp"], "%Y-%m-%dT%H:%M:%S%z"),
            }
            for r in csv.DictReader(f)
        ]
    events, user_ids, item_ids, validated = to_events(bodies, rating_max=5.0)
    texts = None
    if products is not None and products.exists():
        with gzip.open(products, "rt", newline="") as f:
            desc = {
                r["product_id"]: " ".join(
                    r[c] for c in ("department", "brand", "product_category", "product_type") if r[c]
                )
                for r in csv.DictReader(f)
            }
        texts = [desc.get(i, "") for i in item_ids]
    return Dataset("grocery", events, user_ids, item_ids, texts, 5.0, validated)


TAOBAO_TYPES = {"pv": "view", "cart": "add_to_cart", "fav": "add_to_cart", "buy": "purchase"}
TAOBAO_COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]


def load_taobao(path: Path) -> Dataset:
    with path.open(newline="") as f:
        first = f.readline()
        f.seek(0)
        # The public file has no header; the sample here has one.  Handle both.
        has_header = first.split(",")[0].strip() == "user_id"
        reader = csv.DictReader(f, fieldnames=None if has_header else TAOBAO_COLUMNS)
        rows = list(reader)
    bodies = [
        {
            "user_id": r["user_id"], "item_id": r["item_id"], "type": TAOBAO_TYPES[r["behavior_type"]],
            "timestamp": datetime.fromtimestamp(int(r["timestamp"]), UTC),
        }
        for r in rows
    ]
    events, user_ids, item_ids, validated = to_events(bodies, rating_max=5.0)
    category = {r["item_id"]: f"category_{r['category_id']}" for r in rows}
    texts = [category[i] for i in item_ids]
    return Dataset("taobao", events, user_ids, item_ids, texts, 5.0, validated)


# --------------------------------------------------------------------------------------------
# References: fit(X) / score_users(users), evaluated by the same code as shoprec


class Popularity:
    """Items by the number of distinct training users."""

    def fit(self, X: sp.csr_matrix) -> Popularity:
        self.scores = np.asarray((X > 0).sum(axis=0), dtype=np.float32).ravel()
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores, (len(users), len(self.scores))).copy()


class EASE:
    """EASE^R (Steck 2019): B = I - P / diag(P), P = (X^T X + l2 I)^-1, diag(B) = 0.

    Dense in items, so it keeps the `max_items` most popular ones; the rest score -inf.
    """

    def __init__(self, l2: float = 500.0, max_items: int = 6000) -> None:
        self.l2, self.max_items = l2, max_items

    def fit(self, X: sp.csr_matrix) -> EASE:
        self.X = X
        pop = np.asarray((X > 0).sum(axis=0)).ravel()
        keep = np.argsort(-pop, kind="stable")[: self.max_items]
        self.keep = np.sort(keep[pop[keep] > 0])
        Xk = X[:, self.keep]
        G = (Xk.T @ Xk).toarray().astype(np.float64)
        G[np.diag_indices_from(G)] += self.l2
        P = np.linalg.inv(G)
        B = P / (-np.diag(P))
        B[np.diag_indices_from(B)] = 0.0
        self.B = B.astype(np.float32)
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        scores = np.full((len(users), self.X.shape[1]), -np.inf, dtype=np.float32)
        scores[:, self.keep] = self.X[users][:, self.keep] @ self.B
        return scores


class ImplicitALS:
    """implicit.cpu.als with dense factor products for scores."""

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
                 iterations: int = 15) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        self.model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, alpha=alpha, iterations=iterations,
            random_state=SEED, num_threads=1, calculate_training_loss=False,
        )

    def fit(self, X: sp.csr_matrix) -> ImplicitALS:
        self.model.fit(X, show_progress=False)
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.model.user_factors[users] @ self.model.item_factors.T


class ImplicitKNN:
    """implicit.nearest_neighbours item-kNN (BM25 or cosine): scores = X[users] @ S."""

    def __init__(self, kind: str = "bm25", K: int = 100, K1: float = 1.2, B: float = 0.75) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        self.model = (
            BM25Recommender(K=K, K1=K1, B=B, num_threads=1) if kind == "bm25"
            else CosineRecommender(K=K, num_threads=1)
        )

    def fit(self, X: sp.csr_matrix) -> ImplicitKNN:
        self.X = X
        with warnings.catch_warnings():
            # implicit re-weights to COO internally and then warns about its own conversion.
            from implicit.utils import ParameterWarning

            warnings.simplefilter("ignore", category=ParameterWarning)
            self.model.fit(X, show_progress=False)
        self.S = sp.csr_matrix(self.model.similarity, dtype=np.float32)
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return (self.X[users] @ self.S).toarray()


def reference_matrix(split: Split, kind: str) -> sp.csr_matrix:
    """Implicit feedback from the training events, ignoring types: binary or log1p(count)."""
    t = split.train
    C = sp.csr_matrix(
        (np.ones(len(t), np.float32), (t.users, t.items)), shape=(split.n_users, split.n_items)
    )
    C.sum_duplicates()
    C.data = np.ones_like(C.data) if kind == "binary" else np.log1p(C.data)
    return C


def _grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


# name -> (factory, grid, quick grid); every grid point also names the matrix.
REFERENCE_GRIDS: dict[str, tuple[Callable[..., Any], list[dict[str, Any]], list[dict[str, Any]]]] = {
    "ref ALS (implicit)": (
        ImplicitALS,
        _grid(matrix=["binary", "log_count"], factors=[32, 64, 128], regularization=[0.01, 0.1],
              alpha=[1.0, 10.0]),
        _grid(matrix=["binary"], factors=[64], regularization=[0.05], alpha=[1.0, 10.0]),
    ),
    "ref BM25 item-kNN (implicit)": (
        lambda **p: ImplicitKNN("bm25", **p),
        _grid(matrix=["binary", "log_count"], K=[50, 200, 1000], B=[0.5, 0.75, 1.0]),
        _grid(matrix=["binary"], K=[100], B=[0.75]),
    ),
    "ref cosine item-kNN (implicit)": (
        lambda **p: ImplicitKNN("cosine", **p),
        _grid(matrix=["binary", "log_count"], K=[50, 200, 1000]),
        _grid(matrix=["binary"], K=[100]),
    ),
    "ref EASE": (
        EASE,
        _grid(matrix=["binary"], l2=[50.0, 200.0, 500.0, 2000.0]),
        _grid(matrix=["binary"], l2=[500.0]),
    ),
    "ref popularity": (Popularity, [{"matrix": "binary"}], [{"matrix": "binary"}]),
}


def run_reference(label: str, split: Split, val: Split, quick: bool) -> EvalResult:
    """Tune on the validation holdout, refit on all training, evaluate on the test truth."""
    factory, grid, quick_grid = REFERENCE_GRIDS[label]
    best: tuple[float, dict[str, Any]] | None = None
    matrices: dict[str, sp.csr_matrix] = {}
    grid = quick_grid if quick else grid
    for point in grid:
        params = {k: v for k, v in point.items() if k != "matrix"}
        if len(grid) == 1:
            best = (0.0, point)
            break
        X = matrices.setdefault(point["matrix"], reference_matrix(val, point["matrix"]))
        r = evaluate_scorer(factory(**params), val, X, k=K)
        if best is None or r.metrics["ndcg"] > best[0]:
            best = (r.metrics["ndcg"], point)
    assert best is not None
    point = best[1]
    params = {k: v for k, v in point.items() if k != "matrix"}
    X = reference_matrix(split, point["matrix"])
    return evaluate_scorer(factory(**params), split, X, k=K, label=label, name=label, params=point)


# --------------------------------------------------------------------------------------------


def served(ds: Dataset, split: Split, is_test: np.ndarray, workdir: Path) -> EvalResult:
    """What a fresh service with default settings serves: the real path, not a model's scores.

    A new SQLite store gets the training events with their timestamps through the import service
    (the API's validation and write), `run_rebuild` runs exactly as the server's rebuild process does
    (selection included, as `tuning_due` decides on a first rebuild), a `Runtime` loads the stored
    model as a server does, and `recommend` answers `limit=10` for every test shopper known to
    training.  Shoppers unknown to training count as misses, as in every other row.
    """
    db = workdir / f"served_{ds.name}.db"
    db.unlink(missing_ok=True)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, rating_max=ds.rating_max, database_url=f"sqlite:///{db}"
    )
    engine = make_engine(settings.sqlalchemy_url)
    try:
        upgrade(engine)
        train = [e for e, held in zip(ds.validated, is_test.tolist(), strict=True) if not held]
        t0 = time.perf_counter()
        with make_session_factory(engine).begin() as session:
            write_events(session, train, ImportReport())
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = run_rebuild(settings, engine=engine)
        rebuild_s = time.perf_counter() - t0
        runtime = Runtime(settings=settings, engine=engine, sessions=make_session_factory(engine))
        runtime.refresh_catalog()
        runtime.load_latest_model()
        meta = runtime.model.meta
        selection = last_evaluation(runtime)  # what GET /model/evaluation answers

        # Answers are item ids; the truth is in the split's training item codes.
        code_of = {ds.item_ids[c]: t for t, c in enumerate(split.item_ids.tolist())}
        recommended = np.full((split.n_eval, K), -1, dtype=np.int32)
        t0 = time.perf_counter()
        for row, u in enumerate(split.eval_users.tolist()):
            if u < 0:
                continue
            user_id = ds.user_ids[int(split.user_ids[u])]
            answer = recommend(runtime, Query(user_id=user_id, limit=K))
            codes = [code_of.get(item["item_id"], -1) for item in answer["items"]]
            recommended[row, : len(codes)] = codes
        serve_s = time.perf_counter() - t0
    finally:
        engine.dispose()
        db.unlink(missing_ok=True)
    metrics = evaluate_topk(recommended, split.truth)
    if selection["rows"]:
        print(f"selection ({selection['settings'].get('holdout_split')} cuts, "
              f"{selection['settings'].get('sample')}): candidate, mean NDCG@10 of the cuts, "
              "gain over the default and its 5 % bootstrap lower bound", flush=True)
        for row in selection["rows"]:
            print(f"    {row['label']:<44} {row['ndcg']:.4f} {row.get('ndcg_gain', 0):+.4f} "
                  f"{row.get('ndcg_gain_low', 0):+.4f}", flush=True)
    print(f"served: {len(train):,} events imported in {ingest_s:.0f}s, rebuild {rebuild_s:.0f}s "
          f"({result.stages}), {meta.algorithm} {meta.params}; {split.n_eval:,} shoppers served in "
          f"{serve_s:.1f}s", flush=True)
    return EvalResult(f"served ({meta.algorithm})", meta.algorithm, dict(meta.params), metrics,
                      rebuild_s, serve_s)


def run_dataset(
    ds: Dataset, method: SplitMethod, quick: bool, models: list[str], workdir: Path
) -> list[EvalResult]:
    is_test, _ = holdout_mask(ds.events, method, TEST_FRACTION)
    split = temporal_split(ds.events, method, TEST_FRACTION)
    val = validation_split(split, method, TEST_FRACTION)
    print(
        f"\n## {ds.name}, {method} split: {len(ds.events):,} events, {split.n_users:,} users x "
        f"{split.n_items:,} items in training, {split.n_eval:,} test users ({TEST_FRACTION:.0%} test)",
        flush=True,
    )
    results = [served(ds, split, is_test, workdir)]
    config = ConfidenceConfig(rating_max=ds.rating_max, rating_neutral=ds.rating_max / 2)
    for name in models:
        results.append(evaluate_model(name, split, None, config, k=K, item_features=ds.item_texts,
                                      label=f"model {name} (evaluate_model)"))
    for label in REFERENCE_GRIDS:
        r = run_reference(label, split, val, quick)
        results.append(r)
        print(f"  {label}: tuned {r.params}", flush=True)
    best = max(results[len(models) + 1:], key=lambda r: r.metrics["ndcg"])
    print(f"served / best tuned reference ({best.label}): "
          f"{results[0].metrics['ndcg'] / max(best.metrics['ndcg'], 1e-12):.3f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", default="movielens,grocery,taobao")
    p.add_argument("--splits", default="global,per_user",
                   help="global (a time cut, the deployment's split) and/or per_user")
    p.add_argument("--quick", action="store_true", help="small reference grids")
    p.add_argument("--models", default=DEFAULT_ALGORITHM,
                   help="shoprec models scored by evaluate_model with their defaults, beside the "
                        "served row (comma-separated registry names; empty for none)")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                   help="where the served row's scratch SQLite store is made (and removed)")
    p.add_argument("--movielens", type=Path, default=DATA / "ml-latest-small" / "ratings.csv")
    p.add_argument("--movies", type=Path, default=DATA / "ml-latest-small" / "movies.csv")
    p.add_argument("--grocery", type=Path,
                   default=DATA / "complete-journey" / "transactions_sample.csv")
    p.add_argument("--products", type=Path, default=DATA / "complete-journey" / "products.csv.gz")
    p.add_argument("--taobao", type=Path, default=DATA / "taobao" / "UserBehavior_sample.csv")
    args = p.parse_args(argv)
    splits = [m.strip() for m in args.splits.split(",") if m.strip()]
    if not splits or set(splits) - {"global", "per_user"}:
        p.error("--splits takes global and/or per_user")
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    loaders = {
        "movielens": lambda: load_movielens(args.movielens, args.movies),
        "grocery": lambda: load_grocery(args.grocery, args.products),
        "taobao": lambda: load_taobao(args.taobao),
    }
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = set(names) - set(loaders)
    if unknown:
        p.error(f"unknown data sets {sorted(unknown)}; choose from {sorted(loaders)}")

    # The machine is shared and BLAS would take every core: one thread keeps timings comparable.
    with threadpool_limits(limits=1):
        for name in names:
            t0 = time.perf_counter()
            ds = loaders[name]()
            print(f"loaded {name} in {time.perf_counter() - t0:.1f}s", flush=True)
            for method in splits:
                results = run_dataset(ds, method, args.quick, models, args.workdir)  # type: ignore[arg-type]
                print(format_table(results, k=K), flush=True)


if __name__ == "__main__":
    main()
