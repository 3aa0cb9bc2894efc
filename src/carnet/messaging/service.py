"""Secure messaging: conversations between a holder's space and professionals (SRV-1, ID-3, ACC-8).

Plain functions taking the session; the caller commits. Who may write, reply, read or end is asked
of the decision point (`access.rules.decide_message_*`); subjects, bodies and attachment names are
sealed under the holder's key and attachments stored as blobs, like documents. Every check runs
before anything is written, so a refusal leaves nothing behind but its own audit entry (the edge
commits that entry, ACC-8). E-mail notices say that a message is there, never what it says.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import (
    PHARMACIST,
    Actor,
    Decision,
    as_told,
    decide_conversation_end,
    decide_message_attachment,
    decide_message_copy,
    decide_message_read,
    decide_message_recipient,
    decide_message_reply,
    decide_message_start,
    mode_of,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder, Professional, Representation
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import rules as doc_rules
from carnet.documents import service as documents
from carnet.documents import sniff
from carnet.documents.models import Document
from carnet.errors import CarnetError, Conflict, Forbidden, InvalidInput, NotFound
from carnet.messaging import rules
from carnet.messaging.models import (
    CC,
    DRAFT,
    ENDED,
    HOLDER,
    OPEN,
    PROFESSIONAL,
    SENT,
    TO,
    Attachment,
    Conversation,
    Message,
    Participant,
)
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue
from carnet.reimbursements import service as reimbursements
from carnet.vault.service import Vault

SUBJECT = "message-subject"
BODY = "message-body"
ATTACHMENT = "message-attachment"
ATTACHMENT_NAME = "message-attachment-name"
TARGET = "Communication"
NOT_FOUND = "No such conversation."


class TooLarge(CarnetError):
    code = "too-large"
    status_code = 413


# Why a recipient may not read a copy (`decide_message_copy` reasons), in words for the sender.
COPY_REFUSALS = {
    "masked": "the patient masked it from professionals",
    "profession-not-habilitated": "their profession may not read this type of document",
    "source-deleted": "it was deleted from the patient's documents",
    "entered-in-error": "it was withdrawn as entered in error",
}
COPY_REFUSED_OTHERWISE = "they may not read this patient's documents"


class RecipientMayNotRead(Forbidden):
    """SRV-1, ACC-1, DOC-3: a professional put in to/cc may not read a document attached from the
    record. The message names the recipient (a professional's name and RPPS are no health data)
    and why, never the document; `recipient` and `reason` let the portal say it in French."""

    code = "recipient-may-not-read"

    def __init__(self, recipient: str, reason: str) -> None:
        self.recipient = recipient
        self.reason = reason
        why = COPY_REFUSALS.get(reason, COPY_REFUSED_OTHERWISE)
        super().__init__(
            f"{recipient} may not read an attached document ({why}): nothing was sent. Remove "
            "the document, or send it only to professionals who may read it.",
            field="document_ids",
        )


@dataclass
class Context:
    """Who acts, with what; one per request."""

    session: Session
    vault: Vault
    settings: Settings
    principal: Principal
    request_id: str | None = None

    @property
    def party(self) -> str:
        return HOLDER if self.principal.kind is PrincipalKind.HOLDER else PROFESSIONAL


@dataclass
class NewAttachment:
    """A file from the device: its real type is sniffed (DOC-1 types)."""

    content: bytes
    name: str | None = None
    declared_type: str | None = None


@dataclass
class NewMessage:
    body: str
    attachments: list[NewAttachment] = field(default_factory=list)
    document_ids: list[uuid.UUID] = field(default_factory=list)  # the holder's documents
    draft: bool = False


@dataclass
class NewConversation:
    subject: str
    message: NewMessage
    to: list[str] = field(default_factory=list)  # RPPS numbers of professionals
    cc: list[str] = field(default_factory=list)


@dataclass
class PartyView:
    party: str
    role: str
    name: str
    professional_id: uuid.UUID | None
    rpps: str | None
    profession: str | None
    read_at: dt.datetime | None


@dataclass
class AttachmentView:
    id: uuid.UUID
    name: str
    mime_type: str
    size: int
    source: str


@dataclass
class MessageView:
    id: uuid.UUID
    conversation_id: uuid.UUID
    author_party: str
    author_name: str
    author_relation: str
    author_rpps: str | None
    mine: bool
    status: str
    body: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attachments: list[AttachmentView]
    read_by: list[PartyView]


@dataclass
class ConversationView:
    id: uuid.UUID
    holder_id: uuid.UUID
    holder_name: str
    subject: str
    status: str
    started_by_party: str
    created_at: dt.datetime
    last_message_at: dt.datetime
    ended_at: dt.datetime | None
    participants: list[PartyView]
    unread: int
    messages: list[MessageView] = field(default_factory=list)


@dataclass
class _Access:
    conversation: Conversation
    holder: Holder
    actor: Actor
    me: Participant | None  # the caller's party row (the holder side's for the holder side)
    decision: Decision


# -- who may: facts for the decision point -------------------------------------------------------


def dispensed(session: Session, vault: Vault, holder: Holder, pro: Professional) -> bool:
    """SRV-1 "pharmacies they used", from what Carnet knows: a document this pharmacist deposited
    in the space, or a reimbursement line naming their RPPS (lines are sealed: opened here)."""
    deposited = session.scalar(
        select(Document.id).where(
            Document.holder_id == holder.id,
            Document.author_kind == "professional",
            or_(Document.author_id == pro.id, Document.author_rpps == pro.rpps),
        )
    )
    if deposited is not None:
        return True
    return pro.rpps in reimbursements.professionals_named(session, vault, holder.id)


def pharmacies(ctx: Context, holder: Holder) -> list[Professional]:
    """SRV-1: the pharmacies the holder side may write to first (those that dispensed to them)."""
    deposited = select(Document.author_id).where(
        Document.holder_id == holder.id, Document.author_kind == "professional"
    )
    rpps = reimbursements.professionals_named(ctx.session, ctx.vault, holder.id)
    found = ctx.session.scalars(
        select(Professional)
        .where(
            Professional.profession_code == PHARMACIST,
            or_(Professional.id.in_(deposited), Professional.rpps.in_(rpps)),
        )
        .order_by(Professional.name)
    ).all()
    return list(found)


def _professionals(session: Session, rpps_list: Iterable[str]) -> dict[str, Professional]:
    wanted = {value.strip() for value in rpps_list if value.strip()}
    for value in wanted:
        problem = account_rules.rpps_problem(value)
        if problem:
            raise InvalidInput(f"Invalid RPPS number: {problem}", field="to")
    found = {
        p.rpps: p
        for p in session.scalars(select(Professional).where(Professional.rpps.in_(wanted)))
    }
    if len(found) != len(wanted):
        raise NotFound(
            "A recipient is not a registered professional in Carnet.", code="unknown-recipient"
        )
    return found


# -- auditing refusals -----------------------------------------------------------------------------


def _deny(
    ctx: Context,
    holder: Holder,
    action: str,
    decision_or_reason: Decision | str,
    error: CarnetError,
    *,
    target_id: str | None = None,
    actor: Actor | None = None,
) -> CarnetError:
    """ACC-8: a refused send or read is recorded; the edge commits that entry, nothing else."""
    reason = (
        decision_or_reason.reason
        if isinstance(decision_or_reason, Decision)
        else decision_or_reason
    )
    record(
        ctx.session,
        ctx.principal,
        f"{action}-denied",
        holder_id=holder.id,
        target_type=TARGET,
        target_id=target_id,
        mode=mode_of(actor) if actor is not None else "normal",
        reason=reason,
        request_id=ctx.request_id,
    )
    setattr(error, _AUDITED, True)
    return error


_AUDITED = "_carnet_audited"


@contextmanager
def _refusals_audited(
    ctx: Context, holder: Holder, action: str, actor: Actor, target_id: str | None = None
) -> Iterator[None]:
    """ACC-8: any bad input on a send (recipient, size, type, quota) is recorded once."""
    try:
        yield
    except CarnetError as exc:
        if not getattr(exc, _AUDITED, False):
            _deny(ctx, holder, action, exc.code, exc, target_id=target_id, actor=actor)
        raise


def _refusal(decision: Decision) -> CarnetError:
    """The clear message of each SRV-1 / ID-3 refusal (no health data in it)."""
    reason = decision.reason
    if reason == "ins-not-qualified":
        return InvalidInput(
            "This patient's identity (INS) is not qualified: messages cannot be sent to them "
            "until it is checked against the insurer's register (rule ID-3).",
            code=reason,
        )
    if reason == "space-not-open":
        return Conflict("This patient's space is not open.", code=reason)
    if reason == "conversation-ended":
        return Conflict(
            "This conversation was ended by the professional: replies are no longer possible.",
            code=reason,
        )
    messages = {
        "not-in-care-team": "You may write only to patients whose space you may access "
        "(care team, rule SRV-1).",
        "not-a-dispensing-pharmacy": "You may write first only to a pharmacy that dispensed to "
        "you; other professionals write to you first (rule SRV-1).",
        "recipient-not-in-care-team": "A recipient is not in this patient's care team and may "
        "not receive this conversation (rule SRV-1).",
        "not-a-professional": "Only professionals may do this.",
    }
    return Forbidden(messages.get(reason, "You may not send this message."), code=reason)


# -- quota -----------------------------------------------------------------------------------------


def holder_mailbox_used(session: Session, holder_id: uuid.UUID) -> int:
    """SRV-1: bytes in the holder's mailbox (what the holder side has not deleted)."""
    hidden = Participant.deleted_at.is_not(None) & (Message.created_at <= Participant.deleted_at)
    used = session.scalar(
        select(func.coalesce(func.sum(Message.size), 0))
        .join(
            Participant,
            and_(
                Participant.conversation_id == Message.conversation_id,
                Participant.party == HOLDER,
            ),
        )
        .where(Message.holder_id == holder_id, ~hidden)
    )
    return int(used or 0)


def professional_mailbox_used(session: Session, professional_id: uuid.UUID) -> int:
    """SRV-1: bytes in a professional's mailbox (their conversations, what they have not deleted)."""
    hidden = Participant.deleted_at.is_not(None) & (Message.created_at <= Participant.deleted_at)
    used = session.scalar(
        select(func.coalesce(func.sum(Message.size), 0))
        .join(Participant, Participant.conversation_id == Message.conversation_id)
        .where(Participant.professional_id == professional_id, ~hidden)
    )
    return int(used or 0)


def _check_quota(
    ctx: Context,
    holder: Holder,
    professional_ids: Iterable[uuid.UUID],
    adding: int,
    actor: Actor,
    target_id: str | None,
) -> None:
    """SRV-1: every mailbox the message lands in must have room; "mailbox full" otherwise."""
    quota = ctx.settings.mailbox_quota_bytes
    limit = rules.megabytes(quota)
    full: str | None = None
    if rules.over_quota(holder_mailbox_used(ctx.session, holder.id), adding, quota):
        full = (
            f"Mailbox full: this space's mailbox has no room left for this message (quota "
            f"{limit}). Delete conversations to make room."
            if ctx.party == HOLDER
            else f"Mailbox full: the patient's mailbox has no room left for this message (quota "
            f"{limit})."
        )
    else:
        for pro_id in professional_ids:
            if rules.over_quota(professional_mailbox_used(ctx.session, pro_id), adding, quota):
                mine = ctx.party == PROFESSIONAL and pro_id == ctx.principal.id
                full = (
                    f"Mailbox full: your mailbox has no room left for this message (quota "
                    f"{limit}). Delete conversations to make room."
                    if mine
                    else f"Mailbox full: a recipient's mailbox has no room left for this message "
                    f"(quota {limit})."
                )
                break
    if full is not None:
        raise _deny(
            ctx, holder, "message.send", "mailbox-full",
            Conflict(full, code="mailbox-full"), target_id=target_id, actor=actor,
        )  # fmt: skip


# -- attachments -----------------------------------------------------------------------------------


@dataclass
class _File:
    content: bytes
    name: str
    mime_type: str
    source: str
    document_id: uuid.UUID | None = None


def _device_file(settings: Settings, new: NewAttachment) -> _File:
    limit = settings.message_attachment_max_bytes
    if not new.content:
        raise InvalidInput("The attached file is empty.", field="file")
    if len(new.content) > limit:
        raise TooLarge(
            f"The attached file is larger than the {rules.megabytes(limit)} limit.", field="file"
        )
    sniffed = sniff.sniff(new.content[: sniff.HEAD_BYTES])
    problem = doc_rules.type_problem(sniffed, new.declared_type, sniff.HOLDER_TYPES)
    if problem or sniffed is None:
        raise InvalidInput(f"Refused attachment: {problem}.", code="unsupported-type", field="file")
    unreadable = sniff.content_problem(new.content, sniffed)
    if unreadable:  # DOC-1: an image that decodes, a PDF that parses, as for uploads
        code, why = unreadable
        raise InvalidInput(f"Refused attachment: {why}.", code=code, field="file")
    name = (new.name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:255] or "piece-jointe"
    return _File(new.content, name, sniffed, "device")


def _document_file(ctx: Context, holder: Holder, document_id: uuid.UUID) -> _File:
    """A document of this space, read through the decision point (audited as a read, ACC-8)."""
    owner = ctx.session.scalar(select(Document.holder_id).where(Document.id == document_id))
    if owner != holder.id:
        raise NotFound("No such document.", code="unknown-document")
    doc, stream = documents.read_content(
        ctx.session, ctx.vault, ctx.settings, ctx.principal, document_id,
        request_id=ctx.request_id,
    )  # fmt: skip
    shareable = decide_message_attachment(documents.facts(doc), clock.now())
    if not shareable:  # REP-2, DOC-4: the whole holder side reads the message
        raise _unshareable(shareable)
    content = b"".join(stream)
    limit = ctx.settings.message_attachment_max_bytes
    if len(content) > limit:
        raise TooLarge(
            f"This document is larger than the {rules.megabytes(limit)} attachment limit.",
            field="document_ids",
        )
    name = documents.original_name_of(ctx.session, ctx.vault, doc) or documents.title_of(
        ctx.session, ctx.vault, doc
    )
    return _File(content, name[:255], doc.mime_type, "document", doc.id)


def _files(ctx: Context, holder: Holder, new: NewMessage, already: int = 0) -> list[_File]:
    if len(new.attachments) + len(new.document_ids) + already > rules.MAX_ATTACHMENTS:
        raise InvalidInput(
            f"A message carries at most {rules.MAX_ATTACHMENTS} attachments.", field="attachments"
        )
    files = [_device_file(ctx.settings, item) for item in new.attachments]
    files += [_document_file(ctx, holder, doc_id) for doc_id in dict.fromkeys(new.document_ids)]
    return files


def _sources(files: Sequence[_File]) -> list[uuid.UUID]:
    return [f.document_id for f in files if f.document_id is not None]


def _check_copies(
    ctx: Context,
    holder: Holder,
    actor: Actor,
    sources: Sequence[uuid.UUID],
    recipients: Iterable[uuid.UUID],
    target_id: str | None,
) -> None:
    """SRV-1, ACC-1, DOC-3: a copy of a record document goes only to professionals who may read
    that document directly. Each recipient (to and cc) is resolved like a reader
    (`access.service.actor_for`) and asked of `decide_message_copy`, the direct read's decision;
    the first one refused stops the send, named in the error and in the audit entry, before
    anything is written."""
    if not sources:
        return
    space = space_facts(ctx.session, holder)
    now = clock.now()
    found = documents.facts_by_id(ctx.session, holder.id, sources)
    pros = sorted(_names(ctx.session, recipients).values(), key=lambda p: (p.name, p.rpps))
    for pro in pros:
        reader = actor_for(
            ctx.session, ctx.settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder
        )
        for doc_id in sources:
            verdict = decide_message_copy(reader, space, found.get(doc_id), now)
            if not verdict:
                raise _deny(
                    ctx, holder, "message.send", f"{verdict.reason}:rpps:{pro.rpps}",
                    RecipientMayNotRead(f"{pro.name} (RPPS {pro.rpps})", verdict.reason),
                    target_id=target_id, actor=actor,
                )  # fmt: skip


def _check_draft_copies(ctx: Context, found: _Access, message: Message) -> None:
    """SRV-1: a draft is sent under the rules of the moment: the documents copied into it are
    decided again, as the holder side reads them (REP-2, DOC-4) and for every recipient."""
    sources = [
        doc_id
        for doc_id in ctx.session.scalars(
            select(Attachment.document_id).where(
                Attachment.message_id == message.id, Attachment.document_id.is_not(None)
            )
        )
        if doc_id is not None
    ]
    if not sources:
        return
    holder, conversation = found.holder, found.conversation
    with _refusals_audited(ctx, holder, "message.send", found.actor, str(conversation.id)):
        for doc in documents.facts_by_id(ctx.session, holder.id, sources).values():
            shareable = decide_message_attachment(doc, clock.now())
            if not shareable:
                raise _unshareable(shareable)
        _check_copies(
            ctx, holder, found.actor, sources, _recipients(ctx, conversation),
            str(conversation.id),
        )  # fmt: skip


def _unshareable(decision: Decision) -> Forbidden:
    return Forbidden(
        "This document cannot be attached: the message would show it to people who may not "
        "read it (a document kept from representatives, or awaiting its announcement).",
        code=decision.reason,
    )


def _store_files(ctx: Context, message: Message, files: Sequence[_File]) -> None:
    for item in files:
        attachment_id = uuid.uuid4()
        stored = ctx.vault.put_blob(
            ctx.session, message.holder_id, attachment_id, ATTACHMENT, [item.content]
        )
        ctx.session.add(
            Attachment(
                id=attachment_id,
                message_id=message.id,
                holder_id=message.holder_id,
                source=item.source,
                document_id=item.document_id,
                name_sealed=ctx.vault.seal_text(
                    ctx.session, message.holder_id, attachment_id, ATTACHMENT_NAME, item.name
                ),
                mime_type=item.mime_type,
                size=stored.size,
                sha256=stored.sha256,
                blob_id=stored.blob_id,
            )
        )


# -- writing ---------------------------------------------------------------------------------------


def _check_text(subject: str | None, body: str, *, draft: bool) -> None:
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
        raise _deny(ctx, holder, "message.send", decision, _refusal(told), actor=actor)
    holder_side = ctx.party == HOLDER
    roles: dict[uuid.UUID, str] = {}
    with _refusals_audited(ctx, holder, "message.send", actor):
        _check_text(new.subject, new.message.body, draft=new.message.draft)
        wanted = [value.strip() for value in [*new.to, *new.cc]]
        if holder_side and not new.to:
            raise InvalidInput("Choose the pharmacy you write to.", field="to")
        if len(wanted) > rules.MAX_RECIPIENTS:
            raise InvalidInput(
                f"A conversation has at most {rules.MAX_RECIPIENTS} professionals.", field="to"
            )
        pros = _professionals(ctx.session, wanted)
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
                raise _deny(ctx, holder, "message.send", verdict, _refusal(told), actor=actor)
        if holder_side and not roles:
            raise InvalidInput("Choose the pharmacy you write to.", field="to")
        files = _files(ctx, holder, new.message)
        _check_copies(ctx, holder, actor, _sources(files), roles, None)
        size = rules.message_size(new.message.body, new.subject, (len(f.content) for f in files))
        party_ids = [*roles, *([ctx.principal.id] if not holder_side else [])]
        _check_quota(ctx, holder, party_ids, size, actor, None)
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
        _my_row(ctx, conversation).read_at = now
    return conversation, message


def _write_message(
    ctx: Context,
    conversation: Conversation,
    actor: Actor,
    new: NewMessage,
    files: Sequence[_File],
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
    _store_files(ctx, message, files)
    if new.draft:
        _audit(ctx, conversation, actor, "message.draft", message.id)
    else:
        _sent(ctx, conversation, actor, message, now)
    return message


def _sent(
    ctx: Context, conversation: Conversation, actor: Actor, message: Message, now: dt.datetime
) -> None:
    conversation.last_message_at = now
    if conversation.status == DRAFT:
        conversation.status = OPEN
    me = _my_row(ctx, conversation)
    me.read_at = now
    _audit(ctx, conversation, actor, "message.send", message.id)
    notify(ctx, conversation)


def _audit(
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


def _my_row(ctx: Context, conversation: Conversation) -> Participant:
    where = (
        [Participant.party == HOLDER]
        if ctx.party == HOLDER
        else [Participant.professional_id == ctx.principal.id]
    )
    row = ctx.session.scalars(
        select(Participant).where(Participant.conversation_id == conversation.id, *where)
    ).first()
    if row is None:  # pragma: no cover - access was decided on this row
        raise NotFound(NOT_FOUND)
    return row


def _access(
    ctx: Context,
    conversation_id: uuid.UUID,
    space: Holder | None,
    action: str,
) -> _Access:
    """The conversation as the caller may see it; 404 (audited) when they may not read it."""
    conversation = ctx.session.get(Conversation, conversation_id)
    if conversation is None or (space is not None and conversation.holder_id != space.id):
        raise NotFound(NOT_FOUND)
    holder = documents.holder_by_id(ctx.session, conversation.holder_id)
    actor = actor_for(ctx.session, ctx.settings, ctx.principal, holder)
    me = ctx.session.scalars(
        select(Participant).where(
            Participant.conversation_id == conversation.id,
            *(
                [Participant.party == HOLDER]
                if ctx.party == HOLDER
                else [Participant.professional_id == ctx.principal.id]
            ),
        )
    ).first()
    decision = decide_message_read(
        actor, space_facts(ctx.session, holder), participant=me is not None
    )
    draft_of_other = conversation.status == DRAFT and conversation.started_by_id != ctx.principal.id
    if not decision or draft_of_other or me is None:
        raise _deny(
            ctx, holder, action, decision if not decision else "draft-of-another",
            NotFound(NOT_FOUND), target_id=str(conversation.id), actor=actor,
        )  # fmt: skip
    return _Access(conversation, holder, actor, me, decision)


def reply(
    ctx: Context, conversation_id: uuid.UUID, new: NewMessage, *, space: Holder | None = None
) -> Message:
    """SRV-1: a party writes (or drafts) in the conversation, unless a professional ended it."""
    found = _access(ctx, conversation_id, space, "message.send")
    conversation, holder, actor = found.conversation, found.holder, found.actor
    decision = decide_message_reply(
        actor,
        space_facts(ctx.session, holder),
        participant=True,
        ended=conversation.status == ENDED,
    )
    if not decision:
        raise _deny(
            ctx, holder, "message.send", decision, _refusal(decision),
            target_id=str(conversation.id), actor=actor,
        )  # fmt: skip
    if conversation.status == DRAFT:
        raise Conflict("Send the first message of this conversation first.", code="draft")
    with _refusals_audited(ctx, holder, "message.send", actor, str(conversation.id)):
        _check_text(None, new.body, draft=new.draft)
        files = _files(ctx, holder, new)
        _check_copies(
            ctx, holder, actor, _sources(files), _recipients(ctx, conversation),
            str(conversation.id),
        )  # fmt: skip
        size = rules.message_size(new.body, None, (len(f.content) for f in files))
        _check_quota(ctx, holder, _pro_ids(ctx, conversation), size, actor, str(conversation.id))
    return _write_message(ctx, conversation, actor, new, files, size, clock.now())


def _pro_ids(ctx: Context, conversation: Conversation) -> list[uuid.UUID]:
    return [
        pro_id
        for pro_id in ctx.session.scalars(
            select(Participant.professional_id).where(
                Participant.conversation_id == conversation.id, Participant.party == PROFESSIONAL
            )
        )
        if pro_id is not None
    ]


def _recipients(ctx: Context, conversation: Conversation) -> list[uuid.UUID]:
    """The professionals a new message of the caller reaches (to and cc, the caller excepted)."""
    return [pro_id for pro_id in _pro_ids(ctx, conversation) if pro_id != ctx.principal.id]


def _own_draft(ctx: Context, found: _Access, message_id: uuid.UUID) -> Message:
    message = ctx.session.get(Message, message_id)
    if (
        message is None
        or message.conversation_id != found.conversation.id
        or message.author_id != ctx.principal.id
    ):
        raise NotFound("No such message.")
    if message.status != DRAFT:
        raise Conflict("This message was already sent: it cannot change.", code="already-sent")
    return message


def _may_write(ctx: Context, found: _Access) -> None:
    """Drafts follow the rules of what they will be: a reply (SRV-1) or a first message."""
    conversation = found.conversation
    space = space_facts(ctx.session, found.holder)
    decision = (
        decide_message_start(found.actor, space, qualified=found.holder.ins_qualified)
        if conversation.status == DRAFT
        else decide_message_reply(
            found.actor, space, participant=True, ended=conversation.status == ENDED
        )
    )
    if not decision:
        raise _deny(
            ctx, found.holder, "message.send", decision, _refusal(decision),
            target_id=str(conversation.id), actor=found.actor,
        )  # fmt: skip


def edit_draft(
    ctx: Context,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    body: str | None = None,
    subject: str | None = None,
    add: NewMessage | None = None,
    space: Holder | None = None,
) -> Message:
    """Change a draft's text, add attachments (from the device or the holder's documents)."""
    found = _access(ctx, conversation_id, space, "message.draft")
    message = _own_draft(ctx, found, message_id)
    _may_write(ctx, found)
    conversation, holder = found.conversation, found.holder
    if subject is not None and conversation.status != DRAFT:
        raise Conflict("The subject is set by the first message.", code="subject-fixed")
    old_body = ctx.vault.unseal_text(ctx.session, holder.id, message.id, BODY, message.body_sealed)
    new_body = old_body if body is None else body
    old_subject = (
        ctx.vault.unseal_text(
            ctx.session, holder.id, conversation.id, SUBJECT, conversation.subject_sealed
        )
        if conversation.status == DRAFT
        else None
    )
    with _refusals_audited(ctx, holder, "message.draft", found.actor, str(conversation.id)):
        _check_text(subject, new_body, draft=True)
        count = ctx.session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.message_id == message.id)
        )
        files = _files(ctx, holder, add or NewMessage(body=""), already=int(count or 0))
        _check_copies(
            ctx, holder, found.actor, _sources(files), _recipients(ctx, conversation),
            str(conversation.id),
        )  # fmt: skip
        grown = rules.message_size(
            new_body,
            subject if subject is not None else old_subject,
            (len(f.content) for f in files),
        ) - rules.message_size(old_body, old_subject, ())
        pro_ids = _pro_ids(ctx, conversation)
        _check_quota(ctx, holder, pro_ids, grown, found.actor, str(conversation.id))
    if body is not None:
        message.body_sealed = ctx.vault.seal_text(ctx.session, holder.id, message.id, BODY, body)
    if subject is not None:
        conversation.subject_sealed = ctx.vault.seal_text(
            ctx.session, holder.id, conversation.id, SUBJECT, subject.strip()
        )
    message.size += grown
    message.updated_at = clock.now()
    _store_files(ctx, message, files)
    _audit(ctx, conversation, found.actor, "message.draft", message.id)
    return message


def send_draft(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID, *, space: Holder | None = None
) -> Message:
    """SRV-1: a draft is sent under the rules of the moment (ended conversation, ID-3…)."""
    found = _access(ctx, conversation_id, space, "message.send")
    message = _own_draft(ctx, found, message_id)
    _may_write(ctx, found)
    body = ctx.vault.unseal_text(
        ctx.session, found.holder.id, message.id, BODY, message.body_sealed
    )
    _check_text(None, body, draft=False)
    _check_draft_copies(ctx, found, message)
    now = clock.now()
    message.status = SENT
    message.sent_at = now
    message.updated_at = now
    _sent(ctx, found.conversation, found.actor, message, now)
    return message


def end(ctx: Context, conversation_id: uuid.UUID) -> Conversation:
    """SRV-1: a professional ends a conversation; replies are refused from then on."""
    found = _access(ctx, conversation_id, None, "conversation.end")
    decision = decide_conversation_end(
        found.actor, space_facts(ctx.session, found.holder), participant=True
    )
    if not decision:
        raise _deny(
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
    _audit(ctx, conversation, found.actor, "conversation.end")
    return conversation


def delete_for_me(ctx: Context, conversation_id: uuid.UUID, *, space: Holder | None = None) -> None:
    """SRV-1: delete a conversation for the deleting party only (frees their mailbox); the other
    parties keep it. A later message brings the conversation back with that message only.
    Drafts of a conversation never sent are deleted outright."""
    found = _access(ctx, conversation_id, space, "conversation.delete")
    conversation = found.conversation
    _audit(ctx, conversation, found.actor, "conversation.delete")
    if conversation.status == DRAFT:
        for blob_id in ctx.session.scalars(
            select(Attachment.blob_id)
            .join(Message, Message.id == Attachment.message_id)
            .where(Message.conversation_id == conversation.id)
        ):
            ctx.vault.delete_blob_after_commit(ctx.session, blob_id)
        ctx.session.delete(conversation)
        ctx.session.flush()
        return
    assert found.me is not None
    found.me.deleted_at = clock.now()


# -- reading -------------------------------------------------------------------------------------


def _names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Professional]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {
        p.id: p for p in session.scalars(select(Professional).where(Professional.id.in_(wanted)))
    }


def _party_views(session: Session, holder: Holder, rows: Sequence[Participant]) -> list[PartyView]:
    pros = _names(session, (r.professional_id for r in rows if r.professional_id))
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


def _visible_messages(ctx: Context, conversation: Conversation, me: Participant) -> list[Message]:
    where = [
        Message.conversation_id == conversation.id,
        or_(Message.status == SENT, Message.author_id == ctx.principal.id),
    ]
    if me.deleted_at is not None:
        where.append(Message.created_at > me.deleted_at)
    return list(
        ctx.session.scalars(select(Message).where(*where).order_by(Message.created_at, Message.id))
    )


def _author_name(
    session: Session, message: Message, holder: Holder, pros: dict[uuid.UUID, Professional]
) -> tuple[str, str | None]:
    if message.author_party == PROFESSIONAL:
        pro = pros.get(message.author_id)
        return (pro.name, pro.rpps) if pro else ("—", None)
    if message.author_id == holder.id:
        return family.display_name(holder), None
    person = session.get(Holder, message.author_id)
    return (family.display_name(person) if person else "—"), None


def _message_views(
    ctx: Context, holder: Holder, messages: Sequence[Message], parties: Sequence[PartyView],
    rows: Sequence[Participant],
) -> list[MessageView]:  # fmt: skip
    pros = _names(ctx.session, (m.author_id for m in messages if m.author_party == PROFESSIONAL))
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
            for key, verdict in _copy_decision(ctx, holder, reader, copies).items()
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


def _rows(session: Session, conversation_id: uuid.UUID) -> list[Participant]:
    return list(
        session.scalars(
            select(Participant)
            .where(Participant.conversation_id == conversation_id)
            .order_by(Participant.party.desc(), Participant.role.desc(), Participant.id)
        )
    )


def _view(
    ctx: Context, conversation: Conversation, holder: Holder, me: Participant, *, full: bool
) -> ConversationView:
    rows = _rows(ctx.session, conversation.id)
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
            ctx, holder, _visible_messages(ctx, conversation, me), parties, rows
        )
    return view


