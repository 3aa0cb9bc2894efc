"""The space's lifecycle: codes, opposition, activation, closing, suspension, death (the purge is
`accounts.purge`, passwords `accounts.passwords`).

Plain functions taking the session; the caller commits. Every transition goes through `transition`,
which applies the state machine of `accounts.rules` and appends the audit entry (ACC-8).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import Actor, SpaceFacts, decide_close
from carnet.access.rules import Relation as AccessRelation
from carnet.accounts import rules
from carnet.accounts.models import (
    Holder,
    OppositionProof,
    ProvisionalCode,
    SuspensionObjection,
)
from carnet.accounts.notices import send_closing_notice, send_notice
from carnet.accounts.passwords import hash_password, password_problem
from carnet.accounts.service import find_holder as find_holder  # still read from here too
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth import rates, throttle
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import end_access
from carnet.config import Settings
from carnet.db import Database, committed_tasks
from carnet.errors import (
    CarnetError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from carnet.vault.service import Vault

log = logging.getLogger("carnet.accounts")

CODE_KEY = "codes"

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


# -- provisional codes ------------------------------------------------------------------------


def issue_code(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    *,
    purpose: str = "notice",
    replace: bool = True,
) -> str:
    """A new single-use code for the holder; any earlier unused code stops working, unless
    `replace` is false (a renewal anyone may ask for must not void the code a person holds)."""
    now = clock.now()
    if replace:
        _revoke_codes(session, holder)
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
# What the keyed hash of a code is computed with when the number typed is no one's: the same work.
_NOBODY = uuid.UUID(int=0)


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a code: on failure the caller commits the bookkeeping, then raises."""

    holder: Holder | None
    code: ProvisionalCode | None
    error: CarnetError | None


def check_code(
    session: Session, vault: Vault, settings: Settings, nir: str, typed: str, *, client: str
) -> CodeCheck:
    """Find the holder's code matching `typed`; a wrong one counts against the client (LC-2, LC-4).

    Nothing here depends on who the number belongs to until the right code is typed: an unknown
    NIR and a known one in any state (notified, open, active, opposed, closed, suspended, purged)
    get the same `401 bad-code` for a wrong code, after the same work — one holder lookup, one
    keyed hash, one code lookup, one audit entry (the space's chain, or the system chain). There
    is no lock per person: wrong codes slow down the client that types them, and everyone past a
    global budget (`auth.throttle`), so a stranger can neither learn who has a space nor keep its
    holder from opposing. Only the right code tells more (used, replaced, expired, the state).

    Why guessing stays hopeless: a code is 12 characters from an alphabet of 25 unambiguous ones,
    25^12 ≈ 6·10^16 (≈ 2^55.7) values, stored only as a keyed hash bound to the NIR (a copy of
    the database tests nothing). Each attempt tests one code for one person, who holds a few live
    codes at most. All clients together get at most `global_failures_per_window` (100) failures
    per `global_window_seconds` (10): 8.6·10^5 a day, 3.2·10^9 in ten years — expected successes
    over those ten years ≈ 3.2·10^9 × (a few) / 6·10^16 < 10^-6. One client gets about 12 an hour.
    """
    wait = throttle.refusal(session, vault, settings, throttle.CODES, client)
    if wait is not None:
        return CodeCheck(None, None, wait)
    holder = find_holder(session, nir)
    row = _matching_code(session, vault, holder, nir, typed)
    now = clock.now()
    if row is None:
        throttle.note_failure(session, vault, settings, throttle.CODES, client)
        record(
            session,
            SYSTEM,
            "account.code-failure",
            holder_id=holder.id if holder is not None else None,
            target_type="Space",
            target_id=str(holder.id) if holder is not None else None,
        )
        return CodeCheck(None, None, Unauthenticated(_BAD_CODE, code="bad-code"))
    assert holder is not None
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
    return CodeCheck(holder, row, None)


def _matching_code(
    session: Session, vault: Vault, holder: Holder | None, nir: str, typed: str
) -> ProvisionalCode | None:
    """The holder's code whose keyed hash matches; for an unknown NIR or a malformed code the
    same hash and the same query run, and find nothing (no timing difference, LC-2)."""
    code = rules.normalize_code(typed)
    wanted = vault.keyed_hash(
        session,
        CODE_KEY,
        rules.code_hash_input(
            holder.nir if holder is not None else rules.normalize_nir(nir), code or typed[:32]
        ),
    )
    row = session.scalars(
        select(ProvisionalCode).where(
            ProvisionalCode.holder_id == (holder.id if holder is not None else _NOBODY),
            ProvisionalCode.code_hash == wanted,
        )
    ).first()
    return row if code is not None else None


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
    _use(session, holder, code)
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
    _use(session, holder, code)
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


def _use(session: Session, holder: Holder, code: ProvisionalCode) -> None:
    """A code serves once; the person's other live codes (renewals, LC-4) stop working with it."""
    code.used_at = clock.now()
    session.flush()
    _revoke_codes(session, holder)


