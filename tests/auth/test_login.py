"""Logging in: password then an e-mailed one-time code, throttled, audited (ACC-8), logout.

Holders log in through `POST /api/v1/session` and `/session/verify`; the code is read from the real
outbox row, the only place it exists in clear.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import passwords
from carnet.accounts.models import Holder
from carnet.audit.models import AuditEntry
from carnet.auth import login as login_service
from carnet.auth.models import LoginChallenge, Throttle
from carnet.auth.principal import PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.accounts.test_api_lifecycle import (
    assert_error,
    audit_actions,
    bearer,
    latest_mail,
    login,
)
from tests.factories import make_holder
from tests.notifications.support import mail_text

PASSWORD = "quiet harbour 7 lanterns"
_HASH = passwords.hash_password(PASSWORD)  # argon2 is slow on purpose: hash once for the module


def active_holder(database: Database, username: str = "bob", **overrides: Any) -> uuid.UUID:
    """An activated holder (LC-4) with credentials and an e-mail address."""
    values: dict[str, Any] = {
        "username": username,
        "password_hash": _HASH,
        "email": f"{username}@example.org",
        "state": "active",
        "activated_at": clock.now(),
    }
    values.update(overrides)
    with database.transaction() as session:
        return make_holder(session, **values).id


def start(client: TestClient, username: str = "bob", password: str = PASSWORD) -> Any:
    return client.post("/api/v1/session", json={"username": username, "password": password})


def otp_of(database: Database, recipient: str = "bob@example.org") -> str:
    mail = latest_mail(database, "auth.login-code", recipient)
    match = re.search(r"\b(\d{6})\b", mail_text(mail))
    assert match is not None
    return match.group(1)


def verify(client: TestClient, challenge: str, code: str) -> Any:
    return client.post("/api/v1/session/verify", json={"challenge": challenge, "code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_login_with_emailed_code_gives_a_working_token_and_is_audited(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """ACC-8: the login is recorded in the holder's chain; the code exists only in the e-mail."""
    holder_id = active_holder(database)
    started = start(client, "  Bob ")  # usernames are compared lower-case, trimmed
    assert started.status_code == 200, started.text
    challenge = started.json()["challenge"]
    assert started.json()["expires_in"] == settings.otp_ttl_minutes * 60
    code = otp_of(database)
    with database.transaction() as session:
        row = session.scalars(select(LoginChallenge)).one()
        assert row.principal_kind == "holder" and row.principal_id == holder_id
        stored = (row.otp_hash, row.challenge_hash)
        assert code not in stored[0] and challenge not in stored[1]
        mail = session.scalars(select(OutboxMessage)).one()
        assert mail.holder_id == holder_id and mail.recipient == "bob@example.org"
    done = verify(client, challenge, code)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.token_ttl_minutes * 60
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["holder_id"] == str(holder_id)
    assert "auth.login" in audit_actions(database, holder_id)


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, database: Database
) -> None:
    """No oracle of usernames; the failure is recorded in the space's chain (ACC-8)."""
    holder_id = active_holder(database)
    bad = assert_error(start(client, "bob", "not the password"), 401, "bad-credentials")
    nobody = assert_error(start(client, "nobody", PASSWORD), 401, "bad-credentials")
    assert bad["message"] == nobody["message"]
    assert audit_actions(database, holder_id).count("auth.login-failure") == 1
    with database.transaction() as session:
        assert session.scalars(select(OutboxMessage)).first() is None


