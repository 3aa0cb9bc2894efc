"""Reading conversations (SRV-1, ACC-8): one conversation with its messages (the read receipt moves),
the caller's list (one audit entry per space listed), and what the writer sees right after
writing (their own words: no read receipt, no read audit).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
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
    PARTICIPANT_ORDER,
    Moment,
    audit,
    find_conversation,
    later_than,
    participant_rows,
    visible_filter,
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
    pairs = ctx.session.execute(
        select(Conversation, Participant)
        .join(Participant, Participant.conversation_id == Conversation.id)
        .where(*_listed(ctx, space, patient))
        .order_by(*LIST_ORDER)
        .limit(limit)
    ).all()
    out: list[ConversationView] = []
    decided: dict[uuid.UUID, tuple[Holder, Actor, Decision]] = {}
    for conversation, me in pairs:
        holder, _actor, decision = _decided(ctx, decided, conversation.holder_id)
        if decision:
            out.append(_view(ctx, conversation, holder, me, full=full))
    return out


LIST_ORDER = (Conversation.last_message_at.desc(), Conversation.id)
STREAM_CHUNK = 200  # conversations read at a time by `every_conversation`


def _listed(
    ctx: Context, space: Holder | None, patient: Holder | None
) -> list[ColumnElement[bool]]:
    """SRV-1: the conversations a caller's list holds, each joined to the caller's party row:
    the holder side's of `space`, or the professional's (of `patient` only); no draft of another;
    none the party deleted, unless a message came since."""
    mine = (
        [Participant.party == HOLDER, Participant.holder_id == space.id]
        if ctx.party == HOLDER and space is not None
        else [Participant.professional_id == ctx.principal.id]
    )
    if patient is not None:
        mine.append(Participant.holder_id == patient.id)
    return [
        *mine,
        or_(Conversation.status != DRAFT, Conversation.started_by_id == ctx.principal.id),
        or_(
            Participant.deleted_at.is_(None),
            Conversation.last_message_at > Participant.deleted_at,
        ),
    ]


def _decided(
    ctx: Context, decided: dict[uuid.UUID, tuple[Holder, Actor, Decision]], holder_id: uuid.UUID
) -> tuple[Holder, Actor, Decision]:
    """The decision point's answer for listing one space's conversations, asked (and audited,
    ACC-8) the first time that space comes up, remembered in `decided` for the rest."""
    if holder_id not in decided:
        holder = documents.holder_by_id(ctx.session, holder_id)
        actor = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
        decision = decide_message_read(actor, space_facts(ctx.session, holder), participant=True)
        decided[holder.id] = (holder, actor, decision)
        record(
            ctx.session, ctx.principal,
            "message.list" if decision else "message.list-denied",
            holder_id=holder.id, target_type=TARGET, mode=mode_of(actor),
            reason=decision.reason, request_id=ctx.request_id,
        )  # fmt: skip
    return decided[holder_id]


def every_conversation(
    ctx: Context, *, space: Holder | None = None, patient: Holder | None = None
) -> Iterator[ConversationView]:
    """All of `list_conversations(full=True, limit=None)`, the same views in the same order and
    with the same audit entries (one per space, ACC-8), read by chunks of conversations, each
    after the last one seen: participants, messages, attachments, authors and copy decisions of
    a chunk come in a few statements for all of them, instead of about ten per conversation (the
    export and `$everything`, SRV-5, issue 14)."""
    decided: dict[uuid.UUID, tuple[Holder, Actor, Decision]] = {}
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        statement = (
            select(Conversation, Participant)
            .join(Participant, Participant.conversation_id == Conversation.id)
            .where(*_listed(ctx, space, patient))
        )
        if after is not None:
            last_at, last_id = after
            statement = statement.where(
                or_(
                    Conversation.last_message_at < last_at,
                    and_(Conversation.last_message_at == last_at, Conversation.id > last_id),
                )
            )
        pairs = ctx.session.execute(statement.order_by(*LIST_ORDER).limit(STREAM_CHUNK)).all()
        if not pairs:
            return
        readable: list[tuple[Conversation, Participant, Holder, Actor]] = []
        for conversation, me in pairs:
            holder, actor, decision = _decided(ctx, decided, conversation.holder_id)
            if decision:
                readable.append((conversation, me, holder, actor))
        yield from _chunk_views(ctx, readable)
        last = pairs[-1][0]
        after = (last.last_message_at, last.id)


def _chunk_views(
    ctx: Context, readable: Sequence[tuple[Conversation, Participant, Holder, Actor]]
) -> list[ConversationView]:
    """Full views of a chunk of readable conversations, in its order; the per-conversation reads
    of `_view` done once for the chunk, with the same filters (`visible_filter`, `_unread_filter`)
    joined to each conversation's party row of the caller."""
    if not readable:
        return []
    ids = [conversation.id for conversation, *_ in readable]
    mine = [me.id for _c, me, *_ in readable]
    rows: dict[uuid.UUID, list[Participant]] = {}
    for row in ctx.session.scalars(
        select(Participant)
        .where(Participant.conversation_id.in_(ids))
        .order_by(Participant.conversation_id, *PARTICIPANT_ORDER)
    ):
        rows.setdefault(row.conversation_id, []).append(row)
    unread: dict[uuid.UUID, int] = {
        conversation_id: count
        for conversation_id, count in ctx.session.execute(
            select(Message.conversation_id, func.count())
            .join(Participant, Participant.conversation_id == Message.conversation_id)
            .where(
                Participant.id.in_(mine),
                *_unread_filter(ctx, Participant.read_at, Participant.deleted_at),
            )
            .group_by(Message.conversation_id)
        )
    }
    messages: dict[uuid.UUID, list[Message]] = {}
    for message in ctx.session.scalars(
        select(Message)
        .join(Participant, Participant.conversation_id == Message.conversation_id)
        .where(Participant.id.in_(mine), *visible_filter(ctx, Participant.deleted_at))
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    ):
        messages.setdefault(message.conversation_id, []).append(message)
    pros = account_service.professionals_by_ids(
        ctx.session,
        [r.professional_id for items in rows.values() for r in items if r.professional_id]
        + [m.author_id for items in messages.values() for m in items
           if m.author_party == PROFESSIONAL],
    )  # fmt: skip
    loaded: dict[uuid.UUID, _Loaded] = {}
    for _c, _me, holder, actor in readable:
        if holder.id not in loaded:
            in_space = [
                m for conversation, *_ in readable if conversation.holder_id == holder.id
                for m in messages.get(conversation.id, [])
            ]  # fmt: skip
            loaded[holder.id] = _load(ctx, holder, in_space, reader=actor, pros=pros)
    out: list[ConversationView] = []
    for conversation, _me, holder, _actor in readable:
        its_rows = rows.get(conversation.id, [])
        parties = _party_views(ctx.session, holder, its_rows, pros=pros)
        view = _conversation_view(
            ctx, conversation, holder, parties, int(unread.get(conversation.id, 0))
        )
        view.messages = _message_views(
            ctx, holder, messages.get(conversation.id, []), parties, its_rows,
            loaded=loaded[holder.id],
        )  # fmt: skip
        out.append(view)
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
    unread = ctx.session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.conversation_id == conversation.id,
            *_unread_filter(ctx, me.read_at, me.deleted_at),
        )
    )
    view = _conversation_view(ctx, conversation, holder, parties, int(unread or 0))
    if full:
        view.messages = _message_views(
            ctx, holder, visible_messages(ctx, conversation, me), parties, rows
        )
    return view


