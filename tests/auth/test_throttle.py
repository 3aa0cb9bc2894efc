"""Password logins cannot be blocked by strangers and tell nothing (Carnet decision, as LC-4).

Failures count per (username, client), per client and against a global budget (`auth.throttle`,
`auth.login`): a stranger typing wrong passwords for someone, from elsewhere, never locks the owner
out; an unknown username costs the same argon2 verification as a wrong password.
"""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import passwords
from carnet.auth import login as login_service
from carnet.auth.principal import PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.accounts.test_api_lifecycle import assert_error
from tests.accounts.test_guessing import from_address
from tests.auth.test_login import PASSWORD, active_holder, otp_of
from tests.factories import make_professional


def test_a_stranger_cannot_lock_the_owner_out_of_logging_in(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    """Carnet decision (auth.login): wrong passwords for a username from one client lock that
    username from that client only; the owner, from their own address, logs in at once."""
    active_holder(database)
    stranger = from_address(app, "203.0.113.80")
    base = clock.now()
    for attempt in range(2 * settings.login_max_failures):
        with clock.frozen_at(
            base + attempt * dt.timedelta(seconds=settings.client_max_wait_seconds)
        ):
            tried = stranger.post("/api/v1/session", json={"username": "bob", "password": "nope"})
        assert tried.status_code in (401, 429)
    assert_error(
        stranger.post("/api/v1/session", json={"username": "bob", "password": PASSWORD}),
        429,
        "too-many-attempts",
    )
    owner = from_address(app, "198.51.100.20")
    started = owner.post("/api/v1/session", json={"username": "bob", "password": PASSWORD})
    assert started.status_code == 200, started.text
    done = owner.post(
        "/api/v1/session/verify",
        json={"challenge": started.json()["challenge"], "code": otp_of(database)},
    )
    assert done.status_code == 200, done.text


def test_a_stranger_cannot_lock_a_professional_out(
    session: Session, vault: Vault, settings: Settings
) -> None:
    """Carnet decision (auth.login): the professional login (RPPS + password) is throttled the
    same way; a stranger's wrong passwords from elsewhere do not stop the professional."""
    pro = make_professional(
        session, password_hash=passwords.hash_password(PASSWORD), email="dr@example.org"
    )
    base = clock.now()
    for attempt in range(2 * settings.login_max_failures):
        with clock.frozen_at(
            base + attempt * dt.timedelta(seconds=settings.client_max_wait_seconds)
        ):
            refused = login_service.start_login(
                session,
                vault,
                settings,
                PrincipalKind.PROFESSIONAL,
                pro.rpps,
                "nope",
                client="203.0.113.81",
            )
        assert refused.error is not None
    started = login_service.start_login(
        session, vault, settings, PrincipalKind.PROFESSIONAL, pro.rpps, PASSWORD, client="::1"
    )
    assert started.error is None and started.value is not None


def test_a_client_spraying_passwords_over_usernames_waits(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    """Carnet decision (auth.throttle): one client trying passwords on many usernames waits
    growing delays (429 + Retry-After, a clear message) although no username is locked."""
    sprayer = from_address(app, "203.0.113.82")
    with clock.frozen_at(clock.now()):
        for n in range(settings.client_free_failures + 1):
            tried = sprayer.post("/api/v1/session", json={"username": f"u{n}", "password": "x"})
            assert_error(tried, 401, "bad-credentials")
        slowed = sprayer.post("/api/v1/session", json={"username": "other", "password": "x"})
    error = assert_error(slowed, 429, "too-many-attempts")
    assert slowed.headers["Retry-After"] == "1" and "wait 1 second(s)" in error["message"]


@pytest.mark.parametrize("username", ["bob", "nobody"])
def test_an_unknown_username_costs_one_password_verification(
    username: str, app: FastAPI, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing oracle of usernames: an unknown username and a wrong password each cost exactly
    one argon2 verification (against a dummy hash when there is no account), counted, not timed."""
    active_holder(database)
    passwords.verify_password(None, "warm up the dummy hash")
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append("verify")
            return super().verify(hash, password)

        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            calls.append("hash")
            return super().hash(password, salt=salt)

    monkeypatch.setattr(passwords, "_hasher", Counting())
    refused = from_address(app).post(
        "/api/v1/session", json={"username": username, "password": "not the password"}
    )
    assert_error(refused, 401, "bad-credentials")
    assert calls == ["verify"]
