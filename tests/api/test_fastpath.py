"""The recommendations fast path answers exactly as the documented route."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api import fastpath
from app.api.fastpath import RecommendationsFastPath, parse
from app.services.serving import recommend
from app.services.serving.recommend import Query
from tests.conftest import rebuild, two_taste_events


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/users/u1/recommendations", b"", Query("u1", 10, 0, None, True)),
        ("/users/u 1/recommendations", b"limit=5&offset=3", Query("u 1", 5, 3, None, True)),
        (
            "/users/u1/recommendations",
            b"category=run%20ning&exclude_seen=False",
            Query("u1", 10, 0, "run ning", False),
        ),
        ("/users/u1/recommendations", b"exclude_seen=1&limit=100", Query("u1", 100, 0, None, True)),
        # Split by hand when nothing is escaped; blank parts are skipped, as parse_qsl does.
        ("/users/u1/recommendations", b"&limit=7&&category=", Query("u1", 7, 0, "", True)),
        ("/users/u1/recommendations", b"category=a+b&limit=2", Query("u1", 2, 0, "a b", True)),
    ],
)
def test_well_formed_queries_take_the_fast_path(path: str, query: bytes, expected: Query) -> None:
    assert parse(path, query) == expected


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/users//recommendations", b""),
        ("/users/ u1/recommendations", b""),
        ("/users/a/b/recommendations", b""),
        ("/users/" + "x" * 129 + "/recommendations", b""),
        ("/users/u1/recommendations", b"limit=0"),
        ("/users/u1/recommendations", b"limit=101"),
        ("/users/u1/recommendations", b"limit=-1"),
        ("/users/u1/recommendations", b"offset=1001"),
        ("/users/u1/recommendations", b"exclude_seen=maybe"),
        ("/users/u1/recommendations", b"unknown=1"),
    ],
)
def test_anything_else_falls_through_to_the_route(path: str, query: bytes) -> None:
    assert parse(path, query) is None


def test_each_url_is_parsed_once_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []

    def counting_parse(path: str, query: bytes) -> Query | None:
        parsed.append(query)
        return parse(path, query)

    monkeypatch.setattr(fastpath, "parse", counting_parse)
    monkeypatch.setattr(fastpath, "PARSED_URLS", 2)
    fast = RecommendationsFastPath(app=None)  # type: ignore[arg-type]
    path = "/users/u1/recommendations"
    assert fast._parse(path, b"limit=5") == Query("u1", 5)
    assert fast._parse(path, b"limit=5") == Query("u1", 5)
    assert fast._parse(path, b"limit=0") is None  # a refusal is remembered too
    assert fast._parse(path, b"limit=0") is None
    assert parsed == [b"limit=5", b"limit=0"]
    assert fast._parse(path, b"limit=6") == Query("u1", 6)  # a third URL: the memo starts over
    assert len(fast._parsed) == 1
    assert fast._parse(path, b"limit=5") == Query("u1", 5)
    assert parsed == [b"limit=5", b"limit=0", b"limit=6", b"limit=5"]


def _fast_answers(monkeypatch: pytest.MonkeyPatch) -> list[Query]:
    """The queries the fast path answers from now on."""
    answered: list[Query] = []

    def counting_answer(runtime: Any, query: Query) -> bytes:
        answered.append(query)
        return recommend.answer(runtime, query)

    monkeypatch.setattr(fastpath, "recommend", SimpleNamespace(answer=counting_answer, Query=Query))
    return answered


def test_a_well_formed_request_is_answered_by_the_fast_path(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = _fast_answers(monkeypatch)
    assert client.get("/users/u0/recommendations", params={"limit": 3}).status_code == 200
    assert answered == [Query("u0", 3)]
    assert client.get("/users/u0/recommendations", params={"trace": "1"}).status_code == 200
    assert len(answered) == 1  # that one went to the route


def test_with_keys_only_an_accepted_key_takes_the_fast_path(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(api_write_keys=["w-secret"], api_read_keys=["r-public"])
    answered = _fast_answers(monkeypatch)
    for key in ("r-public", "w-secret"):
        assert client.get("/users/u0/recommendations", headers={"X-API-Key": key}).status_code == 200
    # Refused here; the route answers them with its problem details.
    assert client.get("/users/u0/recommendations").status_code == 401
    assert client.get("/users/u0/recommendations", headers={"X-API-Key": "r-wrong"}).status_code == 401
    assert answered == [Query("u0"), Query("u0")]


def test_fast_path_and_route_give_the_same_answer(client: TestClient) -> None:
    client.post("/events", json=two_taste_events())
    rebuild(client)
    for params in ({}, {"limit": 3, "offset": 1}, {"exclude_seen": "false"}, {"category": "none"}):
        fast = client.get("/users/u0/recommendations", params=params).json()
        # An extra (ignored) parameter makes the request fall through to the FastAPI route.
        routed = client.get("/users/u0/recommendations", params={**params, "trace": "1"}).json()
        assert fast == routed
    assert client.get("/users/u0/recommendations", params={"limit": 0}).status_code == 422
