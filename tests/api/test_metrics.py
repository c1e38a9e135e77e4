"""GET /metrics: what it counts, who may scrape it, and its sums over several worker processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import rebuild, two_taste_events

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


RECS = "/users/{user_id}/recommendations"


def test_requests_by_route_and_status_with_latencies(client: TestClient) -> None:
    before = scrape(client)
    for user in ("u0", "u1", "u0"):
        assert client.get(f"/users/{user}/recommendations").status_code == 200  # the fast path
    assert client.get("/users/u0/recommendations?limit=0").status_code == 422  # the route
    assert client.get("/items/nothing-here").status_code == 404
    assert client.get("/no/such/endpoint").status_code == 404
    after = scrape(client)
    requests = "shoprec_http_requests_total"
    assert grew(before, after, requests, route=RECS, method="GET", status="200") == 3
    assert grew(before, after, requests, route=RECS, method="GET", status="422") == 1
    assert grew(before, after, requests, route="/items/{item_id}", method="GET", status="404") == 1
    assert grew(before, after, requests, route="unmatched", method="GET", status="404") == 1
    latency = "shoprec_http_request_duration_seconds"
    assert grew(before, after, f"{latency}_count", route=RECS, method="GET") == 4
    assert grew(before, after, f"{latency}_bucket", route=RECS, method="GET", le="+Inf") == 4
    assert grew(before, after, f"{latency}_sum", route=RECS, method="GET") > 0


def test_events_answers_rebuilds_and_the_model(client: TestClient) -> None:
    before = scrape(client)
    events = [{**e, "event_id": f"e{i}"} for i, e in enumerate(two_taste_events())]
    assert client.post("/events", json=events).status_code == 202
    repeat = [events[0], {"event_id": "fresh", "user_id": "u0", "item_id": "i1", "type": "purchase"}]
    assert client.post("/events", json=repeat).json() == {"accepted": 1, "duplicates": 1}
    model = rebuild(client)

    after = scrape(client)
    n_views = sum(e["type"] == "view" for e in events)
    assert n_views > 0
    assert grew(before, after, "shoprec_events_total", type="view", outcome="accepted") == n_views
    assert grew(before, after, "shoprec_events_total", type=events[0]["type"], outcome="duplicate") == 1
    assert grew(before, after, "shoprec_events_total", type="purchase", outcome="accepted") >= 1
    assert grew(before, after, "shoprec_rebuilds_total", outcome="built") == 1
    assert grew(before, after, "shoprec_rebuild_duration_seconds_count", outcome="built") == 1
    for stage in ("read", "fit", "persist"):
        assert grew(before, after, "shoprec_rebuild_stage_duration_seconds_count", stage=stage) == 1
    assert value(after, "shoprec_model_version") == model["version"]
    assert 0 <= value(after, "shoprec_model_age_seconds") < 600

    # Answers: computed once, then from the answer cache; an event since the build re-scores.
    for _ in range(3):
        assert client.get("/users/u0/recommendations?limit=3").status_code == 200
    client.post("/events", json={"user_id": "u2", "item_id": "i3", "type": "view"})
    assert client.get("/users/u2/recommendations?limit=3").json()["strategy"] == "realtime"
    last = scrape(client)
    answers = "shoprec_recommendation_answers_total"
    assert grew(after, last, answers, source="computed") == 2
    assert grew(after, last, answers, source="cache") == 2
    assert grew(after, last, "shoprec_realtime_rescores_total") == 1


def test_scraping_needs_a_write_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_write_keys=["w-secret"], api_read_keys=["r-public"])
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "r-public"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer r-public"}).status_code == 403
    assert client.get("/metrics", headers={"X-API-Key": "w-secret"}).status_code == 200
    # Prometheus' `authorization` block sends the key as a bearer token.
    assert scrape(client, Authorization="Bearer w-secret")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_several_workers_are_summed(database_url: str, tmp_path: Path) -> None:
    """`shoprec serve --workers 2`: whichever worker answers the scrape reports every worker's requests."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("API_", "PROMETHEUS"))},
        "DATABASE_URL": database_url,
        "SHOPREC_DATA_DIR": str(tmp_path),
        "REBUILD_INTERVAL_SECONDS": "0",
    }
    runner = "import sys; from app.cli import main; sys.argv[0] = 'shoprec'; sys.exit(main())"
    server = subprocess.Popen(
        [sys.executable, "-c", runner, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1][-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        n = 0
        workers_seen = set()  # the request ids' prefix is the worker's
        while n < 40 or (len(workers_seen) < 2 and n < 1000):
            # A new connection each time, so that both workers take some.
            response = httpx.get(f"{base}/healthz", headers={"Connection": "close"}, timeout=5)
            assert response.status_code == 200
            workers_seen.add(response.headers["x-request-id"].split("-")[0])
            n += 1
        labels = {"route": "/healthz", "method": "GET", "status": "200"}

        def total() -> float:
            samples = parse(httpx.get(f"{base}/metrics", timeout=5).text)
            return value(samples, "shoprec_http_requests_total", **labels)

        # The other worker hands its counts over at its next poll (POLL_INTERVAL_SECONDS, 0.5 s).
        deadline = time.monotonic() + 20
        while total() < n:
            assert time.monotonic() < deadline, "requests of a worker are missing from the sum"
            time.sleep(0.2)
        time.sleep(1.5)
        # Then every scrape, whichever worker answers it, reports all the requests (the start-up
        # probes' included), and no more.
        totals = {total() for _ in range(6)}
        assert len(totals) == 1 and totals.pop() >= n
        assert len(workers_seen) == 2, "one worker took every connection; the sum was not tested"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
