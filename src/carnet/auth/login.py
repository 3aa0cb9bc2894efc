"""Logging in: a password, then a 6-digit one-time code e-mailed to the account; rate limited.

Two steps: `start_login` checks the password and e-mails a code, answering an opaque challenge;
`verify_login` exchanges challenge + code for a bearer token. The code is stored only as a keyed hash
bound to its challenge, so a copy of the database cannot be used to test the million possible codes.

Carnet decision (throttling, LC-4 by analogy with codes): there is no lock of a username that a
stranger can trigger. Failures (wrong passwords and wrong e-mailed codes) count
- per client, across usernames, and against a global budget (`auth.throttle`, scope `LOGIN`):
  growing delays for a client that keeps failing, a wait of seconds for everyone past the budget;
- per (username, client) pair: after `login_max_failures` within `login_lock_minutes` that
  username is locked *from that client only* for `login_lock_minutes` (HTTP 429 + Retry-After).
  The owner, from their own device, logs in at once whatever a stranger typed elsewhere.
Wrong e-mailed codes count too, otherwise one who knows the password could open challenge after
challenge to guess the code. A guessed password alone opens nothing: the second factor goes to the
owner's mailbox. All clients together get at most `global_failures_per_window` wrong passwords
per `global_window_seconds` (8.6·10^5 a day by default), which bounds spraying from many addresses.

An unknown username and a wrong password get the same answer after the same work: the password is
verified against a dummy argon2 hash (`accounts.passwords.verify_password`), the failure audited.

The kind of principal is a parameter: holders now, professionals register their own account source
later (`register_accounts`). Functions never raise for a refused attempt: they return an `Outcome`
whose error the caller raises *after committing*, so counters, locks and audit entries persist
(ACC-8: logins, and failed logins, are recorded in the holder's audit chain).
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle, passwords
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, Professional
from carnet.audit.service import record
from carnet.auth import rules as throttle_rules
from carnet.auth import sessions, throttle
from carnet.auth.models import LoginChallenge, Passkey, Throttle
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import end_login_challenges, issue_token, revoke_all
from carnet.auth.throttle import TooManyAttempts, too_many
from carnet.config import Settings
from carnet.db import new_id
from carnet.errors import CarnetError, Conflict, Forbidden, Unauthenticated
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

OTP_KEY = "otp"  # the system key of the keyed hashes of challenges and one-time codes
OTP_DIGITS = 6
OTP_MAX_ATTEMPTS = 5  # wrong codes per challenge; then the challenge is dead
MAX_USERNAME = 64

BAD_CREDENTIALS = "The username or the password is not correct."

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A login step's result: `value`, or `error` to raise once the session is committed."""

    value: T | None = None
    error: CarnetError | None = None


@dataclass(frozen=True)
class Account:
    """What logging in needs to know about a principal, whatever its kind."""

    kind: PrincipalKind
    id: uuid.UUID
    username: str
    password_hash: str | None
    email: str | None
    # The space whose audit chain records the login and whose purge deletes the e-mail (holders).
    holder_id: uuid.UUID | None
    # Why this account may not log in now (a closed or suspended space…); None when it may.
    refusal: CarnetError | None


@dataclass(frozen=True)
class AccountSource:
    by_username: Callable[[Session, str], Account | None]
    by_id: Callable[[Session, uuid.UUID], Account | None]


_SOURCES: dict[PrincipalKind, AccountSource] = {}


def register_accounts(kind: PrincipalKind, source: AccountSource) -> None:
    """Let principals of `kind` log in (professionals will register theirs)."""
    _SOURCES[kind] = source


def source(kind: PrincipalKind) -> AccountSource:
    try:
        return _SOURCES[kind]
    except KeyError:
        raise ValueError(f"no login for principals of kind {kind.value}") from None


def _holder_account(holder: Holder) -> Account:
    refusal: CarnetError | None = None
    if holder.state != account_rules.ACTIVE:
        message = lifecycle.STATE_MESSAGES.get(holder.state, f"This space is {holder.state}.")
        refusal = Forbidden(f"{message} It cannot be used to log in.", code=f"state-{holder.state}")
    return Account(
        kind=PrincipalKind.HOLDER,
        id=holder.id,
        username=holder.username or "",
        password_hash=holder.password_hash,
        email=holder.email,
        holder_id=holder.id,
        refusal=refusal,
    )


def _holder_by_username(session: Session, username: str) -> Account | None:
    holder = account_service.holder_by_username(session, username)
    return _holder_account(holder) if holder is not None else None


def _holder_by_id(session: Session, holder_id: uuid.UUID) -> Account | None:
    holder = account_service.holder(session, holder_id)
    return _holder_account(holder) if holder is not None else None


register_accounts(PrincipalKind.HOLDER, AccountSource(_holder_by_username, _holder_by_id))


