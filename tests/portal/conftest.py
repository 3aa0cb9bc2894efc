"""Fixtures of the browser tests: one Chromium per test session, a fresh context per test, a live
server per test (its own database), axe-core on every page, a screenshot of each failure."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.portal import browser as support

AXE_LOG: list[tuple[str, str, list[dict[str, Any]]]] = []


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not support.CHROMIUM.exists():
        pytest.skip(support.SKIP_REASON)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = support.launch(playwright)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    with support.live_server(app) as url:
        yield url


@pytest.fixture
def page(chromium: Any, live_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = chromium.new_context(
        base_url=live_url, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            support.ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
            with contextlib.suppress(Exception):  # a screenshot is best effort
                tab.screenshot(path=str(support.ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def accessible(request: pytest.FixtureRequest) -> Callable[[Any], None]:
    """`accessible(page)`: axe-core finds no serious or critical violation on the current page."""

    def check(page: Any) -> None:
        violations = support.axe_violations(page)
        AXE_LOG.append((request.node.name, page.url, violations))
        blocking = [v for v in violations if v.get("impact") in support.BLOCKING]
        assert not blocking, f"axe on {page.url}:\n{support.describe(blocking)}"

    return check


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not AXE_LOG:
        return
    impacts: dict[str, int] = {}
    for _test, _url, violations in AXE_LOG:
        for violation in violations:
            impacts[violation.get("impact") or "none"] = (
                impacts.get(violation.get("impact") or "none", 0) + 1
            )
    found = ", ".join(f"{n} {impact}" for impact, n in sorted(impacts.items())) or "none"
    terminalreporter.write_line(f"axe-core: {len(AXE_LOG)} page(s) checked; violations: {found}")
