"""Objecting to a suspension (LC-6): the way in for the holder, the queue for the operator.

A suspension ends every way into the space (`lifecycle.suspend`), so the holder objects like one
opposes its creation (LC-2): without logging in, with the NIR and the provisional code the
suspension notice carries (for a minor, the notice and the code go to the managing representative,
LC-7). They object until the eve of the day the space would close, choosing a reason and adding a
note if they wish (sealed under the holder's key: it may say anything). An operator then upholds
the suspension or lifts it; whoever objected is told. While an objection waits for its decision
the space is not closed (Carnet decision: "without objection" in LC-6 is read as "without a
pending objection"); an upheld suspension closes on its day, or at the next jobs run when that day
has passed meanwhile.

Plain functions taking the session; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle, rules
from carnet.accounts.models import Holder, SuspensionObjection
from carnet.accounts.notices import send_decision_notice, send_suspension_notice
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import new_id
from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.vault.service import Vault

NOTE_PURPOSE = "suspension-objection"
DECISION_PURPOSE = "suspension-decision"
NOTE_MAX = 1000


def suspend_and_tell(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    actor: Principal,
    reason: str,
) -> dt.date:
    """LC-6: suspend the space and send the holder the way to object (page, code, last day).
    Returns the last day an objection is possible."""
    lifecycle.suspend(session, settings, holder, actor, reason)
    day = lifecycle.today(settings)
    deadline = rules.objection_deadline(day, settings.suspension_weeks)
    code = lifecycle.issue_code(session, vault, settings, holder, purpose="objection")
    send_suspension_notice(session, vault, settings, holder, code, deadline=deadline, today=day)
    return deadline


def _clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"The note has at most {NOTE_MAX} characters.", field="note")
    return note


def object_to_suspension(
    session: Session,
    vault: Vault,
    settings: Settings,
    check: lifecycle.CodeCheck,
    *,
    reason: str,
    note: str | None,
) -> SuspensionObjection:
    """LC-6: record the objection made with the NIR + the suspension notice's code, until the
    deadline; refused (Conflict) when the space is not suspended, the 6 weeks are over, or this
    suspension was already objected to. The actor is the space (as for an opposition, LC-2)."""
    if check.error is not None:
        raise check.error
    holder = check.holder
    assert holder is not None
    if reason not in rules.OBJECTION_REASONS:
        raise InvalidInput("Choose why you object to the suspension.", field="reason")
    text = _clean_note(note)
    if holder.state != rules.SUSPENDED or holder.suspended_on is None:
        raise Conflict("This space is not suspended.", code="not-suspended")
    deadline = rules.objection_deadline(holder.suspended_on, settings.suspension_weeks)
    if not rules.may_object(
        holder.state, holder.suspended_on, lifecycle.today(settings), settings.suspension_weeks
    ):
        raise Conflict(
            "The 6 weeks to object to this suspension are over.",
            code="objection-deadline-passed",
        )
    already = session.scalars(
        select(SuspensionObjection.id).where(
            SuspensionObjection.holder_id == holder.id,
            SuspensionObjection.suspended_on == holder.suspended_on,
        )
    ).first()
    if already is not None:
        raise Conflict(
            "An objection to this suspension is already recorded.", code="objection-recorded"
        )
    lifecycle.use_code(session, check)
    row = SuspensionObjection(
        id=new_id(),  # known before the flush: the note's seal is bound to it
        holder_id=holder.id,
        suspended_on=holder.suspended_on,
        deadline=deadline,
        reason=reason,
        created_at=clock.now(),
    )
    if text:
        row.sealed_note = vault.seal_text(session, holder.id, row.id, NOTE_PURPOSE, text)
    session.add(row)
    session.flush()
    record(
        session,
        Principal(PrincipalKind.HOLDER, holder.id),
        "account.suspension-objection",
        holder_id=holder.id,
        target_type="SuspensionObjection",
        target_id=str(row.id),
        reason=reason,
    )
    return row


@dataclass(frozen=True)
class PendingObjection:
    """One line of the operator's queue; the note is opened for the operator (audited)."""

    id: uuid.UUID
    nir: str
    suspended_on: dt.date
    deadline: dt.date
    objected_at: dt.datetime
    reason: str
    note: str


def pending(session: Session, vault: Vault, operator: Principal) -> list[PendingObjection]:
    """LC-6: the objections awaiting a decision, oldest first; opening each note is audited."""
    rows = session.execute(
        select(SuspensionObjection, Holder.nir)
        .join(Holder, Holder.id == SuspensionObjection.holder_id)
        .where(SuspensionObjection.decided_at.is_(None))
        .order_by(SuspensionObjection.created_at, SuspensionObjection.id)
    ).all()
    queue = []
    for row, nir in rows:
        note = ""
        if row.sealed_note is not None:
            note = vault.unseal_text(session, row.holder_id, row.id, NOTE_PURPOSE, row.sealed_note)
        record(
            session,
            operator,
            "account.suspension-objection-read",
            holder_id=row.holder_id,
            target_type="SuspensionObjection",
            target_id=str(row.id),
            mode=Mode.OPERATOR,
        )
        queue.append(
            PendingObjection(
                row.id, nir, row.suspended_on, row.deadline, row.created_at, row.reason, note
            )
        )
    return queue


def decide(
    session: Session,
    vault: Vault,
    settings: Settings,
    objection_id: uuid.UUID,
    decision: str,
    *,
    note: str,
    operator: Principal,
    operator_name: str,
) -> SuspensionObjection:
    """LC-6: the operator upholds the suspension or lifts it (the space is active again, as
    `reinstate` allows); the decision is audited and whoever objected is told (LC-7)."""
    if decision not in rules.OBJECTION_DECISIONS:
        raise InvalidInput("Decide --uphold or --lift.", field="decision")
    text = _clean_note(note)
    if not text:
        raise InvalidInput("Give a --note saying why (kept sealed).", field="note")
    row = session.get(SuspensionObjection, objection_id)
    if row is None:
        raise NotFound("No such objection.")
    if row.decided_at is not None:
        raise Conflict(f"This objection was already decided ({row.decision}).", code="decided")
    holder = lifecycle.get_holder(session, row.holder_id)
    if decision == "lift":
        lifecycle.transition(
            session, holder, "reinstate", operator, reason="objection-accepted", mode=Mode.OPERATOR
        )
        holder.suspended_on = None
    elif holder.state != rules.SUSPENDED:
        raise Conflict(
            lifecycle.STATE_MESSAGES.get(holder.state, "This space is not suspended."),
            code=f"state-{holder.state}",
        )
    row.decision = decision
    row.decided_at = clock.now()
    row.decided_by = operator_name[:100]
    row.sealed_decision_note = vault.seal_text(session, holder.id, row.id, DECISION_PURPOSE, text)
    record(
        session,
        operator,
        "account.suspension-objection-decided",
        holder_id=holder.id,
        target_type="SuspensionObjection",
        target_id=str(row.id),
        mode=Mode.OPERATOR,
        reason=decision,
    )
    close_day = rules.suspension_close_day(row.suspended_on, settings.suspension_weeks)
    send_decision_notice(
        session,
        vault,
        settings,
        holder,
        decision,
        close_day=max(close_day, lifecycle.today(settings)),
        today=lifecycle.today(settings),
    )
    return row
