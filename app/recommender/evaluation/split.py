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
        return self.truth.shape[0]


def global_time_split(events: Events, test_fraction: float = 0.2) -> Split:
    """Train on events before a single time cut, test on the rest.

    The cut is the timestamp quantile that leaves about `test_fraction` of the events in the test
    period.  A quantile rather than a fraction of the time span, because a few stray timestamps far
    from the bulk (Taobao has some) would otherwise move the cut to where there is no data.
    """
    _check_fraction(test_fraction)
    if len(events) == 0:
        raise ValueError("no events to split")
    ts = np.sort(events.timestamps)
    cutoff = float(ts[min(len(ts) - 1, int(np.floor(len(ts) * (1.0 - test_fraction))))])
    if cutoff == ts[0]:
        # Ties at the oldest timestamp would leave nothing to train on: cut at the next one instead.
        later = ts[ts > cutoff]
        if len(later) == 0:
            raise ValueError("every event has the same timestamp; there is no past to train on")
        cutoff = float(later[0])
    is_test = events.timestamps >= cutoff
    return _make_split(events, is_test, cutoff)


def per_user_split(events: Events, test_fraction: float = 0.2) -> Split:
    """Hold out each user's most recent `test_fraction` of events.

    A user with n events gives ceil(n * test_fraction) of them to test, capped at n - 1 so every user
    keeps a history to be recommended from; ties in time are broken by input order, so the split is
    deterministic.
    """
    _check_fraction(test_fraction)
    if len(events) == 0:
        raise ValueError("no events to split")
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
    return _make_split(events, is_test, None)


def temporal_split(events: Events, method: SplitMethod, test_fraction: float = 0.2) -> Split:
    """Dispatch to `global_time_split` or `per_user_split` by name."""
    if method == "global":
        return global_time_split(events, test_fraction)
    if method == "per_user":
        return per_user_split(events, test_fraction)
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