def read(
    ctx: Context, conversation_id: uuid.UUID, *, space: Holder | None = None
) -> ConversationView:
    """One conversation with its messages; the caller's read receipt moves (SRV-1), audited."""
    found = _access(ctx, conversation_id, space, "message.read")
    assert found.me is not None
    view = _view(ctx, found.conversation, found.holder, found.me, full=True)
    found.me.read_at = clock.now()
    _audit(ctx, found.conversation, found.actor, "message.read")
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


def conversation_of_message(session: Session, message_id: uuid.UUID) -> uuid.UUID:
    """The conversation a message belongs to (FHIR reads name messages); 404 when there is none."""
    found = session.scalar(select(Message.conversation_id).where(Message.id == message_id))
    if found is None:
        raise NotFound("No such message.")
    return found


def attachment_content(
    ctx: Context,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    *,
    space: Holder | None = None,
) -> tuple[Attachment, str, bytes]:
    """An attachment's bytes for a party who may see its message; audited (ACC-8)."""
    found = _access(ctx, conversation_id, space, "message.attachment-read")
    attachment, message = _attachment(ctx, found, attachment_id)
    if attachment.document_id is not None:
        decision = _copy_decision(ctx, found.holder, found.actor, [attachment])[attachment.id]
        if not decision:
            raise _deny(
                ctx, found.holder, "message.attachment-read", decision,
                NotFound("No such attachment."), target_id=str(message.id), actor=found.actor,
            )  # fmt: skip
    content = ctx.vault.read_blob_bytes(
        ctx.session, attachment.holder_id, attachment.id, ATTACHMENT, attachment.blob_id,
        expected_sha256=attachment.sha256,
    )  # fmt: skip
    _audit(ctx, found.conversation, found.actor, "message.attachment-read", message.id,
           reason=f"attachment:{attachment.id}")  # fmt: skip
    name = ctx.vault.unseal_text(
        ctx.session, attachment.holder_id, attachment.id, ATTACHMENT_NAME, attachment.name_sealed
    )
    return attachment, name, content


