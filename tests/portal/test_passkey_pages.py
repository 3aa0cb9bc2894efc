"""The passkey pages and login steps over HTTP (`views.passkeys`), with the software authenticator
of the service tests answering as a browser would: every refusal is a readable page or a JSON
message in the person's language, never a 500."""

from __future__ import annotations

import html
import json
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEntry
from carnet.auth import passkeys
from carnet.config import Settings
from carnet.db import Database
from tests.auth.authenticator import SoftAuthenticator
from tests.portal.support import PASSWORD, csrf_of, log_in, make_account, post


def add(client: TestClient, settings: Settings, device: SoftAuthenticator, name: str) -> None:
    page = client.get("/account/passkeys").text
    options = client.post(
        "/account/passkeys/options",
        data={"csrf_token": csrf_of(page), "name": name, "password": PASSWORD},
    )
    assert options.status_code == 200, options.text
    answer = device.create(
        json.dumps(options.json()["publicKey"]), passkeys.relying_party(settings).origin
    )
    done = client.post(
        "/account/passkeys",
        data={"csrf_token": csrf_of(page), "credential": answer},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/account/passkeys"


def test_adding_needs_the_password_then_the_passkey_is_listed_and_offered_at_login(
    client: TestClient, database: Database, settings: Settings
) -> None:
    make_account(database)
    log_in(client, database)
    page = client.get("/account/passkeys")
    assert "Vous n'avez encore aucune clé d'accès." in html.unescape(page.text)
    refused = client.post(
        "/account/passkeys/options",
        data={"csrf_token": csrf_of(page.text), "name": "Clé", "password": "pas le bon"},
    )
    assert refused.status_code == 401
    assert refused.json() == {"error": "Le mot de passe n'est pas correct."}

    add(client, settings, SoftAuthenticator(), "Ma clé USB")
    listed = client.get("/account/passkeys").text
    assert "La clé d'accès a été ajoutée" in html.unescape(listed)
    assert "Ma clé USB" in listed

    # After the password, the code page offers the passkey beside the e-mailed code.
    post(client, "/logout")
    login_page = client.get("/login").text
    assert "Se connecter avec une clé d'accès" in html.unescape(login_page)
    client.post(
        "/login",
        data={"csrf_token": csrf_of(login_page), "username": "marie", "password": PASSWORD},
    )
    assert "Utiliser ma clé d'accès" in html.unescape(client.get("/login/code").text)


def test_a_post_without_a_credential_says_the_browser_cannot_use_passkeys(
    client: TestClient, database: Database
) -> None:
    page = client.get("/login").text
    response = client.post("/login/passkey", data={"csrf_token": csrf_of(page), "mode": "sign-in"})
    assert response.status_code == 400
    assert "Ce navigateur ne peut pas utiliser de clé d'accès ici" in html.unescape(response.text)
    # The second step without a login under way starts again from the password.
    again = client.post(
        "/login/passkey",
        data={"csrf_token": csrf_of(page), "mode": "second-factor", "credential": "{}"},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert again.headers["location"] == "/login?reason=restart"


def test_a_forged_credential_is_refused_and_audited_not_a_500(
    client: TestClient, database: Database
) -> None:
    page = client.get("/login").text
    for forged in ("not json", json.dumps({"id": "x", "rawId": "@@", "response": {}})):
        options = client.post(
            "/login/passkey/options", data={"csrf_token": csrf_of(page), "mode": "sign-in"}
        )
        assert options.status_code == 200
        assert options.json()["publicKey"]["userVerification"] == "required"  # PK-5
        refused = client.post(
            "/login/passkey",
            data={"csrf_token": csrf_of(page), "mode": "sign-in", "credential": forged},
        )
        assert refused.status_code == 401, refused.text
        assert "Cette clé d'accès n'a pas été acceptée." in html.unescape(refused.text)
    with database.transaction() as session:
        failures = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "auth.login-failure")
        ).all()
    assert failures == ["unknown-passkey", "unknown-passkey"]


def test_someone_elses_or_a_made_up_passkey_is_not_found(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    log_in(client, database)
    for path in (f"/account/passkeys/{uuid.uuid4()}/revoke", "/account/passkeys/nope/revoke"):
        assert client.get(path).status_code == 404
        assert post(client, path).status_code == 404
