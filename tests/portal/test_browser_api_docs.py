"""`/docs` renders the API's operations in Chromium with every outside host unreachable (issue 16):
Swagger UI comes from this server, so a machine without internet shows the same page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect


def test_the_api_docs_render_their_operations_offline(page: Any, live_url: str) -> None:
    ours = urlsplit(live_url).netloc
    outside: list[str] = []

    def offline(route: Any) -> None:
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:  # what a machine without internet would see: nothing answers
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", offline)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Carnet")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator(".opblock").count() > 50
    assert page.get_by_text("/healthz", exact=True).count() == 1
    assert outside == []