def _copy_decision(
    ctx: Context, holder: Holder, actor: Actor, attachments: Sequence[Attachment]
) -> dict[uuid.UUID, Decision]:
    """SRV-1, ACC-1, DOC-3, REP-2, DOC-4: an attachment copied from a record document is read
    only by whoever may read its source now (`decide_message_copy`); keyed by attachment id."""
    copies = [a for a in attachments if a.document_id is not None]
    if not copies:
        return {}
    space = space_facts(ctx.session, holder)
    now = clock.now()
    found = documents.facts_by_id(
        ctx.session, holder.id, (a.document_id for a in copies if a.document_id is not None)
    )
    return {
        a.id: decide_message_copy(
            actor, space, found.get(a.document_id) if a.document_id else None, now
        )
        for a in copies
    }


def _attachment(
    ctx: Context, found: _Access, attachment_id: uuid.UUID
) -> tuple[Attachment, Message]:
    attachment = ctx.session.get(Attachment, attachment_id)
    message = ctx.session.get(Message, attachment.message_id) if attachment else None
    assert found.me is not None
    visible = message is not None and message in _visible_messages(
        ctx, found.conversation, found.me
    )
    if attachment is None or message is None or not visible:
        raise NotFound("No such attachment.")
    return attachment, message


def save_attachment(
    ctx: Context, conversation_id: uuid.UUID, attachment_id: uuid.UUID, *, space: Holder
) -> Document:
    """SRV-1: the holder side saves an attachment into the space's documents (an upload, DOC-1)."""
    if ctx.party != HOLDER:
        raise Forbidden("Only the holder side saves attachments to documents.")
    attachment, name, content = attachment_content(ctx, conversation_id, attachment_id, space=space)
    stem = name.rsplit(".", 1)[0].strip() if "." in name else name
    doc = documents.deposit(
        ctx.session, ctx.vault, ctx.settings, ctx.principal, space,
        documents.NewDocument(
            content=content, title=(stem or "Pièce jointe")[:300],
            declared_type=attachment.mime_type, category="AUTR_DOC", original_name=name,
            source="holder",
        ),
        request_id=ctx.request_id,
    )  # fmt: skip
    record(
        ctx.session, ctx.principal, "message.attachment-save", holder_id=space.id,
        target_type="DocumentReference", target_id=str(doc.id),
        reason=f"attachment:{attachment.id}", request_id=ctx.request_id,
    )  # fmt: skip
    return doc


