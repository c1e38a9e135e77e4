"""evaluate_model runs the service's path and respects seen items and unknown users."""

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.evaluation import (
    evaluate_all,
    evaluate_model,
    format_table,
    global_time_split,
    recommend_users,
    seen_matrix,
)
from app.recommender.popularity import Popularity

from .planted import planted_events


def test_item_knn_recovers_planted_groups_and_popularity_does_not() -> None:
    split = global_time_split(planted_events(), test_fraction=0.4)
    assert split.n_eval == 240 and (split.eval_users >= 0).all()
    knn, pop = evaluate_all([("itemknn", None), ("popularity", None)], split)
    # Each user has 4 unseen items of their group left: item-kNN ranks exactly those first.
    assert knn.metrics["recall"] == pytest.approx(1.0)
    assert knn.metrics["precision"] == pytest.approx(0.4)
    assert knn.metrics["ndcg"] == pytest.approx(1.0)
    assert pop.metrics["ndcg"] < 0.3
    assert knn.fit_seconds >= 0 and knn.params["k"] == 100
    table = format_table([knn, pop])
    assert "ndcg@10" in table.splitlines()[0] and "itemknn" in table


def test_recommendations_skip_seen_items_and_unknown_users() -> None:
    split = global_time_split(planted_events(), test_fraction=0.4)
    model = Popularity().fit(seen_matrix(split))
    users = np.array([0, -1, 5])
    rec = recommend_users(model, users, 10, exclude=seen_matrix(split))
    assert (rec[1] == -1).all()
    seen = seen_matrix(split)
    for row, u in ((0, 0), (2, 5)):
        assert not set(rec[row]) & set(seen[u].indices)
        assert (rec[row] >= 0).all()


def test_item_texts_are_sliced_to_training_items() -> None:
    events = planted_events()
    split = global_time_split(events, test_fraction=0.4)
    texts = [f"group{i // 10}" for i in range(120)]
    r = evaluate_model("content", split, item_features=texts)
    # Content sees the same group structure through the texts alone.
    assert r.metrics["ndcg"] > 0.9
    features = sp.identity(120, format="csr")
    r = evaluate_model("content", split, item_features=features)
    assert r.metrics["coverage"] > 0
