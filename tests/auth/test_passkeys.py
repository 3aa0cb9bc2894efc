"""Passkeys (`auth.passkeys`, PK-1…PK-5): registered after the current password, used as the
second step of a login or alone, every answer checked by the `webauthn` library; challenges used
once; refused answers throttled and audited like wrong codes (ACC-8).

A software authenticator (`tests.auth.authenticator`) makes real P-256 signatures, so the
library verifies real attestations and assertions."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import passwords
from carnet.audit.models import AuditEntry
from carnet.auth import login, passkeys, sessions
from carnet.auth import passkey_rules as rules
from carnet.auth.models import LoginChallenge, Passkey, Throttle
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.auth.authenticator import SoftAuthenticator
from tests.factories import make_holder, make_professional

PASSWORD = "quiet harbour 7 lanterns"
_HASH = passwords.hash_password(PASSWORD)
ORIGIN = "http://localhost:8000"  # the default base URL 127.0.0.1:8000, as browsers reach it
CLIENT = "203.0.113.7"


# -- pure rules ---------------------------------------------------------------------------------


def test_pk1_an_ip_address_is_no_rp_id_so_localhost_stands_for_it() -> None:
    assert rules.relying_party_id("http://127.0.0.1:8000") == "localhost"
    assert rules.relying_party_id("http://[::1]:8000") == "localhost"
    assert rules.relying_party_id("https://Carnet.Example.org") == "carnet.example.org"
    assert rules.relying_party_id("https://carnet.example.org", "example.org") == "example.org"
    assert rules.relying_party_origin("http://127.0.0.1:8000", "localhost") == ORIGIN
    assert rules.relying_party_origin("https://carnet.example.org/", "carnet.example.org") == (
        "https://carnet.example.org"
    )


def test_pk2_a_professional_passkey_serves_the_regulator_login_too() -> None:
    assert rules.may_log_in_as(PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR)
    assert not rules.may_log_in_as(PrincipalKind.HOLDER, PrincipalKind.PROFESSIONAL)
    assert not rules.may_log_in_as(PrincipalKind.PROFESSIONAL, PrincipalKind.HOLDER)


def test_pk4_the_counter_must_advance_unless_the_authenticator_keeps_none() -> None:
    assert rules.sign_count_advances(0, 0)
    assert rules.sign_count_advances(4, 5)
    assert not rules.sign_count_advances(5, 5)
    assert not rules.sign_count_advances(5, 0)


# -- the service --------------------------------------------------------------------------------


def mine(settings: Settings) -> str:
    """The origin browsers sign for under these settings (PK-1)."""
    return passkeys.relying_party(settings).origin


def holder(session: Session) -> Principal:
    row = make_holder(
        session,
        username=f"ana{uuid.uuid4().hex[:6]}",
        password_hash=_HASH,
        email="ana@example.org",
        activated_at=clock.now(),
    )
    return Principal(PrincipalKind.HOLDER, row.id)


def registered(
    session: Session, vault: Vault, settings: Settings, who: Principal, device: SoftAuthenticator
) -> Passkey:
    portal, _row = sessions.create(session, who)
    live = sessions.find(session, portal)
    assert live is not None
    begun = passkeys.registration_options(
        session, vault, settings, who, live.id, password=PASSWORD, name=" Mon  téléphone ",
        client=CLIENT,
    )  # fmt: skip
    assert begun.error is None and begun.value is not None
    done = passkeys.register(
        session, settings, who, live.id, begun.value.token,
        device.create(begun.value.options_json, mine(settings)),
    )  # fmt: skip
    assert done.error is None and done.value is not None
    return done.value


def password_less(
    session: Session,
    vault: Vault,
    settings: Settings,
    device: SoftAuthenticator,
    kind: PrincipalKind = PrincipalKind.HOLDER,
    origin: str | None = None,
) -> login.Outcome[login.LoginDone]:
    begun = passkeys.sign_in_options(session, vault, settings, login_challenge=None)
    assert begun.value is not None
    return passkeys.sign_in(
        session, vault, settings, kind, begun.value.token,
        device.get(begun.value.options_json, origin or mine(settings)), login_challenge=None, client=CLIENT,
    )  # fmt: skip


def actions(session: Session, holder_id: uuid.UUID) -> list[tuple[str, str | None]]:
    return [
        (entry.action, entry.reason)
        for entry in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.chain == f"space:{holder_id}")
            .order_by(AuditEntry.seq)
        )
    ]


def test_a_registered_passkey_signs_in_alone_with_user_verification(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    device = SoftAuthenticator()
    passkey = registered(session, vault, settings, who, device)
    assert passkey.name == "Mon téléphone"
    assert passkey.transports == "internal"
    assert device.user_handle == who.id.bytes  # an id, never a name
    # The holder is told by e-mail (a stranger's passkey must not go unnoticed).
    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "auth.passkey-added")
    ).one()
    assert mail.holder_id == who.id

    outcome = password_less(session, vault, settings, device)
    assert outcome.error is None and outcome.value is not None
    assert outcome.value.principal == who
    assert passkey.sign_count == 1 and passkey.last_used_at is not None
    assert ("auth.passkey-add", None) in actions(session, who.id)
    assert ("auth.login", "sign-in") in actions(session, who.id)


def test_pk5_password_less_refuses_a_passkey_without_user_verification(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    device = SoftAuthenticator()
    registered(session, vault, settings, who, device)
    device.verify_user = False
    outcome = password_less(session, vault, settings, device)
    assert outcome.error is not None and outcome.error.code == "passkey-refused"
    assert ("auth.login-failure", "bad-passkey") in actions(session, who.id)


def test_registering_asks_the_current_password_and_counts_a_wrong_one(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    _portal, row = sessions.create(session, who)
    begun = passkeys.registration_options(
        session, vault, settings, who, row.id, password="not it", name="Clé", client=CLIENT
    )
    assert begun.error is not None and begun.error.code == "passkey-bad-password"
    assert ("auth.login-failure", "bad-password:passkey") in actions(session, who.id)
    assert session.scalars(select(Throttle)).all()  # counted as a failed login


def test_pk3_a_registration_is_bound_to_its_session_and_used_once(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    _token, ours = sessions.create(session, who)
    _token, other = sessions.create(session, who)
    begun = passkeys.registration_options(
        session, vault, settings, who, ours.id, password=PASSWORD, name="Clé", client=CLIENT
    )
    assert begun.value is not None
    answer = SoftAuthenticator().create(begun.value.options_json, mine(settings))
    elsewhere = passkeys.register(session, settings, who, other.id, begun.value.token, answer)
    assert elsewhere.error is not None and elsewhere.error.code == "passkey-ended"
    # The attempt used the challenge up: the right session cannot use it any more either.
    again = passkeys.register(session, settings, who, ours.id, begun.value.token, answer)
    assert again.error is not None and again.error.code == "passkey-ended"
    assert passkeys.listed(session, who) == []


def test_pk3_an_expired_challenge_is_refused(
    session: Session, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = holder(session)
    device = SoftAuthenticator()
    registered(session, vault, settings, who, device)
    begun = passkeys.sign_in_options(session, vault, settings, login_challenge=None)
    assert begun.value is not None
    later = clock.now() + rules.CHALLENGE_TTL + dt.timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    outcome = passkeys.sign_in(
        session, vault, settings, PrincipalKind.HOLDER, begun.value.token,
        device.get(begun.value.options_json, mine(settings)), login_challenge=None, client=CLIENT,
    )  # fmt: skip
    assert outcome.error is not None and outcome.error.code == "passkey-ended"


def test_pk4_a_counter_that_goes_back_is_refused(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    device = SoftAuthenticator()
    registered(session, vault, settings, who, device)
    assert password_less(session, vault, settings, device).error is None
    device.counter = 0  # a clone of the authenticator, behind the original
    outcome = password_less(session, vault, settings, device)
    assert outcome.error is not None and outcome.error.code == "passkey-refused"


def test_an_answer_signed_for_another_origin_is_refused(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    device = SoftAuthenticator()
    registered(session, vault, settings, who, device)
    outcome = password_less(session, vault, settings, device, origin="https://phishing.example")
    assert outcome.error is not None and outcome.error.code == "passkey-refused"


def test_second_factor_ends_the_login_instead_of_the_emailed_code(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    device = SoftAuthenticator(verify_user=False)  # presence is enough after the password (PK-5)
    registered_with_uv = SoftAuthenticator(credential_id=device.credential_id, key=device.key)
    registered(session, vault, settings, who, registered_with_uv)
    device.user_handle = registered_with_uv.user_handle
    account = login.source(PrincipalKind.HOLDER).by_id(session, who.id)
    assert account is not None
    started = login.start_login(
        session, vault, settings, PrincipalKind.HOLDER, account.username, PASSWORD, client=CLIENT
    )
    assert started.value is not None
    challenge = started.value.challenge
    assert passkeys.second_factor_offered(session, vault, challenge)
    begun = passkeys.sign_in_options(session, vault, settings, login_challenge=challenge)
    assert begun.value is not None
    outcome = passkeys.sign_in(
        session, vault, settings, PrincipalKind.HOLDER, begun.value.token,
        device.get(begun.value.options_json, mine(settings)), login_challenge=challenge, client=CLIENT,
    )  # fmt: skip
    assert outcome.error is None and outcome.value is not None
    assert outcome.value.principal == who
    # The e-mailed code of that login is worth nothing now.
    late = login.verify_login(session, vault, settings, challenge, "000000", client=CLIENT)
    assert late.error is not None and late.error.code == "challenge-used"
    assert ("auth.login", "second-factor") in actions(session, who.id)


def login_codes(session: Session) -> int:
    return len(
        session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "auth.login-code")).all()
    )


def test_the_passkey_replaces_the_emailed_code_which_is_sent_only_when_asked(
    session: Session, vault: Vault, settings: Settings
) -> None:
    """In the portal (`passkey_first`), an account with a passkey gets no e-mail: the code is
    sent once if the person asks for it, and a code typed before that opens nothing."""
    who = holder(session)
    registered(session, vault, settings, who, SoftAuthenticator())
    account = login.source(PrincipalKind.HOLDER).by_id(session, who.id)
    assert account is not None
    before = login_codes(session)
    started = login.start_login(
        session, vault, settings, PrincipalKind.HOLDER, account.username, PASSWORD,
        client=CLIENT, passkey_first=True,
    )  # fmt: skip
    assert started.value is not None and started.value.code_sent is False
    challenge = started.value.challenge
    assert login_codes(session) == before and not login.code_sent(session, vault, challenge)
    guessed = login.verify_login(session, vault, settings, challenge, "123456", client=CLIENT)
    assert guessed.error is not None and guessed.error.code == "bad-code"
    asked = login.send_login_code(session, vault, settings, challenge)
    assert asked.value is not None and asked.value.code_sent
    login.send_login_code(session, vault, settings, challenge)  # asking again sends nothing more
    assert login_codes(session) == before + 1 and login.code_sent(session, vault, challenge)
    # The API, where no browser holds the passkey, always e-mails the code.
    api = login.start_login(
        session, vault, settings, PrincipalKind.HOLDER, account.username, PASSWORD, client=CLIENT
    )
    assert api.value is not None and api.value.code_sent
    assert login_codes(session) == before + 2


def test_without_a_passkey_the_portal_login_emails_the_code(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    account = login.source(PrincipalKind.HOLDER).by_id(session, who.id)
    assert account is not None
    before = login_codes(session)
    started = login.start_login(
        session, vault, settings, PrincipalKind.HOLDER, account.username, PASSWORD,
        client=CLIENT, passkey_first=True,
    )  # fmt: skip
    assert started.value is not None and started.value.code_sent
    assert login_codes(session) == before + 1


def test_a_refused_second_factor_spends_a_try_of_the_login(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    registered(session, vault, settings, who, SoftAuthenticator())
    account = login.source(PrincipalKind.HOLDER).by_id(session, who.id)
    assert account is not None
    started = login.start_login(
        session, vault, settings, PrincipalKind.HOLDER, account.username, PASSWORD, client=CLIENT
    )
    assert started.value is not None
    begun = passkeys.sign_in_options(
        session, vault, settings, login_challenge=started.value.challenge
    )
    assert begun.value is not None
    stranger = SoftAuthenticator()  # a passkey Carnet never saw
    outcome = passkeys.sign_in(
        session, vault, settings, PrincipalKind.HOLDER, begun.value.token,
        stranger.get(begun.value.options_json, mine(settings)),
        login_challenge=started.value.challenge, client=CLIENT,
    )  # fmt: skip
    assert outcome.error is not None and outcome.error.code == "passkey-refused"
    pending = session.scalars(select(LoginChallenge)).one()
    assert pending.attempts == 1 and pending.used_at is None
    assert ("auth.login-failure", "unknown-passkey") in actions(session, who.id)


def test_a_revoked_passkey_opens_nothing(
    session: Session, vault: Vault, settings: Settings
) -> None:
    who = holder(session)
    device = SoftAuthenticator()
    passkey = registered(session, vault, settings, who, device)
    other = holder(session)
    with pytest.raises(Exception, match="No such passkey"):
        passkeys.revoke(session, other, passkey.id)  # another person's is not found
    passkeys.revoke(session, who, passkey.id)
    session.flush()
    assert passkeys.listed(session, who) == []
    outcome = password_less(session, vault, settings, device)
    assert outcome.error is not None and outcome.error.code == "passkey-refused"
    assert ("auth.passkey-revoke", None) in actions(session, who.id)


def test_a_professional_passkey_opens_the_professional_login_only(
    session: Session, vault: Vault, settings: Settings
) -> None:
    pro = make_professional(session, password_hash=_HASH, email="dr@example.org")
    who = Principal(PrincipalKind.PROFESSIONAL, pro.id)
    device = SoftAuthenticator()
    registered(session, vault, settings, who, device)
    on_holder_page = password_less(session, vault, settings, device, PrincipalKind.HOLDER)
    assert on_holder_page.error is not None
    outcome = password_less(session, vault, settings, device, PrincipalKind.PROFESSIONAL)
    assert outcome.value is not None and outcome.value.principal == who
    # Not a regulator: the regulator login is refused as with a password (ACC-5).
    as_regulator = password_less(session, vault, settings, device, PrincipalKind.REGULATOR)
    assert as_regulator.error is not None and as_regulator.error.code == "not-a-regulator"
