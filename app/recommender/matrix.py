"""From raw shop events to the interaction matrix every model is trained on.

External ids never index a matrix: an `app.vocabulary.Vocabulary` maps them to contiguous ints
once per rebuild. :func:`confidence_matrix` turns events into the one matrix convention of this
package, with the shop's weights (`app.shop.ConfidenceConfig`): CSR float32 of shape
``(n_users, n_items)``, non-negative, explicit zeros removed, sorted indices.

The confidence of user ``u`` in item ``i`` is::

    w(e)    = weight[type(e)]                                  for view / add_to_cart / purchase
    w(e)    = rating_weight * max(0, (value(e) - rating_neutral) / (rating_max - rating_neutral))
                                                               for rating
    d(e)    = 0.5 ** ((t_newest - t(e)) / (half_life_days * 86400))   (d(e) = 1 if half_life_days is None)
    s[u, i] = sum of w(e) * d(e) over the events e of user u on item i
    C[u, i] = log1p(s[u, i] / saturation_alpha)                (C[u, i] = s[u, i] if saturation_alpha is None)

``t_newest`` is the newest timestamp in the events given, not the wall clock, so a rebuild of the
same data always gives the same matrix. ``value`` is ignored for view / add_to_cart / purchase
(a quantity of 10 is not ten times the evidence of liking). Ratings at or below ``rating_neutral``
give zero: implicit-style top-N models treat every stored entry as a positive preference, so a
dislike must not become one; entries whose sum is zero are dropped from the matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.shop import EVENT_TYPES, RATING_CODE, ConfidenceConfig

SECONDS_PER_DAY = 86400.0


def event_weights(
    type_codes: np.ndarray, values: np.ndarray, config: ConfidenceConfig
) -> np.ndarray:
    """w(e) of the module docstring for every event (float64)."""
    type_codes = np.asarray(type_codes)
    if type_codes.size and (type_codes.min() < 0 or type_codes.max() >= len(EVENT_TYPES)):
        raise ValueError(f"type codes must be in [0, {len(EVENT_TYPES)})")
    w: np.ndarray = np.array(config.type_weights(), dtype=np.float64)[type_codes]
    is_rating = type_codes == RATING_CODE
    if is_rating.any():
        v = np.asarray(values, dtype=np.float64)[is_rating]
        scaled = (v - config.rating_neutral) / (config.rating_max - config.rating_neutral)
        w[is_rating] = config.rating_weight * np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, None)
    return w


def confidence_matrix(
    user_codes: np.ndarray,
    item_codes: np.ndarray,
    type_codes: np.ndarray,
    values: np.ndarray,
    timestamps: np.ndarray,
    n_users: int,
    n_items: int,
    config: ConfidenceConfig | None = None,
) -> sp.csr_matrix:
    """The (n_users, n_items) float32 confidence matrix C of the module docstring."""
    config = config or ConfidenceConfig()
    user_codes = np.asarray(user_codes, dtype=np.int64).reshape(-1)
    item_codes = np.asarray(item_codes, dtype=np.int64).reshape(-1)
    type_codes = np.asarray(type_codes, dtype=np.int64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    timestamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    n = user_codes.size
    lengths = {item_codes.size, type_codes.size, values.size, timestamps.size}
    if lengths != {n}:
        raise ValueError("user_codes, item_codes, type_codes, values, timestamps differ in length")
    if n and (user_codes.min() < 0 or user_codes.max() >= n_users):
        raise ValueError(f"user codes must be in [0, {n_users})")
    if n and (item_codes.min() < 0 or item_codes.max() >= n_items):
        raise ValueError(f"item codes must be in [0, {n_items})")

    w = event_weights(type_codes, values, config)
    if config.half_life_days is not None and n:
        t_newest = timestamps.max()
        age_days = (t_newest - timestamps) / SECONDS_PER_DAY
        w *= np.exp2(-age_days / config.half_life_days)

    # coo -> csr sums duplicate (user, item) pairs, which is the s[u, i] of the docstring.
    C = sp.coo_matrix((w, (user_codes, item_codes)), shape=(n_users, n_items)).tocsr()
    C.sum_duplicates()
    if config.saturation_alpha is not None:
        C.data = np.log1p(C.data / config.saturation_alpha)
    C = C.astype(np.float32)
    C.eliminate_zeros()
    C.sort_indices()
    return C
