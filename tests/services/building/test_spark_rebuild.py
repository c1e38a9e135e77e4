"""`REBUILD_ENGINE=spark` through the API: a rebuild on Spark `local[2]` serves like a local one
(SQLite stores hand the job Parquet files, PostgreSQL stores are read over JDBC), and a master that
does not answer fails the rebuild while the previous model keeps serving."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import POSTGRES_URL, two_taste_events, wait_for

pytest.importorskip("pyspark")

JDBC_JAR = Path("/usr/share/java/postgresql.jar")


# A JVM start and a Spark job take seconds on an idle machine, minutes on a busy one.
SPARK_TIMEOUT = 900.0


def rebuild(client: TestClient, timeout: float = 30.0) -> dict[str, object]:
    """Request a rebuild and wait until a newer model version serves; returns GET /model."""
    before = client.get("/model").json()["version"] or 0
    assert client.post("/model/rebuild").status_code == 202

    def built() -> dict[str, object] | None:
        model = client.get("/model").json()
        assert model["last_error"] is None, model["last_error"]
        return model if (model["version"] or 0) > before and model["status"] == "ready" else None

    return wait_for(built, timeout=timeout, interval=0.5)  # type: ignore[no-any-return]


def failed(client: TestClient) -> Callable[[], dict[str, object] | None]:
    """GET /model once the requested rebuild has failed and nothing is building."""

    def model() -> dict[str, object] | None:
        m = client.get("/model").json()
        return m if m["last_error"] and m["status"] != "building" else None

    return model


def spark_settings(**overrides: object) -> dict[str, object]:
    return {"rebuild_engine": "spark", "spark_master": "local[2]", "spark_partitions": 2, **overrides}


@pytest.mark.skipif(
    bool(POSTGRES_URL) and not JDBC_JAR.exists(), reason="the PostgreSQL JDBC driver is not installed"
)
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_a_spark_rebuild_serves_the_planted_tastes(make_client: Callable[..., TestClient]) -> None:
    client = make_client(**spark_settings())
    events = two_taste_events(n_users=40, n_items=10)
    assert client.post("/events", json=events).status_code == 202
    model = rebuild(client, timeout=SPARK_TIMEOUT)
    assert model["engine"] == "spark"
    assert model["algorithm"] == "als"
    assert model["n_events"] == len(events)
    assert model["n_users"] == 40 and model["n_items"] == 10
    touched: dict[str, set[str]] = {}
    for e in events:
        touched.setdefault(e["user_id"], set()).add(e["item_id"])
    for user in ("u0", "u1", "u6"):
        answer = client.get(f"/users/{user}/recommendations", params={"limit": 3}).json()
        assert answer["strategy"] == "personalized"
        assert answer["model_version"] == model["version"]
        assert not {i["item_id"] for i in answer["items"]} & touched[user]
    similar = client.get("/items/i0/similar", params={"limit": 3}).json()["items"]
    assert similar and all(int(s["item_id"][1:]) < 5 for s in similar)


def test_an_unreachable_master_fails_the_rebuild_and_the_model_keeps_serving(
    make_client: Callable[..., TestClient],
) -> None:
    local = make_client()
    assert local.post("/events", json=two_taste_events()).status_code == 202
    built = rebuild(local)
    before = local.get("/users/u0/recommendations").json()
    local.__exit__(None, None, None)

    client = make_client(**spark_settings(spark_master="spark://127.0.0.1:9"))
    assert client.post("/model/rebuild").status_code == 202
    model = wait_for(failed(client), timeout=60)
    assert "spark://127.0.0.1:9" in model["last_error"] and "unreachable" in model["last_error"]
    assert model["version"] == built["version"] and model["status"] == "ready"
    assert model["engine"] == "local"  # the serving model is still the locally built one
    assert client.get("/users/u0/recommendations").json()["items"] == before["items"]


def test_other_algorithms_are_refused_on_spark(make_client: Callable[..., TestClient]) -> None:
    client = make_client(**spark_settings(algorithm="ease"))
    assert client.post("/events", json=two_taste_events()).status_code == 202
    assert client.post("/model/rebuild").status_code == 202
    model = wait_for(failed(client), timeout=60)
    assert "ALGORITHM=ease needs REBUILD_ENGINE=local" in model["last_error"]
    assert model["version"] is None