# Professionals log in with their RPPS number as username; regulators are professionals flagged
# `is_regulator` (ACC-5), logging in as such to read in regulation mode.


def _professional_account(pro: Professional, kind: PrincipalKind) -> Account:
    refusal: CarnetError | None = None
    if kind is PrincipalKind.REGULATOR and not pro.is_regulator:
        refusal = Forbidden(
            "This professional is not a regulating physician.", code="not-a-regulator"
        )
    return Account(
        kind=kind,
        id=pro.id,
        username=pro.rpps,
        password_hash=pro.password_hash,
        email=pro.email,
        holder_id=None,
        refusal=refusal,
    )


def _professional_source(kind: PrincipalKind) -> AccountSource:
    def by_username(session: Session, username: str) -> Account | None:
        pro = account_service.professional_by_rpps(session, username)
        return _professional_account(pro, kind) if pro is not None else None

    def by_id(session: Session, pro_id: uuid.UUID) -> Account | None:
        pro = account_service.professional(session, pro_id)
        return _professional_account(pro, kind) if pro is not None else None

    return AccountSource(by_username, by_id)


register_accounts(PrincipalKind.PROFESSIONAL, _professional_source(PrincipalKind.PROFESSIONAL))
register_accounts(PrincipalKind.REGULATOR, _professional_source(PrincipalKind.REGULATOR))


# -- throttling -------------------------------------------------------------------------------


def normalize_username(username: str) -> str:
    """Usernames are stored lower-case (activation, LC-4)."""
    return username.strip().lower()


def throttle_key(
    session: Session, vault: Vault, kind: PrincipalKind, username: str, client: str
) -> str:
    """`login:pair:<keyed hash of kind, username and client>`: the lock of one username from one
    client (Carnet decision above); neither the username nor the address is stored in clear."""
    pair = f"pair|{kind.value}|{username}|{throttle_rules.client_group(client)}"
    return f"login:pair:{vault.keyed_hash(session, throttle.THROTTLE_KEY, pair)[:40]}"


def locked_for(session: Session, key: str) -> int | None:
    """Seconds left of the lock on `key`, or None when it is not locked."""
    row = session.get(Throttle, key)
    now = clock.now()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def note_failure(session: Session, settings: Settings, key: str) -> bool:
    """Count a failure on `key`; lock it after too many within the window. True when now locked."""
    now = clock.now()
    row = throttle.locked_row(session, key)
    window = dt.timedelta(minutes=settings.login_lock_minutes)
    if now - row.window_start > window:
        row.failures = 0
        row.window_start = now
    row.failures += 1
    if row.failures >= settings.login_max_failures:
        row.locked_until = now + window
        row.failures = 0
        row.window_start = now
    session.flush()
    return row.locked_until is not None and row.locked_until > now


def clear_failures(session: Session, key: str) -> None:
    row = session.get(Throttle, key)
    if row is not None:
        session.delete(row)


def refusal(
    session: Session, vault: Vault, settings: Settings, key: str, client: str
) -> TooManyAttempts | None:
    """Wait when this username is locked from this client, this client must wait, or everyone."""
    pair = locked_for(session, key)
    other = throttle.refusal(session, vault, settings, throttle.LOGIN, client)
    waits = [pair or 0, other.retry_after if other is not None else 0]
    return too_many(max(waits)) if max(waits) > 0 else None


def count_failure(
    session: Session, vault: Vault, settings: Settings, key: str, client: str
) -> None:
    note_failure(session, settings, key)
    throttle.note_failure(session, vault, settings, throttle.LOGIN, client)


# -- the two steps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginStarted:
    challenge: str
    expires_in: int
    code_sent: bool = True  # False: the account's passkey replaces the e-mailed code


@dataclass(frozen=True)
class LoginDone:
    access_token: str
    expires_in: int
    principal: Principal


def challenge_hash(session: Session, vault: Vault, challenge: str) -> str:
    return vault.keyed_hash(session, OTP_KEY, f"challenge|{challenge}")


def _otp_hash(session: Session, vault: Vault, challenge_id: uuid.UUID, code: str) -> str:
    return vault.keyed_hash(session, OTP_KEY, f"otp|{challenge_id}|{code}")


def otp_text(code: str, minutes: int) -> str:
    """The e-mail carrying the code, in French (the default language of what holders read)."""
    return "\n".join(
        [
            "Bonjour,",
            "",
            f"Votre code de connexion à Carnet : {code}",
            "",
            f"Il est valable {minutes} minutes et ne sert qu'une fois. Ne le communiquez à "
            "personne : Carnet ne vous le demandera jamais.",
            "Si vous n'êtes pas à l'origine de cette connexion, changez votre mot de passe.",
        ]
    )