def test_repeated_wrong_passwords_are_rate_limited(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """Login attempts are rate limited per username from one client (429 + Retry-After), then
    unlocked."""
    active_holder(database)
    for _ in range(settings.login_max_failures):
        assert_error(start(client, "bob", "not the password"), 401, "bad-credentials")
    blocked = start(client)  # even the right password, from this client
    assert_error(blocked, 429, "too-many-attempts")
    assert int(blocked.headers["Retry-After"]) == settings.login_lock_minutes * 60
    with database.transaction() as session:
        key = login_service.throttle_key(session, vault, PrincipalKind.HOLDER, "bob", "testclient")
        row = session.get(Throttle, key)
        assert row is not None and row.locked_until is not None
        assert "bob" not in key and "testclient" not in key
    # Another username is not affected.
    active_holder(database, "alice")
    assert start(client, "alice").status_code == 200
    later = clock.now() + dt.timedelta(minutes=settings.login_lock_minutes, seconds=1)
    with clock.frozen_at(later):
        assert start(client).status_code == 200


def test_failures_spread_over_time_do_not_lock(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """The count restarts after the window: a forgetful holder is not locked out for good."""
    active_holder(database)
    base = clock.now()
    window = dt.timedelta(minutes=settings.login_lock_minutes, seconds=1)
    for step in range(2):
        for attempt in range(settings.login_max_failures - 1):
            # Ten seconds apart: past the client's first short waits (auth.throttle).
            with clock.frozen_at(base + step * window + attempt * dt.timedelta(seconds=10)):
                assert_error(start(client, "bob", "not the password"), 401, "bad-credentials")
    # A few seconds later: the client's own short wait (auth.throttle) is over too.
    with clock.frozen_at(base + window + dt.timedelta(seconds=settings.client_max_wait_seconds)):
        assert start(client).status_code == 200


def test_wrong_codes_kill_the_challenge(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """At most 5 codes per challenge; then even the right code is refused, and the username is
    throttled (otherwise one knowing the password could open challenge after challenge)."""
    holder_id = active_holder(database)
    challenge = start(client).json()["challenge"]
    code = otp_of(database)
    for attempt in range(login_service.OTP_MAX_ATTEMPTS):
        error = assert_error(verify(client, challenge, wrong(code)), 401, "bad-code")
        if attempt == login_service.OTP_MAX_ATTEMPTS - 1:
            assert "log in again" in error["message"]
    assert_error(verify(client, challenge, code), 401, "challenge-dead")
    with database.transaction() as session:
        row = session.scalars(select(LoginChallenge)).one()
        assert row.attempts == login_service.OTP_MAX_ATTEMPTS and row.used_at is None
    failures = audit_actions(database, holder_id).count("auth.login-failure")
    assert failures == login_service.OTP_MAX_ATTEMPTS
    assert "auth.login" not in audit_actions(database, holder_id)
    if settings.login_max_failures <= login_service.OTP_MAX_ATTEMPTS:
        assert_error(start(client), 429, "too-many-attempts")


def test_code_replayed_is_409_and_expired_is_401(
    client: TestClient, database: Database, settings: Settings
) -> None:
    active_holder(database)
    challenge = start(client).json()["challenge"]
    code = otp_of(database)
    assert verify(client, challenge, code).status_code == 200
    assert_error(verify(client, challenge, code), 409, "challenge-used")

    second = start(client).json()["challenge"]
    code = otp_of(database)
    later = clock.now() + dt.timedelta(minutes=settings.otp_ttl_minutes, seconds=1)
    with clock.frozen_at(later):
        assert_error(verify(client, second, code), 401, "challenge-expired")
    assert_error(verify(client, "no-such-challenge", code), 401, "bad-challenge")


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("suspended", "state-suspended"),
        ("closed", "state-closed"),
        ("purge-pending", "state-purge-pending"),
    ],
)
def test_a_space_that_is_not_active_cannot_log_in(
    state: str, code: str, client: TestClient, database: Database
) -> None:
    """LC-5, LC-6: closed or suspended spaces give a clear 403, only to whoever has the password."""
    active_holder(database, state=state)
    refused = assert_error(start(client), 403, code)
    assert "log in" in refused["message"]
    assert_error(start(client, "bob", "not the password"), 401, "bad-credentials")
    with database.transaction() as session:
        assert session.scalars(select(LoginChallenge)).first() is None


def test_a_space_closed_between_the_two_steps_gets_no_token(
    client: TestClient, database: Database
) -> None:
    holder_id = active_holder(database)
    challenge = start(client).json()["challenge"]
    code = otp_of(database)
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        holder.state = "suspended"
    assert_error(verify(client, challenge, code), 403, "state-suspended")


def test_logout_revokes_every_token(client: TestClient, database: Database) -> None:
    """DELETE /session logs out everywhere (ACC-8: recorded)."""
    holder_id = active_holder(database)
    phone = login(client, database, "bob", PASSWORD)
    laptop = login(client, database, "bob", PASSWORD)
    assert phone != laptop
    assert client.get("/api/v1/me", headers=bearer(laptop)).status_code == 200
    response = client.delete("/api/v1/session", headers=bearer(phone))
    assert response.status_code == 204
    for token in (phone, laptop):
        assert_error(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthenticated")
    assert "auth.logout" in audit_actions(database, holder_id)
    assert_error(client.delete("/api/v1/session"), 401, "unauthenticated")


def test_login_is_parameterised_by_principal_kind(
    session: Session, vault: Vault, settings: Settings
) -> None:
    """Professionals log in the same way (their own account source); kinds without one cannot."""
    holder = login_service.throttle_key(session, vault, PrincipalKind.HOLDER, "bob", "192.0.2.1")
    pro = login_service.throttle_key(session, vault, PrincipalKind.PROFESSIONAL, "bob", "192.0.2.1")
    assert holder != pro and holder.startswith("login:pair:")
    with pytest.raises(ValueError, match="operator"):
        login_service.start_login(
            session, vault, settings, PrincipalKind.OPERATOR, "bob", PASSWORD, client="192.0.2.1"
        )


def test_audit_of_unknown_usernames_goes_to_the_system_chain(
    client: TestClient, database: Database
) -> None:
    assert_error(start(client, "ghost", PASSWORD), 401, "bad-credentials")
    with database.transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "auth.login-failure")
        ).one()
        assert entry.chain == "system" and entry.holder_id is None
        assert "ghost" not in (entry.reason or "") + (entry.target_id or "")
