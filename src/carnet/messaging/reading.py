"""Reading conversations (SRV-1, ACC-8): one conversation with its messages (the read receipt moves),
the caller's list (one audit entry per space listed), and what the writer sees right after
writing (their own words: no read receipt, no read audit).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import Actor, Decision, decide_message_read, mode_of
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder, Professional
from carnet.audit.service import record
from carnet.documents import service as documents
from carnet.errors import NotFound
from carnet.messaging import rules
from carnet.messaging.attachments import copy_decisions
from carnet.messaging.context import (
    ATTACHMENT_NAME,
    BODY,
    NOT_FOUND,
    SUBJECT,
    TARGET,
    AttachmentView,
    Context,
    ConversationView,
    MessageView,
    PartyView,
)
from carnet.messaging.models import (
    DRAFT,
    HOLDER,
    PROFESSIONAL,
    SENT,
    Attachment,
    Conversation,
    Message,
    Participant,
)
from carnet.messaging.parties import (
    audit,
    find_conversation,
    participant_rows,
    visible_messages,
)


def read(
    ctx: Context, conversation_id: uuid.UUID, *, space: Holder | None = None
) -> ConversationView:
    """One conversation with its messages; the caller's read receipt moves (SRV-1), audited."""
    found = find_conversation(ctx, conversation_id, space, "message.read")
    assert found.me is not None
    view = _view(ctx, found.conversation, found.holder, found.me, full=True)
    found.me.read_at = clock.now()
    audit(ctx, found.conversation, found.actor, "message.read")
    return view


def list_conversations(
    ctx: Context,
    *,
    space: Holder | None = None,
    patient: Holder | None = None,
    full: bool = False,
    limit: int | None = 500,
) -> list[ConversationView]:
    """The caller's conversations, most recent first, without their messages (unless `full`); one
    audit entry per space listed (ACC-8). Holder side: `space`'s; professionals: theirs
    (optionally one patient's). `limit` None: all of them (the export, SRV-5)."""
    mine = (
        [Participant.party == HOLDER, Participant.holder_id == space.id]
        if ctx.party == HOLDER and space is not None
        else [Participant.professional_id == ctx.principal.id]
    )
    if patient is not None:
        mine.append(Participant.holder_id == patient.id)
    pairs = ctx.session.execute(
        select(Conversation, Participant)
        .join(Participant, Participant.conversation_id == Conversation.id)
        .where(
            *mine,
            or_(Conversation.status != DRAFT, Conversation.started_by_id == ctx.principal.id),
            or_(
                Participant.deleted_at.is_(None),
                Conversation.last_message_at > Participant.deleted_at,
            ),
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id)
        .limit(limit)
    ).all()
    out: list[ConversationView] = []
    decided: dict[uuid.UUID, tuple[Holder, Actor, Decision]] = {}
    for conversation, me in pairs:
        if conversation.holder_id not in decided:
            holder = documents.holder_by_id(ctx.session, conversation.holder_id)
            actor = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
            decision = decide_message_read(
                actor, space_facts(ctx.session, holder), participant=True
            )
            decided[holder.id] = (holder, actor, decision)
            record(
                ctx.session, ctx.principal,
                "message.list" if decision else "message.list-denied",
                holder_id=holder.id, target_type=TARGET, mode=mode_of(actor),
                reason=decision.reason, request_id=ctx.request_id,
            )  # fmt: skip
        holder, actor, decision = decided[conversation.holder_id]
        if decision:
            out.append(_view(ctx, conversation, holder, me, full=full))
    return out


def written_message(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID, *, space: Holder | None
) -> MessageView:
    found = find_conversation(ctx, conversation_id, space, "message.read")
    assert found.me is not None
    rows = participant_rows(ctx.session, conversation_id)
    parties = _party_views(ctx.session, found.holder, rows)
    messages = [
        m for m in visible_messages(ctx, found.conversation, found.me) if m.id == message_id
    ]
    views = _message_views(ctx, found.holder, messages, parties, rows)
    if not views:
        raise NotFound("No such message.")
    return views[0]


def written_conversation(
    ctx: Context, conversation_id: uuid.UUID, *, space: Holder | None
) -> ConversationView:
    found = find_conversation(ctx, conversation_id, space, "message.read")
    assert found.me is not None
    return _view(ctx, found.conversation, found.holder, found.me, full=True)


def conversation_of_message(session: Session, message_id: uuid.UUID) -> uuid.UUID:
    """The conversation a message belongs to (FHIR reads name messages); 404 when there is none."""
    found = session.scalar(select(Message.conversation_id).where(Message.id == message_id))
    if found is None:
        raise NotFound("No such message.")
    return found


def holder_of(session: Session, conversation_id: uuid.UUID) -> uuid.UUID:
    found = session.scalar(select(Conversation.holder_id).where(Conversation.id == conversation_id))
    if found is None:
        raise NotFound(NOT_FOUND)
    return found


