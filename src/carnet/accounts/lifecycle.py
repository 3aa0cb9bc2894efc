"""The space's lifecycle: codes, opposition, activation, closing, suspension, death, purge.

Plain functions taking the session; the caller commits. Every transition goes through `transition`,
which applies the state machine of `accounts.rules` and appends the audit entry (ACC-8).
"""

from __future__ import annotations

import datetime as dt
import importlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts.models import (
    Holder,
    LoginChallenge,
    OppositionProof,
    ProvisionalCode,
    Representation,
    Throttle,
    Tombstone,
)
from carnet.accounts.notices import send_notice
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.models import ApiToken
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import end_access
from carnet.config import Settings
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from carnet.notifications.service import delete_for_holder
from carnet.vault.service import Vault

CODE_KEY = "codes"
TOMBSTONE_KEY = "tombstones"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

STATE_MESSAGES = {
    rules.OPPOSED: "This person opposed the creation of their space.",
    rules.CLOSED: "This space is closed.",
    rules.PURGE_PENDING: "This space is closed and its erasure is pending.",
    rules.SUSPENDED: "This space is suspended.",
}


def today(settings: Settings) -> dt.date:
    return clock.today(settings.timezone)


def transition(
    session: Session,
    holder: Holder,
    event: str,
    actor: Principal,
    *,
    reason: str | None = None,
    mode: Mode = Mode.NORMAL,
) -> str:
    """Move the space through `event` (rules LC-1…LC-8) and audit it; Conflict when refused."""
    target = rules.next_state(event, holder.state)
    if target is None:
        message = STATE_MESSAGES.get(holder.state, f"This space is {holder.state}.")
        raise Conflict(f"{message} ({event} is not possible now)", code=f"state-{holder.state}")
    before = holder.state
    holder.state = target
    holder.state_changed_at = clock.now()
    record(
        session,
        actor,
        f"account.{event}",
        holder_id=holder.id,
        target_type="Space",
        target_id=str(holder.id),
        mode=mode,
        reason=reason or f"{before}->{target}",
    )
    return target


def find_holder(session: Session, nir: str) -> Holder | None:
    return session.scalars(select(Holder).where(Holder.nir == rules.normalize_nir(nir))).first()


# -- provisional codes ------------------------------------------------------------------------