def use_code(session: Session, check: CodeCheck) -> Holder:
    """Spend a checked code (raising the check's error if any): for the other services that
    take the NIR + code way in without login (an objection to a suspension, LC-6)."""
    holder, code = _checked(check)
    _use(session, holder, code)
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
    never says whether the NIR is known, and the edge runs this after the answer has left (its
    work depends on the person, its answer must not); at most 3 codes a day are sent for one
    person, so the endpoint cannot be used to flood them. The new code does not void the earlier
    ones: otherwise a stranger asking renewals for someone would keep voiding the code on its way
    to them by post, and keep them from opposing (LC-2). Returns what happened, for the audit only.
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
        session,
        vault,
        settings,
        holder,
        purpose="renewal" if comes_back else "notice",
        replace=False,
    )
    send_notice(
        session,
        vault,
        settings,
        holder,
        code,
        kind="account.renewal",
        today=today(settings),
        transactional=True,  # asked for on the page the person is looking at
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


def ask_renewal(
    session: Session, vault: Vault, settings: Settings, *, client: str
) -> CarnetError | None:
    """The edge's half of a renewal, in the request: every request counts against the client and
    the global budget of renewals (`auth.throttle`), whoever the number belongs to."""
    wait = throttle.refusal(session, vault, settings, throttle.RENEWAL, client)
    if wait is not None:
        return wait
    throttle.note_failure(session, vault, settings, throttle.RENEWAL, client)
    return None


def renew_apart(database: Database, vault: Vault, settings: Settings, nir: str) -> None:
    """`renew` in its own transaction, run by the edge once the answer has left (its duration
    depends on whether the NIR is known). Never raises: a failure is logged without details."""
    sessions: list[Session] = []

    def unit(session: Session) -> None:
        sessions.append(session)
        renew(session, vault, settings, nir)

    try:
        database.run(unit)
        for task in committed_tasks(sessions[-1]):  # the code e-mail leaves now (transactional)
            task(database, settings)
    except Exception as exc:  # nobody is left to answer: the log says what failed, not why
        log.error("renewal failed", extra={"error_type": type(exc).__name__})


def _renewal_allowed(session: Session, vault: Vault, holder: Holder) -> bool:
    key = "renewal:" + vault.keyed_hash(session, "throttle", holder.nir)[:40]
    return rates.count_daily(session, key, limit=RENEWALS_PER_DAY)


def close_space(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    actor: Principal,
    *,
    relation: str,
    purge: bool,
) -> None:
    """LC-5 asked from the holder side: the holder closes their own space, a minor's representative
    (REP-1) or a protected adult's guardian (REP-5) closes it for them, a caregiver never does
    (REP-4); `access.rules.decide_close` decides on `relation` (`accounts.family.relations.resolve_space`).
    The holder is told (LC-7: a minor's notice goes to the representative)."""
    decision = decide_close(
        Actor(actor, AccessRelation(relation)), SpaceFacts(holder.id, holder.state)
    )
    if not decision:
        if decision.reason == "caregiver-forbidden":
            raise Forbidden(
                "Caregivers cannot close the space of the person they help.", code=decision.reason
            )
        raise Forbidden("Only the holder or their legal representative can close this space.")
    reason = "holder-request" if relation == "self" else "representative-request"
    close(session, settings, holder, actor, purge=purge, reason=reason, mode=decision.mode)
    send_closing_notice(session, vault, settings, holder, erase=purge, today=today(settings))


def close(
    session: Session,
    settings: Settings,
    holder: Holder,
    actor: Principal,
    *,
    purge: bool,
    reason: str = "holder-request",
    mode: Mode = Mode.NORMAL,
) -> None:
    """LC-5: close now; the archive is kept 10 years, or purged at the next jobs run on request."""
    transition(session, holder, "close", actor, reason=reason, mode=mode)
    day = today(settings)
    holder.closed_on = day
    holder.close_reason = reason
    holder.purge_due_on = day if purge else rules.archive_purge_day(day, settings.archive_years)
    _revoke_codes(session, holder)
    if purge:
        transition(session, holder, "request-purge", actor, mode=mode)
    end_space_access(session, holder, actor, "space-closed")


def suspend(
    session: Session, settings: Settings, holder: Holder, actor: Principal, reason: str
) -> None:
    """LC-6: suspended for fraud or malfunction; the holder is told and may object within 6 weeks."""
    transition(session, holder, "suspend", actor, reason=reason, mode=Mode.OPERATOR)
    holder.suspended_on = today(settings)
    end_space_access(session, holder, actor, "space-suspended")


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
    end_space_access(session, holder, actor, "holder-deceased")


def close_expired_suspensions(session: Session, settings: Settings, day: dt.date) -> int:
    """LC-6: without objection within 6 weeks, a suspended space is closed (jobs run). A space
    whose objection awaits the operator's decision stays suspended until it is decided."""
    pending = exists().where(
        SuspensionObjection.holder_id == Holder.id, SuspensionObjection.decided_at.is_(None)
    )
    holders = session.scalars(select(Holder).where(Holder.state == rules.SUSPENDED, ~pending)).all()
    count = 0
    for holder in holders:
        if holder.suspended_on and day >= rules.suspension_close_day(
            holder.suspended_on, settings.suspension_weeks
        ):
            close(session, settings, holder, SYSTEM, purge=False, reason="suspension-expired")
            count += 1
    return count


def end_space_access(session: Session, holder: Holder, actor: Principal, reason: str) -> None:
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


def get_holder(session: Session, holder_id: uuid.UUID) -> Holder:
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound("No such space.")
    return holder
