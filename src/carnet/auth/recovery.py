"""A forgotten password: a one-time code sent to the holder, then a new password set with it.

Step 1 (`ask_recovery`, in the request; `recover`, after the answer has left, as renewals do):
whoever asks gets the same answer, as quickly, whether or not the username is someone's, has a
password, or an e-mail address: the page says "if this account exists, a code was sent". Every
request counts against the client and a global budget (`auth.throttle`, scope `RECOVERY`), and at
most `auth.rules.RECOVERIES_PER_DAY` codes are sent a day for one account, so asking floods
nobody. The code (12 characters, the provisional codes' alphabet, LC-4) goes by e-mail, valid
30 minutes, or, when no address is known, by letter (`accounts.notices`, LC-1), valid 15 days.
A new code voids the earlier ones of the account. Only a keyed hash bound to its row is kept.

Step 2 (`reset_password`): username, code, new password under the activation policy (LC-4). A
wrong code counts like a wrong password (`auth.login` throttle: per client, per (username,
client) pair, global), and kills the code after `RECOVERY_MAX_ATTEMPTS`; an unknown username
costs the same work and gets the same refusal. The right code is used once: the password
changes, every sign-in of the holder ends (`auth.service.end_access`: tokens, portal sessions,
pending login codes, app connections), and the holder is told (e-mail, else letter), with no data.
ACC-8: asking, failing and succeeding are audited in the holder's chain (the system chain when
the username is nobody's).

Professionals: their accounts get passwords only in demonstrations (they sign in with Pro Santé
Connect, `auth.federation`), so recovery is for holders only.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import passwords
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.accounts.notices import send_to_holder
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth import rates, throttle
from carnet.auth import rules as auth_rules
from carnet.auth.login import (
    MAX_USERNAME,
    OTP_KEY,
    Outcome,
    clear_failures,
    count_failure,
    normalize_username,
    refusal,
    throttle_key,
)
from carnet.auth.models import PasswordRecovery
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import EndedAccess, end_access
from carnet.config import Settings
from carnet.db import Database, committed_tasks, new_id
from carnet.errors import CarnetError, InvalidInput, Unauthenticated
from carnet.vault.service import Vault

log = logging.getLogger("carnet.auth")

BAD_CODE = "The username or the recovery code is not correct."
_NOBODY = uuid.UUID(int=0)  # what a wrong username's code is hashed with: the same work

CODE_SUBJECT = "Votre code pour choisir un nouveau mot de passe Carnet"
RESET_SUBJECT = "Votre mot de passe Carnet a été réinitialisé"
RESET_TEXT = "\n".join(
    [
        "Bonjour,",
        "",
        "Le mot de passe de votre espace Carnet vient d'être réinitialisé avec un code de "
        "récupération. Toutes vos connexions et les applications que vous aviez connectées ont été "
        "déconnectées.",
        "",
        "Si vous n'êtes pas à l'origine de ce changement, contactez sans attendre l'assistance.",
    ]
)


def code_text(code: str, channel: str, base_url: str) -> str:
    """The code's notice, in French (the default language of what holders read); no data."""
    lasts = "30 minutes" if channel == "email" else "15 jours"
    return "\n".join(
        [
            "Bonjour,",
            "",
            "Vous avez demandé à choisir un nouveau mot de passe pour votre espace Carnet.",
            f"Code de récupération : {account_rules.format_code(code)}",
            "",
            f"Saisissez-le sur {base_url}/password/reset avec votre identifiant. Il est valable "
            f"{lasts} et ne sert qu'une fois. Ne le communiquez à personne.",
            "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe reste le même.",
        ]
    )


def _code_hash(session: Session, vault: Vault, row_id: uuid.UUID, code: str) -> str:
    return vault.keyed_hash(session, OTP_KEY, f"recovery|{row_id}|{code}")


def ask_recovery(
    session: Session, vault: Vault, settings: Settings, *, client: str
) -> CarnetError | None:
    """The edge's half of step 1, in the request: every request counts against the client and
    the global budget, whoever the username belongs to; a refusal to wait, or None."""
    wait = throttle.refusal(session, vault, settings, throttle.RECOVERY, client)
    if wait is not None:
        return wait
    throttle.note_failure(session, vault, settings, throttle.RECOVERY, client)
    return None


def recover(session: Session, vault: Vault, settings: Settings, username: str) -> str:
    """Send a recovery code to the holder `username` names, when there is one who may have it.
    Returns what happened, for tests and the audit only (never shown to whoever asked)."""
    username = normalize_username(username)
    holder = (
        account_service.holder_by_username(session, username)
        if 0 < len(username) <= MAX_USERNAME
        else None
    )
    if holder is None or holder.password_hash is None:
        return "unknown"
    if holder.state != account_rules.ACTIVE:
        return "refused"
    key = "recovery:" + vault.keyed_hash(session, throttle.THROTTLE_KEY, f"holder|{holder.id}")[:40]
    if not rates.count_daily(session, key, limit=auth_rules.RECOVERIES_PER_DAY):
        return "throttled"
    principal = Principal(PrincipalKind.HOLDER, holder.id)
    end_recoveries(session, principal)
    channel = "email" if holder.email else "letter"
    code = account_rules.new_code(secrets.choice)
    now = clock.now()
    row = PasswordRecovery(
        id=new_id(),
        principal_kind=principal.kind.value,
        principal_id=holder.id,
        holder_id=holder.id,
        channel=channel,
        created_at=now,
        expires_at=now + auth_rules.recovery_ttl(channel),
        attempts=0,
    )
    row.code_hash = _code_hash(session, vault, row.id, code)
    session.add(row)
    send_to_holder(
        session,
        vault,
        holder,
        "auth.recovery-code",
        CODE_SUBJECT,
        code_text(code, channel, settings.base_url),
        transactional=True,  # the person waits for it on the page they just sent
    )
    record(
        session,
        SYSTEM,
        "auth.recovery-asked",
        holder_id=holder.id,
        target_type="Account",
        target_id=principal.ref,
        reason=channel,
    )
    session.flush()
    return "sent"


