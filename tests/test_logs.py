"""Logs an operator can ship: request ids on every answer, and LOG_FORMAT=json from a real server."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.config import Settings
from app.logs import JsonFormatter, RequestIdFilter, logging_config, request_id


def test_every_answer_carries_its_own_request_id(client: TestClient) -> None:
    answers = [
        client.get("/users/u1/recommendations"),  # the fast path
        client.get("/users/u1/recommendations?limit=0"),  # the route's 422
        client.get("/healthz"),
        client.get("/no/such/endpoint"),
        client.post("/events", content=b"x" * (11 * 1024 * 1024)),  # the limits' 413
    ]
    ids = [a.headers.get("x-request-id") for a in answers]
    assert [a.status_code for a in answers] == [200, 422, 200, 404, 413]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_client_cannot_choose_the_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "forged"})
    assert response.headers["x-request-id"] != "forged"


def test_json_formatter_writes_one_object_with_the_request_id() -> None:
    record = logging.LogRecord("shoprec.test", logging.WARNING, __file__, 1, "rebuilt %s", ("v3",), None)
    record.stage = "fit"
    token = request_id.set(b"abc-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "shoprec.test"
    assert entry["message"] == "rebuilt v3" and entry["request_id"] == "abc-1" and entry["stage"] == "fit"
    assert entry["time"].endswith("+00:00")


def test_exceptions_stay_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exception"]


def test_human_readable_is_the_default() -> None:
    config = logging_config(Settings(_env_file=None))  # type: ignore[call-arg]
    assert "format" in config["formatters"]["default"]
    json_config = logging_config(Settings(_env_file=None, log_format="json"))  # type: ignore[call-arg]
    assert json_config["formatters"]["default"] == {"()": "app.logs.JsonFormatter"}


def test_a_json_logging_server(database_url: str, tmp_path: Path) -> None:
    """`LOG_FORMAT=json shoprec serve`: uvicorn's lines and shoprec's are all JSON, and the access
    line of a request carries the id its answer returned."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("API_", "LOG_", "PROMETHEUS"))},
        "DATABASE_URL": database_url,
        "SHOPREC_DATA_DIR": str(tmp_path),
        "REBUILD_INTERVAL_SECONDS": "0",
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "true",
    }
    runner = "import sys; from app.cli import main; sys.argv[0] = 'shoprec'; sys.exit(main())"
    log_file = tmp_path / "server.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", runner, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log_file.read_text()[-3000:]
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/users/u9/recommendations", timeout=2)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)
            assert response.status_code == 200
            rid = response.headers["x-request-id"]
            deadline = time.monotonic() + 10
            while rid not in log_file.read_text():
                assert time.monotonic() < deadline, log_file.read_text()[-3000:]
                time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    entries = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    loggers = {e["logger"] for e in entries}
    assert "uvicorn.error" in loggers and "shoprec" in loggers  # the server's start and the open-API warning
    (access,) = [e for e in entries if e.get("request_id") == rid]
    assert access["logger"] == "shoprec.access"
    assert access["path"] == "/users/u9/recommendations" and access["status"] == 200
