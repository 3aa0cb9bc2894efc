"""Who takes part in a conversation, and the conversation as the caller may see it (SRV-1, ACC-8).

`find_conversation` asks the decision point (`access.rules.decide_message_read`) and answers 404,
audited, when the caller may not read; the facts for who may write first ("dispensed",
pharmacies) come from documents and reimbursement lines.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from carnet.access.rules import PHARMACIST, Actor, Decision, decide_message_read, mode_of
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, Professional
from carnet.audit.service import record
from carnet.documents import service as documents
from carnet.errors import InvalidInput, NotFound
from carnet.messaging.context import NOT_FOUND, TARGET, Context
from carnet.messaging.models import (
    DRAFT,
    HOLDER,
    PROFESSIONAL,
    SENT,
    Conversation,
    Message,
    Participant,
)
from carnet.messaging.refusals import deny
from carnet.reimbursements import service as reimbursements
from carnet.vault.service import Vault


@dataclass
class Found:
    conversation: Conversation
    holder: Holder
    actor: Actor
    me: Participant | None  # the caller's party row (the holder side's for the holder side)
    decision: Decision


def find_conversation(
    ctx: Context,
    conversation_id: uuid.UUID,
    space: Holder | None,
    action: str,
) -> Found:
    """The conversation as the caller may see it; 404 (audited) when they may not read it."""
    conversation = ctx.session.get(Conversation, conversation_id)
    if conversation is None or (space is not None and conversation.holder_id != space.id):
        raise NotFound(NOT_FOUND)
    holder = documents.holder_by_id(ctx.session, conversation.holder_id)
    actor = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
    me = ctx.session.scalars(
        select(Participant).where(
            Participant.conversation_id == conversation.id, *my_rows_where(ctx)
        )
    ).first()
    return judge(ctx, conversation, holder, actor, me, action)


def judge(
    ctx: Context,
    conversation: Conversation,
    holder: Holder,
    actor: Actor,
    me: Participant | None,
    action: str,
) -> Found:
    """The decision point's answer for one conversation whose rows are read already (one at a
    time by `find_conversation`, many at once by the export's reads); 404, audited, when the
    caller may not read it."""
    decision = decide_message_read(
        actor, space_facts(ctx.session, holder), participant=me is not None
    )
    draft_of_other = conversation.status == DRAFT and conversation.started_by_id != ctx.principal.id
    if not decision or draft_of_other or me is None:
        raise deny(
            ctx, holder, action, decision if not decision else "draft-of-another",
            NotFound(NOT_FOUND), target_id=str(conversation.id), actor=actor,
        )  # fmt: skip
    return Found(conversation, holder, actor, me, decision)


def my_row(ctx: Context, conversation: Conversation) -> Participant:
    row = ctx.session.scalars(
        select(Participant).where(
            Participant.conversation_id == conversation.id, *my_rows_where(ctx)
        )
    ).first()
    if row is None:  # pragma: no cover - access was decided on this row
        raise NotFound(NOT_FOUND)
    return row


def pros_in(ctx: Context, conversation: Conversation) -> list[uuid.UUID]:
    return [
        pro_id
        for pro_id in ctx.session.scalars(
            select(Participant.professional_id).where(
                Participant.conversation_id == conversation.id, Participant.party == PROFESSIONAL
            )
        )
        if pro_id is not None
    ]


def recipients_of(ctx: Context, conversation: Conversation) -> list[uuid.UUID]:
    """The professionals a new message of the caller reaches (to and cc, the caller excepted)."""
    return [pro_id for pro_id in pros_in(ctx, conversation) if pro_id != ctx.principal.id]


def professionals_by_rpps(session: Session, rpps_list: Iterable[str]) -> dict[str, Professional]:
    wanted = {value.strip() for value in rpps_list if value.strip()}
    for value in wanted:
        problem = account_rules.rpps_problem(value)
        if problem:
            raise InvalidInput(f"Invalid RPPS number: {problem}", field="to")
    found = account_service.professionals_by_rpps(session, wanted)
    if len(found) != len(wanted):
        raise NotFound(
            "A recipient is not a registered professional in Carnet.", code="unknown-recipient"
        )
    return found


# A party's moment (its `read_at` or `deleted_at`): a value for one conversation, or the column
# itself when many conversations are read together, joined to the reader's party rows.
Moment = dt.datetime | None | InstrumentedAttribute[Any]


def later_than(column: InstrumentedAttribute[Any], moment: Moment) -> list[ColumnElement[bool]]:
    """`column` after `moment`, no condition when there is no moment (NULL: none either)."""
    if moment is None:
        return []
    if isinstance(moment, dt.datetime):
        return [column > moment]
    return [or_(moment.is_(None), column > moment)]


def visible_filter(ctx: Context, deleted_at: Moment) -> list[ColumnElement[bool]]:
    """SRV-1: which messages of a conversation the caller's party sees: the sent ones and the
    caller's own drafts; once the party deleted the conversation, only those written since."""
    return [
        or_(Message.status == SENT, Message.author_id == ctx.principal.id),
        *later_than(Message.created_at, deleted_at),
    ]


def visible_messages(ctx: Context, conversation: Conversation, me: Participant) -> list[Message]:
    where = [Message.conversation_id == conversation.id, *visible_filter(ctx, me.deleted_at)]
    return list(
        ctx.session.scalars(select(Message).where(*where).order_by(Message.created_at, Message.id))
    )


PARTICIPANT_ORDER = (Participant.party.desc(), Participant.role.desc(), Participant.id)


def participant_rows(session: Session, conversation_id: uuid.UUID) -> list[Participant]:
    return list(
        session.scalars(
            select(Participant)
            .where(Participant.conversation_id == conversation_id)
            .order_by(*PARTICIPANT_ORDER)
        )
    )


def my_rows_where(ctx: Context) -> list[ColumnElement[bool]]:
    """The caller's party rows: the holder side's for the holder side, else the professional's."""
    if ctx.party == HOLDER:
        return [Participant.party == HOLDER]
    return [Participant.professional_id == ctx.principal.id]


def audit(
    ctx: Context,
    conversation: Conversation,
    actor: Actor,
    action: str,
    message_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    record(
        ctx.session,
        ctx.principal,
        action,
        holder_id=conversation.holder_id,
        target_type=TARGET,
        target_id=str(message_id or conversation.id),
        mode=mode_of(actor),
        reason=reason or f"conversation:{conversation.id}",
        request_id=ctx.request_id,
    )


def dispensed(session: Session, vault: Vault, holder: Holder, pro: Professional) -> bool:
    """SRV-1 "pharmacies they used", from what Carnet knows: a document this pharmacist deposited
    in the space, or a reimbursement line naming their RPPS (lines are sealed: opened here)."""
    if documents.deposited_by(session, holder.id, pro.id, pro.rpps):
        return True
    return pro.rpps in reimbursements.professionals_named(session, vault, holder.id)


def pharmacies(ctx: Context, holder: Holder) -> list[Professional]:
    """SRV-1: the pharmacies the holder side may write to first (those that dispensed to them)."""
    rpps = reimbursements.professionals_named(ctx.session, ctx.vault, holder.id)
    return account_service.professionals_of_profession(
        ctx.session, PHARMACIST, ids=documents.professional_authors(holder.id), rpps=rpps
    )