def _view(
    ctx: Context, conversation: Conversation, holder: Holder, me: Participant, *, full: bool
) -> ConversationView:
    rows = participant_rows(ctx.session, conversation.id)
    parties = _party_views(ctx.session, holder, rows)
    unread_where = [
        Message.conversation_id == conversation.id,
        Message.status == SENT,
        Message.author_id != ctx.principal.id,
    ]
    if me.read_at is not None:
        unread_where.append(Message.sent_at > me.read_at)
    if me.deleted_at is not None:
        unread_where.append(Message.created_at > me.deleted_at)
    unread = ctx.session.scalar(select(func.count()).select_from(Message).where(*unread_where))
    view = ConversationView(
        id=conversation.id,
        holder_id=holder.id,
        holder_name=family.display_name(holder),
        subject=ctx.vault.unseal_text(
            ctx.session, holder.id, conversation.id, SUBJECT, conversation.subject_sealed
        ),
        status=conversation.status,
        started_by_party=conversation.started_by_party,
        created_at=conversation.created_at,
        last_message_at=conversation.last_message_at,
        ended_at=conversation.ended_at,
        participants=parties,
        unread=int(unread or 0),
    )
    if full:
        view.messages = _message_views(
            ctx, holder, visible_messages(ctx, conversation, me), parties, rows
        )
    return view


def _party_views(session: Session, holder: Holder, rows: Sequence[Participant]) -> list[PartyView]:
    pros = account_service.professionals_by_ids(
        session, (r.professional_id for r in rows if r.professional_id)
    )
    out: list[PartyView] = []
    for row in rows:
        if row.party == HOLDER:
            out.append(
                PartyView(
                    HOLDER, row.role, family.display_name(holder), None, None, None, row.read_at
                )
            )
            continue
        pro = pros.get(row.professional_id) if row.professional_id else None
        out.append(
            PartyView(
                PROFESSIONAL,
                row.role,
                pro.name if pro else "—",
                row.professional_id,
                pro.rpps if pro else None,
                account_rules.PROFESSIONS.get(pro.profession_code) if pro else None,
                row.read_at,
            )
        )
    return out


def _author_name(
    session: Session, message: Message, holder: Holder, pros: dict[uuid.UUID, Professional]
) -> tuple[str, str | None]:
    if message.author_party == PROFESSIONAL:
        pro = pros.get(message.author_id)
        return (pro.name, pro.rpps) if pro else ("—", None)
    if message.author_id == holder.id:
        return family.display_name(holder), None
    person = account_service.holder(session, message.author_id)
    return (family.display_name(person) if person else "—"), None


def _message_views(
    ctx: Context, holder: Holder, messages: Sequence[Message], parties: Sequence[PartyView],
    rows: Sequence[Participant],
) -> list[MessageView]:  # fmt: skip
    pros = account_service.professionals_by_ids(
        ctx.session, (m.author_id for m in messages if m.author_party == PROFESSIONAL)
    )
    attachments: dict[uuid.UUID, list[Attachment]] = {}
    if messages:
        for item in ctx.session.scalars(
            select(Attachment)
            .where(Attachment.message_id.in_([m.id for m in messages]))
            .order_by(Attachment.created_at, Attachment.id)
        ):
            attachments.setdefault(item.message_id, []).append(item)
    copies = [a for items in attachments.values() for a in items if a.document_id is not None]
    if copies:  # a copy whose source the reader may not read is not shown (not even its name)
        reader = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
        refused = {
            key
            for key, verdict in copy_decisions(ctx, holder, reader, copies).items()
            if not verdict
        }
        attachments = {
            key: [a for a in items if a.id not in refused] for key, items in attachments.items()
        }
    out: list[MessageView] = []
    for message in messages:
        name, rpps = _author_name(ctx.session, message, holder, pros)
        author_row = (
            HOLDER if message.author_party == HOLDER else message.author_id
        )  # the author's own party is not a reader of their message
        read_by = [
            view
            for view, row in zip(parties, rows, strict=True)
            if rules.is_read(row.read_at, message.sent_at)
            and (row.party if row.party == HOLDER else row.professional_id) != author_row
        ]
        out.append(
            MessageView(
                id=message.id,
                conversation_id=message.conversation_id,
                author_party=message.author_party,
                author_name=name,
                author_relation=message.author_relation,
                author_rpps=rpps,
                mine=message.author_id == ctx.principal.id,
                status=message.status,
                body=ctx.vault.unseal_text(
                    ctx.session, holder.id, message.id, BODY, message.body_sealed
                ),
                created_at=message.created_at,
                sent_at=message.sent_at,
                attachments=[
                    AttachmentView(
                        a.id,
                        ctx.vault.unseal_text(
                            ctx.session, holder.id, a.id, ATTACHMENT_NAME, a.name_sealed
                        ),
                        a.mime_type,
                        a.size,
                        a.source,
                    )
                    for a in attachments.get(message.id, [])
                ],
                read_by=read_by,
            )
        )
    return out
