"""The OAuth2 authorization server (Authlib): authorization code + PKCE S256, refresh rotation,
revocation (RFC 7009), introspection (RFC 7662), SMART discovery; errors with their OAuth2 codes
(SRV-3, ACC-9), all audited."""

from __future__ import annotations

import base64
import html
from urllib.parse import quote

from authlib.integrations.httpx_client import OAuth2Client
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.apps import rules
from carnet.apps.api import opened_to_apps
from carnet.audit.models import AuditEntry
from carnet.db import Database
from tests.apps.support import (
    AUD,
    HIDDEN,
    REDIRECT,
    add_app,
    authorize_query,
    consent,
    exchange,
    pkce,
)
from tests.fhir.support import bearer, people
from tests.portal.support import csrf_of, log_in, make_account

SCOPE = "openid fhirUser offline_access launch/patient patient/DocumentReference.rs"


def _connected(client: TestClient, database: Database) -> tuple[dict[str, str], str]:
    add_app(database)
    holder = make_account(database)
    log_in(client, database)
    verifier, challenge = pkce()
    back = consent(client, authorize_query(challenge, SCOPE))
    assert back["state"] == ["xyz-state"]
    answer = exchange(client, back["code"][0], verifier)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["patient"] == str(holder.id)
    return token, str(holder.id)


def test_discovery_says_pkce_s256_and_the_endpoints(client: TestClient) -> None:
    config = client.get("/.well-known/smart-configuration").json()
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["token_endpoint"].endswith("/oauth/token")
    assert "permission-v2" in config["capabilities"]
    assert client.get("/fhir/.well-known/smart-configuration").json() == config


def test_code_flow_with_pkce_then_refresh_rotates_and_revocation_ends_it(
    client: TestClient, database: Database
) -> None:
    token, _holder_id = _connected(client, database)
    assert token["token_type"] == "Bearer" and token["scope"] == SCOPE
    assert (
        client.get("/fhir/DocumentReference", headers=bearer(token["access_token"])).status_code
        == 200
    )

    refreshed = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
              "client_id": "mon-suivi"},
    ).json()  # fmt: skip
    assert refreshed["refresh_token"] != token["refresh_token"]
    # the rotated pair is dead
    assert (
        client.get("/fhir/DocumentReference", headers=bearer(token["access_token"])).status_code
        == 401
    )
    live = bearer(refreshed["access_token"])
    assert client.get("/fhir/DocumentReference", headers=live).status_code == 200

    seen = client.post(
        "/oauth/introspect", data={"token": refreshed["access_token"], "client_id": "mon-suivi"}
    ).json()
    assert seen["active"] is True and seen["client_id"] == "mon-suivi"

    assert (
        client.post(
            "/oauth/revoke", data={"token": refreshed["access_token"], "client_id": "mon-suivi"}
        ).status_code
        == 200
    )
    assert client.get("/fhir/DocumentReference", headers=live).status_code == 401
    assert client.post(
        "/oauth/introspect", data={"token": refreshed["access_token"], "client_id": "mon-suivi"}
    ).json() == {"active": False}


def test_a_rotated_refresh_token_used_again_ends_every_token_of_the_consent(
    client: TestClient, database: Database
) -> None:
    token, _ = _connected(client, database)
    form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
            "client_id": "mon-suivi"}  # fmt: skip
    new = client.post("/oauth/token", data=form).json()
    replay = client.post("/oauth/token", data=form)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (
        client.get("/fhir/DocumentReference", headers=bearer(new["access_token"])).status_code
        == 401
    )