def recover_apart(database: Database, vault: Vault, settings: Settings, username: str) -> None:
    """`recover` in its own transaction, run by the edge once the answer has left (its duration
    depends on whether the account exists). Never raises: a failure is logged without details."""
    units: list[Session] = []

    def unit(session: Session) -> None:
        units.append(session)
        recover(session, vault, settings, username)

    try:
        database.run(unit)
        for task in committed_tasks(units[-1]):  # the code e-mail leaves now (transactional)
            task(database, settings)
    except Exception as exc:  # nobody is left to answer: the log says what failed, not why
        log.error("password recovery failed", extra={"error_type": type(exc).__name__})


def end_recoveries(session: Session, principal: Principal) -> int:
    """Void the principal's recovery codes not used yet (a newer one, a new password)."""
    result = session.execute(
        update(PasswordRecovery)
        .where(
            PasswordRecovery.principal_kind == principal.kind.value,
            PasswordRecovery.principal_id == principal.id,
            PasswordRecovery.used_at.is_(None),
        )
        .values(used_at=clock.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _live_recovery(session: Session, principal: Principal) -> PasswordRecovery | None:
    """The principal's latest code while it may still be used (unused, unexpired, tries left)."""
    row = session.scalars(
        select(PasswordRecovery)
        .where(
            PasswordRecovery.principal_kind == principal.kind.value,
            PasswordRecovery.principal_id == principal.id,
            PasswordRecovery.used_at.is_(None),
            PasswordRecovery.expires_at > clock.now(),
        )
        .order_by(PasswordRecovery.created_at.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None or row.attempts >= auth_rules.RECOVERY_MAX_ATTEMPTS:
        return None
    return row


def _failure(session: Session, holder: Holder | None, reason: str, request_id: str | None) -> None:
    """ACC-8: a refused recovery is recorded in the space's chain (the system chain if none)."""
    record(
        session,
        SYSTEM,
        "auth.recovery-failure",
        holder_id=holder.id if holder is not None else None,
        target_type="Account" if holder is not None else None,
        target_id=f"holder/{holder.id}" if holder is not None else None,
        reason=reason,
        request_id=request_id,
    )


def reset_password(
    session: Session,
    vault: Vault,
    settings: Settings,
    username: str,
    code: str,
    new: str,
    *,
    client: str,
    request_id: str | None = None,
) -> Outcome[EndedAccess]:
    """Step 2: the right code sets `new` as the password and ends every sign-in of the holder.
    A refusal is returned, not raised, so that the caller commits its bookkeeping first."""
    username = normalize_username(username)
    key = throttle_key(session, vault, PrincipalKind.HOLDER, username[:MAX_USERNAME], client)
    wait = refusal(session, vault, settings, key, client)
    if wait is not None:
        return Outcome(error=wait)
    holder = (
        account_service.holder_by_username(session, username)
        if 0 < len(username) <= MAX_USERNAME
        else None
    )
    principal = Principal(PrincipalKind.HOLDER, holder.id if holder is not None else _NOBODY)
    row = _live_recovery(session, principal) if holder is not None else None
    typed = account_rules.normalize_code(code) or ""
    computed = _code_hash(session, vault, row.id if row is not None else _NOBODY, typed)
    if row is None or not typed or not hmac.compare_digest(computed, row.code_hash):
        if row is not None:
            row.attempts += 1
        count_failure(session, vault, settings, key, client)
        _failure(session, holder, "bad-code", request_id)
        return Outcome(error=Unauthenticated(BAD_CODE, code="bad-recovery-code"))
    assert holder is not None and holder.username is not None
    if holder.state != account_rules.ACTIVE:
        row.used_at = clock.now()
        _failure(session, holder, f"refused:state-{holder.state}", request_id)
        return Outcome(error=Unauthenticated(BAD_CODE, code="bad-recovery-code"))
    problem = passwords.password_problem(new, holder.username, holder.birth_date)
    if problem:  # the code stays usable: the person picks another password
        return Outcome(error=InvalidInput(problem, field="new_password"))
    holder.password_hash = passwords.hash_password(new)
    end_recoveries(session, principal)
    clear_failures(session, key)
    record(
        session,
        principal,
        "auth.password-reset",
        holder_id=holder.id,
        target_type="Account",
        target_id=principal.ref,
        reason=row.channel,
        request_id=request_id,
    )
    ended = end_access(
        session,
        principal=principal,
        reason="password-reset",
        actor=principal,
        mode=Mode.NORMAL,
        request_id=request_id,
    )
    send_to_holder(session, vault, holder, "auth.password-reset", RESET_SUBJECT, RESET_TEXT)
    return Outcome(ended)
