"""Temporal splits on hand-made event logs, plus invariants on random ones."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.recommender.evaluation.split import (
    Events,
    Split,
    global_time_split,
    per_user_split,
    rolling_splits,
    temporal_split,
    validation_split,
)


def _events(rows: list[tuple[int, int, int]]) -> Events:
    users, items, ts = (np.array(c) for c in zip(*rows))
    return Events.from_arrays(users, items, np.zeros(len(rows)), timestamps=ts)


# (user, item, timestamp) with sparse raw codes, to check the re-indexing.
GLOBAL_LOG = [
    (10, 100, 1), (10, 101, 2), (20, 101, 3), (20, 102, 4),  # training: before t = 9
    (10, 102, 9),   # new item for user 10: truth
    (10, 100, 10),  # repeat of a training item: not truth
    (20, 103, 9),   # item unknown to training: not truth
    (20, 100, 10),  # new item for user 20: truth
    (30, 101, 9),   # user unknown to training: truth, evaluated as a miss
    (40, 103, 11),  # unknown user, unknown item: nothing to evaluate
]


def test_global_split_by_hand() -> None:
    s = global_time_split(_events(GLOBAL_LOG), test_fraction=0.6)
    assert s.cutoff == 9
    np.testing.assert_array_equal(s.user_ids, [10, 20])
    np.testing.assert_array_equal(s.item_ids, [100, 101, 102])
    assert (s.n_users, s.n_items) == (2, 3)
    assert len(s.train) == 4
    np.testing.assert_array_equal(s.eval_users, [0, 1, -1])
    assert s.truth.toarray().tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_per_user_split_takes_each_users_latest_and_breaks_ties_by_order() -> None:
    log = [
        (1, 0, 1), (1, 1, 2), (1, 2, 3), (1, 3, 4), (1, 4, 5),  # 5 events: last 2 to test
        (2, 0, 7),                                              # 1 event: kept for training
        (3, 0, 1), (3, 1, 3), (3, 2, 2), (3, 4, 3),              # 4 events: (1, 3) and (4, 3) to test
    ]
    s = per_user_split(_events(log), test_fraction=0.4)
    train = {(int(s.user_ids[u]), int(s.item_ids[i])) for u, i in zip(s.train.users, s.train.items)}
    assert train == {(1, 0), (1, 1), (1, 2), (2, 0), (3, 0), (3, 2)}
    # Items 3 and 4 never appear in training, so only user 3's item 1 is left as truth.
    np.testing.assert_array_equal(s.user_ids[s.eval_users], [3])
    assert s.truth.shape == (1, 3)
    np.testing.assert_array_equal(s.item_ids[s.truth.indices], [1])


def test_validation_split_maps_back_to_caller_codes() -> None:
    s = global_time_split(_events(GLOBAL_LOG), test_fraction=0.6)
    v = validation_split(s, "global", test_fraction=0.5)
    # Training of the outer split is t = 1..4; the inner cut at t = 3 trains on user 10 alone.
    np.testing.assert_array_equal(v.user_ids, [10])
    np.testing.assert_array_equal(v.item_ids, [100, 101])
    assert v.cutoff == 3
    # User 20's item 101 at t = 3 is known to inner training; 102 is not.
    assert v.truth.toarray().tolist() == [[0, 1]]
    np.testing.assert_array_equal(v.eval_users, [-1])


def test_bad_arguments() -> None:
    ev = _events(GLOBAL_LOG)
    with pytest.raises(ValueError, match="test_fraction"):
        global_time_split(ev, 1.0)
    with pytest.raises(ValueError, match="unknown split"):
        temporal_split(ev, "random", 0.2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same timestamp"):
        global_time_split(_events([(1, 1, 5), (2, 2, 5)]), 0.5)


def test_global_cut_moves_past_ties_at_the_oldest_time() -> None:
    # The 50% quantile is t = 5, the oldest time; the cut moves to t = 7 so training is not empty.
    s = global_time_split(_events([(1, 1, 5), (1, 2, 5), (2, 1, 5), (2, 2, 7)]), 0.5)
    assert s.cutoff == 7
    assert len(s.train) == 3
    assert s.truth.toarray().tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="entries"):
        Events(np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2), np.zeros(2))


@st.composite
def _log(draw: st.DrawFn) -> Events:
    n = draw(st.integers(2, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return Events.from_arrays(
        rng.integers(0, 8, n), rng.integers(0, 12, n), np.zeros(n), timestamps=rng.integers(0, 20, n)
    )


def _check_truth_is_new_to_each_user(s: Split) -> None:
    seen = set(zip(s.train.users.tolist(), s.train.items.tolist()))
    assert (np.diff(s.truth.indptr) > 0).all()
    for row, u in enumerate(s.eval_users):
        for i in s.truth.indices[s.truth.indptr[row] : s.truth.indptr[row + 1]]:
            assert (int(u), int(i)) not in seen
    assert s.train.users.max(initial=-1) < s.n_users and s.train.items.max(initial=-1) < s.n_items


@settings(max_examples=150, deadline=None)
@given(_log(), st.sampled_from([0.1, 0.3, 0.5]))
def test_split_invariants(ev: Events, fraction: float) -> None:
    s = per_user_split(ev, fraction)
    _check_truth_is_new_to_each_user(s)
    # Every user keeps at least one training event.
    assert s.n_users == len(np.unique(ev.users))
    try:
        g = global_time_split(ev, fraction)
    except ValueError:
        # Only a log whose events all share one timestamp has no past to train on.
        assert len(np.unique(ev.timestamps)) == 1
        return
    _check_truth_is_new_to_each_user(g)
    assert (g.train.timestamps < g.cutoff).all()
    assert g.n_users + g.n_eval >= 1


def _log(n_users: int = 30, per_user: int = 20) -> Events:
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, 15, len(users))
    ts = rng.permutation(len(users)).astype(np.float64)  # distinct times, interleaved users
    return Events.from_arrays(users, items, np.zeros(len(users), np.int8), timestamps=ts)


def test_rolling_global_cuts_step_back_in_time_and_never_train_on_their_future() -> None:
    events = _log()
    folds = rolling_splits(events, "global", folds=3, fold_fraction=0.1)
    cutoffs = [f.cutoff for f in folds]
    assert cutoffs == sorted(cutoffs, reverse=True)  # fold 0 is the newest
    n = len(events)
    for j, fold in enumerate(folds):
        # Training holds exactly the events before the cut; the events after the fold's test
        # window (the newer folds' tests) are set aside.
        assert len(fold.train) == int((events.timestamps < fold.cutoff).sum())
        assert fold.train.timestamps.max() < fold.cutoff
        assert len(fold.train) == pytest.approx(n * (1 - 0.1 * (j + 1)), abs=1)
        assert fold.n_eval > 0


def test_rolling_per_user_holds_out_each_users_latest_slices() -> None:
    events = _log()
    folds = rolling_splits(events, "per_user", folds=2, fold_fraction=0.1)
    # 20 events per user: fold 0 trains on each user's first 18, fold 1 on their first 16.
    assert [len(f.train) for f in folds] == [30 * 18, 30 * 16]
    assert all(f.n_users == 30 for f in folds)


def test_rolling_splits_refuse_what_cannot_be_split() -> None:
    events = _log()
    with pytest.raises(ValueError):
        rolling_splits(events, "global", folds=0)
    with pytest.raises(ValueError):
        rolling_splits(events, "global", folds=5, fold_fraction=0.25)
    same_time = Events.from_arrays(events.users, events.items, events.types)
    with pytest.raises(ValueError):
        rolling_splits(same_time, "global")
