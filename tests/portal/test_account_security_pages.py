"""'Mon compte': changing the password (this session stays, every other one ends), the sessions
and devices page (one's own sessions only can be ended), and the e-mails a space switches off."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts import service as account_service
from carnet.audit.models import AuditEntry
from carnet.auth import sessions as portal_sessions
from carnet.auth.models import PortalSession
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token, live_token_count
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from tests.portal.support import PASSWORD, log_in, make_account, post

NEW = "une toute nouvelle phrase 42"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def other_session(database: Database, principal: Principal, agent: str = "") -> PortalSession:
    with database.transaction() as session:
        _token, row = portal_sessions.create(session, principal, user_agent=agent)
        session.expunge(row)
    return row


def live(database: Database, principal: Principal) -> list[PortalSession]:
    with database.transaction() as session:
        rows = portal_sessions.live_rows(session, principal)
        session.expunge_all()
    return rows


def test_changing_the_password_keeps_this_session_and_ends_the_others(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    me = Principal(PrincipalKind.HOLDER, holder.id)
    log_in(client, database)
    elsewhere = other_session(database, me)
    with database.transaction() as session:
        issue_token(session, me, ttl=dt.timedelta(hours=1))

    wrong = post(
        client,
        "/account/password",
        {"current_password": "pas le bon", "new_password": NEW, "new_password_again": NEW},
        page="/account/password",
    )
    assert wrong.status_code == 403
    assert "Le mot de passe actuel n&#39;est pas correct." in wrong.text
    differ = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "new_password_again": "autre"},
        page="/account/password",
    )
    assert differ.status_code == 400
    assert len(live(database, me)) == 2  # nothing ended on a refusal

    done = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW},
        page="/account/password",
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert "Votre mot de passe est changé" in client.get("/account").text
    assert elsewhere.id not in {row.id for row in live(database, me)}
    assert len(live(database, me)) == 1  # this one
    with database.transaction() as session:
        assert live_token_count(session, me) == 0
        kinds = session.scalars(select(OutboxMessage.kind)).all()
        assert "auth.password-changed" in kinds
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "auth.password-change")
        ).all() == ["auth.password-change"]


def test_the_sessions_page_lists_devices_and_ends_only_ones_own(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    someone = make_account(database, "quelquun")
    me = Principal(PrincipalKind.HOLDER, holder.id)
    client.headers["User-Agent"] = FIREFOX
    log_in(client, database)
    phone = other_session(database, me, "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile")
    theirs = other_session(database, Principal(PrincipalKind.HOLDER, someone.id))
    with database.transaction() as session:
        issue_token(session, me, ttl=dt.timedelta(hours=1))

    page = client.get("/account/sessions")
    assert page.status_code == 200
    assert "Firefox, Linux" in page.text and "Chrome, Android" in page.text
    assert "Cet appareil" in page.text and "1 jeton d'accès" in page.text
    assert "128.0" not in page.text  # never versions

    refused = post(client, f"/account/sessions/{theirs.id}/end", page="/account/sessions")
    assert refused.status_code == 303
    assert len(live(database, Principal(PrincipalKind.HOLDER, someone.id))) == 1
    ended = post(client, f"/account/sessions/{phone.id}/end", page="/account/sessions")
    assert ended.status_code == 303
    assert phone.id not in {row.id for row in live(database, me)}
    assert "La session est fermée sur cet appareil." in client.get("/account/sessions").text

    other_session(database, me)
    others = post(client, "/account/sessions/others", page="/account/sessions")
    assert others.status_code == 303
    [kept] = live(database, me)
    assert kept.device == "Firefox, Linux"
    with database.transaction() as session:
        assert live_token_count(session, me) == 0

    mine = post(client, f"/account/sessions/{kept.id}/end", page="/account/sessions")
    assert mine.headers["location"] == "/login?reason=logged-out"
    assert client.get("/account", follow_redirects=False).status_code in (302, 303)


def test_notification_choices_are_saved_and_security_ones_are_not_offered(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    log_in(client, database)
    page = client.get("/account")
    for name in (
        "notify_new_documents",
        "notify_messages",
        "notify_appointments",
        "notify_accesses",
    ):
        assert f'name="{name}"' in page.text
    saved = post(
        client,
        "/account/preferences",
        {"notify_new_documents": "1", "notify_appointments": "1"},
        page="/account",
    )
    assert saved.status_code == 303
    with database.transaction() as session:
        assert not account_service.wants_notice(session, holder.id, "messages")
        assert account_service.wants_notice(session, holder.id, "appointments")
        assert not account_service.wants_notice(session, holder.id, "accesses")
    page = client.get("/account")
    assert 'id="notify_appointments" name="notify_appointments" value="1" checked' in page.text
    assert 'id="notify_messages" name="notify_messages" value="1">' in page.text
