"""Make docs/img/documents.png, the holder's documents page shown in the README.

    .venv/bin/python -m tests.portal.screenshot [output.png]

The demo world (`carnet.demo`) is loaded into a temporary data directory, served by uvicorn and
shown in Debian's Chromium, signed in as Camille (password, then the e-mailed code read from the
delivered `.eml`), in French, 1280 px wide.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from carnet.app import create_app
from carnet.config import Settings, load_settings
from carnet.db import Database
from carnet.demo import service as demo
from carnet.migrate import upgrade
from carnet.notifications.models import OutboxMessage
from carnet.registry import load_models
from carnet.vault.service import Vault
from tests.notifications.support import mail_text
from tests.portal.browser import CHROMIUM, SKIP_REASON, launch, live_server

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "img" / "documents.png"


def _code(database: Database, settings: Settings) -> str:
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "auth.login-code")
            .order_by(OutboxMessage.created_at.desc())
        ).first()
    found = re.search(r"\b([0-9]{6})\b", mail_text(mail, settings.outbox_dir) if mail else "")
    if found is None:
        raise RuntimeError("no login code in the outbox")
    return found.group(1)


def main(argv: list[str]) -> int:
    if not CHROMIUM.exists():
        print(SKIP_REASON, file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    output = Path(argv[0]) if argv else OUTPUT
    load_models()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            data_dir=Path(tmp), jobs_interval_seconds=0, base_url="http://127.0.0.1"
        )
        database = Database(settings.effective_database_url)
        upgrade(database)
        vault = Vault.from_settings(settings, warn=lambda _message: None)
        with database.transaction() as session:
            demo.load(session, vault, settings)
        app = create_app(settings, database)
        app.state.vault = vault
        with live_server(app) as url, sync_playwright() as playwright:
            browser = launch(playwright, lang="fr-FR")
            context = browser.new_context(
                base_url=url, locale="fr-FR", viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Identifiant").fill("camille")
            page.get_by_label("Mot de passe").fill(demo.DEMO_PASSWORD)
            page.get_by_role("button", name="Continuer").click()
            page.wait_for_url("**/login/code")
            page.get_by_label("Code reçu par e-mail").fill(_code(database, settings))
            page.locator("main").get_by_role("button", name="Se connecter").click()
            page.wait_for_url("**/home")
            # Show what the page can say: a pinned document, a masked one.
            for title, button in (
                ("Bilan sanguin annuel", "Épingler"),
                ("Consultation de suivi", "Masquer aux professionnels"),
            ):
                page.goto("/documents")
                page.get_by_role("link", name=title).click()
                page.get_by_role("button", name=button).click()
                page.wait_for_load_state()
            page.goto("/documents")
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output), full_page=True)
            browser.close()
        database.dispose()
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
