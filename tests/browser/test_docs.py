"""/docs renders every operation of the OpenAPI document with no network beyond the server."""

from __future__ import annotations

import httpx

from tests.browser.conftest import Page


def test_docs_render_every_operation_offline(page: Page) -> None:
    spec = httpx.get(f"{page.base}/openapi.json").json()
    expected = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert len(expected) > 10

    page.page.goto(f"{page.base}/docs")
    page.page.wait_for_selector(".opblock", timeout=30_000)
    rendered = page.page.eval_on_selector_all(
        ".opblock-summary",
        """blocks => blocks.map(b => [
            b.querySelector('.opblock-summary-method').textContent.trim(),
            b.querySelector('.opblock-summary-path').getAttribute('data-path'),
        ])""",
    )
    page.screenshot("docs")
    assert {tuple(r) for r in rendered} == expected
    assert page.outside == [], "the page asked for files outside the server"
    assert page.errors == []


def test_docs_assets_come_from_the_service(live_server: str) -> None:
    html = httpx.get(f"{live_server}/docs").text
    assert "cdn" not in html.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = httpx.get(f"{live_server}/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000
