"""A forgotten password (`auth.recovery`): asked for by username, a one-time code by e-mail or by
letter, then a new password set with it.

Whoever asks learns nothing of whether the account exists; the code is kept as a keyed hash, works
once, dies after 30 minutes (15 days by letter) or a few wrong tries; asking is throttled per
client and per account; a reset ends every sign-in of the holder and tells them; each step is
audited (ACC-8).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.accounts import notices
from carnet.accounts.models import PostalLetter
from carnet.accounts.passwords import verify_password
from carnet.audit.models import AuditEntry
from carnet.auth import recovery, throttle
from carnet.auth import rules as auth_rules
from carnet.auth import sessions as portal_sessions
from carnet.auth.models import PasswordRecovery, PortalSession
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token, live_token_count
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.notifications.support import mail_text
from tests.portal.support import PASSWORD, csrf_of, make_account

NEW = "une toute nouvelle phrase 42"
CLIENT = "192.0.2.10"
_CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\b")


def ask(database: Database, vault: Vault, settings: Settings, username: str) -> str:
    with database.transaction() as session:
        return recovery.recover(session, vault, settings, username)


def reset(
    database: Database,
    vault: Vault,
    settings: Settings,
    username: str,
    code: str,
    new: str = NEW,
    client: str = CLIENT,
) -> recovery.Outcome[recovery.EndedAccess]:
    with database.transaction() as session:
        return recovery.reset_password(session, vault, settings, username, code, new, client=client)


def mailed_code(database: Database, recipient: str) -> str:
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "auth.recovery-code")
            .order_by(OutboxMessage.created_at.desc())
        ).first()
        assert mail is not None, "no recovery code was e-mailed"
        found = _CODE.search(mail_text(mail))  # queued, or already delivered
    assert found is not None
    return found.group(1)


def actions(database: Database, holder_id: object, prefix: str = "auth.") -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.holder_id == holder_id, AuditEntry.action.startswith(prefix))
                .order_by(AuditEntry.seq)
            )
        )


def password_hash(database: Database, username: str) -> str | None:
    from carnet.accounts.service import holder_by_username

    with database.transaction() as session:
        holder = holder_by_username(session, username)
        assert holder is not None
        return holder.password_hash


def test_the_emailed_code_sets_a_new_password_once_and_ends_every_sign_in(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database, "oublie")
    principal = Principal(PrincipalKind.HOLDER, holder.id)
    with database.transaction() as session:
        issue_token(session, principal, ttl=dt.timedelta(hours=1))
        portal_sessions.create(session, principal)

    assert ask(database, vault, settings, "Oublie ") == "sent"  # usernames are lower-cased
    code = mailed_code(database, "oublie@example.org")
    with database.transaction() as session:
        row = session.scalars(select(PasswordRecovery)).one()
        assert row.channel == "email"
        assert code.replace("-", "") not in row.code_hash  # a keyed hash, never the code
        assert row.expires_at - row.created_at == auth_rules.RECOVERY_EMAIL_TTL

    done = reset(database, vault, settings, "oublie", code.lower())  # typed in any case
    assert done.error is None and done.value is not None
    assert (done.value.tokens, done.value.portal_sessions) == (1, 1)
    assert verify_password(password_hash(database, "oublie"), NEW)
    with database.transaction() as session:
        assert live_token_count(session, principal) == 0
        assert portal_sessions.live_rows(session, principal) == []
        notice = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "auth.password-reset")
        ).one()
        assert notice.recipient == "oublie@example.org"
    assert actions(database, holder.id) == [
        "auth.recovery-asked",
        "auth.password-reset",
        "auth.access-ended",
    ]

    again = reset(database, vault, settings, "oublie", code, "encore une autre phrase 43")
    assert again.error is not None and again.error.code == "bad-recovery-code"
    assert verify_password(password_hash(database, "oublie"), NEW)  # single use


def test_a_holder_without_email_gets_the_code_by_letter_valid_longer(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database, "postal", email=None, postal_address="1 rue de la Paix")
    assert ask(database, vault, settings, "postal") == "sent"
    with database.transaction() as session:
        letter = session.scalars(select(PostalLetter)).one()
        assert letter.kind == "auth.recovery-code" and letter.holder_id == holder.id
        content = json.loads(
            vault.open_system(
                session, notices.LETTER_KEY, letter.sealed, notices.letter_aad(letter.id)
            )
        )
        row = session.scalars(select(PasswordRecovery)).one()
        assert row.channel == "letter"
        assert row.expires_at - row.created_at == auth_rules.RECOVERY_LETTER_TTL
        assert session.scalars(select(OutboxMessage)).all() == []
    found = _CODE.search(content["body"])
    assert found is not None
    with clock.frozen_at(clock.now() + dt.timedelta(days=10)):  # the post took its time
        done = reset(database, vault, settings, "postal", found.group(1))
    assert done.error is None
    with database.transaction() as session:  # the outcome goes by letter too
        kinds = session.scalars(select(PostalLetter.kind).order_by(PostalLetter.kind)).all()
    assert kinds == ["auth.password-reset", "auth.recovery-code"]


def test_an_emailed_code_dies_after_30_minutes(
    database: Database, vault: Vault, settings: Settings
) -> None:
    make_account(database, "lent")
    ask(database, vault, settings, "lent")
    code = mailed_code(database, "lent@example.org")
    with clock.frozen_at(clock.now() + auth_rules.RECOVERY_EMAIL_TTL + dt.timedelta(seconds=1)):
        late = reset(database, vault, settings, "lent", code)
    assert late.error is not None and late.error.code == "bad-recovery-code"
    assert verify_password(password_hash(database, "lent"), PASSWORD)


def test_wrong_codes_kill_the_code_and_count_as_failed_logins(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """Five wrong tries kill the code (even the right one fails then); the failures count on the
    (username, client) pair like wrong passwords, so that client is locked out (429)."""
    holder = make_account(database, "devine")
    ask(database, vault, settings, "devine")
    code = mailed_code(database, "devine@example.org")
    for n in range(auth_rules.RECOVERY_MAX_ATTEMPTS):
        wrong = reset(
            database, vault, settings, "devine", "AAAA-AAAA-AAAA", client=f"198.51.100.{n}"
        )
        assert wrong.error is not None and wrong.error.code == "bad-recovery-code"
    dead = reset(database, vault, settings, "devine", code, client="198.51.100.99")
    assert dead.error is not None and dead.error.code == "bad-recovery-code"
    assert verify_password(password_hash(database, "devine"), PASSWORD)
    assert actions(database, holder.id).count("auth.recovery-failure") == 6

    # From one client, the login lock of that username applies.
    ask(database, vault, settings, "devine")
    fresh = mailed_code(database, "devine@example.org")
    for _ in range(settings.login_max_failures):
        reset(database, vault, settings, "devine", "BBBB-BBBB-BBBB", client="203.0.113.7")
    locked = reset(database, vault, settings, "devine", fresh, client="203.0.113.7")
    assert locked.error is not None and locked.error.status_code == 429


def test_a_weak_new_password_keeps_the_code_usable(
    database: Database, vault: Vault, settings: Settings
) -> None:
    make_account(database, "faible")
    ask(database, vault, settings, "faible")
    code = mailed_code(database, "faible@example.org")
    weak = reset(database, vault, settings, "faible", code, "court")
    assert weak.error is not None and weak.error.field == "new_password"
    assert reset(database, vault, settings, "faible", code).error is None


def test_unknown_or_closed_accounts_get_nothing_and_the_same_refusal(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """No code, no e-mail, no letter for a username that is nobody's, nor for a closed space; a
    code typed for them is refused exactly as a wrong code of a real account."""
    make_account(database, "ferme", state="closed")
    assert ask(database, vault, settings, "personne") == "unknown"
    assert ask(database, vault, settings, "ferme") == "refused"
    with database.transaction() as session:
        assert session.scalars(select(PasswordRecovery)).all() == []
        assert session.scalars(select(OutboxMessage)).all() == []
    nobody = reset(database, vault, settings, "personne", "ACDE-FGHJ-KMNP")
    make_account(database, "reel")
    real = reset(database, vault, settings, "reel", "ACDE-FGHJ-KMNP", client="192.0.2.11")
    assert nobody.error is not None and real.error is not None
    assert (nobody.error.code, nobody.error.message, nobody.error.status_code) == (
        real.error.code,
        real.error.message,
        real.error.status_code,
    )


def test_at_most_three_codes_a_day_for_one_account_and_a_new_one_voids_the_old(
    database: Database, vault: Vault, settings: Settings
) -> None:
    make_account(database, "inonde")
    assert ask(database, vault, settings, "inonde") == "sent"
    first = mailed_code(database, "inonde@example.org")
    assert ask(database, vault, settings, "inonde") == "sent"
    assert ask(database, vault, settings, "inonde") == "sent"
    assert ask(database, vault, settings, "inonde") == "throttled"
    old = reset(database, vault, settings, "inonde", first)
    assert old.error is not None and old.error.code == "bad-recovery-code"
    latest = mailed_code(database, "inonde@example.org")
    assert reset(database, vault, settings, "inonde", latest).error is None


def test_asking_is_throttled_per_client_whoever_is_asked_about(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        for _ in range(settings.client_free_failures):
            assert recovery.ask_recovery(session, vault, settings, client=CLIENT) is None
        assert recovery.ask_recovery(session, vault, settings, client=CLIENT) is None
        wait = recovery.ask_recovery(session, vault, settings, client=CLIENT)
        assert isinstance(wait, throttle.TooManyAttempts) and wait.retry_after >= 1
        assert recovery.ask_recovery(session, vault, settings, client="192.0.2.99") is None


def test_the_portal_answers_the_same_whether_the_account_exists_or_not(
    client: TestClient, database: Database
) -> None:
    make_account(database, "existe")

    def answer(username: str) -> tuple[int, str]:
        page = client.get("/password/forgotten")
        response = client.post(
            "/password/forgotten",
            data={"csrf_token": csrf_of(page.text), "username": username},
        )
        body = re.sub(r'value="[^"]*"', "", response.text)  # the CSRF token, the username typed
        return response.status_code, body.replace(username, "")

    assert answer("existe") == answer("nexistepas")
    assert mailed_code(database, "existe@example.org")  # sent once the answer has left


def test_the_portal_reset_logs_the_person_out_and_says_so(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    make_account(database, "portail")
    ask(database, vault, settings, "portail")
    code = mailed_code(database, "portail@example.org")
    page = client.get("/password/reset")
    base = {"csrf_token": csrf_of(page.text), "username": "portail", "code": code}
    differ = client.post(
        "/password/reset", data={**base, "new_password": NEW, "new_password_again": NEW + "x"}
    )
    assert differ.status_code == 400 and "Les deux nouveaux mots de passe sont différents" in (
        differ.text
    )
    done = client.post(
        "/password/reset",
        data={**base, "new_password": NEW, "new_password_again": NEW},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/login?reason=password-reset"
    with database.transaction() as session:
        assert session.scalars(select(PortalSession)).all() == []


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox, Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36",
            "Chrome, Android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari, iOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge, Windows",
        ),
        ("curl/8.5.0", None),
        ("", None),
    ],
)
def test_a_session_keeps_a_coarse_device_never_versions(agent: str, device: str | None) -> None:
    assert auth_rules.device_of(agent) == device
