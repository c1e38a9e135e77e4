"""Temporal train/test splits over plain event arrays.

The service feeds the store's events and the benchmark feeds files; both arrive here as integer codes
(users, items, event types) with values and timestamps.  A split trains on the past and tests on the
future, re-indexes the training part to contiguous codes, and builds the ground truth: the items each
user touched in the test period, never touched in training, and known to training (a model cannot
recommend an item it has never seen, so holding it against the model would only add noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

SplitMethod = Literal["global", "per_user"]


@dataclass(frozen=True)
class Events:
    """Parallel event arrays: one entry per event, codes are non-negative integers.

    Timestamps are seconds since the epoch (float64), as the store reads them.
    """

    users: np.ndarray
    items: np.ndarray
    types: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "types", "values", "timestamps"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, users has {n}")

    @classmethod
    def from_arrays(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        types: np.ndarray,
        values: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
    ) -> Events:
        """Build with the dtypes the rest of the package expects; missing values default to 1."""
        n = len(users)
        return cls(
            users=np.asarray(users, dtype=np.int64),
            items=np.asarray(items, dtype=np.int64),
            types=np.asarray(types, dtype=np.int8),
            values=np.ones(n, np.float32) if values is None else np.asarray(values, np.float32),
            timestamps=(
                np.zeros(n, np.float64) if timestamps is None
                else np.asarray(timestamps, np.float64)
            ),
        )

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> Events:
        """The events selected by a boolean mask or an index array."""
        return Events(
            self.users[mask], self.items[mask], self.types[mask], self.values[mask],
            self.timestamps[mask],
        )


@dataclass(frozen=True)
class Split:
    """A train/test split, with training re-indexed to contiguous codes.

    `train` uses training codes 0..n_users-1 and 0..n_items-1; `user_ids[u]` / `item_ids[i]` give the
    input code of training user u / item i.  `truth` is CSR of shape (n_eval, n_items), one row per
    evaluated user (every row has at least one item); `eval_users[r]` is that user's training code, or
    -1 for a user unknown to training, who gets no recommendations and so counts as a miss.
    """

    train: Events
    n_users: int
    n_items: int
    user_ids: np.ndarray
    item_ids: np.ndarray
    truth: sp.csr_matrix
    eval_users: np.ndarray
    cutoff: float | None = None

    @property
    def n_eval(self) -> int:
        return int(self.truth.shape[0])


def global_time_split(events: Events, test_fraction: float = 0.2) -> Split:
    """Train on events before a single time cut, test on the rest (see `holdout_mask`)."""
    is_test, cutoff = holdout_mask(events, "global", test_fraction)
    return _make_split(events, is_test, cutoff)


def _global_mask(events: Events, test_fraction: float) -> tuple[np.ndarray, float]:
    """The cut is the timestamp quantile that leaves about `test_fraction` of the events in the test
    period.  A quantile rather than a fraction of the time span, because a few stray timestamps far
    from the bulk (Taobao has some) would otherwise move the cut to where there is no data.
    """
    ts = np.sort(events.timestamps)
    cutoff = float(ts[min(len(ts) - 1, int(np.floor(len(ts) * (1.0 - test_fraction))))])
    if cutoff == ts[0]:
        # Ties at the oldest timestamp would leave nothing to train on: cut at the next one instead.
        later = ts[ts > cutoff]
        if len(later) == 0:
            raise ValueError("every event has the same timestamp; there is no past to train on")
        cutoff = float(later[0])
    return events.timestamps >= cutoff, cutoff


def per_user_split(events: Events, test_fraction: float = 0.2) -> Split:
    """Hold out each user's most recent `test_fraction` of events (see `holdout_mask`)."""
    is_test, _ = holdout_mask(events, "per_user", test_fraction)
    return _make_split(events, is_test, None)


