"""Portal security: CSRF on every form, session cookies, idle timeout, logout (everywhere),
throttled logins, nothing sensitive in URLs, titles or pages after logout."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.auth.models import ApiToken, PortalSession
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token, resolve_token
from carnet.auth.sessions import IDLE_TIMEOUT, SESSION_COOKIE
from carnet.config import Settings
from carnet.db import Database
from carnet.portal.routing import PortalRoute
from carnet.vault.service import Vault
from tests.portal.support import (
    PASSWORD,
    csrf_of,
    deposit,
    log_in,
    make_account,
    make_notified,
    post,
)


def _set_cookies(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.headers.get_list("set-cookie")


# -- CSRF --------------------------------------------------------------------------------------


def test_a_public_form_without_its_token_is_refused_with_a_readable_page(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    client.get("/login")
    response = client.post("/login", data={"username": "marie", "password": PASSWORD})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Ce formulaire a expiré" in response.text
    assert "Traceback" not in response.text
    # Nothing was done: no login code was e-mailed.
    assert "auth.login-code" not in _outbox_kinds(database)


def test_a_token_of_another_browser_is_refused(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    with TestClient(app) as other:
        other.get("/login")
        response = other.post(
            "/login", data={"csrf_token": token, "username": "x", "password": "y"}
        )
    assert response.status_code == 403


def test_the_session_binds_the_token(client: TestClient, database: Database, app) -> None:  # type: ignore[no-untyped-def]
    """Logged in, the token is the session's own: an anonymous token of the same browser no longer
    passes, and the token changes at each login."""
    make_account(database)
    anonymous = csrf_of(client.get("/login").text)
    log_in(client, database)
    session_token = csrf_of(client.get("/home").text)
    assert session_token != anonymous
    refused = client.post("/logout", data={"csrf_token": anonymous}, follow_redirects=False)
    assert refused.status_code == 403
    with TestClient(app) as second:
        log_in(second, database)
        assert csrf_of(second.get("/home").text) != session_token


def test_every_portal_post_route_checks_the_token(
    client: TestClient,
    database: Database,
    app,  # type: ignore[no-untyped-def]
) -> None:
    make_account(database)
    log_in(client, database)
    checked = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, PortalRoute) or "POST" not in (context.methods or ()):
            continue
        template = str(context.path)
        path = template.replace("{kind}", "trusted_person")
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = client.post(path, data={"csrf_token": "forged-token-forged-token"})
        assert response.status_code == 403, template
        checked.append(template)
    assert {"/login", "/opposition", "/activation", "/documents/upload", "/account/close"} <= set(
        checked
    )
    # The session survived all of that: nothing was logged out by a forged form.
    assert client.get("/home").status_code == 200


def test_portal_routes_are_all_portal_routes(app) -> None:  # type: ignore[no-untyped-def]
    """Every HTML page goes through the CSRF check and the readable error pages."""
    from carnet.portal.views import routers

    names = {route.name for router in routers() for route in router.routes}  # type: ignore[attr-defined]
    found = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.name in names:
            assert isinstance(route, PortalRoute), route.path
            found += 1
    assert found >= 30


# -- the session cookie, the idle timeout, logging out ------------------------------------------


def test_session_cookie_flags(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    with database.transaction() as session:
        row = session.scalars(select(PortalSession)).one()
        assert row.token_hash != client.cookies.get(SESSION_COOKIE)  # only a hash is stored
        assert len(row.token_hash) == 64


def test_session_cookie_attributes(client: TestClient, database: Database) -> None:
    make_account(database)
    page = client.get("/login")
    client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "username": "marie", "password": PASSWORD},
    )
    from tests.portal.support import last_code

    code_page = client.get("/login/code")
    response = client.post(
        "/login/code",
        data={
            "csrf_token": csrf_of(code_page.text),
            "code": last_code(database, "marie@example.org"),
        },
        follow_redirects=False,
    )
    cookie = next(c for c in _set_cookies(response) if c.startswith(SESSION_COOKIE + "="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # http://testserver
    assert response.headers["cache-control"] == "no-store"


def test_the_cookie_is_secure_behind_https(settings: Settings) -> None:
    from starlette.responses import Response

    from carnet.auth import sessions as sessions

    response = Response()
    sessions.set_cookie(
        response, "x" * 43, settings.model_copy(update={"base_url": "https://c.example"})
    )
    assert "secure" in response.headers["set-cookie"].lower()


def test_idle_timeout(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    assert client.get("/home").status_code == 200
    with clock.frozen_at(clock.now() + IDLE_TIMEOUT - dt.timedelta(seconds=30)):
        assert client.get("/home").status_code == 200  # activity restarts the idle clock
    with clock.frozen_at(clock.now() + IDLE_TIMEOUT * 2 + dt.timedelta(seconds=1)):
        response = client.get("/documents", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=expired"
    # Over for good: going back to the present does not revive it.
    assert client.get("/home", follow_redirects=False).status_code == 303
    page = client.get("/login?reason=expired")
    assert "15 minutes sans activité" in page.text


def test_an_expired_session_posting_a_form_does_nothing(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    doc_id = deposit(database, vault, settings, holder)
    log_in(client, database)
    token = csrf_of(client.get("/home").text)
    with clock.frozen_at(clock.now() + IDLE_TIMEOUT + dt.timedelta(minutes=1)):
        response = client.post(
            f"/documents/{doc_id}/mask",
            data={"csrf_token": token, "masked": "1"},
            follow_redirects=False,
        )
    assert response.headers["location"] == "/login?reason=expired"
    from carnet.documents.models import Document

    with database.transaction() as session:
        assert session.get(Document, doc_id).masked is False  # type: ignore[union-attr]


def test_logout_and_the_back_button(client: TestClient, database: Database) -> None:
    make_account(database, first_names="Marie")
    log_in(client, database)
    home = client.get("/home")
    assert "Marie" in home.text
    assert home.headers["cache-control"] == "no-store"
    response = post(client, "/logout")
    assert response.headers["location"] == "/login?reason=logged-out"
    back = client.get("/home", follow_redirects=False)
    assert back.status_code == 303 and "Marie" not in back.text
    assert client.get("/documents", follow_redirects=True).url.path == "/login"


def test_logout_everywhere_ends_every_session_and_token(
    client: TestClient,
    database: Database,
    app,  # type: ignore[no-untyped-def]
) -> None:
    holder = make_account(database)
    log_in(client, database)
    with database.transaction() as session:
        api_token, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=1)
        )
    with TestClient(app) as phone:
        log_in(phone, database)
        assert phone.get("/home").status_code == 200
        response = post(client, "/logout/everywhere", page="/account")
        assert response.headers["location"] == "/login?reason=everywhere"
        assert phone.get("/home", follow_redirects=False).status_code == 303
    assert client.get("/home", follow_redirects=False).status_code == 303
    with database.transaction() as session:
        assert resolve_token(session, api_token) is None
        rows = session.scalars(select(PortalSession)).all()
        assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
        # The bearer token that verify_login issues is revoked at once: the portal has its own.
        assert all(t.revoked_at is not None for t in session.scalars(select(ApiToken)))


def test_a_closed_space_ends_its_sessions(client: TestClient, database: Database) -> None:
    holder = make_account(database)
    log_in(client, database)
    with database.transaction() as session:
        from carnet.accounts.models import Holder

        session.get(Holder, holder.id).state = "suspended"  # type: ignore[union-attr]
    assert client.get("/home", follow_redirects=False).status_code == 303


# -- throttling (the services' lockouts) ---------------------------------------------------------


def test_wrong_passwords_lock_the_login(
    client: TestClient, database: Database, settings: Settings
) -> None:
    make_account(database)
    for _ in range(settings.login_max_failures):
        response = post(client, "/login", {"username": "marie", "password": "wrong"}, page="/login")
        assert response.status_code in (401, 429)
        assert "identifiant ou le mot de passe" in response.text or "bloquée" in response.text
    response = post(client, "/login", {"username": "marie", "password": PASSWORD}, page="/login")
    assert response.status_code == 429
    assert "attendez 15 minutes avant de réessayer" in response.text
    assert response.headers["retry-after"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Trop de tentatives échouées : attendez 1 seconde avant de réessayer."),
        ("en", "Too many failed attempts: wait 1 second before trying again."),
    ],
)
def test_wrong_provisional_codes_slow_the_client_down(
    language: str,
    expected: str,
    client: TestClient,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    """LC-2: wrong codes make this client wait (a readable message in the person's language,
    Retry-After), even for the right code, and never lock the person (`auth.throttle`)."""
    holder, code = make_notified(database, vault, settings)
    client.get(f"/lang/{language}")
    with clock.frozen_at(clock.now()):
        for _ in range(settings.client_free_failures + 1):
            response = post(
                client,
                "/opposition",
                {"nir": holder.nir, "code": "AAAA-AAAA-AAAA"},
                page="/opposition",
            )
            assert response.status_code == 401
            assert "aria-invalid" in response.text
        response = post(
            client, "/opposition", {"nir": holder.nir, "code": code}, page="/opposition"
        )
    assert response.status_code == 429
    assert expected in html.unescape(response.text)
    assert response.headers["retry-after"] == "1"
    other = TestClient(client.app, client=("198.51.100.30", 50000))
    done = post(other, "/opposition", {"nir": holder.nir, "code": code}, page="/opposition")
    assert done.status_code == 303  # the person, from their own address, opposes at once


def test_a_wrong_login_code_says_how_many_tries_are_left(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    post(client, "/login", {"username": "marie", "password": PASSWORD}, page="/login")
    response = post(client, "/login/code", {"code": "000000"}, page="/login/code")
    if "encore 4 essais" not in response.text:  # the real code may be 000000 (one in a million)
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert 'aria-describedby="code-error"' in response.text


# -- nothing sensitive in URLs, titles, pages ------------------------------------------------------


def test_no_nir_in_urls_and_no_document_title_in_page_titles(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    deposit(database, vault, settings, holder, "Sérologie VIH")
    log_in(client, database)
    pages = ["/home", "/documents", "/contacts", "/account", "/account/close"]
    seen = set(pages)
    while pages:
        path = pages.pop()
        response = client.get(path)
        assert response.status_code == 200, path
        title = re.search(r"<title>(.*?)</title>", response.text, re.S)
        assert title is not None and "VIH" not in title.group(1)
        for attribute, link in re.findall(r'(href|action|src)="([^"]+)"', response.text):
            assert holder.nir not in link and holder.nir[:13] not in link
            if attribute != "href":
                continue
            if link.startswith("/documents/") and link not in seen and "download" not in link:
                seen.add(link)
                if not link.endswith("/content"):
                    pages.append(link)
    for form in ("/opposition", "/activation", "/renewal"):
        html = client.get(form).text
        assert 'method="post"' in html and 'name="nir"' in html


def _outbox_kinds(database: Database) -> list[str]:
    from carnet.notifications.models import OutboxMessage

    with database.transaction() as session:
        return list(session.scalars(select(OutboxMessage.kind)))


@pytest.mark.parametrize(
    "path", ["/documents/not-a-uuid", "/documents/00000000-0000-4000-8000-000000000000"]
)
def test_missing_pages_are_readable(client: TestClient, database: Database, path: str) -> None:
    make_account(database)
    log_in(client, database)
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "n'existe pas" in html.unescape(response.text)
    assert "Traceback" not in response.text


def test_asking_for_codes_again_and_again_slows_the_client_down(
    client: TestClient, settings: Settings
) -> None:
    """LC-2, LC-4: the renewal page counts every request against the client, whoever the number
    belongs to, and then says in the person's language how long to wait (Retry-After)."""
    nir = "180017500100104"  # a valid number nobody has: the answer is the same for anyone's
    with clock.frozen_at(clock.now()):
        for _ in range(settings.client_free_failures + 1):
            assert post(client, "/renewal", {"nir": nir}, page="/renewal").status_code == 200
        response = post(client, "/renewal", {"nir": nir}, page="/renewal")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "attendez 1 seconde avant de réessayer" in html.unescape(response.text)