def test_pkce_missing_wrong_or_replayed_code_gets_oauth_errors(
    client: TestClient, database: Database
) -> None:
    add_app(database)
    make_account(database)
    log_in(client, database)
    verifier, challenge = pkce()
    code = consent(client, authorize_query(challenge, SCOPE))["code"][0]
    missing = exchange(client, code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = exchange(client, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # each try consumed nothing: Authlib checks before issuing; the right verifier still works once
    good = exchange(client, code, verifier)
    assert good.status_code == 200, good.text
    replay = exchange(client, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the replay revoked what the code gave
    access = good.json()["access_token"]
    assert client.get("/fhir/DocumentReference", headers=bearer(access)).status_code == 401
    with database.transaction() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"app.consent", "app.token-issued", "app.code-replayed"} <= actions


def test_authorization_request_errors(client: TestClient, database: Database) -> None:
    add_app(database)
    make_account(database)
    log_in(client, database)
    _verifier, challenge = pkce()
    # a redirect URI the app did not register: an error page, never a redirect
    page = client.get(
        authorize_query(challenge, SCOPE, redirect="https://evil.example.net/cb"),
        follow_redirects=False,
    )
    assert page.status_code == 400 and "text/html" in page.headers["content-type"]
    unknown = client.get(
        authorize_query(challenge, SCOPE, client_id="nobody"), follow_redirects=False
    )
    assert unknown.status_code == 400
    # scopes beyond the listing: back to the app with invalid_scope
    beyond = client.get(
        authorize_query(challenge, SCOPE + " patient/Observation.rs"), follow_redirects=False
    )
    assert beyond.status_code == 303
    assert beyond.headers["location"].startswith(REDIRECT + "?error=invalid_scope")
    # PKCE is required, S256 only
    plain = client.get(
        authorize_query(challenge, SCOPE, code_challenge_method="plain"), follow_redirects=False
    )
    assert "error=invalid_request" in plain.headers["location"]
    with database.transaction() as session:
        refused = session.scalars(
            select(AuditEntry.target_id).where(AuditEntry.action == "app.authorize-refused")
        ).all()
    assert sorted(refused) == [
        "invalid_client",
        "invalid_request",
        "invalid_request",
        "invalid_scope",
    ]


def test_refusing_sends_access_denied_and_stores_no_consent(
    client: TestClient, database: Database
) -> None:
    add_app(database)
    make_account(database)
    log_in(client, database)
    _verifier, challenge = pkce()
    back = consent(client, authorize_query(challenge, SCOPE), decision="refuse")
    assert back["error"] == ["access_denied"]
    assert client.get("/api/v1/apps").json()[0]["client_id"] == "mon-suivi"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def test_a_confidential_client_authenticates_with_http_basic(
    client: TestClient, database: Database
) -> None:
    """`client_secret_basic` (SMART's client-confidential-symmetric) on the token, introspection
    and revocation endpoints; `client_secret_post` still works; a wrong secret is refused."""
    secret = add_app(database, confidential=True)
    assert secret is not None
    make_account(database)
    log_in(client, database)
    verifier, challenge = pkce()
    code = consent(client, authorize_query(challenge, SCOPE))["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    wrong = client.post("/oauth/token", data=form, headers=_basic("mon-suivi", secret + "x"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    answer = client.post("/oauth/token", data=form, headers=_basic("mon-suivi", secret))
    assert answer.status_code == 200, answer.text
    token = answer.json()

    # a real Authlib client, Basic by default, refreshes against the same endpoint
    authlib_client = OAuth2Client(
        client_id="mon-suivi", client_secret=secret,
        token_endpoint_auth_method="client_secret_basic", transport=client._transport,
        base_url=str(client.base_url),
    )  # fmt: skip
    refreshed = authlib_client.refresh_token(
        f"{client.base_url}/oauth/token", refresh_token=token["refresh_token"]
    )
    assert refreshed["access_token"] != token["access_token"]
    access = refreshed["access_token"]

    seen = client.post(
        "/oauth/introspect", data={"token": access}, headers=_basic("mon-suivi", secret)
    )
    assert seen.status_code == 200 and seen.json()["active"] is True
    refused = client.post(
        "/oauth/introspect", data={"token": access}, headers=_basic("mon-suivi", "cns_nope")
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    by_post = client.post(
        "/oauth/introspect",
        data={"token": access, "client_id": "mon-suivi", "client_secret": secret},
    )
    assert by_post.json()["active"] is True

    not_revoked = client.post(
        "/oauth/revoke", data={"token": access}, headers=_basic("mon-suivi", secret + "x")
    )
    assert not_revoked.status_code == 401
    assert client.get("/fhir/DocumentReference", headers=bearer(access)).status_code == 200
    revoked = client.post(
        "/oauth/revoke", data={"token": access}, headers=_basic("mon-suivi", secret)
    )
    assert revoked.status_code == 200
    assert client.get("/fhir/DocumentReference", headers=bearer(access)).status_code == 401
    # without any client authentication a confidential client gets nothing
    bare = client.post("/oauth/introspect", data={"token": access, "client_id": "mon-suivi"})
    assert bare.status_code == 401


def test_scopes_are_granted_as_permissions_v1_names_subsets_and_wildcards(
    client: TestClient, database: Database
) -> None:
    """The listing has `patient/Patient.rs` and `patient/DocumentReference.rs` (ACC-9)."""
    add_app(database)
    holder = make_account(database)
    log_in(client, database)
    asked = {
        "launch/patient patient/Patient.read patient/DocumentReference.r": (
            "launch/patient patient/Patient.read patient/DocumentReference.r"
        ),
        "launch/patient patient/*.rs": (
            "launch/patient patient/DocumentReference.rs patient/Patient.rs"
        ),
        "patient/*.s": "patient/DocumentReference.s patient/Patient.s",
    }
    for scope, granted in asked.items():
        verifier, challenge = pkce()
        code = consent(client, authorize_query(challenge, scope))["code"][0]
        answer = exchange(client, code, verifier)
        assert answer.status_code == 200, answer.text
        assert answer.json()["scope"] == granted
        token = bearer(answer.json()["access_token"])
        read = client.get(f"/fhir/Patient/{holder.id}", headers=token)
        assert read.status_code == (200 if "Patient.r" in granted else 403)
    beyond = client.get(authorize_query(pkce()[1], "patient/Patient.cruds"), follow_redirects=False)
    assert beyond.headers["location"].startswith(REDIRECT + "?error=invalid_scope")


def test_aud_must_be_carnets_fhir_base_url(client: TestClient, database: Database) -> None:
    """SMART v2: a missing or foreign `aud` goes back to the app with invalid_request (an error
    page when the redirect URI is not registered); the right one reaches the consent page."""
    add_app(database)
    make_account(database)
    log_in(client, database)
    _verifier, challenge = pkce()
    for aud in (None, "", "https://evil.example/fhir", "http://testserver", "http://testserver/"):
        back = client.get(authorize_query(challenge, SCOPE, aud=aud), follow_redirects=False)
        assert back.status_code == 303, aud
        location = back.headers["location"]
        assert location.startswith(REDIRECT + "?error=invalid_request"), aud
        assert "state=xyz-state" in location
    foreign_and_bad_redirect = client.get(
        authorize_query(
            challenge, SCOPE, redirect="https://evil.example/cb", aud="https://evil.example/fhir"
        ),
        follow_redirects=False,
    )
    assert foreign_and_bad_redirect.status_code == 400
    assert "text/html" in foreign_and_bad_redirect.headers["content-type"]
    for aud in (AUD, AUD + "/"):
        page = client.get(authorize_query(challenge, SCOPE, aud=aud), follow_redirects=False)
        assert page.status_code == 200 and 'name="aud"' in page.text
    # the approval checks it again: a consent form with a foreign aud gives no code
    page = client.get(authorize_query(challenge, SCOPE))
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(page.text)}
    assert fields["aud"] == AUD
    fields.update(
        aud="https://evil.example/fhir", decision="approve", csrf_token=csrf_of(page.text)
    )
    tampered = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert tampered.headers["location"].startswith(REDIRECT + "?error=invalid_request")
    assert "code" in consent(client, authorize_query(challenge, SCOPE))


def test_discovery_lists_only_the_scopes_some_route_honours(client: TestClient) -> None:
    """`scopes_supported` is read from the FHIR routes open to apps: no write is advertised for a
    type no app may write (ACC-9, ACC-2), the profile and agenda writes are."""
    supported = client.get("/.well-known/smart-configuration").json()["scopes_supported"]
    assert {"openid", "fhirUser", "offline_access", "launch/patient"} <= set(supported)
    for readable in ("Patient", "DocumentReference", "ExplanationOfBenefit"):  # read and search
        assert f"patient/{readable}.rs" in supported
    assert "patient/Binary.r" in supported
    assert "patient/AuditEvent.s" in supported
    assert "patient/Observation.crus" in supported and "patient/Observation.rs" in supported
    assert "patient/Appointment.cruds" in supported
    for read_only in ("Patient", "DocumentReference", "Binary", "AuditEvent", "ExplanationOfBenefit"):
        written = [s for s in supported if s.startswith(f"patient/{read_only}.")]
        assert written and all(set(s.rsplit(".", 1)[1]) <= set("rs") for s in written)
    # every interaction of every advertised resource scope is one some route checks
    opened = set(opened_to_apps(client.app))  # type: ignore[arg-type]
    for scope in supported:
        parsed = rules.parse_scope(scope)
        if parsed is not None:
            assert {(parsed.resource_type, c) for c in parsed.interactions} <= opened, scope


def test_a_client_id_that_names_no_app_is_an_oauth_error_never_a_server_error(
    client: TestClient, database: Database
) -> None:
    """Found by schemathesis (issue 15): a NUL in client_id reached the query, which PostgreSQL
    refuses with an error (a 500). A value that is no client id now names no app."""
    add_app(database)
    for client_id in ("mon-suivi\x00", "Mon Suivi", "x" * 80):
        for path, data in (
            ("/oauth/token", {"grant_type": "authorization_code", "code": "c", "client_id": client_id}),
            ("/oauth/revoke", {"token": "t", "client_id": client_id}),
            ("/oauth/introspect", {"token": "t", "client_id": client_id}),
        ):
            answer = client.post(path, data=data)
            assert answer.status_code in (400, 401), (path, client_id, answer.text)
            assert answer.json()["error"] == "invalid_client", (path, client_id)
    who = people(database)
    gone = client.delete("/api/v1/me/apps/mon-suivi%00", headers=who.holder)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not-found"
