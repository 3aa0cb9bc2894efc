"""A real OAuth2 client (Authlib's httpx client) connects an app to a holder's space through a
live Carnet: authorization code + PKCE S256, the login and the consent in Chromium, then the app
reads only what its scopes allow; refresh rotates, revocation ends its access (SRV-3, ACC-9;
suspension and new versions: tests/apps/test_fhir_scopes.py).
axe-core runs on the consent and connected-apps pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from playwright.sync_api import expect

from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.apps.support import add_app
from tests.portal.support import PASSWORD, deposit, last_code, make_account

Check = Callable[[Any], None]
CALLBACK = "http://127.0.0.1:9/callback"  # never reached: Chromium's request is intercepted
SCOPE = "openid fhirUser offline_access launch/patient patient/DocumentReference.rs"


def test_a_real_client_connects_reads_its_scopes_and_loses_access(
    page: Any, accessible: Check, live_url: str, app: Any, database: Database, vault: Vault,
    settings: Settings,
) -> None:  # fmt: skip
    app.state.settings = settings.model_copy(update={"base_url": live_url})
    holder = make_account(database)
    doc_id = deposit(database, vault, settings, holder, "Bilan sanguin")
    add_app(database, redirect=CALLBACK)
    discovery = httpx.get(f"{live_url}/.well-known/smart-configuration").json()

    client = OAuth2Client(
        client_id="mon-suivi", redirect_uri=CALLBACK, scope=SCOPE, code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )  # fmt: skip
    verifier = generate_token(64)
    url, state = client.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, aud=f"{live_url}/fhir"
    )

    captured: list[str] = []

    def back_to_app(route: Any) -> None:
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>app</title>ok")

    page.route("http://127.0.0.1:9/**", back_to_app)
    page.goto(url)  # not logged in: the login first, then back to the consent
    page.wait_for_url("**/login?reason=app")
    page.get_by_label("Identifiant").fill("marie")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/code")
    page.get_by_label("Code reçu par e-mail").fill(last_code(database, "marie@example.org"))
    page.locator("main").get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/oauth/authorize?*")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connecter une application")
    expect(page.locator("main")).to_contain_text("voir vos documents et leur contenu")
    accessible(page)
    page.get_by_role("button", name="Accepter et connecter").click()
    page.wait_for_url("http://127.0.0.1:9/callback?*")
    assert captured and f"state={state}" in captured[0]

    token = client.fetch_token(
        discovery["token_endpoint"], authorization_response=captured[0], code_verifier=verifier
    )
    assert token["patient"] == str(holder.id) and "refresh_token" in token
    fhir = f"{live_url}/fhir"
    found = client.get(f"{fhir}/DocumentReference")
    assert found.status_code == 200
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [str(doc_id)]
    assert client.get(f"{fhir}/Binary/{doc_id}").status_code == 200
    refused = client.get(f"{fhir}/Observation?patient=Patient/{holder.id}")
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"

    # the holder sees the app in the portal
    page.goto("/apps")
    expect(page.get_by_role("heading", name="Mon Suivi")).to_be_visible()
    accessible(page)

    # a refresh rotates the pair: the old access token is dead, the new one works
    old = token["access_token"]
    token = client.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert token["access_token"] != old
    assert httpx.get(f"{fhir}/DocumentReference", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get(f"{fhir}/DocumentReference").status_code == 200
    # revocation (RFC 7009) ends the pair: no more reads, no more refresh
    client.revoke_token(discovery["revocation_endpoint"], token=token["access_token"])
    assert client.get(f"{fhir}/DocumentReference").status_code == 401
    with pytest.raises(OAuthError, match="invalid_grant"):
        client.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