def audit_failure(
    session: Session, account: Account | None, reason: str, request_id: str | None
) -> None:
    """ACC-8: a failed login is recorded in the space's chain (the system chain when unknown)."""
    record(
        session,
        SYSTEM,
        "auth.login-failure",
        holder_id=account.holder_id if account is not None else None,
        target_type="Account" if account is not None else None,
        target_id=f"{account.kind.value}/{account.id}" if account is not None else None,
        reason=reason,
        request_id=request_id,
    )


def start_login(
    session: Session,
    vault: Vault,
    settings: Settings,
    kind: PrincipalKind,
    username: str,
    password: str,
    *,
    client: str,
    request_id: str | None = None,
    passkey_first: bool = False,
) -> Outcome[LoginStarted]:
    """Step 1: check the password, e-mail a one-time code, answer an opaque challenge.

    With `passkey_first` (the portal, where a browser can use one), an account that has a passkey
    gets no e-mail: its passkey replaces the code, which is sent only if asked (`send_login_code`).

    An unknown username and a wrong password get the same answer at the same cost; whether the
    attempt is refused first depends only on the typed username and the client, never on whether
    the account exists.
    """
    source_of = source(kind)
    username = normalize_username(username)
    key = throttle_key(session, vault, kind, username[:MAX_USERNAME], client)
    wait = refusal(session, vault, settings, key, client)
    if wait is not None:
        return Outcome(error=wait)
    account = source_of.by_username(session, username) if len(username) <= MAX_USERNAME else None
    if not passwords.verify_password(account.password_hash if account else None, password):
        count_failure(session, vault, settings, key, client)
        audit_failure(session, account, "bad-password", request_id)
        return Outcome(error=Unauthenticated(BAD_CREDENTIALS, code="bad-credentials"))
    assert account is not None  # verify_password is False without a stored hash
    if account.refusal is not None:
        audit_failure(session, account, f"refused:{account.refusal.code}", request_id)
        return Outcome(error=account.refusal)
    if not account.email:
        return Outcome(
            error=Conflict(
                "No e-mail address is known for this account: the login code cannot be sent.",
                code="no-email",
            )
        )
    challenge = secrets.token_urlsafe(32)
    now = clock.now()
    row = LoginChallenge(
        id=new_id(),
        challenge_hash=challenge_hash(session, vault, challenge),
        principal_kind=kind.value,
        principal_id=account.id,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.otp_ttl_minutes),
        attempts=0,
    )
    session.add(row)
    code_sent = not (passkey_first and _has_passkey(session, kind, account.id))
    if code_sent:
        _send_code(session, vault, settings, row, account)
    session.flush()
    return Outcome(LoginStarted(challenge, settings.otp_ttl_minutes * 60, code_sent))


def _has_passkey(session: Session, kind: PrincipalKind, principal_id: uuid.UUID) -> bool:
    found = session.scalar(
        select(Passkey.id)
        .where(Passkey.principal_kind == kind.value, Passkey.principal_id == principal_id)
        .limit(1)
    )
    return found is not None


def _send_code(
    session: Session, vault: Vault, settings: Settings, row: LoginChallenge, account: Account
) -> None:
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    row.otp_hash = _otp_hash(session, vault, row.id, code)
    enqueue(
        session,
        kind="auth.login-code",
        recipient=account.email or "",
        subject="Votre code de connexion Carnet",
        body_text=otp_text(code, settings.otp_ttl_minutes),
        holder_id=account.holder_id,
        transactional=True,  # the page says the code was sent and lasts a few minutes
    )


def code_sent(session: Session, vault: Vault, challenge: str) -> bool:
    """Whether the login half done under `challenge` has had its code e-mailed."""
    row = live_challenge(session, vault, challenge, lock=False)
    return row is not None and row.otp_hash is not None


def send_login_code(
    session: Session, vault: Vault, settings: Settings, challenge: str
) -> Outcome[LoginStarted]:
    """The person with a passkey at hand asks for the e-mailed code instead: sent once per login
    (asking again sends nothing more, so this cannot be used to flood a mailbox)."""
    row = live_challenge(session, vault, challenge)
    if row is None:
        return Outcome(
            error=Unauthenticated(
                "This login attempt is unknown or has ended: log in again.", code="bad-challenge"
            )
        )
    account = source(PrincipalKind(row.principal_kind)).by_id(session, row.principal_id)
    if account is None or not account.email:
        return Outcome(
            error=Conflict(
                "No e-mail address is known for this account: the login code cannot be sent.",
                code="no-email",
            )
        )
    if row.otp_hash is None:
        _send_code(session, vault, settings, row, account)
        session.flush()
    left = int((row.expires_at - clock.now()).total_seconds())
    return Outcome(LoginStarted(challenge, max(left, 0), True))