def add_attachment(
    ctx: Context,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    new: NewAttachment,
    *,
    space: Holder | None = None,
) -> Message:
    """A file from the device, added to one of the caller's drafts."""
    return edit_draft(
        ctx, conversation_id, message_id, add=NewMessage(body="", attachments=[new]), space=space
    )


# -- notices (without content) -------------------------------------------------------------------


def holder_recipients(session: Session, settings: Settings, holder: Holder) -> list[str]:
    """Who hears of a new message for the holder: the holder, or a minor's representatives."""
    if account_rules.is_minor(
        holder.birth_date, clock.today(settings.timezone), settings.majority_age
    ):
        return [
            email
            for email in session.scalars(
                select(Holder.email)
                .join(Representation, Representation.representative_id == Holder.id)
                .where(Representation.minor_id == holder.id, Representation.status == "accepted")
            )
            if email
        ]
    return [holder.email] if holder.email else []


def _mailable(addresses: Iterable[str | None]) -> list[str]:
    """Addresses the outbox accepts: a bad one is skipped, never a reason to lose the message."""
    return [a for a in addresses if a and mail_rules.is_valid_email(a)]


NOTICE_SUBJECT = "Nouveau message dans votre messagerie Carnet"


def notify(ctx: Context, conversation: Conversation) -> int:
    """SRV-1: an e-mail tells each other party that a message is waiting, with a link, never the
    subject, the text or who wrote it (the mailbox may be read by others)."""
    holder = documents.holder_by_id(ctx.session, conversation.holder_id)
    base = ctx.settings.base_url.rstrip("/")
    sent = 0
    if ctx.party != HOLDER:
        for email in _mailable(holder_recipients(ctx.session, ctx.settings, holder)):
            enqueue(
                ctx.session, kind="message.new", recipient=email, subject=NOTICE_SUBJECT,
                body_text=(
                    "Un nouveau message sécurisé vous attend dans un espace santé Carnet que "
                    f"vous suivez.\nPour le lire, connectez-vous : {base}/messages\n"
                ),
                holder_id=holder.id,
            )  # fmt: skip
            sent += 1
    others = [pro_id for pro_id in _pro_ids(ctx, conversation) if pro_id != ctx.principal.id]
    for email in _mailable(pro.email for pro in _names(ctx.session, others).values()):
        if email:
            enqueue(
                ctx.session, kind="message.new", recipient=email, subject=NOTICE_SUBJECT,
                body_text=(
                    "Un nouveau message sécurisé vous attend dans votre messagerie Carnet.\n"
                    f"Pour le lire, connectez-vous : {base}/pro/messages\n"
                ),
            )  # fmt: skip
            sent += 1
    return sent


