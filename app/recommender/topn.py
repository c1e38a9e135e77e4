"""Top-N selection over dense score blocks, deterministic down to ties.

``top_n`` returns, per row, the ``n`` best item indices sorted by score descending, ties broken
by the lower item index, so the same scores always give the same list. Excluded items score
``-inf`` and are never returned; when a row has fewer than ``n`` items with a finite score, the
list is padded with index ``-1`` and score ``-inf`` (callers drop ``idx < 0``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from app.recommender.base import Recommender

# Budget for one block of users in recommend_all: the dense float32 scores plus the int64 keys
# top_n partitions, i.e. about 12 bytes per (user, item).
BLOCK_BYTES = 256 * 1024 * 1024
BYTES_PER_SCORE = 4 + 8


def _sort_keys(scores: np.ndarray) -> np.ndarray:
    """One unique int64 per (row, item) whose order is (score, -item index).

    The float32 bit pattern is mapped to an int32 with the same order as the floats (negative
    floats have their magnitude bits flipped), shifted into the high half; the low half holds
    ``n_items - 1 - index``. Partitioning these keys is deterministic even among equal scores,
    which ``argpartition`` on the floats alone is not, and the index is recovered from the key,
    so no separate (rows, n_items) int64 index array is needed.
    """
    n_items = scores.shape[1]
    bits = (scores + np.float32(0.0)).view(np.int32)  # + 0.0 turns -0.0 into 0.0
    bits ^= (bits >> 31) & np.int32(0x7FFFFFFF)
    keys = bits.astype(np.int64) << 32
    keys |= np.arange(n_items - 1, -1, -1, dtype=np.int64)
    return keys


def top_n(
    scores: np.ndarray,
    n: int,
    exclude: sp.csr_matrix | None = None,
    *,
    overwrite_scores: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``n`` best items: (int32 indices, float32 scores), both shaped (rows, n).

    With ``overwrite_scores`` a float32 ``scores`` is masked in place instead of copied, which
    saves a block-sized allocation in :func:`recommend_all`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    scores = np.array(scores, dtype=np.float32, ndmin=2, copy=None if overwrite_scores else True)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D, got shape {scores.shape}")
    n_rows, n_items = scores.shape
    scores[np.isnan(scores)] = -np.inf
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape != scores.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, scores {scores.shape}")
        rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))
        scores[rows, exclude.indices] = -np.inf

    idx = np.full((n_rows, n), -1, dtype=np.int32)
    out = np.full((n_rows, n), -np.inf, dtype=np.float32)
    k = min(n, n_items)
    if k == 0 or n_rows == 0:
        return idx, out

    keys = _sort_keys(scores)
    if k < n_items:
        keys.partition(n_items - k, axis=1)
    best = keys[:, n_items - k:]
    best.sort(axis=1)
    best = best[:, ::-1]
    chosen = (n_items - 1 - (best & np.int64(0xFFFFFFFF))).astype(np.int32)
    chosen_scores = np.take_along_axis(scores, chosen, axis=1)
    valid = np.isfinite(chosen_scores)
    idx[:, :k] = np.where(valid, chosen, -1)
    out[:, :k] = np.where(valid, chosen_scores, -np.inf)
    return idx, out


def sparse_top_n(M: sp.csr_matrix, n: int, exclude_diagonal: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a sparse matrix, the ``n`` largest *stored* entries (absent entries are padding).

    Used for neighbour lists (similar items), where a zero means "not a neighbour", not a score.
    """
    M = sp.csr_matrix(M, dtype=np.float32)
    dense = np.full(M.shape, -np.inf, dtype=np.float32)
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    dense[rows, M.indices] = M.data
    if exclude_diagonal:
        diag = np.arange(min(M.shape))
        dense[diag, diag] = -np.inf
    return top_n(dense, n, overwrite_scores=True)


def block_size_for(n_items: int, budget_bytes: int = BLOCK_BYTES) -> int:
    """Users per block so a block's scores and top-N keys stay under ``budget_bytes``."""
    return max(1, budget_bytes // (max(n_items, 1) * BYTES_PER_SCORE))


def recommend_all(
    model: Recommender,
    X: sp.csr_matrix,
    n: int,
    exclude_seen: bool = True,
    block_size: int | None = None,
    workers: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` (indices, scores) for every user (row) of ``X``, computed in blocks of users.

    ``X`` must be the matrix the model was fitted on (its rows are the model's users); with
    ``exclude_seen`` the items in a user's row are never recommended.
    """
    X = sp.csr_matrix(X)
    n_users, n_items = X.shape
    block = block_size or block_size_for(n_items)
    idx = np.full((n_users, n), -1, dtype=np.int32)
    out = np.full((n_users, n), -np.inf, dtype=np.float32)

    def run(start: int) -> None:
        users = np.arange(start, min(start + block, n_users))
        scores = model.score_users(users)
        exclude = X[start:start + len(users)] if exclude_seen else None
        idx[users], out[users] = top_n(scores, n, exclude, overwrite_scores=True)

    # numpy and scipy release the GIL in the heavy steps, so blocks overlap on the cores;
    # each worker holds one block, so memory grows by one block per extra worker.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, range(0, n_users, block)))
    return idx, out