def verify_login(
    session: Session,
    vault: Vault,
    settings: Settings,
    challenge: str,
    code: str,
    *,
    client: str,
    request_id: str | None = None,
) -> Outcome[LoginDone]:
    """Step 2: challenge + e-mailed code → bearer token. At most 5 tries per challenge."""
    row = session.scalars(
        select(LoginChallenge)
        .where(LoginChallenge.challenge_hash == challenge_hash(session, vault, challenge))
        .with_for_update()
    ).first()
    if row is None:
        return Outcome(
            error=Unauthenticated(
                "This login attempt is unknown or has ended: log in again.", code="bad-challenge"
            )
        )
    if row.used_at is not None:
        return Outcome(
            error=Conflict("This login code was already used: log in again.", code="challenge-used")
        )
    if row.expires_at <= clock.now():
        return Outcome(
            error=Unauthenticated(
                "This login code has expired: log in again.", code="challenge-expired"
            )
        )
    if row.attempts >= OTP_MAX_ATTEMPTS:
        return Outcome(
            error=Unauthenticated(
                "Too many wrong codes for this login attempt: log in again.",
                code="challenge-dead",
            )
        )
    kind = PrincipalKind(row.principal_kind)
    account = source(kind).by_id(session, row.principal_id)
    if account is None:  # the space was purged in between
        return Outcome(
            error=Unauthenticated(
                "This login attempt is unknown or has ended: log in again.", code="bad-challenge"
            )
        )
    key = throttle_key(session, vault, kind, account.username, client)
    wait = refusal(session, vault, settings, key, client)
    if wait is not None:
        return Outcome(error=wait)
    typed = code.strip()
    expected = row.otp_hash
    if expected is None or not hmac.compare_digest(
        _otp_hash(session, vault, row.id, typed), expected
    ):
        row.attempts += 1
        count_failure(session, vault, settings, key, client)
        audit_failure(session, account, "bad-otp", request_id)
        left = OTP_MAX_ATTEMPTS - row.attempts
        hint = f"{left} attempt(s) left." if left > 0 else "No attempt left: log in again."
        return Outcome(error=Unauthenticated(f"The code is not correct. {hint}", code="bad-code"))
    if account.refusal is not None:
        row.used_at = clock.now()
        audit_failure(session, account, f"refused:{account.refusal.code}", request_id)
        return Outcome(error=account.refusal)
    row.used_at = clock.now()
    return Outcome(open_login(session, settings, account, key, request_id=request_id))


def open_login(
    session: Session,
    settings: Settings,
    account: Account,
    key: str,
    *,
    request_id: str | None = None,
    reason: str | None = None,
) -> LoginDone:
    """The end of every successful second step (an e-mailed code, a passkey: `auth.passkeys`):
    a bearer token, the failures of that username from that client forgotten, the login
    recorded (ACC-8; `reason` names the way in when it is not the e-mailed code)."""
    principal = Principal(account.kind, account.id)
    ttl = dt.timedelta(minutes=settings.token_ttl_minutes)
    token, token_row = issue_token(session, principal, ttl=ttl, label="login")
    clear_failures(session, key)
    record(
        session,
        principal,
        "auth.login",
        holder_id=account.holder_id,
        target_type="ApiToken",
        target_id=str(token_row.id),
        reason=reason,
        request_id=request_id,
    )
    return LoginDone(token, int(ttl.total_seconds()), principal)


def live_challenge(
    session: Session, vault: Vault, challenge: str, *, lock: bool = True
) -> LoginChallenge | None:
    """The login half done under `challenge` (its password checked) while its second step may
    still be taken: unused, unexpired, with tries left; locked for the rest of the request
    unless only looked at (`lock=False`)."""
    query = select(LoginChallenge).where(
        LoginChallenge.challenge_hash == challenge_hash(session, vault, challenge)
    )
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row if row.attempts < OTP_MAX_ATTEMPTS else None


def logout_everywhere(
    session: Session,
    principal: Principal,
    *,
    holder_id: uuid.UUID | None = None,
    reason: str = "logout",
    request_id: str | None = None,
) -> int:
    """Log out everywhere, from the API or the portal alike: every API token, every portal
    session and every login half done (its e-mailed code) of the principal end at once (ACC-8:
    recorded). App connections stay: they are ended by the holder, or by `end_access`. Returns
    how many credentials ended."""
    count = (
        revoke_all(session, principal.kind, principal.id)
        + sessions.revoke_all(session, principal)
        + end_login_challenges(session, principal)
    )
    record(
        session,
        principal,
        "auth.logout",
        holder_id=holder_id,
        target_type="ApiToken",
        reason=f"{reason}:{count}",
        request_id=request_id,
    )
    return count


# -- other ways in (`auth.federation`) ---------------------------------------------------------


def account_of(session: Session, kind: PrincipalKind, principal_id: uuid.UUID) -> Account | None:
    """The account a sign-in by other means opens, with the same refusals as the password's."""
    return source(kind).by_id(session, principal_id)
