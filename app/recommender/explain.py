"""Reasons for recommendations: which item of a user's history made each recommended item score.

For user u and recommended item j, the reason is argmax_i X[u, i] * S[i, j] over the items i the
user touched (the largest term of the item-based score X[u] @ S), or -1 when no term is positive.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BLOCK_USERS = 2048


def explain_all(X: sp.csr_matrix, top_items: np.ndarray, S: sp.csr_matrix) -> np.ndarray:
    """int32 (n_users, N) reasons for the (n_users, N) recommendations `top_items` (-1 padded)."""
    X = sp.csr_matrix(X)
    S = sp.csr_matrix(S)
    n_users, n = top_items.shape
    out = np.full((n_users, n), -1, dtype=np.int32)
    for start in range(0, n_users, BLOCK_USERS):
        stop = min(start + BLOCK_USERS, n_users)
        out[start:stop] = _explain_block(X[start:stop], top_items[start:stop], S)
    return out


def _explain_block(Xb: sp.csr_matrix, top: np.ndarray, S: sp.csr_matrix) -> np.ndarray:
    b, n = top.shape
    n_items = S.shape[1]
    out = np.full((b, n), -1, dtype=np.int32)
    valid = top >= 0
    if Xb.nnz == 0 or not valid.any():  # nothing recommended to anyone in the block
        return out
    # One row per history entry k = (u_k, i_k): the contributions X[u_k, i_k] * S[i_k, :].
    users_k = np.repeat(np.arange(b), np.diff(Xb.indptr))
    M = sp.diags(Xb.data) @ S[Xb.indices]
    M = sp.coo_matrix(M)
    # Keep only contributions to items recommended to that row's user.
    key = users_k[M.row].astype(np.int64) * n_items + M.col
    top_key = (np.arange(b)[:, None].astype(np.int64) * n_items + top)[valid]
    order = np.argsort(top_key)
    sorted_keys = top_key[order]
    pos = np.searchsorted(sorted_keys, key)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    hit = (sorted_keys[pos] == key) & (M.data > 0)
    if not hit.any():
        return out
    key, val, k = key[hit], M.data[hit], M.row[hit]
    # The largest contribution per (user, item): sort by key, then value descending.
    by = np.lexsort((-val, key))
    key, k = key[by], k[by]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    key, k = key[first], k[first]
    flat = np.flatnonzero(valid.ravel())[order][np.searchsorted(sorted_keys, key)]
    out.ravel()[flat] = Xb.indices[k]
    return out