def _unread_filter(ctx: Context, read_at: Moment, deleted_at: Moment) -> list[ColumnElement[bool]]:
    """SRV-1: the messages a party has not read: sent by someone else after its read receipt,
    and written after it deleted the conversation (if it did)."""
    return [
        Message.status == SENT,
        Message.author_id != ctx.principal.id,
        *later_than(Message.sent_at, read_at),
        *later_than(Message.created_at, deleted_at),
    ]


def _conversation_view(
    ctx: Context,
    conversation: Conversation,
    holder: Holder,
    parties: list[PartyView],
    unread: int,
) -> ConversationView:
    return ConversationView(
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
        unread=unread,
    )


def _party_views(
    session: Session,
    holder: Holder,
    rows: Sequence[Participant],
    *,
    pros: dict[uuid.UUID, Professional] | None = None,
) -> list[PartyView]:
    if pros is None:
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


def _author_name(message: Message, holder: Holder, loaded: _Loaded) -> tuple[str, str | None]:
    if message.author_party == PROFESSIONAL:
        pro = loaded.pros.get(message.author_id)
        return (pro.name, pro.rpps) if pro else ("—", None)
    if message.author_id == holder.id:
        return family.display_name(holder), None
    person = loaded.people.get(message.author_id)
    return (family.display_name(person) if person else "—"), None


@dataclass
class _Loaded:
    """What the views of some messages of one space need besides the messages: their authors,
    and their attachments (copies the reader may not read left out)."""

    pros: dict[uuid.UUID, Professional]
    people: dict[uuid.UUID, Holder]  # holder-side authors other than the holder
    attachments: dict[uuid.UUID, list[Attachment]]


def _load(
    ctx: Context,
    holder: Holder,
    messages: Sequence[Message],
    *,
    reader: Actor | None = None,
    pros: dict[uuid.UUID, Professional] | None = None,
) -> _Loaded:
    if pros is None:
        pros = account_service.professionals_by_ids(
            ctx.session, (m.author_id for m in messages if m.author_party == PROFESSIONAL)
        )
    people = account_service.holders_by_ids(
        ctx.session,
        {m.author_id for m in messages if m.author_party == HOLDER and m.author_id != holder.id},
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
        if reader is None:
            reader = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
        refused = {
            key
            for key, verdict in copy_decisions(ctx, holder, reader, copies).items()
            if not verdict
        }
        attachments = {
            key: [a for a in items if a.id not in refused] for key, items in attachments.items()
        }
    return _Loaded(pros, people, attachments)


def _message_views(
    ctx: Context, holder: Holder, messages: Sequence[Message], parties: Sequence[PartyView],
    rows: Sequence[Participant], *, loaded: _Loaded | None = None,
) -> list[MessageView]:  # fmt: skip
    if loaded is None:
        loaded = _load(ctx, holder, messages)
    attachments = loaded.attachments
    out: list[MessageView] = []
    for message in messages:
        name, rpps = _author_name(message, holder, loaded)
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
