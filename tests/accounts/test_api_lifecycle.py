"""The holder API end to end: opposition and its proof, activation, closing, renewal, profiles.

Journeys go through the HTTP client; codes come from `lifecycle.issue_code` (what the roster run
calls) or, when the API sends them, from the real outbox rows. Rules: LC-2, LC-3, LC-4, LC-5,
REP-1, REP-4, ACC-8 (see ../shared/design/rules.md).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pypdf
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet import clock
from carnet.access.routes import declared_rules
from carnet.accounts import lifecycle, passwords
from carnet.accounts import rules as account_rules
from carnet.accounts.models import Caregiving, Holder, ProvisionalCode, Representation
from carnet.accounts.proof import masked_nir
from carnet.audit.models import AuditEntry
from carnet.auth.models import ApiToken
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.factories import make_holder, make_professional
from tests.notifications.support import mail_text

PASSWORD = "violet lighthouse 42 orbit"


# -- helpers (also used by tests/auth/test_login.py) -------------------------------------------


@dataclass(frozen=True)
class Notified:
    """A holder just notified (LC-1), with the clear provisional code the notice carried."""

    id: uuid.UUID
    nir: str
    code: str
    birth_date: dt.date


def today(settings: Settings) -> dt.date:
    return clock.today(settings.timezone)


def notified_holder(
    database: Database, vault: Vault, settings: Settings, **overrides: Any
) -> Notified:
    values: dict[str, Any] = {
        "state": "notified",
        "notified_on": today(settings),
        "opposition_deadline": today(settings) + dt.timedelta(weeks=settings.opposition_weeks),
        "birth_name": "CURIE",
        "first_names": "Marie Salomea",
    }
    values.update(overrides)
    with database.transaction() as session:
        holder = make_holder(session, **values)
        code = lifecycle.issue_code(session, vault, settings, holder)
        return Notified(holder.id, holder.nir, code, holder.birth_date)


def new_code(database: Database, vault: Vault, settings: Settings, holder_id: uuid.UUID) -> str:
    """A fresh code for an existing space, as a renewal would issue it."""
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        return lifecycle.issue_code(session, vault, settings, holder)


def holder_row(database: Database, holder_id: uuid.UUID) -> Holder | None:
    with database.transaction() as session:
        return session.get(Holder, holder_id)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Every error is JSON {"error": {code, message, request_id}}, and never a stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    return error


def activation_body(
    notified: Notified, *, username: str = "marie.curie", password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    body = {
        "nir": notified.nir,
        "code": notified.code,
        "birth_date": notified.birth_date.isoformat(),
        "username": username,
        "password": password,
        "email": f"{username}@example.org",
    }
    body.update(extra)
    return body


def latest_mail(database: Database, kind: str, recipient: str | None = None) -> OutboxMessage:
    with database.transaction() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == kind)
        if recipient is not None:
            query = query.where(OutboxMessage.recipient == recipient)
        message = session.scalars(query.order_by(OutboxMessage.created_at.desc())).first()
        assert message is not None, f"no {kind} e-mail in the outbox"
        return message


def login(client: TestClient, database: Database, username: str, password: str) -> str:
    """Both login steps; the one-time code is read from the e-mail in the outbox."""
    started = client.post("/api/v1/session", json={"username": username, "password": password})
    assert started.status_code == 200, started.text
    mail = latest_mail(database, "auth.login-code")
    match = re.search(r"\b(\d{6})\b", mail_text(mail))
    assert match is not None
    verified = client.post(
        "/api/v1/session/verify",
        json={"challenge": started.json()["challenge"], "code": match.group(1)},
    )
    assert verified.status_code == 200, verified.text
    token: str = verified.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(database: Database, holder_id: uuid.UUID) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.chain == f"space:{holder_id}")
                .order_by(AuditEntry.seq)
            )
        )


# -- opposition (LC-2, LC-3) -------------------------------------------------------------------


def test_oppose_without_login_then_proof_then_activation_refused(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: opposing needs no login, gives a PDF proof with a masked NIR; the space stays shut."""
    person = notified_holder(database, vault, settings)
    response = client.post("/api/v1/opposition", json={"nir": person.nir, "code": person.code})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert holder_row(database, person.id).state == "opposed"  # type: ignore[union-attr]
    assert "account.oppose" in audit_actions(database, person.id)

    proof = client.get(answer["proof_url"])
    assert proof.status_code == 200
    assert proof.headers["content-type"] == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(proof.content)).pages[0].extract_text()
    assert masked_nir(person.nir) == person.nir[:5] + "••••"
    assert masked_nir(person.nir) in text
    assert person.nir not in text.replace(" ", "")
    assert "CURIE" in text and "Marie Salomea" in text
    opposed_at = dt.datetime.fromisoformat(answer["opposed_at"].replace("Z", "+00:00"))
    paris = opposed_at.astimezone(ZoneInfo("Europe/Paris"))
    assert paris.strftime("%d/%m/%Y") in text
    assert paris.strftime("%H:%M") in text
    assert "account.opposition-proof-download" in audit_actions(database, person.id)  # ACC-8

    # The code was used by the opposition (single use, LC-4)...
    again = client.post("/api/v1/activation", json=activation_body(person))
    assert_error(again, 409, "code-used")
    # ...and even with a fresh code, an opposed space is not activated (LC-2).
    fresh = new_code(database, vault, settings, person.id)
    refused = client.post("/api/v1/activation", json=activation_body(person, code=fresh))
    assert_error(refused, 409, "state-opposed")
    row = holder_row(database, person.id)
    assert row is not None and row.state == "opposed" and row.password_hash is None


