"""GET /model, POST /model/rebuild, GET /model/evaluation: versions, failures, atomic swaps, restarts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.schemas.model import EvaluationTable, ModelInfo
from app.config import Settings
from app.main import create_app
from app.services.building import rebuild as rebuild_module
from app.services.building.tuning import DEFAULT_ALGORITHM
from tests.conftest import rebuild, two_taste_events, wait_for

FANS_OF_I9 = [{"user_id": f"fan{k}", "item_id": "i9", "type": "purchase"} for k in range(10)]


def ids(answer: dict[str, Any]) -> list[str]:
    return [it["item_id"] for it in answer["items"]]


def model_info(client: TestClient) -> dict[str, Any]:
    response = client.get("/model")
    assert response.status_code == 200
    body = response.json()
    ModelInfo.model_validate(body)
    return body


def test_model_is_empty_before_any_build(client: TestClient) -> None:
    body = model_info(client)
    assert body["status"] == "empty"
    assert body["version"] is None
    assert body["algorithm"] is None
    assert (body["n_users"], body["n_items"], body["n_events"]) == (0, 0, 0)
    assert body["last_error"] is None


def test_rebuild_with_no_events_serves_nothing_new(client: TestClient) -> None:
    assert client.post("/model/rebuild").json()["status"] in ("scheduled", "running")
    # Wait for the run to finish (no version appears): the store records it as succeeded.
    wait_for(lambda: client.get("/model").json()["status"] != "building")
    body = model_info(client)
    assert body["version"] is None
    assert body["last_error"] is None


def test_rebuild_builds_a_version_and_counts_what_it_saw(client: TestClient) -> None:
    client.post("/events", json=two_taste_events())

    accepted = client.post("/model/rebuild")
    assert accepted.status_code == 202
    assert accepted.json()["status"] in ("scheduled", "running")
    body = wait_for(lambda: (m := client.get("/model").json())["status"] == "ready" and m)

    assert body["version"] == 1
    assert body["algorithm"] == DEFAULT_ALGORITHM
    assert (body["n_users"], body["n_items"], body["n_events"]) == (20, 10, 80)
    assert body["events_since_build"] == 0
    assert body["built_at"] is not None and body["build_seconds"] >= 0
    assert body["last_error"] is None


def test_events_since_build_counts_new_events(client: TestClient) -> None:
    client.post("/events", json=two_taste_events())
    rebuild(client)
    client.post("/events", json=[
        {"event_id": "n1", "user_id": "u0", "item_id": "i5", "type": "view"},
        {"event_id": "n2", "user_id": "new", "item_id": "i1", "type": "view"},
        {"event_id": "n1", "user_id": "u0", "item_id": "i5", "type": "view"},
    ])

    assert model_info(client)["events_since_build"] == 2

    body = rebuild(client)
    assert body["version"] == 2
    assert (body["n_events"], body["n_users"], body["events_since_build"]) == (82, 21, 0)


def test_failed_rebuild_keeps_the_previous_model_and_reports_the_error(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post("/events", json=two_taste_events())
    built = rebuild(client)
    answer = client.get("/users/u0/recommendations").json()

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("fit exploded on purpose")

    monkeypatch.setattr(rebuild_module, "make_model", broken)
    client.post("/events", json={"user_id": "u0", "item_id": "i9", "type": "view"})
    client.post("/model/rebuild")

    failed = wait_for(
        lambda: (m := client.get("/model").json())["last_error"] and m["status"] != "building" and m
    )
    assert "fit exploded on purpose" in failed["last_error"]
    assert "Traceback" not in failed["last_error"]
    assert failed["status"] == "ready"
    assert failed["version"] == built["version"]
    assert failed["events_since_build"] == 1
    after = client.get("/users/u0/recommendations").json()
    assert after["model_version"] == built["version"]
    assert ids(after)[0] == ids(answer)[0] == "i0"

    monkeypatch.undo()
    recovered = rebuild(client)
    assert recovered["version"] == built["version"] + 1
    assert recovered["last_error"] is None


@pytest.fixture
def slow_fit(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Make the next fits block until the test releases them: (entered, release)."""
    entered, release = threading.Event(), threading.Event()
    real = rebuild_module.make_model

    def make_model(*args: Any, **kwargs: Any) -> Any:
        model = real(*args, **kwargs)
        fit = model.fit

        def slow(X: Any) -> Any:
            entered.set()
            assert release.wait(30), "the test never released the fit"
            return fit(X)

        model.fit = slow  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(rebuild_module, "make_model", make_model)
    yield entered, release
    release.set()


