"""Secure messaging conversations: start, reply, end (SRV-1, ID-3, ACC-8).

Plain functions taking the session; the caller commits. Who may write, reply, read or end is asked
of the decision point (`access.rules.decide_message_*`); subjects, bodies and attachment names are
sealed under the holder's key and attachments stored as blobs, like documents. Every check runs
before anything is written, so a refusal leaves nothing behind but its own audit entry (the edge
commits that entry, ACC-8). E-mail notices say that a message is there, never what it says.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from carnet import clock
from carnet.access.rules import (
    Actor,
    as_told,
    decide_conversation_end,
    decide_message_recipient,
    decide_message_reply,
    decide_message_start,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.errors import Conflict, Forbidden, InvalidInput
from carnet.messaging import rules
from carnet.messaging.attachments import NewFile, check_copies, new_files, sources_of, store_files
from carnet.messaging.context import BODY, SUBJECT, Context, NewConversation, NewMessage
from carnet.messaging.mailbox import check_quota
from carnet.messaging.models import (
    CC,
    DRAFT,
    ENDED,
    HOLDER,
    OPEN,
    PROFESSIONAL,
    SENT,
    TO,
    Conversation,
    Message,
    Participant,
)
from carnet.messaging.notices import notify
from carnet.messaging.parties import (
    audit,
    dispensed,
    find_conversation,
    my_row,
    professionals_by_rpps,
    pros_in,
    recipients_of,
)
from carnet.messaging.refusals import deny, refusal, refusals_audited


def start(ctx: Context, holder: Holder, new: NewConversation) -> tuple[Conversation, Message]:
    """SRV-1: open a conversation in `holder`'s space and write (or draft) its first message.

    A professional writes to the holder (ID-3, care team), with other professionals of the care
    team in to/cc; the holder side writes only to pharmacies that dispensed to them.
    """
    actor = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
    space = space_facts(ctx.session, holder)
    decision = decide_message_start(actor, space, qualified=holder.ins_qualified)
    if not decision:
        told = as_told(decision, "not-in-care-team")  # ACC-3: a block is never told
        raise deny(ctx, holder, "message.send", decision, refusal(told), actor=actor)
    holder_side = ctx.party == HOLDER
    roles: dict[uuid.UUID, str] = {}
    with refusals_audited(ctx, holder, "message.send", actor):
        check_text(new.subject, new.message.body, draft=new.message.draft)
        wanted = [value.strip() for value in [*new.to, *new.cc]]
        if holder_side and not new.to:
            raise InvalidInput("Choose the pharmacy you write to.", field="to")
        if len(wanted) > rules.MAX_RECIPIENTS:
            raise InvalidInput(
                f"A conversation has at most {rules.MAX_RECIPIENTS} professionals.", field="to"
            )
        pros = professionals_by_rpps(ctx.session, wanted)
        direct = {value.strip() for value in new.to}
        for rpps in wanted:
            pro = pros[rpps]
            if pro.id == ctx.principal.id:
                continue
            roles.setdefault(pro.id, TO if rpps in direct else CC)
            recipient = actor_for(
                ctx.session, ctx.settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder
            )
            verdict = decide_message_recipient(
                recipient,
                space,
                holder_started=holder_side,
                dispensed=holder_side and dispensed(ctx.session, ctx.vault, holder, pro),
            )
            if not verdict:
                told = as_told(verdict, "recipient-not-in-care-team")  # ACC-3
                raise deny(ctx, holder, "message.send", verdict, refusal(told), actor=actor)
        if holder_side and not roles:
            raise InvalidInput("Choose the pharmacy you write to.", field="to")
        files = new_files(ctx, holder, new.message)
        check_copies(ctx, holder, actor, sources_of(files), roles, None)
        size = rules.message_size(new.message.body, new.subject, (len(f.content) for f in files))
        party_ids = [*roles, *([ctx.principal.id] if not holder_side else [])]
        check_quota(ctx, holder, party_ids, size, actor, None)
    # Every check passed: write.
    now = clock.now()
    conversation = Conversation(
        id=uuid.uuid4(),
        holder_id=holder.id,
        started_by_party=ctx.party,
        started_by_id=ctx.principal.id,
        status=DRAFT if new.message.draft else OPEN,
        created_at=now,
        last_message_at=now,
    )
    conversation.subject_sealed = ctx.vault.seal_text(
        ctx.session, holder.id, conversation.id, SUBJECT, new.subject.strip()
    )
    ctx.session.add(conversation)
    ctx.session.add(
        Participant(conversation_id=conversation.id, holder_id=holder.id, party=HOLDER, role=TO)
    )
    if not holder_side:
        ctx.session.add(
            Participant(
                conversation_id=conversation.id,
                holder_id=holder.id,
                party=PROFESSIONAL,
                professional_id=ctx.principal.id,
                role=TO,
                read_at=now,
            )
        )
    for pro_id, role in roles.items():
        ctx.session.add(
            Participant(
                conversation_id=conversation.id,
                holder_id=holder.id,
                party=PROFESSIONAL,
                professional_id=pro_id,
                role=role,
            )
        )
    ctx.session.flush()
    message = _write_message(ctx, conversation, actor, new.message, files, size, now)
    if holder_side:
        my_row(ctx, conversation).read_at = now
    return conversation, message


def reply(
    ctx: Context, conversation_id: uuid.UUID, new: NewMessage, *, space: Holder | None = None
) -> Message:
    """SRV-1: a party writes (or drafts) in the conversation, unless a professional ended it."""
    found = find_conversation(ctx, conversation_id, space, "message.send")
    conversation, holder, actor = found.conversation, found.holder, found.actor
    decision = decide_message_reply(
        actor,
        space_facts(ctx.session, holder),
        participant=True,
        ended=conversation.status == ENDED,
    )
    if not decision:
        raise deny(
            ctx, holder, "message.send", decision, refusal(decision),
            target_id=str(conversation.id), actor=actor,
        )  # fmt: skip
    if conversation.status == DRAFT:
        raise Conflict("Send the first message of this conversation first.", code="draft")
    with refusals_audited(ctx, holder, "message.send", actor, str(conversation.id)):
        check_text(None, new.body, draft=new.draft)
        files = new_files(ctx, holder, new)
        check_copies(
            ctx, holder, actor, sources_of(files), recipients_of(ctx, conversation),
            str(conversation.id),
        )  # fmt: skip
        size = rules.message_size(new.body, None, (len(f.content) for f in files))
        check_quota(ctx, holder, pros_in(ctx, conversation), size, actor, str(conversation.id))
    return _write_message(ctx, conversation, actor, new, files, size, clock.now())


def end(ctx: Context, conversation_id: uuid.UUID) -> Conversation:
    """SRV-1: a professional ends a conversation; replies are refused from then on."""
    found = find_conversation(ctx, conversation_id, None, "conversation.end")
    decision = decide_conversation_end(
        found.actor, space_facts(ctx.session, found.holder), participant=True
    )
    if not decision:
        raise deny(
            ctx, found.holder, "conversation.end", decision,
            Forbidden("Only a professional taking part ends a conversation.", code=decision.reason),
            target_id=str(conversation_id), actor=found.actor,
        )  # fmt: skip
    conversation = found.conversation
    if conversation.status == ENDED:
        return conversation  # idempotent
    if conversation.status == DRAFT:
        raise Conflict("This conversation was never sent.", code="draft")
    conversation.status = ENDED
    conversation.ended_at = clock.now()
    conversation.ended_by = ctx.principal.id
    audit(ctx, conversation, found.actor, "conversation.end")
    return conversation


def check_text(subject: str | None, body: str, *, draft: bool) -> None:
    if subject is not None:
        problem = rules.subject_problem(subject)
        if problem:
            raise InvalidInput(problem, field="subject")
    problem = rules.body_problem(body, draft=draft)
    if problem:
        raise InvalidInput(problem, field="body")


def _relation(actor: Actor) -> str:
    """How the author signs: self, representative or caregiver (REP-4), or professional."""
    if actor.principal.kind is PrincipalKind.HOLDER:
        return actor.relation.value
    return "professional"


def _write_message(
    ctx: Context,
    conversation: Conversation,
    actor: Actor,
    new: NewMessage,
    files: Sequence[NewFile],
    size: int,
    now: dt.datetime,
) -> Message:
    message = Message(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        holder_id=conversation.holder_id,
        author_party=ctx.party,
        author_id=ctx.principal.id,
        author_relation=_relation(actor),
        status=DRAFT if new.draft else SENT,
        size=size,
        created_at=now,
        updated_at=now,
        sent_at=None if new.draft else now,
    )
    message.body_sealed = ctx.vault.seal_text(
        ctx.session, conversation.holder_id, message.id, BODY, new.body
    )
    ctx.session.add(message)
    ctx.session.flush()
    store_files(ctx, message, files)
    if new.draft:
        audit(ctx, conversation, actor, "message.draft", message.id)
    else:
        mark_sent(ctx, conversation, actor, message, now)
    return message


def mark_sent(
    ctx: Context, conversation: Conversation, actor: Actor, message: Message, now: dt.datetime
) -> None:
    conversation.last_message_at = now
    if conversation.status == DRAFT:
        conversation.status = OPEN
    me = my_row(ctx, conversation)
    me.read_at = now
    audit(ctx, conversation, actor, "message.send", message.id)
    notify(ctx, conversation)
