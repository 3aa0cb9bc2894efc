"""Helpers of the app tests: a listed app, PKCE pairs, the consent step through the portal."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient

from carnet.apps import service
from carnet.db import Database
from tests.portal.support import csrf_of

REDIRECT = "https://app.example.org/callback"
AUD = "http://testserver/fhir"  # the tests' CARNET_BASE_URL + /fhir (SMART v2 `aud`)
LISTING = [
    "openid",
    "fhirUser",
    "offline_access",
    "launch/patient",
    "patient/DocumentReference.rs",
    "patient/Patient.rs",
]


def add_app(
    database: Database,
    client_id: str = "mon-suivi",
    scopes: list[str] | None = None,
    redirect: str = REDIRECT,
    **kwargs: Any,
) -> str | None:
    """List an app (online); returns its secret when confidential."""
    listing = service.Listing(
        name="Mon Suivi",
        publisher="Santé Demo SAS",
        description="Suivi de vos documents.",
        version="1.0",
        redirect_uris=[redirect],
        scopes=scopes or LISTING,
    )
    with database.transaction() as session:
        _app, secret = service.add_app(session, client_id, listing, **kwargs)
    return secret


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def authorize_query(
    challenge: str,
    scope: str,
    client_id: str = "mon-suivi",
    redirect: str = REDIRECT,
    **extra: str | None,
) -> str:
    """The authorization request's query; a parameter given as None is left out."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": scope,
        "state": "xyz-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "aud": AUD,
        **extra,
    }
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def consent(client: TestClient, query: str, decision: str = "approve") -> dict[str, list[str]]:
    """Open the consent page (the client has a portal session) and decide; returns the
    parameters of the redirect back to the app."""
    page = client.get(query)
    assert page.status_code == 200, page.text
    import html as html_lib

    fields = {name: html_lib.unescape(value) for name, value in HIDDEN.findall(page.text)}
    fields["csrf_token"] = csrf_of(page.text)
    fields["decision"] = decision
    answer = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def exchange(
    client: TestClient, code: str, verifier: str | None, client_id: str = "mon-suivi"
) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/oauth/token", data=data)


def app_token(
    database: Database,
    holder_id: Any,
    scopes: list[str],
    client_id: str = "mon-suivi",
    granted_by: Any = None,
) -> str:
    """An access token as the code flow would give it (the flow itself is tested elsewhere)."""
    from carnet.accounts.models import Holder
    from carnet.auth.principal import Principal, PrincipalKind

    with database.transaction() as session:
        app = service.get_app(session, client_id)
        space = session.get(Holder, holder_id)
        assert space is not None
        by = Principal(PrincipalKind.HOLDER, granted_by or holder_id)
        consent = service.grant_consent(session, app, space, by, scopes)
        access, _refresh = service.new_token_values(refresh=False)
        service.store_token(
            session, consent, access=access, refresh=None, scopes=" ".join(scopes), expires_in=600
        )
    return access