def _per_user_mask(events: Events, test_fraction: float) -> np.ndarray:
    """A user with n events gives ceil(n * test_fraction) of them to test, capped at n - 1 so every
    user keeps a history to be recommended from; ties in time are broken by input order, so the
    split is deterministic.
    """
    order = np.lexsort((np.arange(len(events)), events.timestamps, events.users))
    users_sorted = events.users[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    n_test = np.minimum(np.ceil(counts * test_fraction).astype(np.int64), counts - 1)
    # Rank of each event within its user's history, oldest first.
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    is_test_sorted = rank >= np.repeat(counts - n_test, counts)
    is_test = np.empty(len(events), dtype=bool)
    is_test[order] = is_test_sorted
    return is_test


def holdout_mask(
    events: Events, method: SplitMethod, test_fraction: float = 0.2
) -> tuple[np.ndarray, float | None]:
    """Which events a split holds out (a boolean mask in input order), and the global cut if any.

    What a split trains on is exactly `events.subset(~mask)`: a benchmark can feed those events to
    a real service and score its answers against the same truth.
    """
    _check_fraction(test_fraction)
    if len(events) == 0:
        raise ValueError("no events to split")
    if method == "global":
        return _global_mask(events, test_fraction)
    if method == "per_user":
        return _per_user_mask(events, test_fraction), None
    raise ValueError(f"unknown split method {method!r}; expected 'global' or 'per_user'")


def temporal_split(events: Events, method: SplitMethod, test_fraction: float = 0.2) -> Split:
    """A global time cut or a per-user holdout of the latest events, by name."""
    is_test, cutoff = holdout_mask(events, method, test_fraction)
    return _make_split(events, is_test, cutoff)


def rolling_splits(
    events: Events, method: SplitMethod, folds: int = 2, fold_fraction: float = 0.1
) -> list[Split]:
    """Rolling-origin splits: fold 0 tests on the newest `fold_fraction` of the events, fold 1 on the
    slice before it (training on what precedes that slice, the newer events set aside), and so on.

    Each fold emulates a deployment at a different moment, so a choice that only suits the last
    days' quirks shows up as a disagreement between folds.  `global` cuts at timestamp quantiles;
    `per_user` takes each user's latest events, slice by slice (a user keeps at least one event
    in every fold's training).
    """
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    _check_fraction(fold_fraction * folds)
    if len(events) == 0:
        raise ValueError("no events to split")
    if method == "global":
        ts = np.sort(events.timestamps)
        n = len(ts)
        splits = []
        for j in range(folds):
            hi = np.inf if j == 0 else float(ts[int(np.floor(n * (1.0 - j * fold_fraction)))])
            lo = float(ts[min(n - 1, int(np.floor(n * (1.0 - (j + 1) * fold_fraction))))])
            keep = events.timestamps < hi
            kept = events.subset(keep)
            if len(kept) == 0 or not (kept.timestamps < lo).any():
                raise ValueError("too few distinct timestamps for a past and a future in every fold")
            splits.append(_make_split(kept, kept.timestamps >= lo, lo))
        return splits
    if method == "per_user":
        order = np.lexsort((np.arange(len(events)), events.timestamps, events.users))
        users_sorted = events.users[order]
        starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        rank = np.empty(len(events), dtype=np.int64)
        rank[order] = np.arange(len(order)) - np.repeat(starts, counts)
        count = np.empty(len(events), dtype=np.int64)
        count[order] = np.repeat(counts, counts)
        per_fold = np.ceil(count * fold_fraction).astype(np.int64)
        splits = []
        for j in range(folds):
            hi = np.maximum(count - j * per_fold, 1)
            lo = np.maximum(count - (j + 1) * per_fold, 1)
            keep = rank < hi
            kept = events.subset(keep)
            splits.append(_make_split(kept, (rank >= lo)[keep], None))
        return splits
    raise ValueError(f"unknown split method {method!r}; expected 'global' or 'per_user'")


def validation_split(split: Split, method: SplitMethod, test_fraction: float = 0.2) -> Split:
    """Carve a validation split out of the training part, the same way the test was carved.

    Tuning on it never looks at the test period.  Its codes are training codes of `split` mapped
    once more; `user_ids`/`item_ids` are composed so they still point at the caller's codes.
    """
    inner = temporal_split(split.train, method, test_fraction)
    return Split(
        train=inner.train,
        n_users=inner.n_users,
        n_items=inner.n_items,
        user_ids=split.user_ids[inner.user_ids],
        item_ids=split.item_ids[inner.item_ids],
        truth=inner.truth,
        eval_users=inner.eval_users,
        cutoff=inner.cutoff,
    )


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")


def _make_split(events: Events, is_test: np.ndarray, cutoff: float | None) -> Split:
    train = events.subset(~is_test)
    test = events.subset(is_test)
    user_ids, train_users = np.unique(train.users, return_inverse=True)
    item_ids, train_items = np.unique(train.items, return_inverse=True)
    n_users, n_items = len(user_ids), len(item_ids)
    train = Events(
        train_users.astype(np.int64), train_items.astype(np.int64), train.types, train.values,
        train.timestamps,
    )

    # Map test events into training codes; items unknown to training cannot be recommended.
    t_items = _lookup(item_ids, test.items)
    t_users = _lookup(user_ids, test.users)
    known_item = t_items >= 0
    test_users_raw, test_items = test.users[known_item], t_items[known_item]
    t_users = t_users[known_item]

    # Drop (user, item) pairs already touched in training: repeats are not discoveries.
    seen_keys = np.unique(train.users * n_items + train.items)
    known_user = t_users >= 0
    pair = np.where(known_user, t_users * n_items + test_items, -1)
    fresh = ~(known_user & np.isin(pair, seen_keys))
    test_users_raw, test_items, t_users = test_users_raw[fresh], test_items[fresh], t_users[fresh]

    eval_raw, rows = np.unique(test_users_raw, return_inverse=True)
    truth = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, test_items)), shape=(len(eval_raw), n_items)
    )
    truth.sum_duplicates()
    truth.data[:] = 1.0
    eval_users = _lookup(user_ids, eval_raw)
    return Split(train, n_users, n_items, user_ids, item_ids, truth, eval_users, cutoff)


def _lookup(sorted_ids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Position of each code in `sorted_ids`, or -1 where it is absent."""
    if len(sorted_ids) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, codes)
    pos_c = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos_c] == codes, pos_c, -1).astype(np.int64)
