"""The Spark job against the local engine's own maths, on small planted data in `local[2]`.

One Spark session and one job run for the module (a JVM start costs seconds); each test checks one
of the job's outputs against what `app.recommender` computes from the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("pyspark")

from tests.conftest import POSTGRES_URL  # noqa: E402

# No store is involved: one pass (the SQLite one) is enough; the PostgreSQL pass runs the JDBC
# read in test_spark_rebuild.py.
pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="store-independent; runs in the SQLite pass")

from app.config import Settings  # noqa: E402
from app.recommender.als import ALS  # noqa: E402
from app.recommender.itemknn import cosine_neighbours  # noqa: E402
from app.recommender.matrix import confidence_matrix  # noqa: E402
from app.recommender.popularity import popularity_scores  # noqa: E402
from app.recommender.topn import recommend_all  # noqa: E402
from app.services.building.spark_engine import (  # noqa: E402
    SparkModel,
    read_results,
    spark_session,
    write_events_parquet,
)
from app.services.building.spark_job import SparkJobParams, confidence, run_job  # noqa: E402
from app.shop import ConfidenceConfig  # noqa: E402
from app.store.event_arrays import EventArrays  # noqa: E402
from app.vocabulary import Vocabulary  # noqa: E402

N_USERS, N_ITEMS, GROUP_ITEMS = 60, 30, 15
PARAMS = SparkJobParams(factors=2, iterations=20, top_n=5, neighbours_k=6, shrinkage=2.0, blocks=2)


def planted_events(seed: int = 0) -> EventArrays:
    """Two taste groups (users < 30 touch items < 15, the others items >= 15), each user 9 of
    their group's 15 items, with every event type, ratings on both sides of neutral, and times
    spread over 30 days (so the half-life matters)."""
    rng = np.random.default_rng(seed)
    users, items, types, values, times = [], [], [], [], []
    for u in range(N_USERS):
        group = u * 2 // N_USERS
        for i in rng.choice(GROUP_ITEMS, 9, replace=False) + GROUP_ITEMS * group:
            for _ in range(int(rng.integers(1, 3))):
                t = int(rng.integers(0, 4))
                users.append(u)
                items.append(int(i))
                types.append(t)
                values.append(float(rng.choice([1.0, 2.0, 4.5])) if t == 3 else 1.0)
                times.append(1.7e9 + float(rng.integers(0, 30 * 86400)))
    return EventArrays(
        users=Vocabulary([f"u{u:03d}" for u in range(N_USERS)]),
        items=Vocabulary([f"sku-{i:03d}" for i in range(N_ITEMS)]),
        user_codes=np.array(users, dtype=np.int32),
        item_codes=np.array(items, dtype=np.int32),
        type_codes=np.array(types, dtype=np.int8),
        values=np.array(values, dtype=np.float32),
        timestamps=np.array(times, dtype=np.float64),
        last_event_id=len(users),
    )


def local_matrix(events: EventArrays, config: ConfidenceConfig):
    return confidence_matrix(
        events.user_codes,
        events.item_codes,
        events.type_codes,
        events.values,
        events.timestamps,
        len(events.users),
        len(events.items),
        config,
    )


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    with spark_session(Settings(_env_file=None, spark_master="local[2]", spark_partitions=2)) as session:
        yield session


@pytest.fixture(scope="module")
def events() -> EventArrays:
    return planted_events()


@pytest.fixture(scope="module")
def built(spark, events: EventArrays, tmp_path_factory: pytest.TempPathFactory) -> SparkModel:
    staging: Path = tmp_path_factory.mktemp("spark")
    write_events_parquet(events, staging / "events")
    frame = spark.read.parquet(str(staging / "events"))
    n_events = run_job(spark, frame, ConfidenceConfig(), PARAMS, str(staging))
    assert n_events == len(events)
    return read_results(staging, PARAMS.top_n, n_events)


def test_the_vocabularies_are_the_local_engine_s(built: SparkModel, events: EventArrays) -> None:
    assert built.user_ids == events.users.ids
    assert built.item_ids == events.items.ids


@pytest.mark.parametrize("half_life_days", [None, 7.0])
def test_confidence_values_equal_the_local_formula(
    spark, events: EventArrays, tmp_path: Path, half_life_days: float | None
) -> None:
    config = replace(ConfidenceConfig(), half_life_days=half_life_days, view=0.5, rating_max=5.0)
    write_events_parquet(events, tmp_path / "events")
    rows = confidence(spark.read.parquet(str(tmp_path / "events")), config).collect()
    X = local_matrix(events, config).tocoo()
    expected = {(events.users.ids[u], events.items.ids[i]): c for u, i, c in zip(X.row, X.col, X.data)}
    got = {(r.user_id, r.item_id): r.c for r in rows}
    assert got.keys() == expected.keys()
    keys = sorted(expected)
    np.testing.assert_allclose([got[k] for k in keys], [expected[k] for k in keys], rtol=1e-6)
    # low ratings are no evidence: some pairs touched only by a dislike are absent on both sides
    assert len(keys) < len(set(zip(events.user_codes.tolist(), events.item_codes.tolist())))


def test_the_confidence_matrix_is_the_local_one(built: SparkModel, events: EventArrays) -> None:
    X = local_matrix(events, ConfidenceConfig())
    assert built.X.shape == X.shape
    np.testing.assert_allclose(built.X.toarray(), X.toarray(), rtol=1e-6)


def test_item_neighbours_equal_the_local_cosine_with_shrinkage(
    built: SparkModel, events: EventArrays
) -> None:
    expected = cosine_neighbours(
        local_matrix(events, ConfidenceConfig()), PARAMS.neighbours_k, PARAMS.shrinkage
    )
    np.testing.assert_allclose(built.neighbours.toarray(), expected.toarray(), rtol=1e-5, atol=1e-7)
    # planted tastes: every neighbour is in the item's own group
    rows, cols = built.neighbours.nonzero()
    assert rows.size and (rows // GROUP_ITEMS == cols // GROUP_ITEMS).all()


def test_popularity_equals_the_local_scores(built: SparkModel, events: EventArrays) -> None:
    np.testing.assert_allclose(
        built.popularity, popularity_scores(local_matrix(events, ConfidenceConfig())), rtol=1e-6
    )


def test_als_lists_hold_the_planted_tastes_like_the_local_als(built: SparkModel, events: EventArrays) -> None:
    X = local_matrix(events, ConfidenceConfig())
    touched = sp.csr_matrix((np.ones(len(events)), (events.user_codes, events.item_codes)), shape=X.shape)
    touched.data[:] = 1
    local = ALS(
        factors=PARAMS.factors,
        iterations=PARAMS.iterations,
        regularization=PARAMS.regularization,
        alpha=PARAMS.alpha,
    ).fit(X)
    local_top, _ = recommend_all(local, touched, PARAMS.top_n)
    groups = np.arange(N_USERS)[:, None] * 2 // N_USERS
    for top in (built.top_items, local_top):
        assert (top >= 0).all()  # six untouched items of the own group remain for five slots
        assert (top // GROUP_ITEMS == groups).mean() >= 0.95
        # nothing the shopper touched is recommended
        assert not np.take_along_axis(touched.toarray(), top, axis=1).any()
    overlap = np.mean([len(set(a) & set(b)) / PARAMS.top_n for a, b in zip(built.top_items, local_top)])
    assert overlap >= 0.6
    assert (np.diff(built.top_scores, axis=1) <= 1e-6).all()  # best first