def test_serving_keeps_answering_during_a_rebuild(
    client: TestClient, slow_fit: tuple[threading.Event, threading.Event]
) -> None:
    entered, release = slow_fit
    release.set()  # the first build runs freely
    client.post("/events", json=two_taste_events())
    v1 = rebuild(client)["version"]
    release.clear()
    entered.clear()

    client.post("/events", json=FANS_OF_I9)
    assert client.post("/model/rebuild").json()["status"] in ("scheduled", "running")
    assert entered.wait(10)

    building = model_info(client)
    assert building["status"] == "building"
    assert building["version"] == v1
    assert client.post("/model/rebuild").json()["status"] == "running"
    for _ in range(20):
        started = time.monotonic()
        response = client.get("/users/u0/recommendations")
        assert time.monotonic() - started < 1.0
        assert response.status_code == 200
        assert response.json()["model_version"] == v1
        assert ids(response.json())[0] == "i0"
        assert client.get("/popular").status_code == 200
        assert client.get("/items/i1/similar").status_code == 200
    # The fresh purchases already count for the fans, in real time.
    assert client.get("/users/fan0/recommendations").json()["strategy"] == "realtime"

    release.set()
    v2 = wait_for(lambda: (m := client.get("/model").json())["version"] > v1 and m["status"] == "ready" and m)
    assert v2["n_events"] == 90


def test_a_request_sees_one_model_version(
    client: TestClient, slow_fit: tuple[threading.Event, threading.Event]
) -> None:
    entered, release = slow_fit
    release.set()
    client.post("/events", json=two_taste_events())
    v1 = rebuild(client)["version"]
    popular_v1 = ids(client.get("/popular", params={"limit": 3}).json())
    assert "i9" not in popular_v1
    release.clear()

    # After the next build i9 is by far the most popular item.
    client.post("/events", json=FANS_OF_I9)
    client.post("/model/rebuild")
    assert entered.wait(10)
    release.set()

    answers: list[dict[str, Any]] = []
    while not answers or answers[-1]["model_version"] == v1:
        answers.append(client.get("/popular", params={"limit": 3}).json())
        assert len(answers) < 5000, "the new version never arrived"
    for answer in answers:
        if answer["model_version"] == v1:
            assert ids(answer) == popular_v1
        else:
            assert answer["model_version"] == v1 + 1
            assert ids(answer)[0] == "i9"


def test_restart_serves_the_stored_model_at_once(make_client: Any, settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        first.post("/events", json=two_taste_events())
        built = rebuild(first)
        answers = {u: first.get(f"/users/{u}/recommendations").json() for u in ("u0", "u1", "nobody")}
        similar = first.get("/items/i1/similar").json()

    second = make_client()
    restarted = model_info(second)
    assert restarted["version"] == built["version"]
    assert restarted["status"] == "ready"
    assert restarted["n_events"] == 80
    for user, answer in answers.items():
        assert second.get(f"/users/{user}/recommendations").json() == answer
    assert second.get("/items/i1/similar").json() == similar
    # No rebuild ran on start.
    assert model_info(second)["version"] == built["version"]


def test_evaluation_is_an_empty_table_before_tuning(client: TestClient) -> None:
    response = client.get("/model/evaluation")
    assert response.status_code == 200
    assert response.json() == {"created_at": None, "settings": {}, "rows": []}


def test_tuning_selects_a_model_and_reports_metrics(make_client: Any) -> None:
    client = make_client(tune_budget_seconds=0.5)  # estimated seconds: a few candidates
    events = two_taste_events(n_users=40, n_items=12)
    start = datetime.now(UTC) - timedelta(days=30)
    for k, event in enumerate(events):  # spread in time: tuning holds out the newest
        event["timestamp"] = (start + timedelta(hours=k)).isoformat()
    client.post("/events", json=events)

    body = rebuild(client, tune=True)

    metrics = body["metrics"]
    assert metrics["tuned"] is True
    assert metrics["holdout"] and all(isinstance(v, float) for v in metrics["holdout"].values())
    assert body["algorithm"]
    table = client.get("/model/evaluation").json()
    EvaluationTable.model_validate(table)
    assert table["created_at"] is not None
    assert table["rows"]
    assert body["algorithm"] in {row.get("model") for row in table["rows"]}

    # The next plain rebuild keeps serving the tuned winner.
    again = rebuild(client)
    assert again["algorithm"] == body["algorithm"]
    assert again["params"] == body["params"]


def test_rebuild_rejects_a_bad_tune_flag(client: TestClient) -> None:
    assert client.post("/model/rebuild", params={"tune": "sometimes"}).status_code == 422


def test_tuning_on_events_without_a_past_still_builds(client: TestClient) -> None:
    client.post("/events", json=two_taste_events())  # all stamped at reception: one timestamp
    client.post("/model/rebuild", params={"tune": True})

    body = wait_for(lambda: (m := client.get("/model").json())["status"] != "building"
                    and (m["version"] is not None or m["last_error"]) and m)
    assert body["last_error"] is None
    assert body["version"] == 1
