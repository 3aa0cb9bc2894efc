"""Passkeys in a real Chromium, with its virtual authenticator (CDP `WebAuthn` domain, CTAP2,
internal transport, resident keys, user verification): a holder adds one in "Mon compte", logs in
with the password then the passkey (no e-mailed code typed), then with the passkey alone; removes
it, and it opens nothing any more. A professional adds one and signs in with it.

WebAuthn refuses an IP address as RP ID (PK-1): these tests reach the portal as
`http://localhost:<port>`, the public base URL of their settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from tests.portal import browser as support
from tests.portal.support import PASSWORD, last_code, make_account
from tests.portal.test_pro_pages import make_pro

Check = Callable[[Any], None]


@pytest.fixture
def port() -> int:
    return support.free_port()


@pytest.fixture
def settings(settings: Settings, port: int, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CARNET_BASE_URL", f"http://localhost:{port}")
    return Settings()


@pytest.fixture
def live_url(app: Any, port: int) -> Iterator[str]:
    with support.live_server(app, port, host="localhost") as url:
        yield url


def authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator with resident keys that verifies its user (a fingerprint)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def log_in_with_code(
    page: Any, path: str, field: str, who: str, email: str, database: Database
) -> None:
    page.goto(path)
    page.get_by_label(field).fill(who)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(f"**{path}/code")
    page.get_by_label("Code reçu par e-mail").fill(last_code(database, email))
    page.locator("main").get_by_role("button", name="Se connecter", exact=True).click()


def add_passkey(page: Any, name: str) -> None:
    page.get_by_label("Nom de cette clé d'accès").fill(name)
    page.get_by_label("Votre mot de passe actuel").fill(PASSWORD)
    page.get_by_role("button", name="Ajouter une clé d'accès").click()
    expect(page.get_by_role("status").first).to_contain_text("La clé d'accès a été ajoutée")
    expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()


def test_holder_adds_a_passkey_logs_in_with_it_and_removes_it(
    page: Any, accessible: Check, database: Database
) -> None:
    holder = make_account(database)
    cdp, authenticator_id = authenticator(page)
    log_in_with_code(page, "/login", "Identifiant", "marie", "marie@example.org", database)
    page.wait_for_url("**/home")

    page.goto("/account")
    page.get_by_role("link", name="Gérer mes clés d'accès").click()
    page.wait_for_url("**/account/passkeys")
    accessible(page)
    add_passkey(page, "Mon ordinateur")
    accessible(page)
    assert (
        len(
            cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})[
                "credentials"
            ]
        )
        == 1
    )
    with database.transaction() as session:  # the holder is told by e-mail
        told = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "auth.passkey-added")
        ).one()
        assert told.holder_id == holder.id

    # Password, then the passkey instead of the e-mailed code.
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/login?reason=logged-out")
    page.get_by_label("Identifiant").fill("marie")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/code")
    accessible(page)
    # No code was e-mailed: the passkey replaces it; the code stays one click away.
    expect(page.get_by_label("Code reçu par e-mail")).to_have_count(0)
    expect(page.get_by_role("button", name="Recevoir plutôt un code par e-mail")).to_be_visible()
    page.get_by_role("button", name="Utiliser ma clé d'accès").click()
    page.wait_for_url("**/home")

    # The passkey alone (discoverable, user verified).
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/login?reason=logged-out")
    accessible(page)
    page.get_by_role("button", name="Se connecter avec une clé d'accès").click()
    page.wait_for_url("**/home")

    # Removed after a confirmation: the authenticator still has it, Carnet refuses it.
    page.goto("/account/passkeys")
    expect(page.get_by_role("cell", name="Mon ordinateur", exact=True)).to_be_visible()
    page.get_by_role("link", name="Retirer Mon ordinateur").click()
    accessible(page)
    page.get_by_role("button", name="Retirer cette clé d'accès").click()
    expect(page.get_by_role("status").first).to_contain_text("La clé d'accès a été retirée")
    expect(page.locator("main")).to_contain_text("Vous n'avez encore aucune clé d'accès.")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/login?reason=logged-out")
    page.get_by_role("button", name="Se connecter avec une clé d'accès").click()
    expect(page.locator("#error-summary")).to_contain_text(
        "Cette clé d'accès n'a pas été acceptée."
    )
    assert page.url.endswith("/login/passkey")
    page.goto("/home")
    page.wait_for_url("**/login**")  # still signed out


def test_professional_adds_a_passkey_and_signs_in_with_it(
    page: Any, accessible: Check, database: Database
) -> None:
    pro = make_pro(database)
    authenticator(page)
    log_in_with_code(page, "/pro/login", "Numéro RPPS", pro.rpps, "dr@example.org", database)
    page.wait_for_url("**/pro")
    page.get_by_role("link", name="Mon compte").click()
    page.wait_for_url("**/pro/account")
    add_passkey(page, "Poste du cabinet")
    accessible(page)

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/pro/login?reason=logged-out")
    page.get_by_role("button", name="Se connecter avec une clé d'accès").click()
    page.wait_for_url("**/pro")
    expect(page.get_by_role("link", name="Mon compte")).to_be_visible()