def test_unknown_proof_is_404(client: TestClient) -> None:
    """LC-2: the proof id is a random capability; anything else is simply not found."""
    assert_error(client.get(f"/api/v1/opposition/{uuid.uuid4()}/proof.pdf"), 404, "not-found")
    assert_error(client.get("/api/v1/opposition/not-an-id/proof.pdf"), 404, "not-found")


def test_oppose_after_the_deadline_is_refused_and_changes_nothing(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: only until the deadline (inclusive)."""
    yesterday = today(settings) - dt.timedelta(days=1)
    person = notified_holder(
        database,
        vault,
        settings,
        notified_on=yesterday - dt.timedelta(weeks=6),
        opposition_deadline=yesterday,
    )
    response = client.post("/api/v1/opposition", json={"nir": person.nir, "code": person.code})
    assert_error(response, 409, "deadline-passed")
    with database.transaction() as session:
        assert session.get(Holder, person.id).state == "notified"  # type: ignore[union-attr]
        code = session.scalars(
            select(ProvisionalCode).where(ProvisionalCode.holder_id == person.id)
        ).one()
        assert code.used_at is None
    # Activation after the deadline is still possible (LC-4), with the same code.
    activated = client.post("/api/v1/activation", json=activation_body(person))
    assert activated.status_code == 201, activated.text


def test_oppose_on_the_deadline_day_is_accepted(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: the deadline day itself is included."""
    person = notified_holder(database, vault, settings, opposition_deadline=today(settings))
    response = client.post("/api/v1/opposition", json={"nir": person.nir, "code": person.code})
    assert response.status_code == 201, response.text


def test_oppose_dmp_migration_only(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-3: opposing the DMP migration leaves the space to open; the proof says what was opposed."""
    person = notified_holder(database, vault, settings)
    response = client.post(
        "/api/v1/opposition",
        json={"nir": person.nir, "code": person.code, "scope": "dmp-migration"},
    )
    assert response.status_code == 201, response.text
    row = holder_row(database, person.id)
    assert row is not None and row.state == "notified" and row.dmp_migration_opposed
    pdf = client.get(response.json()["proof_url"])
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "DMP" in text


def test_unknown_nir_and_wrong_code_answer_alike(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: the opposition form is no oracle of who has a space."""
    person = notified_holder(database, vault, settings)
    unknown = notified_holder(database, vault, settings)
    with database.transaction() as session:
        session.delete(session.get(Holder, unknown.id))
    wrong = client.post("/api/v1/opposition", json={"nir": person.nir, "code": "AAAA-AAAA-AAAA"})
    nobody = client.post("/api/v1/opposition", json={"nir": unknown.nir, "code": unknown.code})
    assert (
        assert_error(wrong, 401, "bad-code")["message"]
        == (assert_error(nobody, 401, "bad-code")["message"])
    )


def test_invalid_nir_is_a_clear_400(client: TestClient) -> None:
    response = client.post("/api/v1/opposition", json={"nir": "180017500100199", "code": "x"})
    error = assert_error(response, 400, "invalid-input")
    assert "key" in response.text and error["request_id"]


# -- activation (LC-4) -------------------------------------------------------------------------


def test_activation_then_login_then_me(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: INS + code + birth date → active space; then login with the e-mailed code (ACC-8)."""
    person = notified_holder(database, vault, settings)
    response = client.post("/api/v1/activation", json=activation_body(person))
    assert response.status_code == 201, response.text
    assert response.json() == {"state": "active", "username": "marie.curie"}
    row = holder_row(database, person.id)
    assert row is not None and row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash

    token = login(client, database, "marie.curie", PASSWORD)
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["holder_id"] == str(person.id)
    assert body["state"] == "active" and body["username"] == "marie.curie"
    assert body["activated_at"] is not None
    assert body["opposition_deadline"] == row.opposition_deadline.isoformat()  # type: ignore[union-attr]
    actions = audit_actions(database, person.id)
    assert "account.activate" in actions and "auth.login" in actions


def test_replayed_code_is_refused(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: codes are single-use; the second use changes nothing."""
    person = notified_holder(database, vault, settings)
    assert client.post("/api/v1/activation", json=activation_body(person)).status_code == 201
    replay = client.post("/api/v1/opposition", json={"nir": person.nir, "code": person.code})
    assert_error(replay, 409, "code-used")
    assert holder_row(database, person.id).state == "active"  # type: ignore[union-attr]


def test_expired_and_replaced_codes_are_refused(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: codes expire, and a renewed code replaces the previous one."""
    person = notified_holder(database, vault, settings)
    later = clock.now() + dt.timedelta(days=settings.code_ttl_days, hours=1)
    with clock.frozen_at(later):
        expired = client.post("/api/v1/activation", json=activation_body(person))
    assert_error(expired, 409, "code-expired")
    fresh = new_code(database, vault, settings, person.id)
    replaced = client.post("/api/v1/activation", json=activation_body(person))
    assert_error(replaced, 409, "code-replaced")
    assert holder_row(database, person.id).state == "notified"  # type: ignore[union-attr]
    ok = client.post("/api/v1/activation", json=activation_body(person, code=fresh))
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    "password",
    [
        "short pw",  # too short
        "abababababababab",  # too few different characters
        "my marie.curie pass!",  # contains the username
        "born 01011980 secret",  # contains the birth date
    ],
)
def test_weak_passwords_are_refused_with_the_reason(
    password: str, client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: a sensible policy, explained; nothing changes when refused."""
    person = notified_holder(database, vault, settings, birth_date=dt.date(1980, 1, 1))
    response = client.post("/api/v1/activation", json=activation_body(person, password=password))
    error = assert_error(response, 400, "invalid-input")
    assert error["field"] == "password"
    expected = passwords.password_problem(password, "marie.curie", dt.date(1980, 1, 1))
    assert expected is not None and error["message"] == expected
    row = holder_row(database, person.id)
    assert row is not None and row.state == "notified" and row.password_hash is None


def test_username_taken(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        make_holder(session, username="marie.curie")
    person = notified_holder(database, vault, settings)
    response = client.post("/api/v1/activation", json=activation_body(person))
    assert_error(response, 409, "username-taken")
    assert holder_row(database, person.id).state == "notified"  # type: ignore[union-attr]


def test_minor_and_wrong_birth_date_cannot_activate(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4 identity check; REP-1: a minor's space is activated by the representative."""
    adult = notified_holder(database, vault, settings)
    mismatch = client.post(
        "/api/v1/activation", json=activation_body(adult, birth_date="1999-12-31")
    )
    assert assert_error(mismatch, 400, "invalid-input")["field"] == "birth_date"
    child = notified_holder(
        database, vault, settings, birth_date=today(settings) - dt.timedelta(days=365 * 10)
    )
    minor = client.post("/api/v1/activation", json=activation_body(child, username="kid.curie"))
    assert_error(minor, 403, "minor")


# -- closing (LC-5) ----------------------------------------------------------------------------


def _active_with_token(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> tuple[Notified, str]:
    person = notified_holder(database, vault, settings)
    assert client.post("/api/v1/activation", json=activation_body(person)).status_code == 201
    return person, login(client, database, "marie.curie", PASSWORD)


def test_close_with_purge_revokes_tokens_and_refuses_activation(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-5: closed at once, erasure at the next jobs run; no new activation while it is pending."""
    person, token = _active_with_token(client, database, vault, settings)
    response = client.post("/api/v1/me/close", json={"purge": True}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "state": "purge-pending",
        "purge_due_on": today(settings).isoformat(),
    }
    assert_error(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthenticated")
    with database.transaction() as session:
        live = session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(ApiToken.principal_id == person.id, ApiToken.revoked_at.is_(None))
        )
        assert live == 0
    fresh = new_code(database, vault, settings, person.id)
    again = client.post("/api/v1/activation", json=activation_body(person, code=fresh))
    assert_error(again, 409, "purge-pending")
    # Nor does a renewal send a code while the erasure is pending (LC-5).
    with database.transaction() as session:
        before = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert client.post("/api/v1/renewal", json={"nir": person.nir}).status_code == 202
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before
    actions = audit_actions(database, person.id)
    assert "account.close" in actions and "account.request-purge" in actions


def test_close_without_purge_keeps_the_archive_ten_years(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-5: without an express request the archive is kept 10 years."""
    _person, token = _active_with_token(client, database, vault, settings)
    response = client.post("/api/v1/me/close", json={"purge": False}, headers=bearer(token))
    assert response.status_code == 200, response.text
    day = today(settings)
    expected = account_rules.archive_purge_day(day, settings.archive_years)
    assert response.json() == {"state": "closed", "purge_due_on": expected.isoformat()}
    assert expected.year == day.year + 10


def test_close_needs_a_holder_token(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """Only the holder closes (REP-4: not a caregiver; professionals even less)."""
    assert_error(client.post("/api/v1/me/close", json={"purge": True}), 401, "unauthenticated")
    with database.transaction() as session:
        pro = make_professional(session)
        token, _ = issue_token(
            session,
            Principal(PrincipalKind.PROFESSIONAL, pro.id),
            ttl=dt.timedelta(minutes=5),
        )
    refused = client.post("/api/v1/me/close", json={"purge": True}, headers=bearer(token))
    assert_error(refused, 403, "forbidden")


# -- renewal -----------------------------------------------------------------------------------


def test_renewal_answers_alike_and_sends_only_to_known_people(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: codes are renewable; the answer never tells whether the NIR is known."""
    person = notified_holder(database, vault, settings, email="marie@example.org")
    stranger = notified_holder(database, vault, settings)
    with database.transaction() as session:
        session.delete(session.get(Holder, stranger.id))
    known = client.post("/api/v1/renewal", json={"nir": person.nir})
    unknown = client.post("/api/v1/renewal", json={"nir": stranger.nir})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {"status": "sent-if-known"}
    with database.transaction() as session:
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "account.renewal")
        ).all()
    assert [m.recipient for m in mails] == ["marie@example.org"]
    text = mail_text(mails[0], settings.outbox_dir)
    assert stranger.nir not in text
    match = re.search(r"([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", text)
    assert match is not None
    # The e-mailed code activates the space; the earlier one, still valid until then (anyone may
    # ask for a renewal, LC-2), stops working with it.
    ok = client.post("/api/v1/activation", json=activation_body(person, code=match.group(1)))
    assert ok.status_code == 201, ok.text
    assert_error(
        client.post("/api/v1/activation", json=activation_body(person)), 409, "code-replaced"
    )


def test_renewal_of_an_invalid_nir_is_400(client: TestClient) -> None:
    assert_error(client.post("/api/v1/renewal", json={"nir": "12"}), 400, "invalid-input")


# -- profiles (REP-1, REP-4) -------------------------------------------------------------------


def test_profiles_list_own_space_minors_represented_and_people_helped(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """REP-1: accepted representations of minors; REP-4: accepted caregiving; nothing pending."""
    with database.transaction() as session:
        parent = make_holder(session, first_names="Marie", birth_name="CURIE")
        child = make_holder(
            session,
            first_names="Eve",
            birth_name="CURIE",
            birth_date=today(settings) - dt.timedelta(days=365 * 8),
            state="open",
        )
        pending_child = make_holder(
            session, first_names="Irene", birth_date=today(settings) - dt.timedelta(days=365 * 5)
        )
        helped = make_holder(session, first_names="Pierre", birth_name="DUPONT")
        stranger = make_holder(session, first_names="Nobody")
        session.add_all(
            [
                Representation(
                    minor_id=child.id,
                    representative_id=parent.id,
                    representative_nir=parent.nir,
                    role="managing",
                    status="accepted",
                ),
                Representation(
                    minor_id=pending_child.id,
                    representative_id=parent.id,
                    representative_nir=parent.nir,
                    role="second",
                    status="pending",
                ),
                Caregiving(
                    holder_id=helped.id,
                    caregiver_id=parent.id,
                    status="accepted",
                    expires_at=clock.now() + dt.timedelta(days=14),
                ),
                Caregiving(
                    holder_id=stranger.id,
                    caregiver_id=parent.id,
                    status="revoked",
                    expires_at=clock.now() + dt.timedelta(days=14),
                ),
            ]
        )
        token, _ = issue_token(
            session, Principal(PrincipalKind.HOLDER, parent.id), ttl=dt.timedelta(minutes=5)
        )
        ids = {"parent": parent.id, "child": child.id, "helped": helped.id}
    response = client.get("/api/v1/me/profiles", headers=bearer(token))
    assert response.status_code == 200, response.text
    profiles = response.json()["profiles"]
    assert profiles[0] == {
        "holder_id": str(ids["parent"]),
        "first_names": "Marie",
        "birth_name": "CURIE",
        "relation": "self",
        "state": "active",
    }
    by_id = {p["holder_id"]: (p["relation"], p["state"]) for p in profiles[1:]}
    assert by_id == {
        str(ids["child"]): ("representative", "open"),
        str(ids["helped"]): ("caregiver", "active"),
    }


# -- the routes themselves ---------------------------------------------------------------------

HOLDER_ROUTES = {
    ("/api/v1/opposition", "POST"): "public",
    ("/api/v1/opposition/{proof_id}/proof.pdf", "GET"): "public",
    ("/api/v1/activation", "POST"): "public",
    ("/api/v1/session", "POST"): "public",
    ("/api/v1/session/verify", "POST"): "public",
    ("/api/v1/session", "DELETE"): "authenticated:holder",
    ("/api/v1/renewal", "POST"): "public",
    ("/api/v1/me", "GET"): "authenticated:holder",
    ("/api/v1/me/close", "POST"): "authenticated:holder",
    ("/api/v1/me/profiles", "GET"): "authenticated:holder",
    ("/api/v1/password/recovery", "POST"): "public",
    ("/api/v1/password/reset", "POST"): "public",
    ("/api/v1/me/sessions", "GET"): "authenticated:holder",
    ("/api/v1/me/sessions/{session_id}", "DELETE"): "authenticated:holder",
    ("/api/v1/me/notification-preferences", "GET"): "authenticated:holder",
    ("/api/v1/me/notification-preferences", "PUT"): "authenticated:holder",
}


def test_each_holder_route_declares_its_one_rule(app: FastAPI) -> None:
    """Deny by default; LC-2: opposition, its proof and activation are public."""
    found = {}
    for path, methods, rules in declared_rules(app):
        for method in methods:
            if (path, method) in HOLDER_ROUTES:
                found[(path, method)] = rules
    assert found == {key: [rule] for key, rule in HOLDER_ROUTES.items()}


def test_holder_routes_are_documented_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, method in HOLDER_ROUTES:
        operation = spec["paths"][path][method.lower()]
        assert operation["tags"] == ["holder"]
        assert operation.get("summary")
    schemas = spec["components"]["schemas"]
    for name in (
        "OppositionIn",
        "ActivationIn",
        "SessionIn",
        "VerifyIn",
        "TokenOut",
        "CloseIn",
        "RecoveryIn",
        "ResetIn",
    ):
        assert schemas[name].get("examples"), name
    verify = spec["paths"]["/api/v1/session/verify"]["post"]
    assert "429" in verify["responses"] and "401" in verify["responses"]
