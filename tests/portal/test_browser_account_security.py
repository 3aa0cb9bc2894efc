"""Account security in a real Chromium: a holder changes their password in "Mon compte" (a
mistake first, tied to its field), lists their sessions and devices and ends one; someone who
forgot their password asks for a code from the login page, reads it in their e-mail and sets a
new one. axe-core finds no serious violation on each page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from carnet.auth import sessions as portal_sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from tests.notifications.support import mail_text
from tests.portal.support import PASSWORD, make_account
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]
NEW = "une toute nouvelle phrase 42"
_CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\b")


def recovery_code(database: Database, recipient: str) -> str:
    """The code of the latest recovery e-mail to `recipient`, as received."""
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "auth.recovery-code")
            .order_by(OutboxMessage.created_at.desc())
        ).first()
    assert mail is not None, "no recovery code was e-mailed"
    found = _CODE.search(mail_text(mail))
    assert found is not None
    return found.group(1)


def test_the_holder_changes_the_password_and_ends_a_session(
    page: Any, accessible: Check, database: Database
) -> None:
    holder = make_account(database)
    with database.transaction() as session:  # a phone left signed in
        portal_sessions.create(
            session,
            Principal(PrincipalKind.HOLDER, holder.id),
            user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36",
        )
    sign_in(page, database, accessible)
    page.goto("/account")
    accessible(page)

    page.get_by_role("link", name="Sessions et appareils").click()
    page.wait_for_url("**/account/sessions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions et appareils")
    rows = page.locator("table.sessions tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("table.sessions")).to_contain_text("Chrome, Android")
    expect(page.locator("table.sessions")).to_contain_text("Cet appareil")
    accessible(page)
    rows.filter(has_text="Chrome, Android").get_by_role("button").click()
    page.wait_for_url("**/account/sessions")
    expect(page.get_by_role("status")).to_contain_text("La session est fermée sur cet appareil.")
    expect(rows).to_have_count(1)

    page.goto("/account")
    page.get_by_role("link", name="Changer mon mot de passe").click()
    page.wait_for_url("**/account/password")
    accessible(page)
    page.get_by_label("Votre mot de passe actuel").fill("pas le bon mot de passe")
    page.locator("#new_password").fill(NEW)
    page.get_by_label("Nouveau mot de passe, à nouveau").fill(NEW)
    page.get_by_role("button", name="Changer mon mot de passe").click()
    expect(page.locator("#error-summary")).to_contain_text("Le mot de passe actuel n'est pas")
    expect(page.get_by_label("Votre mot de passe actuel")).to_have_attribute("aria-invalid", "true")
    accessible(page)
    page.get_by_label("Votre mot de passe actuel").fill(PASSWORD)
    page.locator("#new_password").fill(NEW)
    page.get_by_label("Nouveau mot de passe, à nouveau").fill(NEW)
    page.get_by_role("button", name="Changer mon mot de passe").click()
    page.wait_for_url("**/account")
    expect(page.get_by_role("status")).to_contain_text("Votre mot de passe est changé.")


def test_a_forgotten_password_is_replaced_with_the_emailed_code(
    page: Any, accessible: Check, database: Database
) -> None:
    make_account(database)
    page.goto("/login")
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    page.wait_for_url("**/password/forgotten")
    accessible(page)
    page.get_by_label("Identifiant").fill("marie")
    page.get_by_role("button", name="M'envoyer un code").click()
    expect(page.get_by_role("status")).to_contain_text("Si cet identifiant correspond")
    expect(page.get_by_label("Identifiant")).to_have_value("marie")
    accessible(page)

    page.get_by_label("Code reçu").fill("AAAA-AAAA-AAAA")
    page.locator("#new_password").fill(NEW)
    page.get_by_label("Nouveau mot de passe, à nouveau").fill(NEW)
    page.get_by_role("button", name="Enregistrer mon nouveau mot de passe").click()
    expect(page.locator("#error-summary")).to_contain_text("code de récupération n'est pas")
    accessible(page)

    page.get_by_label("Code reçu").fill(recovery_code(database, "marie@example.org"))
    page.locator("#new_password").fill(NEW)
    page.get_by_label("Nouveau mot de passe, à nouveau").fill(NEW)
    page.get_by_role("button", name="Enregistrer mon nouveau mot de passe").click()
    page.wait_for_url("**/login?reason=password-reset")
    expect(page.get_by_role("status")).to_contain_text("Votre mot de passe est changé")
    accessible(page)

    page.get_by_label("Identifiant").fill("marie")
    page.get_by_label("Mot de passe").fill(NEW)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/code")