# -- what the writer sees right after writing (their own words: no read receipt, no read audit) ---


def written_message(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID, *, space: Holder | None
) -> MessageView:
    found = _access(ctx, conversation_id, space, "message.read")
    assert found.me is not None
    rows = _rows(ctx.session, conversation_id)
    parties = _party_views(ctx.session, found.holder, rows)
    messages = [
        m for m in _visible_messages(ctx, found.conversation, found.me) if m.id == message_id
    ]
    views = _message_views(ctx, found.holder, messages, parties, rows)
    if not views:
        raise NotFound("No such message.")
    return views[0]


def written_conversation(
    ctx: Context, conversation_id: uuid.UUID, *, space: Holder | None
) -> ConversationView:
    found = _access(ctx, conversation_id, space, "message.read")
    assert found.me is not None
    return _view(ctx, found.conversation, found.holder, found.me, full=True)


def check_own_draft(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID, *, space: Holder | None
) -> None:
    """Before an upload is received: the draft exists, is the caller's, and may still be written."""
    found = _access(ctx, conversation_id, space, "message.draft")
    _own_draft(ctx, found, message_id)
    _may_write(ctx, found)


def holder_of(session: Session, conversation_id: uuid.UUID) -> uuid.UUID:
    found = session.scalar(select(Conversation.holder_id).where(Conversation.id == conversation_id))
    if found is None:
        raise NotFound(NOT_FOUND)
    return found
