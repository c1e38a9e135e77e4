"""Top-k accuracy metrics, vectorized over users.

Inputs everywhere: `recommended`, an int matrix (n_users, k) of item codes in rank order padded with -1,
and `truth`, a CSR matrix (n_users, n_items) whose non-zeros are the relevant items.  Rows align.  Users
with an empty truth row are left out of every mean; a user with truth but no recommendations (e.g.
unknown to training, an all -1 row) stays in, scoring zero.  Relevance is binary.

Definitions, per user with truth set T and hit indicator rel_i at rank i = 1..k:
  precision = hits / k                    recall = hits / |T|
  F1        = 2 P R / (P + R), 0 if none  hit rate = 1 if hits > 0
  NDCG      = sum rel_i / log2(i + 1)  /  sum_{i <= min(|T|, k)} 1 / log2(i + 1)
  AP        = sum rel_i * precision@i  /  min(|T|, k)     (MAP is its mean)
and catalog coverage = distinct recommended items / n_items, over all rows given.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRIC_NAMES = ("ndcg", "recall", "precision", "f1", "map", "hit_rate", "coverage")


def hit_matrix(recommended: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_users, k): is the item at each rank in that user's truth set."""
    recommended = np.asarray(recommended)
    if recommended.ndim != 2 or recommended.shape[0] != truth.shape[0]:
        raise ValueError(
            f"recommended has shape {recommended.shape}, truth has {truth.shape[0]} rows"
        )
    truth = sp.csr_matrix(truth)
    truth.sum_duplicates()
    truth.eliminate_zeros()
    n_items = np.int64(truth.shape[1])
    # Compare (row, item) pairs as single int64 keys: one sorted membership test for all users.
    truth_rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
    truth_keys = truth_rows * n_items + truth.indices.astype(np.int64)
    rows = np.arange(recommended.shape[0], dtype=np.int64)[:, None]
    rec_keys = rows * n_items + recommended.astype(np.int64)
    return np.isin(rec_keys, truth_keys) & (recommended >= 0)


def per_user_metrics(recommended: np.ndarray, truth: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Each metric for each user with non-empty truth (coverage excepted: it is not per user)."""
    hits = hit_matrix(recommended, truth)
    n_true = np.diff(sp.csr_matrix(truth).indptr)
    keep = n_true > 0
    hits, n_true = hits[keep], n_true[keep].astype(np.float64)
    k = hits.shape[1]
    n_hits = hits.sum(axis=1).astype(np.float64)

    precision = n_hits / k if k else np.zeros_like(n_hits)
    recall = n_hits / n_true
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)

    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discount
    # Ideal DCG puts min(|T|, k) hits at the top; a cumulative sum indexes it per user.
    ideal_cum = np.r_[0.0, np.cumsum(discount)]
    n_ideal = np.minimum(n_true, k).astype(np.int64)
    ndcg = np.divide(dcg, ideal_cum[n_ideal], out=np.zeros_like(dcg), where=n_ideal > 0)

    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    ap_num = (precision_at_i * hits).sum(axis=1)
    ap = np.divide(ap_num, n_ideal, out=np.zeros_like(ap_num), where=n_ideal > 0)

    return {
        "ndcg": ndcg,
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "map": ap,
        "hit_rate": (n_hits > 0).astype(np.float64),
    }


def catalog_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one recommendation list."""
    if n_items <= 0:
        return 0.0
    rec = np.asarray(recommended)
    return float(len(np.unique(rec[rec >= 0])) / n_items)


def evaluate_topk(recommended: np.ndarray, truth: sp.csr_matrix) -> dict[str, float]:
    """Means of the per-user metrics plus catalog coverage, keyed by `METRIC_NAMES`.

    Coverage counts every row given, including users without truth, since it describes what the
    model shows rather than whether it was right.
    """
    per_user = per_user_metrics(recommended, truth)
    n_eval = len(per_user["ndcg"])
    out = {name: float(v.mean()) if n_eval else 0.0 for name, v in per_user.items()}
    out["coverage"] = catalog_coverage(recommended, truth.shape[1])
    out["n_users"] = float(n_eval)
    return out
