"""From raw shop events to the interaction matrix every model is trained on.

External ids never index a matrix: a :class:`Vocabulary` maps them to contiguous ints once per
rebuild. :func:`confidence_matrix` turns events into the one matrix convention of this package:
CSR float32 of shape ``(n_users, n_items)``, non-negative, explicit zeros removed, sorted indices.

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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

EVENT_TYPES: tuple[str, ...] = ("view", "add_to_cart", "purchase", "rating")
RATING_CODE = EVENT_TYPES.index("rating")
SECONDS_PER_DAY = 86400.0


class Vocabulary:
    """Sorted unique external string ids and their contiguous int codes."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids: list[str] = list(ids)
        self.index: dict[str, int] = {id_: code for code, id_ in enumerate(self.ids)}
        if len(self.index) != len(self.ids):
            raise ValueError("Vocabulary ids must be unique")

    @classmethod
    def fit(cls, ids: Sequence[str] | np.ndarray) -> tuple[Vocabulary, np.ndarray]:
        """Return the vocabulary of ``ids`` (sorted unique) and the int32 code of every input id."""
        arr = _as_str_array(ids)
        if arr.size == 0:
            return cls([]), np.zeros(0, dtype=np.int32)
        # One C-level sort instead of a dict lookup per event: about 4 s for 4M events.
        unique, inverse = np.unique(arr, return_inverse=True)
        return cls(unique.tolist()), inverse.reshape(-1).astype(np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, id_: str) -> int | None:
        return self.index.get(id_)

    def encode(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """int32 codes of ``ids``; -1 for ids not in the vocabulary."""
        get = self.index.get
        return np.fromiter((get(i, -1) for i in ids), dtype=np.int32, count=len(ids))


def _as_str_array(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype == object:
        arr = arr.astype(str)
    if arr.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind != "U":
        raise ValueError(f"ids must be strings, got dtype {arr.dtype}")
    return arr


@dataclass(frozen=True)
class ConfidenceConfig:
    """Weights of the confidence formula in the module docstring.

    The defaults follow the usual shop funnel: a purchase says more than a cart add, which says
    more than a view. ``rating_neutral`` defaults to the middle of a 1..5 scale (2.5): a 3 is
    weak evidence (0.2 * rating_weight), a 5 is the strongest (rating_weight).
    """

    view: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 5.0
    rating_weight: float = 5.0
    rating_max: float = 5.0
    rating_neutral: float = 2.5
    saturation_alpha: float | None = 1.0
    half_life_days: float | None = None

    def __post_init__(self) -> None:
        for field in ("view", "add_to_cart", "purchase", "rating_weight"):
            value = getattr(self, field)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{field} must be a finite non-negative weight, got {value}")
        if not self.rating_max > self.rating_neutral:
            raise ValueError(
                f"rating_max ({self.rating_max}) must be greater than "
                f"rating_neutral ({self.rating_neutral})"
            )
        if self.saturation_alpha is not None and not self.saturation_alpha > 0:
            raise ValueError(f"saturation_alpha must be > 0 or None, got {self.saturation_alpha}")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0 or None, got {self.half_life_days}")

    def type_weights(self) -> np.ndarray:
        """Weight per event type code; the rating entry is a placeholder (ratings use values)."""
        return np.array([self.view, self.add_to_cart, self.purchase, 0.0], dtype=np.float64)


def event_weights(
    type_codes: np.ndarray, values: np.ndarray, config: ConfidenceConfig
) -> np.ndarray:
    """w(e) of the module docstring for every event (float64)."""
    type_codes = np.asarray(type_codes)
    if type_codes.size and (type_codes.min() < 0 or type_codes.max() >= len(EVENT_TYPES)):
        raise ValueError(f"type codes must be in [0, {len(EVENT_TYPES)})")
    w = config.type_weights()[type_codes]
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
