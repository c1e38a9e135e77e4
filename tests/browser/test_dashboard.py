"""The dashboard in headless Chromium, offline: what an operator reads on each page, what a read key
may not see, and the rebuild button. Screenshots land in test-artifacts/ (the README shows one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.browser.conftest import Page, _serve
from tests.conftest import two_taste_events, wait_for

WRITE, READ = "w-dashboard", "r-dashboard"
TEXTS = "nodes => nodes.map(n => n.textContent.trim())"
SIGN_IN = "button:has-text('Sign in')"
TITLES = {f"i{i}": f"{'Trail' if i < 5 else 'Road'} shoe {i}" for i in range(10)}


def _shop(base: str, headers: dict[str, str]) -> None:
    """Ten shoes in two categories, pictures served by the server itself (so offline), two taste
    groups of shoppers, a model selection, then a few events after it."""
    picture = f"{base}/docs/assets/favicon-32x32.png"
    items = [
        {
            "item_id": item_id,
            "title": title,
            "categories": ["trail" if title.startswith("Trail") else "road"],
            "price": 80 + i,
            "image_url": picture,
        }
        for i, (item_id, title) in enumerate(TITLES.items())
    ]
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        assert client.post("/items", json=items).status_code == 200
        # Spread over the last three days: a history to select a model on, and hours of traffic.
        now = datetime.now(UTC)
        events = two_taste_events()
        for i, event in enumerate(events):
            event["timestamp"] = (now - timedelta(minutes=20 * (len(events) - i))).isoformat()
        assert client.post("/events", json=events).status_code == 202
        assert client.post("/model/rebuild", params={"tune": "true"}).status_code == 202
        wait_for(lambda: client.get("/model").json()["status"] == "ready", timeout=120)
        late = [
            {"user_id": "u0", "item_id": "i2", "type": "purchase"},
            {"user_id": "u3", "item_id": "i7", "type": "view"},
        ]
        assert client.post("/events", json=late).status_code == 202


@pytest.fixture
def shop_server(make_settings: Callable[..., Settings]) -> Iterator[str]:
    settings = make_settings(api_write_keys=[WRITE], api_read_keys=[READ], tune_budget_seconds=10)
    for base in _serve(settings):
        _shop(base, {"X-API-Key": WRITE})
        yield base


@pytest.fixture
def browse(browser: Any, shop_server: str) -> Iterator[Callable[[str | None], Page]]:
    pages: list[Page] = []

    def open_as(key: str | None) -> Page:
        page = Page(browser, shop_server)
        pages.append(page)
        if key is not None:
            page.page.goto(f"{shop_server}/dashboard/login")
            page.page.fill("input[name=key]", key)
            page.page.click(SIGN_IN)
            page.page.wait_for_url(f"{shop_server}/dashboard")
        return page

    yield open_as
    for page in pages:
        assert page.outside == [], f"the dashboard asked for files outside the server: {page.outside}"
        assert page.errors == []
        page.context.close()


def _text(page: Page, selector: str) -> str:
    return str(page.page.inner_text(selector))


def test_a_write_key_sees_model_traffic_and_catalog(browse: Callable[[str | None], Page]) -> None:
    page = browse(WRITE)
    model = _text(page, "#model")
    assert "ready" in model and "Rebuild now" in model
    assert "Holdout NDCG@10" in model and "Time per stage of version" in model
    # The evaluation table of the selection: a row per candidate, its NDCG in a column.
    header = page.page.eval_on_selector_all("table.evaluation tr:first-child th", TEXTS)
    assert header[:2] == ["candidate", "ndcg"]
    assert page.page.locator("table.evaluation tr").count() > 3
    # Charts drawn inline: points of the two version charts, bars of the traffic chart.
    assert page.page.locator("#model svg.chart circle").count() >= 2
    traffic = _text(page, "#traffic")
    assert "events since the last build 2" in traffic.replace("\n", " ").lower()
    assert "view (" in traffic and "purchase (" in traffic
    assert page.page.locator("#traffic svg.chart rect").count() >= 1
    catalog = _text(page, "#catalog")
    assert "trail" in catalog and "road" in catalog and "Trail shoe 0" in catalog
    images = page.page.eval_on_selector_all("#catalog img", "imgs => imgs.map(i => i.naturalWidth)")
    assert images and all(width > 0 for width in images), "the items' pictures did not load"
    page.screenshot("dashboard")


def test_a_shopper_as_a_shop_page_shows_them(browse: Callable[[str | None], Page]) -> None:
    page = browse(WRITE)
    page.page.fill("input[name=user_id]", "u1")
    page.page.click("text=Show shopper")
    page.page.wait_for_selector("#recommendations")
    recommendations = _text(page, "#recommendations")
    assert "Shopper u1" in recommendations and "personalized" in recommendations
    # u1 is of the second taste group: shoes of the second half, by their titles and prices.
    titles = page.page.eval_on_selector_all("#recommendations .card .title", TEXTS)
    assert titles and titles[0] in {TITLES[f"i{i}"] for i in range(5, 10)}
    assert "because you viewed" in recommendations
    assert page.page.locator("#recommendations .price").count() == len(titles)
    history = _text(page, "#history")
    assert "view" in history and "Road shoe" in history
    page.screenshot("dashboard-shopper")

    page.page.goto(f"{page.base}/dashboard/shoppers/u0")  # acted since the build: re-scored at once
    assert "realtime" in _text(page, "#recommendations")


def test_an_item_and_its_similar_items(browse: Callable[[str | None], Page]) -> None:
    page = browse(READ)
    page.page.goto(f"{page.base}/dashboard/items/i6")
    item = _text(page, "#item")
    assert "Road shoe 6" in item and "collaborative" in item
    similar = page.page.eval_on_selector_all("#item .cards:not(.single) .title", TEXTS)
    assert similar and similar[0].startswith("Road shoe")
    page.screenshot("dashboard-item")


def test_a_read_key_sees_the_catalog_and_recommendations_only(
    browse: Callable[[str | None], Page], shop_server: str
) -> None:
    page = browse(READ)
    assert page.page.locator("#model").count() == 0 and page.page.locator("#traffic").count() == 0
    assert "need a write key" in _text(page, "main")
    assert "Trail shoe" in _text(page, "#catalog")
    page.page.goto(f"{shop_server}/dashboard/shoppers/u1")
    assert page.page.locator("#recommendations .card").count() > 0
    assert page.page.locator("#history").count() == 0
    # Even posted by hand, a rebuild needs a write key.
    response = page.page.request.post(f"{shop_server}/dashboard/rebuild")
    assert response.status == 403


def test_without_a_key_the_dashboard_asks_for_one(
    browse: Callable[[str | None], Page], shop_server: str
) -> None:
    page = browse(None)
    page.page.goto(f"{shop_server}/dashboard")
    assert page.page.url.endswith("/dashboard/login")
    page.page.fill("input[name=key]", "not-a-key")
    page.page.click(SIGN_IN)
    assert "not accepted" in _text(page, "main")
    for path in ("/dashboard", "/dashboard/shoppers/u1", "/dashboard/items/i1"):
        response = httpx.get(f"{shop_server}{path}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    assert httpx.post(f"{shop_server}/dashboard/rebuild").status_code == 403


def test_the_rebuild_button(browse: Callable[[str | None], Page], shop_server: str) -> None:
    page = browse(WRITE)
    before = httpx.get(f"{shop_server}/model", headers={"X-API-Key": WRITE}).json()["version"]
    page.page.click("text=Rebuild now")
    page.page.wait_for_url("**/dashboard?rebuild=requested")
    assert "Rebuild requested" in _text(page, "#model")
    wait_for(
        lambda: httpx.get(f"{shop_server}/model", headers={"X-API-Key": WRITE}).json()["version"] > before,
        timeout=60,
    )
    # A form posted from another site is refused, whatever cookie it carries.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    forged = httpx.post(
        f"{shop_server}/dashboard/rebuild", cookies=cookies, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