def issue_code(
    session: Session, vault: Vault, settings: Settings, holder: Holder, *, purpose: str = "notice"
) -> str:
    """A new single-use code for the holder; any earlier unused code stops working."""
    now = clock.now()
    session.execute(
        update(ProvisionalCode)
        .where(
            ProvisionalCode.holder_id == holder.id,
            ProvisionalCode.used_at.is_(None),
            ProvisionalCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    code = rules.new_code(secrets.choice)
    session.add(
        ProvisionalCode(
            holder_id=holder.id,
            code_hash=vault.keyed_hash(session, CODE_KEY, rules.code_hash_input(holder.nir, code)),
            purpose=purpose,
            issued_at=now,
            expires_at=now + dt.timedelta(days=settings.code_ttl_days),
        )
    )
    session.flush()
    return code


_BAD_CODE = "The social security number or the code is not correct."


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a code: on failure the caller commits the failure count, then raises."""

    holder: Holder | None
    code: ProvisionalCode | None
    error: Exception | None


def check_code(
    session: Session, vault: Vault, settings: Settings, nir: str, typed: str
) -> CodeCheck:
    """Find the holder's valid code; count failures and lock the person after too many.

    Unknown NIR and wrong code give the same answer, so the form reveals nobody's existence.
    """
    holder = find_holder(session, nir)
    code = rules.normalize_code(typed)
    now = clock.now()
    if holder is None:
        return CodeCheck(None, None, Unauthenticated(_BAD_CODE, code="bad-code"))
    if holder.code_locked_until is not None and holder.code_locked_until > now:
        return CodeCheck(
            holder,
            None,
            Forbidden(
                "Too many wrong codes: this space is locked for a while. Try again later or ask for "
                "a new code.",
                code="code-locked",
            ),
        )
    row = None
    if code is not None:
        wanted = vault.keyed_hash(session, CODE_KEY, rules.code_hash_input(holder.nir, code))
        row = session.scalars(
            select(ProvisionalCode).where(
                ProvisionalCode.holder_id == holder.id, ProvisionalCode.code_hash == wanted
            )
        ).first()
    if row is None:
        holder.code_failures += 1
        if holder.code_failures >= settings.code_max_failures:
            holder.code_locked_until = now + dt.timedelta(minutes=settings.code_lock_minutes)
            holder.code_failures = 0
        record(
            session,
            SYSTEM,
            "account.code-failure",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
        )
        return CodeCheck(holder, None, Unauthenticated(_BAD_CODE, code="bad-code"))
    if row.used_at is not None:
        return CodeCheck(holder, row, Conflict("This code was already used.", code="code-used"))
    if row.revoked_at is not None:
        return CodeCheck(
            holder,
            row,
            Conflict(
                "This code was replaced by a newer one: use the latest code you received.",
                code="code-replaced",
            ),
        )
    if row.expires_at <= now:
        return CodeCheck(
            holder, row, Conflict("This code has expired: ask for a new one.", code="code-expired")
        )
    holder.code_failures = 0
    holder.code_locked_until = None
    return CodeCheck(holder, row, None)


# -- opposition, opening, activation ---------------------------------------------------------


def oppose(
    session: Session,
    settings: Settings,
    check: CodeCheck,
    *,
    dmp_only: bool = False,
    actor: Principal = SYSTEM,
) -> OppositionProof:
    """LC-2: oppose with INS + code, without logging in, until the deadline; returns the proof."""
    holder, code = _checked(check)
    if not rules.may_oppose(holder.state, holder.opposition_deadline, today(settings)):
        if holder.state == rules.NOTIFIED:
            raise Conflict("The opposition deadline has passed.", code="deadline-passed")
        raise Conflict(
            STATE_MESSAGES.get(holder.state, "This space is already open."),
            code=f"state-{holder.state}",
        )
    code.used_at = clock.now()
    if dmp_only:
        holder.dmp_migration_opposed = True  # LC-3: the space opens, the old record stays out
        record(
            session,
            actor,
            "account.oppose-dmp-migration",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
        )
    else:
        transition(session, holder, "oppose", actor)
    proof = OppositionProof(holder_id=holder.id, opposed_at=clock.now())
    session.add(proof)
    session.flush()
    return proof


def open_due_spaces(session: Session, day: dt.date, limit: int = 10_000) -> int:
    """LC-3: spaces whose opposition deadline has passed open (jobs run). Returns how many."""
    holders = session.scalars(
        select(Holder)
        .where(Holder.state == rules.NOTIFIED, Holder.opposition_deadline < day)
        .limit(limit)
    ).all()
    for holder in holders:
        transition(session, holder, "open", SYSTEM, reason="deadline-passed")
    return len(holders)


PASSWORD_MIN = 12


def password_problem(password: str, username: str, birth_date: dt.date) -> str | None:
    """A sensible policy, explained in plain words (long passphrases beat symbol rules)."""
    if len(password) < PASSWORD_MIN:
        return f"The password must have at least {PASSWORD_MIN} characters."
    if len(password) > 256:
        return "The password must have at most 256 characters."
    if len(set(password)) < 5:
        return "The password repeats too few different characters."
    lowered = password.lower()
    if username and username.lower() in lowered:
        return "The password must not contain the username."
    if birth_date.strftime("%d%m%Y") in password or birth_date.isoformat() in password:
        return "The password must not contain the birth date."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        _hasher.hash(password)  # same cost whether or not the account exists
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def activate(
    session: Session,
    settings: Settings,
    check: CodeCheck,
    *,
    birth_date: dt.date,
    username: str,
    password: str,
    email: str,
) -> Holder:
    """LC-4: INS + code + identity check → active space with credentials."""
    holder, code = _checked(check)
    if holder.state == rules.PURGE_PENDING:
        raise Conflict(
            "A new activation is refused while the erasure of this space is pending.",
            code="purge-pending",
        )
    comes_back = holder.state in (rules.CLOSED, rules.OPPOSED) and code.purpose == "renewal"
    if rules.next_state("activate", holder.state) is None and not comes_back:
        raise Conflict(
            STATE_MESSAGES.get(holder.state, "This space cannot be activated."),
            code=f"state-{holder.state}",
        )
    if holder.password_hash is not None and not comes_back:
        raise Conflict("This space is already activated.", code="already-active")
    if birth_date != holder.birth_date:
        raise InvalidInput("The birth date does not match our records.", field="birth_date")
    if rules.is_minor(holder.birth_date, today(settings), settings.majority_age):
        raise Forbidden(
            "A minor's space is activated and managed by their legal representative.", code="minor"
        )
    username = username.strip().lower()
    if not (3 <= len(username) <= 64) or not all(c.isalnum() or c in "._-" for c in username):
        raise InvalidInput(
            "A username has 3 to 64 letters, digits, dots, dashes or underscores.", field="username"
        )
    taken = session.scalars(select(Holder.id).where(Holder.username == username)).first()
    # A returning holder may keep their former username.
    if taken is not None and taken != holder.id:
        raise Conflict("This username is taken: choose another one.", code="username-taken")
    problem = password_problem(password, username, holder.birth_date)
    if problem:
        raise InvalidInput(problem, field="password")
    code.used_at = clock.now()
    if comes_back:
        # LC-2 (opposition withdrawn), LC-5 (a new space; the archive is restored into it).
        transition(
            session,
            holder,
            "renew",
            Principal(PrincipalKind.HOLDER, holder.id),
            reason="asked-for-space",
        )
        holder.closed_on = None
        holder.purge_due_on = None
        holder.close_reason = None
        holder.suspended_on = None
    holder.username = username
    holder.password_hash = hash_password(password)
    holder.email = email
    holder.activated_at = clock.now()
    transition(session, holder, "activate", Principal(PrincipalKind.HOLDER, holder.id))
    return holder


def _checked(check: CodeCheck) -> tuple[Holder, ProvisionalCode]:
    if check.error is not None:
        raise check.error
    assert check.holder is not None and check.code is not None
    return check.holder, check.code


# -- renewal, closing, suspension, death -----------------------------------------------------


RENEWALS_PER_DAY = 3


def renew(session: Session, vault: Vault, settings: Settings, nir: str) -> str:
    """Send a new code: the old one expired, or a closed or opposed person asks for a space back.

    Nothing else changes here: the space only reopens when the person activates with the code
    they received (LC-2, LC-5), so knowing a NIR is not enough to undo an opposition. The answer
    never says whether the NIR is known; at most 3 codes a day are sent for one person, so the
    endpoint cannot be used to flood them. Returns what happened, for the audit only.
    """
    holder = find_holder(session, nir)
    if holder is None:
        return "unknown"
    if holder.state == rules.PURGE_PENDING:
        return "purge-pending"
    comes_back = holder.state in (rules.CLOSED, rules.OPPOSED)
    if (
        not comes_back
        and holder.state not in rules.CODE_STATES
        and not (holder.state == rules.ACTIVE and holder.password_hash is None)
    ):
        return "not-needed"
    if not _renewal_allowed(session, vault, holder):
        return "throttled"
    code = issue_code(
        session, vault, settings, holder, purpose="renewal" if comes_back else "notice"
    )
    send_notice(
        session, vault, settings, holder, code, kind="account.renewal", today=today(settings)
    )
    record(
        session,
        SYSTEM,
        "account.code-renewed",
        holder_id=holder.id,
        target_type="Space",
        target_id=str(holder.id),
        reason="asked-for-space" if comes_back else "code-renewed",
    )
    return "sent"


def _renewal_allowed(session: Session, vault: Vault, holder: Holder) -> bool:
    key = "renewal:" + vault.keyed_hash(session, "throttle", holder.nir)[:40]
    now = clock.now()
    row = session.get(Throttle, key)
    if row is None:
        session.add(Throttle(key=key, failures=1, window_start=now))
        return True
    if now - row.window_start > dt.timedelta(days=1):
        row.window_start, row.failures = now, 1
        return True
    if row.failures >= RENEWALS_PER_DAY:
        return False
    row.failures += 1
    return True


def close(
    session: Session,
    settings: Settings,
    holder: Holder,
    actor: Principal,
    *,
    purge: bool,
    reason: str = "holder-request",
) -> None:
    """LC-5: close now; the archive is kept 10 years, or purged at the next jobs run on request."""
    transition(session, holder, "close", actor, reason=reason)
    day = today(settings)
    holder.closed_on = day
    holder.close_reason = reason
    holder.purge_due_on = day if purge else rules.archive_purge_day(day, settings.archive_years)
    _revoke_codes(session, holder)
    if purge:
        transition(session, holder, "request-purge", actor)
    _end_access(session, holder, actor, "space-closed")


def suspend(
    session: Session, settings: Settings, holder: Holder, actor: Principal, reason: str
) -> None:
    """LC-6: suspended for fraud or malfunction; the holder is told and may object within 6 weeks."""
    transition(session, holder, "suspend", actor, reason=reason, mode=Mode.OPERATOR)
    holder.suspended_on = today(settings)
    _end_access(session, holder, actor, "space-suspended")


def mark_deceased(
    session: Session, settings: Settings, holder: Holder, actor: Principal, day: dt.date
) -> None:
    """LC-6: on the holder's death the operator closes the space (archive kept, LC-5)."""
    if day > today(settings):
        raise InvalidInput("The date of death is in the future.", field="deceased_on")
    holder.deceased_on = day
    if holder.state not in (rules.CLOSED, rules.PURGE_PENDING):
        transition(session, holder, "decease", actor, reason="deceased", mode=Mode.OPERATOR)
        holder.closed_on = today(settings)
        holder.close_reason = "deceased"
        holder.purge_due_on = rules.archive_purge_day(holder.closed_on, settings.archive_years)
    _revoke_codes(session, holder)
    _end_access(session, holder, actor, "holder-deceased")


def close_expired_suspensions(session: Session, settings: Settings, day: dt.date) -> int:
    """LC-6: without objection within 6 weeks, a suspended space is closed (jobs run)."""
    holders = session.scalars(select(Holder).where(Holder.state == rules.SUSPENDED)).all()
    count = 0
    for holder in holders:
        if holder.suspended_on and day >= rules.suspension_close_day(
            holder.suspended_on, settings.suspension_weeks
        ):
            close(session, settings, holder, SYSTEM, purge=False, reason="suspension-expired")
            count += 1
    return count


def _end_access(session: Session, holder: Holder, actor: Principal, reason: str) -> None:
    """LC-5, LC-6, LC-8: a space that stops being usable ends every way in at once: its holder's
    tokens, portal sessions and login challenges, the apps connected to it or by its holder,
    and the profile other people's sessions had chosen (`auth.service.end_access`, audited)."""
    modes = {PrincipalKind.OPERATOR: Mode.OPERATOR, PrincipalKind.SYSTEM: Mode.SYSTEM}
    end_access(
        session,
        space=holder.id,
        reason=reason,
        actor=actor,
        mode=modes.get(actor.kind, Mode.NORMAL),
    )


def _revoke_codes(session: Session, holder: Holder) -> None:
    session.execute(
        update(ProvisionalCode)
        .where(
            ProvisionalCode.holder_id == holder.id,
            ProvisionalCode.used_at.is_(None),
            ProvisionalCode.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
    )


# -- purge (LC-8) ----------------------------------------------------------------------------


def tombstone_hash(session: Session, vault: Vault, nir: str) -> str:
    return vault.keyed_hash(session, TOMBSTONE_KEY, f"ins|{rules.normalize_nir(nir)}")


def purge(
    session: Session, vault: Vault, settings: Settings, holder: Holder, actor: Principal = SYSTEM
) -> None:
    """LC-8: shred the key, delete rows and blobs, keep only a tombstone (hashed INS, dates)."""
    transition(session, holder, "purge", actor, reason="erasure")
    _end_access(session, holder, actor, "space-purged")
    holder_id = holder.id
    session.merge(
        Tombstone(
            nir_hash=tombstone_hash(session, vault, holder.nir),
            closed_on=holder.closed_on,
            purged_on=today(settings),
            reason=holder.close_reason or "closed",
        )
    )
    for module in PURGE_HOOK_MODULES:
        importlib.import_module(module)
    for hook in PURGE_HOOKS:
        hook(session, vault, holder_id)
    vault.destroy_keys(session, holder_id)
    delete_for_holder(session, holder_id)
    # What points at the holder without a foreign key: sign-in material and login throttles.
    session.execute(delete(LoginChallenge).where(LoginChallenge.principal_id == holder_id))
    session.execute(delete(ApiToken).where(ApiToken.principal_id == holder_id))
    if holder.username:
        session.execute(delete(Throttle).where(Throttle.key == f"login:{holder.username}"))
    session.execute(
        delete(Representation).where(
            (Representation.minor_id == holder_id) | (Representation.representative_id == holder_id)
        )
    )
    session.delete(holder)
    session.flush()


PurgeHook = Callable[[Session, Vault, uuid.UUID], None]
# Domains holding a holder's data outside foreign-key cascades (blobs, say) register here.
PURGE_HOOKS: list[PurgeHook] = []
# Modules that register purge hooks, imported before each purge so none is forgotten.
PURGE_HOOK_MODULES = ("carnet.documents.purge", "carnet.messaging.purge", "carnet.agenda.service")


def register_purge_hook(hook: PurgeHook) -> PurgeHook:
    """Declare what a domain deletes when a space is purged (LC-8)."""
    if hook not in PURGE_HOOKS:
        PURGE_HOOKS.append(hook)
    return hook


def purge_due(
    session: Session, vault: Vault, settings: Settings, day: dt.date, limit: int = 1000
) -> int:
    """LC-5: purge spaces whose archive time is over, or whose holder asked for erasure."""
    holders = session.scalars(
        select(Holder)
        .where(Holder.state.in_((rules.CLOSED, rules.PURGE_PENDING)), Holder.purge_due_on <= day)
        .limit(limit)
    ).all()
    for holder in holders:
        purge(session, vault, settings, holder)
    return len(holders)


def is_tombstoned(session: Session, vault: Vault, nir: str) -> bool:
    return session.get(Tombstone, tombstone_hash(session, vault, nir)) is not None


def get_holder(session: Session, holder_id: uuid.UUID) -> Holder:
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound("No such space.")
    return holder
