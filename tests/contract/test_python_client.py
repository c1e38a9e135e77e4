"""A Python client generated from /openapi.json by `openapi-python-client`, as a shop's backend
team would generate it, drives a real `shoprec serve` (API keys on) through every operation of
the document. The client is generated here, never committed: an operation the generator skips,
a model it cannot parse or an answer that does not fit its documented schema fails the test, and
so does an operation of the document that this test does not call."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app.config import Settings
from app.main import create_app
from tests.servers import Server

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
WRITE_KEY, READ_KEY = "client-write-key", "client-read-key"
PACKAGE = "shoprec_client"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(_env_file=None, api_write_keys=[WRITE_KEY], api_read_keys=[READ_KEY])  # type: ignore[call-arg]
    return create_app(settings).openapi()


@pytest.fixture(scope="module")
def client_package(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("generated")
    spec = root / "openapi.json"
    spec.write_text(json.dumps(document))
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The generator warns, and goes on, when it cannot generate an endpoint or a model.
    assert "Warning" not in output and "will not be generated" not in output, output
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


class Driver:
    """Calls operations of the generated client by their operation id and remembers which ran."""

    def __init__(self, package: ModuleType, base_url: str) -> None:
        self.package = package
        self.writer = self._client(base_url, WRITE_KEY)
        self.reader = self._client(base_url, READ_KEY)
        self.called: set[str] = set()

    def _client(self, base_url: str, key: str) -> Any:
        return self.package.AuthenticatedClient(
            base_url=base_url,
            token=key,
            prefix="",
            auth_header_name="X-API-Key",
            raise_on_unexpected_status=True,
        )

    def model(self, name: str) -> Any:
        return getattr(importlib.import_module(f"{PACKAGE}.models"), name)

    def __call__(
        self, tag: str, operation_id: str, *args: Any, as_reader: bool = False, **kwargs: Any
    ) -> Any:
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")
        self.called.add(operation_id)
        return module.sync_detailed(*args, client=self.reader if as_reader else self.writer, **kwargs)


@pytest.fixture
def driver(client_package: ModuleType, database_url: str, tmp_path: Path) -> Iterator[Driver]:
    server = Server(
        database_url,
        tmp_path / "server",
        API_WRITE_KEYS=WRITE_KEY,
        API_READ_KEYS=READ_KEY,
        REBUILD_INTERVAL_SECONDS=0,  # no timed rebuilds: the driver asks for the ones it needs
    ).wait_ready()
    try:
        yield Driver(client_package, server.url)
    finally:
        server.kill()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
    return value


def test_the_generated_client_drives_every_operation(driver: Driver, document: dict[str, Any]) -> None:
    call, model = driver, driver.model
    EventIn, EventInType, ItemFields, ItemIn, UserIn = (  # noqa: N806 (generated classes)
        model("EventIn"),
        model("EventInType"),
        model("ItemFields"),
        model("ItemIn"),
        model("UserIn"),
    )
    ProblemDetails = model("ProblemDetails")  # noqa: N806

    assert call("health", "healthz").status_code == 200
    assert call("health", "readyz").status_code == 200

    # The catalog: one item, a bulk of twelve, reads and a page.
    shoe = call(
        "items", "put_item", "sku-1", body=ItemFields(title="Trail shoe", categories=["running"], price=89.9)
    )
    assert shoe.status_code == 200 and shoe.parsed.price == 89.9 and shoe.parsed.categories == ["running"]
    bulk = [ItemIn(item_id=f"sku-{i}", categories=["running" if i % 2 else "hiking"]) for i in range(2, 14)]
    assert call("items", "post_items", body=bulk).parsed.upserted == 12
    got = call("items", "get_item", "sku-1", as_reader=True)
    assert got.status_code == 200 and got.parsed.title == "Trail shoe"
    page = call("items", "list_items", category="running", limit=3, as_reader=True).parsed
    assert len(page.items) == 3 and isinstance(page.next_cursor, str)
    rest = call("items", "list_items", category="running", limit=100, cursor=page.next_cursor).parsed
    assert len(page.items) + len(rest.items) == 7 and rest.next_cursor is None

    # Shoppers and what they do: one event, then a batch, in both shapes the body allows.
    assert (
        call(
            "users", "put_user", "u-1", body=UserIn.from_dict({"attributes": {"segment": "vip"}})
        ).status_code
        == 200
    )
    one = EventIn(user_id="u-1", item_id="sku-1", type_=EventInType.VIEW, timestamp=datetime.now(UTC))
    assert call("events", "post_events", body=one).parsed.accepted == 1
    batch = [
        EventIn(
            user_id=f"u-{u}",
            item_id=f"sku-{(u + k) % 13 + 1}",
            type_=EventInType.PURCHASE,
            event_id=f"e-{u}-{k}",
        )
        for u in range(1, 21)
        for k in range(4)
    ]
    accepted = call("events", "post_events", body=batch).parsed
    assert (accepted.accepted, accepted.duplicates) == (80, 0)
    history = call("users", "user_events", "u-1", limit=10).parsed
    assert len(history) == 5 and history[0].timestamp >= history[-1].timestamp
    user = call("users", "get_user", "u-1").parsed
    assert user.attributes.additional_properties == {"segment": "vip"} and user.event_counts["purchase"] == 4

    # The model: a rebuild, its status, the evaluation table, then what it serves.
    assert call("model", "post_rebuild").status_code == 202
    status = wait_for(lambda: (m := call("model", "get_model").parsed).status == "ready" and m.version and m)
    assert status.n_events == 81
    assert call("model", "get_evaluation").status_code == 200
    recs = call("recommendations", "user_recommendations", "u-1", limit=5, as_reader=True).parsed
    assert recs.user_id == "u-1" and 0 < len(recs.items) <= 5
    assert all(item.item_id != "sku-1" for item in recs.items)  # seen, so excluded by default
    similar = call("items", "similar_items", "sku-2", limit=3, as_reader=True).parsed
    assert similar.item_id == "sku-2" and len(similar.items) <= 3
    popular = call("recommendations", "popular_items", limit=3, category="hiking", as_reader=True).parsed
    assert 0 < len(popular.items) <= 3

    # Prometheus metrics: text for a write key, refused to a read key.
    scraped = call("operations", "get_metrics")
    assert scraped.status_code == 200 and b"shoprec_events_total" in scraped.content
    assert call("operations", "get_metrics", as_reader=True).status_code == 403

    # Merchandising: a placement, a basket, trending items, an anonymous session merged on login.
    rules = [{"filter": {"category_in": ["running"]}}, {"diversity": {"max_per_category": 2}}]
    placement = model("PlacementIn").from_dict({"limit": 3, "rules": rules})
    put = call("placements", "put_placement", "home", body=placement)
    assert put.status_code == 200 and put.parsed.version == 1
    assert call("placements", "get_placement", "home").parsed.limit == 3
    placed = call("recommendations", "user_recommendations", "u-1", placement="home", as_reader=True).parsed
    assert placed.placement.name == "home" and 0 < len(placed.items) <= 3
    basket = model("BasketIn").from_dict({"items": ["sku-2"], "user_id": "u-1", "limit": 3})
    completed = call("recommendations", "basket_recommendations", body=basket, as_reader=True)
    assert completed.status_code == 200 and len(completed.parsed.items) == 3
    assert call("recommendations", "trending_items", as_reader=True).status_code == 200
    visit = EventIn(session_id="s-1", item_id="sku-3", type_=EventInType.VIEW)
    assert call("events", "post_events", body=visit).parsed.accepted == 1
    anonymous = call("recommendations", "session_recommendations", "s-1", limit=3, as_reader=True).parsed
    assert anonymous.session_id == "s-1" and len(anonymous.items) <= 3
    merged = call("users", "merge_session", "u-2", body=model("MergeIn")(session_id="s-1")).parsed
    assert merged.merged == 1

    # Problems come back as the documented ProblemDetails.
    refused = call("items", "put_item", "sku-1", body=ItemFields(price=1.0), as_reader=True)
    assert refused.status_code == 403 and isinstance(refused.parsed, ProblemDetails)
    missing = call("items", "get_item", "no-such-item")
    assert missing.status_code == 404 and isinstance(missing.parsed, ProblemDetails)
    invalid = call(
        "events", "post_events", body=EventIn(user_id="u-1", item_id="sku-1", type_=EventInType.RATING)
    )
    assert invalid.status_code == 422 and invalid.parsed.errors[0].field == "body[0]"

    # Deletes.
    assert call("items", "delete_item", "sku-13").status_code == 204
    assert call("items", "get_item", "sku-13").status_code == 404
    assert call("users", "delete_user", "u-20").status_code == 204
    assert call("users", "get_user", "u-20").status_code == 404

    every = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert driver.called == every, (
        f"operations of the document this test does not call: {every - driver.called}"
    )
