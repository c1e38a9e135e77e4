"""Fit a model on a split's training events and score its top-k against the held-out truth.

This is the service's own path (events -> confidence_matrix -> model -> top-k with seen items
excluded), so what the benchmark measures is what a shop gets.  Anything with `fit(X)` and
`score_users(users)` can be evaluated, which lets the benchmark run reference implementations through
the very same top-k and metric code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np
import scipy.sparse as sp

from app.recommender.evaluation.metrics import METRIC_NAMES, evaluate_topk
from app.recommender.evaluation.split import Split
from app.recommender.matrix import confidence_matrix
from app.recommender.registry import make_model
from app.recommender.topn import block_size_for, top_n
from app.shop import ConfidenceConfig

# Item side information as `make_model` takes it: a feature matrix or one text per item code.
ItemFeatures: TypeAlias = "sp.csr_matrix | Sequence[str]"


class Scorer(Protocol):
    """The part of a recommender that evaluation needs."""

    def fit(self, X: sp.csr_matrix) -> Any: ...

    def score_users(self, users: np.ndarray) -> np.ndarray: ...


@dataclass
class EvalResult:
    """One row of an evaluation table."""

    label: str
    model: str
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    predict_seconds: float
    config: ConfidenceConfig | None = field(default=None, repr=False)

    def row(self) -> dict[str, Any]:
        """Flat dict for printing or JSON."""
        return {
            "label": self.label,
            "model": self.model,
            "params": self.params,
            **self.metrics,
            "fit_s": self.fit_seconds,
            "predict_s": self.predict_seconds,
        }


def train_matrix(split: Split, config: ConfidenceConfig | None = None) -> sp.csr_matrix:
    """The confidence matrix (n_users, n_items) the service would build from the training events."""
    t = split.train
    return confidence_matrix(
        t.users.astype(np.int32), t.items.astype(np.int32), t.types, t.values, t.timestamps,
        split.n_users, split.n_items, config if config is not None else ConfidenceConfig(),
    )


def seen_matrix(split: Split) -> sp.csr_matrix:
    """Binary (n_users, n_items): every item each user touched in training, whatever the event.

    This, not the confidence matrix, is what "seen" means here: a movie rated 1 star has zero
    confidence and no entry in C, yet recommending it again is a wasted slot (it can never be in
    the truth, which holds only items new to the user).
    """
    t = split.train
    S = sp.csr_matrix(
        (np.ones(len(t), np.float32), (t.users, t.items)), shape=(split.n_users, split.n_items)
    )
    S.sum_duplicates()
    S.data[:] = 1.0
    return S


def recommend_users(
    model: Scorer, users: np.ndarray, k: int, exclude: sp.csr_matrix | None = None
) -> np.ndarray:
    """Top-k item codes (len(users), k), padded with -1; a user code of -1 gets an all -1 row.

    `exclude` is indexed by user code like the model's training matrix (e.g. `seen_matrix`).
    """
    users = np.asarray(users, dtype=np.int64)
    out = np.full((len(users), k), -1, dtype=np.int32)
    known = np.flatnonzero(users >= 0)
    n_items = exclude.shape[1] if exclude is not None else 1
    block = block_size_for(n_items)
    for start in range(0, len(known), block):
        rows = known[start : start + block]
        scores = np.asarray(model.score_users(users[rows]), dtype=np.float32)
        excluded = exclude[users[rows]] if exclude is not None else None
        idx, _ = top_n(scores, k, exclude=excluded, overwrite_scores=True)
        out[rows] = idx
    return out


def evaluate_scorer(
    model: Scorer,
    split: Split,
    X: sp.csr_matrix,
    k: int = 10,
    label: str = "",
    name: str = "",
    params: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Fit `model` on X (the training matrix of `split`) and evaluate its top-k on the split's truth.

    Items each user touched in training are never recommended (see `seen_matrix`).
    """
    t0 = time.perf_counter()
    model.fit(X)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    recommended = recommend_users(model, split.eval_users, k, exclude=seen_matrix(split))
    predict_s = time.perf_counter() - t0
    metrics = evaluate_topk(recommended, split.truth)
    return EvalResult(label or name, name, dict(params or {}), metrics, fit_s, predict_s)


def evaluate_model(
    name: str,
    split: Split,
    params: Mapping[str, Any] | None = None,
    config: ConfidenceConfig | None = None,
    k: int = 10,
    item_features: ItemFeatures | None = None,
    label: str | None = None,
) -> EvalResult:
    """Evaluate a shoprec model by registry name.

    `item_features` (a sparse matrix or one text per item, as `make_model` takes them) are indexed
    by the caller's item codes, the codes the split was made from; they are sliced down to the
    training items here.  `params` are merged over the model's defaults
    by the registry.
    """
    config = config if config is not None else ConfidenceConfig()
    X = train_matrix(split, config)
    features = training_features(item_features, split)
    model = make_model(name, dict(params) if params else None, item_features=features)
    result = evaluate_scorer(
        model, split, X, k=k, label=label or name, name=name, params=getattr(model, "params", params)
    )
    result.config = config
    return result


def training_features(item_features: ItemFeatures | None, split: Split) -> ItemFeatures | None:
    """Item features (matrix rows or texts) re-indexed from the caller's codes to training codes."""
    if item_features is None:
        return None
    if sp.issparse(item_features):
        return sp.csr_matrix(item_features)[split.item_ids]
    return [item_features[i] for i in split.item_ids]


def evaluate_all(
    candidates: Iterable[tuple[str, Mapping[str, Any] | None]],
    split: Split,
    config: ConfidenceConfig | None = None,
    k: int = 10,
    item_features: ItemFeatures | None = None,
) -> list[EvalResult]:
    """Evaluate each (model name, params) on one split; one result per candidate, in order."""
    return [
        evaluate_model(name, split, params, config, k=k, item_features=item_features)
        for name, params in candidates
    ]


DEFAULT_COLUMNS = ("ndcg", "recall", "precision", "f1", "coverage", "fit_s")


def format_table(
    results: Iterable[EvalResult], k: int = 10, columns: Iterable[str] = DEFAULT_COLUMNS
) -> str:
    """A plain-text table, best NDCG first is up to the caller (rows print in the order given)."""
    columns = list(columns)
    header = ["model"] + [f"{c}@{k}" if c in METRIC_NAMES and c != "coverage" else c for c in columns]
    lines = []
    for r in results:
        values = {**r.metrics, "fit_s": r.fit_seconds, "predict_s": r.predict_seconds}
        lines.append([r.label] + [_fmt(values.get(c, float("nan")), c) for c in columns])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def _fmt(value: float, column: str) -> str:
    if column.endswith("_s"):
        return f"{value:.2f}"
    return f"{value:.4f}"
