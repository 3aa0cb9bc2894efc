"""Driving Debian's Chromium with Playwright: a live server in a thread, axe-core checks.

Playwright never downloads a browser here: it launches /usr/bin/chromium (the `chromium` package;
`.ci/run` installs it). Without it, the browser tests are skipped with a clear reason.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = "chromium not installed: browser tests skipped"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# axe-core impacts that fail a page (WCAG 2.1 AA: no serious or critical violation).
BLOCKING = frozenset({"serious", "critical"})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(app: Any, port: int | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yields its base URL, naming the server
    `host` (`localhost` where an IP address will not do: passkeys, PK-1)."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="portal-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def launch(playwright: Any, *, lang: str | None = None) -> Any:
    """Chromium from the Debian package; `lang` sets the language of its own widgets."""
    args = [*LAUNCH_ARGS, f"--lang={lang}"] if lang else LAUNCH_ARGS
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (every impact)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response.get("violations", [])
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [", ".join(node.get("target", [])) for node in violation.get("nodes", [])][:3]
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']}) at {targets}")
    return "\n".join(lines)


def follow_menu(page: Any, label: str) -> None:
    """Click the main menu's link `label`, opening its group first (base.html): how a person
    reaches a page that is not Home."""
    nav = page.locator("nav.main-nav")
    link = page.get_by_role("link", name=label, exact=True, include_hidden=True)
    group = nav.locator("details").filter(has=link)  # `has` is matched inside each group
    if group.count() and group.get_attribute("open") is None:
        group.locator("summary").click()
    nav.get_by_role("link", name=label, exact=True).click()
