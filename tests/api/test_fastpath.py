"""The recommendations fast path answers exactly as the documented route: one parser, one key check,
one error mapping; and it keeps nothing of what a refused or malformed request sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from app.api import fastpath
from app.api.fastpath import RecommendationsFastPath, query_of
from app.api.keys import ApiKeys
from app.api.middleware import Deadlines
from app.api.routes import recommendations as routes
from app.config import Settings
from app.main import create_app
from app.services.serving import recommend
from app.services.serving.recommend import Query
from tests.conftest import rebuild, two_taste_events

WRITE, READ = "w-secret", "r-public"
PATH = "/users/u1/recommendations"


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        (PATH, b"", Query("u1", None, 0, None, True)),  # the limit: the placement's, or 10
        ("/users/u 1/recommendations", b"limit=5&offset=3", Query("u 1", 5, 3, None, True)),
        (PATH, b"category=run%20ning&exclude_seen=False", Query("u1", None, 0, "run ning", False)),
        (PATH, b"exclude_seen=1&limit=100", Query("u1", 100, 0, None, True)),
        (PATH, b"&limit=7&&category=", Query("u1", 7, 0, "", True)),
        (PATH, b"category=a+b&limit=2", Query("u1", 2, 0, "a b", True)),
        # The route's own reading of a query: unknown keys ignored, the last repeated key wins,
        # and an integer as pydantic reads one (signs, blanks around it, a zero fraction).
        (PATH, b"unknown=1&limit=3", Query("u1", 3)),
        (PATH, b"limit=abc&limit=4", Query("u1", 4)),
        (PATH, b"limit=+5", Query("u1", 5)),
        (PATH, b"limit=%205%20", Query("u1", 5)),
        (PATH, b"limit=5.0", Query("u1", 5)),
        (
            PATH,
            b"placement=home&exclude=i1,i2",
            Query("u1", None, 0, None, True, "home", frozenset({"i1", "i2"})),
        ),
    ],
)
def test_queries_the_route_accepts_take_the_fast_path(path: str, query: bytes, expected: Query) -> None:
    assert query_of(path, query) == expected


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/users//recommendations", b""),
        ("/users/ u1/recommendations", b""),
        ("/users/a/b/recommendations", b""),
        ("/users/" + "x" * 129 + "/recommendations", b""),
        ("/users/u1\n/recommendations", b""),  # `$` would match before the newline; the route refuses
        (PATH, b"limit=0"),
        (PATH, b"limit=101"),
        (PATH, b"limit=-1"),
        (PATH, b"limit=4&limit=abc"),
        (PATH, b"limit=%D9%A5"),  # an Arabic-Indic five: a digit to `str.isdigit`, not to the route
        (PATH, b"limit=%EF%BC%95"),  # a full-width five
        (PATH, b"offset=1001"),
        (PATH, b"exclude_seen=maybe"),
        (PATH, b"category=" + b"c" * 129),
        (PATH, b"exclude=a,,b"),
        (PATH, b"exclude=" + b",".join(b"i%d" % k for k in range(101))),
        (PATH, b"placement=%20home"),
    ],
)
def test_what_the_route_refuses_goes_to_the_route(path: str, query: bytes) -> None:
    assert query_of(path, query) is None


# --- what is kept ------------------------------------------------------------------------------


def _fast(keys: ApiKeys) -> RecommendationsFastPath:
    """The fast path alone in front of an app that answers 404, with a runtime in its state."""

    async def route(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return RecommendationsFastPath(route, keys=keys, deadlines=Deadlines(30))


def _call(fast: RecommendationsFastPath, path: str, query: bytes, key: bytes | None = None) -> int:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    headers = [] if key is None else [(b"x-api-key", key)]
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query,
        "headers": headers,
        "state": {"runtime": object()},
    }
    asyncio.run(fast(scope, receive, send))
    return int(sent[0]["status"])


def test_only_accepted_requests_are_remembered_and_the_memo_is_bounded_by_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answered: list[Query] = []
    monkeypatch.setattr(recommend, "answer", lambda runtime, q: answered.append(q) or b"{}")
    monkeypatch.setattr(fastpath, "PARSED_URL_BYTES", 3 * (len(PATH) + 7 + fastpath.ENTRY_OVERHEAD))
    fast = _fast(ApiKeys(write=(b"w",), read=(b"r",)))
    for key in (None, b"", b"wrong"):  # refused: falls through, nothing kept
        assert _call(fast, PATH, b"limit=5", key) == 404
    assert _call(fast, PATH, b"limit=0", b"r") == 404  # malformed: falls through, nothing kept
    assert _call(fast, PATH, b"z=" + b"a" * 60_000, b"r") == 200  # answered, too long to keep
    assert fast._parsed == {} and answered == [Query("u1")]
    for n in range(1, 4):
        assert _call(fast, PATH, b"limit=%d" % n, b"r") == 200
    assert len(fast._parsed) == 3
    assert _call(fast, PATH, b"limit=1", b"w") == 200  # a hit
    assert _call(fast, PATH, b"limit=4", b"r") == 200  # over the budget: the memo starts over
    assert list(fast._parsed.values()) == [Query("u1", 4)]
    assert fast._parsed_bytes == len(PATH) + 7 + fastpath.ENTRY_OVERHEAD


# --- the fast path and the route answer alike ----------------------------------------------------


def _without_fast_path(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, fast_path=False), raise_server_exceptions=False)


@pytest.fixture
def twins(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> Iterator[tuple[TestClient, TestClient]]:
    """The app, and the same app on the same store without its fast path (the route alone), both
    serving one model built from two taste groups."""
    keyed = {"api_write_keys": [WRITE], "api_read_keys": [READ]}
    fast = make_client(**keyed)
    headers = {"X-API-Key": WRITE}
    fast.post("/items", json=[{"item_id": f"i{k}", "categories": ["red", "blue"][k % 2]} for k in range(10)],
              headers=headers)
    fast.post("/events", json=two_taste_events(), headers=headers)
    fast.headers.update(headers)
    rebuild(fast)
    fast.headers.pop("X-API-Key")
    with _without_fast_path(make_settings(**keyed)) as routed:
        assert routed.get("/model", headers=headers).json()["version"] == fast.get(
            "/model", headers=headers
        ).json()["version"]
        yield fast, routed


def _same(fast: TestClient, routed: TestClient, url: str, headers: list[tuple[str, str]]) -> int:
    a = fast.get(url, headers=headers)
    b = routed.get(url, headers=headers)
    assert (a.status_code, a.content) == (b.status_code, b.content), url
    strip = ("date", "x-request-id")  # each answer's own
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    assert [h for h in a.headers.multi_items() if h[0] not in strip] == [
        h for h in b.headers.multi_items() if h[0] not in strip
    ], url
    return a.status_code


_SEGMENTS = ["u0", "u1", "u3", "nobody", "a b", " u0", "u0 ", "u0%0A", "%D9%A5", "x" * 128, "x" * 129,
             "u%2F0", "%C3%BC", "%FF", "", "%00", "u+0"]
_KEYS = ["limit", "offset", "category", "exclude_seen", "user_id", "z", "", " limit", "LIMIT", "limit[]"]
_VALUES = ["5", "1", "100", "0", "101", "1000", "1001", "-1", "+5", " 5", "5.0", "1_0", "05", "",
           "%D9%A5", "%EF%BC%95", "%E2%80%AF5", "٥", "true", "False", "no", "maybe", "red", "blue",
           "a+b", "%zz", "%", "c" * 128, "c" * 129]


def _percent(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


_part = st.one_of(
    st.sampled_from(_VALUES),
    st.text(st.characters(codec="utf-8"), max_size=6).map(_percent),
    st.text(alphabet="0123456789+-. _%&=;abc", max_size=6),
)
_pair = st.tuples(st.sampled_from(_KEYS) | _part, _part, st.booleans()).map(
    lambda p: f"{p[0]}={p[1]}" if p[2] else p[0]
)
_query = st.lists(_pair, max_size=5).map("&".join)
_segment = st.sampled_from(_SEGMENTS) | st.text(st.characters(codec="utf-8"), min_size=1, max_size=4).map(
    _percent
)
_key_headers = st.lists(st.sampled_from([READ, WRITE, "wrong", "", READ + "x", READ.upper()]), max_size=2)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=_segment, query=_query, keys=_key_headers)
def test_fast_path_and_route_answer_alike(
    twins: tuple[TestClient, TestClient], segment: str, query: str, keys: list[str]
) -> None:
    fast, routed = twins
    url = f"/users/{segment}/recommendations" + (f"?{query}" if query else "")
    _same(fast, routed, url, [("X-API-Key", k) for k in keys])


@pytest.mark.parametrize(
    ("url", "status"),
    [
        # Issue 13's divergences: each used to get 200 from the fast path and 422 from the route.
        ("/users/u0/recommendations?limit=%D9%A5", 422),
        ("/users/u0/recommendations?limit=%EF%BC%95", 422),
        ("/users/user-00042%0A/recommendations", 422),
        ("/users/u0/recommendations?limit=3", 200),
        ("/users/u0/recommendations?limit=3&limit=0", 422),
    ],
)
def test_former_divergences(twins: tuple[TestClient, TestClient], url: str, status: int) -> None:
    fast, routed = twins
    assert _same(fast, routed, url, [("X-API-Key", READ)]) == status
    if status == 422:
        answer = fast.get(url, headers={"X-API-Key": READ})
        assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 401), (READ, 200), (WRITE, 200)])
def test_keys_answer_alike(twins: tuple[TestClient, TestClient], key: str | None, status: int) -> None:
    fast, routed = twins
    headers = [] if key is None else [("X-API-Key", key)]
    assert _same(fast, routed, "/users/u0/recommendations", headers) == status


def test_ping_is_not_served(twins: tuple[TestClient, TestClient]) -> None:
    # It used to answer a constant without a key, outside the API; the serving benchmark's floor
    # is now a bare app of its own (benchmarks/serving.py).
    fast, _ = twins
    for key in (None, READ):
        answer = fast.get("/ping", headers={} if key is None else {"X-API-Key": key})
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
    assert "/ping" not in fast.get("/openapi.json").json()["paths"]


def test_a_store_error_is_answered_as_the_route_answers_it(
    twins: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, routed = twins
    calls: list[Query] = []

    def unavailable(runtime: Any, query: Query) -> bytes:
        calls.append(query)
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(recommend, "answer", unavailable)
    assert _same(fast, routed, "/users/u0/recommendations", [("X-API-Key", READ)]) == 503
    assert len(calls) == 2  # once in each app: the fast path answered it, not the route behind it
    answer = fast.get("/users/u0/recommendations", headers={"X-API-Key": READ})
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["content-type"] == "application/problem+json"

    def broken(runtime: Any, query: Query) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(recommend, "answer", broken)
    assert _same(fast, routed, "/users/u0/recommendations", [("X-API-Key", READ)]) == 500


def test_the_fast_path_answers_what_it_can(
    twins: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, _ = twins
    routed: list[str] = []
    parse = routes.parse_recommendations_query

    def counting(user_id: str, query_string: bytes) -> Query:
        routed.append(user_id)
        return parse(user_id, query_string)

    monkeypatch.setattr(routes, "parse_recommendations_query", counting)
    for key in (READ, WRITE):
        assert fast.get(PATH, params={"limit": 3, "trace": 1}, headers={"X-API-Key": key}).status_code == 200
    assert routed == []
    assert fast.get(PATH, params={"limit": 0}, headers={"X-API-Key": READ}).status_code == 422
    assert fast.get(PATH, headers={"X-API-Key": "wrong"}).status_code == 401
    assert routed == ["u1"]  # the refused query went to the route (the wrong key stopped earlier)
