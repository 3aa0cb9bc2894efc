"""Reading a space's reimbursements, through the decision point (rules SRV-4, ACC-7, ACC-8).

`access.rules.decide_reimbursements_read` decides: holder side only (holder, representatives,
caregivers); professionals never (ACC-7). Every read, and every refused read, is audited with the
count only. REP-2 is enforced at import: secret acts of minors are never stored, so a
representative reading the child's list cannot meet one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from carnet.access.rules import decide_reimbursements_read, mode_of
from carnet.access.service import actor_for, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.errors import Forbidden, InvalidInput, NotFound
from carnet.reimbursements.models import PURPOSE, Reimbursement
from carnet.vault.service import Vault

PAGE_SIZE = 50
STREAM_CHUNK = 1000  # lines read at a time by `every_line`
ACTION_READ = "reimbursements.read"


@dataclass(frozen=True)
class ReimbursementView:
    id: uuid.UUID
    holder_id: uuid.UUID
    care_date: dt.date
    payment_date: dt.date
    act_code: str
    act_label: str
    professional_rpps: str | None
    amount_charged: Decimal
    amount_reimbursed: Decimal


@dataclass(frozen=True)
class ReimbursementPage:
    items: list[ReimbursementView]
    total: int
    page: int
    pages: int


def opened(vault: Vault, session: Session, row: Reimbursement) -> ReimbursementView:
    data = json.loads(vault.unseal_text(session, row.holder_id, row.id, PURPOSE, row.sealed))
    return ReimbursementView(
        id=row.id,
        holder_id=row.holder_id,
        care_date=row.care_date,
        payment_date=row.payment_date,
        act_code=data["act_code"],
        act_label=data["act_label"],
        professional_rpps=data["professional_rpps"],
        amount_charged=Decimal(data["amount_charged"]),
        amount_reimbursed=Decimal(data["amount_reimbursed"]),
    )


def professionals_named(session: Session, vault: Vault, holder_id: uuid.UUID) -> set[str]:
    """The RPPS numbers the space's lines name (sealed: opened here). For facts other services
    derive, such as the pharmacies a holder used (SRV-1); no read by a person, so not audited."""
    rows = session.scalars(select(Reimbursement).where(Reimbursement.holder_id == holder_id))
    return {rpps for row in rows if (rpps := opened(vault, session, row).professional_rpps)}


def list_reimbursements(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    page: int = 1,
    request_id: str | None = None,
) -> ReimbursementPage:
    """The space's reimbursement lines by care date, newest first, `PAGE_SIZE` a page."""
    actor = actor_for(session, settings, principal, holder)
    decision = decide_reimbursements_read(actor, space_facts(session, holder))
    if not decision:
        # ACC-8: refused reads are recorded too; the caller commits before raising the answer.
        record(session, principal, ACTION_READ + "-denied", holder_id=holder.id,
               target_type="ExplanationOfBenefit", mode=mode_of(actor),
               reason=decision.reason, request_id=request_id)  # fmt: skip
        raise Forbidden("You may not read this space's reimbursements.", code=decision.reason)
    if page < 1:
        raise InvalidInput("page starts at 1.", field="page")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise InvalidInput("to is before from.", field="to")
    where = [Reimbursement.holder_id == holder.id]
    if date_from is not None:
        where.append(Reimbursement.care_date >= date_from)
    if date_to is not None:
        where.append(Reimbursement.care_date <= date_to)
    total = session.scalar(select(func.count()).select_from(Reimbursement).where(*where)) or 0
    rows = session.scalars(
        select(Reimbursement)
        .where(*where)
        .order_by(Reimbursement.care_date.desc(), Reimbursement.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    record(session, principal, ACTION_READ, holder_id=holder.id,
           target_type="ExplanationOfBenefit", target_id=f"{len(rows)}/{total}",
           mode=decision.mode, request_id=request_id)  # fmt: skip
    return ReimbursementPage(
        items=[opened(vault, session, row) for row in rows],
        total=total,
        page=page,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
    )


def read_reimbursement(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    line_id: uuid.UUID,
    *,
    request_id: str | None = None,
) -> ReimbursementView:
    """One line by id, decided and audited as the list is (SRV-4, ACC-7, ACC-8); NotFound when it
    does not exist or may not be read, so a refusal tells nothing of its existence."""
    row = session.get(Reimbursement, line_id)
    holder = account_service.holder(session, row.holder_id) if row is not None else None
    if row is None or holder is None:
        raise NotFound("No such reimbursement.")
    actor = actor_for(session, settings, principal, holder)
    decision = decide_reimbursements_read(actor, space_facts(session, holder))
    if not decision:
        record(session, principal, ACTION_READ + "-denied", holder_id=holder.id,
               target_type="ExplanationOfBenefit", target_id=str(row.id), mode=mode_of(actor),
               reason=decision.reason, request_id=request_id)  # fmt: skip
        raise NotFound("No such reimbursement.")
    record(session, principal, ACTION_READ, holder_id=holder.id,
           target_type="ExplanationOfBenefit", target_id=str(row.id),
           mode=decision.mode, request_id=request_id)  # fmt: skip
    return opened(vault, session, row)


def every_line(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    request_id: str | None = None,
) -> Iterator[ReimbursementView]:
    """All the space's lines, newest first, for an export or a timeline (SRV-4, SRV-5): one
    decision and one audit entry for the whole read (ACC-8, with the count), then the lines by
    chunks, each after the last line seen. Paging through
    `list_reimbursements` decided, audited, counted and skipped again at every page of 50: a
    space of 5,000 lines cost 100 of each and read 250,000 rows (issue 14)."""
    actor = actor_for(session, settings, principal, holder)
    decision = decide_reimbursements_read(actor, space_facts(session, holder))
    if not decision:
        record(session, principal, ACTION_READ + "-denied", holder_id=holder.id,
               target_type="ExplanationOfBenefit", mode=mode_of(actor),
               reason=decision.reason, request_id=request_id)  # fmt: skip
        raise Forbidden("You may not read this space's reimbursements.", code=decision.reason)
    total = (
        session.scalar(
            select(func.count())
            .select_from(Reimbursement)
            .where(Reimbursement.holder_id == holder.id)
        )
        or 0
    )
    record(session, principal, ACTION_READ, holder_id=holder.id,
           target_type="ExplanationOfBenefit", target_id=f"{total}/{total}",
           mode=decision.mode, request_id=request_id)  # fmt: skip
    after: tuple[dt.date, uuid.UUID] | None = None
    while True:
        statement = select(Reimbursement).where(Reimbursement.holder_id == holder.id)
        if after is not None:
            day, last = after
            statement = statement.where(
                or_(
                    Reimbursement.care_date < day,
                    and_(Reimbursement.care_date == day, Reimbursement.id > last),
                )
            )
        rows = session.scalars(
            statement.order_by(Reimbursement.care_date.desc(), Reimbursement.id).limit(STREAM_CHUNK)
        ).all()
        for row in rows:
            yield opened(vault, session, row)
        if len(rows) < STREAM_CHUNK:
            return
        after = (rows[-1].care_date, rows[-1].id)
