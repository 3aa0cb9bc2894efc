"""Attachments (SRV-1, DOC-1): files from the device, copies of the space's documents, reading and
saving them. A copy of a record document reaches and is read only by whoever may read its source
now (ACC-1, DOC-3, REP-2, DOC-4, `access.rules.decide_message_copy`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from carnet import clock
from carnet.access.rules import (
    Actor,
    Decision,
    decide_message_attachment,
    decide_message_copy,
    mode_of,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import deposits, sniff
from carnet.documents import rules as doc_rules
from carnet.documents import service as documents
from carnet.documents.models import Document
from carnet.errors import Forbidden, InvalidInput, NotFound
from carnet.messaging import rules
from carnet.messaging.context import (
    ATTACHMENT,
    ATTACHMENT_NAME,
    TARGET,
    Context,
    NewAttachment,
    NewMessage,
)
from carnet.messaging.models import HOLDER, Attachment, Conversation, Message, Participant
from carnet.messaging.parties import (
    Found,
    audit,
    find_conversation,
    judge,
    my_rows_where,
    recipients_of,
    visible_filter,
    visible_messages,
)
from carnet.messaging.refusals import (
    RecipientMayNotRead,
    TooLarge,
    deny,
    refusals_audited,
    unshareable,
)


def attachment_content(
    ctx: Context,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    *,
    space: Holder | None = None,
) -> tuple[Attachment, str, bytes]:
    """An attachment's bytes for a party who may see its message; audited (ACC-8)."""
    found = find_conversation(ctx, conversation_id, space, "message.attachment-read")
    attachment, message = _attachment(ctx, found, attachment_id)
    if attachment.document_id is not None:
        decision = copy_decisions(ctx, found.holder, found.actor, [attachment])[attachment.id]
        if not decision:
            raise deny(
                ctx, found.holder, "message.attachment-read", decision,
                NotFound("No such attachment."), target_id=str(message.id), actor=found.actor,
            )  # fmt: skip
    content = ctx.vault.read_blob_bytes(
        ctx.session, attachment.holder_id, attachment.id, ATTACHMENT, attachment.blob_id,
        expected_sha256=attachment.sha256,
    )  # fmt: skip
    audit(ctx, found.conversation, found.actor, "message.attachment-read", message.id,
           reason=f"attachment:{attachment.id}")  # fmt: skip
    name = ctx.vault.unseal_text(
        ctx.session, attachment.holder_id, attachment.id, ATTACHMENT_NAME, attachment.name_sealed
    )
    return attachment, name, content


STREAM_CHUNK = 500  # attachments decided at a time by `every_attachment`


def every_attachment(
    ctx: Context, attachment_ids: Sequence[uuid.UUID], *, space: Holder | None = None
) -> Iterator[tuple[Attachment, str, bytes]]:
    """The bytes of many attachments (the export's, SRV-5), in the order asked, one at a time,
    each read only if `attachment_content` would give it: its conversation decided by the same
    `judge` (a refusal audited once per conversation), its message one the caller's party sees
    (`visible_filter`), a copy's source readable now (`copy_decisions`). Rows come by chunks with
    one statement per kind, instead of about ten per attachment; one `message.attachment-read`
    entry per attachment (ACC-8), all recorded before the first content. Names and contents
    are opened with the space's data key, unwrapped once for the transaction."""
    wanted = list(dict.fromkeys(attachment_ids))
    judged: dict[uuid.UUID, Found | None] = {}
    actors: dict[uuid.UUID, tuple[Holder, Actor]] = {}
    readable: dict[uuid.UUID, Attachment] = {}
    for start in range(0, len(wanted), STREAM_CHUNK):
        readable.update(_readable(ctx, wanted[start : start + STREAM_CHUNK], space, judged, actors))
    # ACC-8: one entry per attachment read, as `attachment_content` records it (the message and
    # the attachment), appended together at the export's commit (its audit batch).
    for item in readable.values():
        record(
            ctx.session, ctx.principal, "message.attachment-read", holder_id=item.holder_id,
            target_type=TARGET, target_id=str(item.message_id),
            mode=mode_of(actors[item.holder_id][1]), reason=f"attachment:{item.id}",
            request_id=ctx.request_id,
        )  # fmt: skip
    for attachment_id in wanted:
        attachment = readable.get(attachment_id)
        if attachment is None:
            continue
        content = ctx.vault.read_blob_bytes(
            ctx.session, attachment.holder_id, attachment.id, ATTACHMENT, attachment.blob_id,
            expected_sha256=attachment.sha256,
        )  # fmt: skip
        name = ctx.vault.unseal_text(
            ctx.session, attachment.holder_id, attachment.id, ATTACHMENT_NAME,
            attachment.name_sealed,
        )  # fmt: skip
        yield attachment, name, content


def _readable(
    ctx: Context,
    ids: Sequence[uuid.UUID],
    space: Holder | None,
    judged: dict[uuid.UUID, Found | None],
    actors: dict[uuid.UUID, tuple[Holder, Actor]],
) -> dict[uuid.UUID, Attachment]:
    """Which of these attachments the caller may read, decided as `attachment_content` decides
    each one (refusals audited there the same way), with a few statements for all of them."""
    statement = (
        select(Attachment, Message, Conversation)
        .join(Message, Message.id == Attachment.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Attachment.id.in_(ids))
    )
    if space is not None:
        statement = statement.where(Conversation.holder_id == space.id)
    found = ctx.session.execute(statement).all()
    conversations = {c.id: c for _a, _m, c in found if c.id not in judged}
    mine = {
        row.conversation_id: row
        for row in ctx.session.scalars(
            select(Participant).where(
                Participant.conversation_id.in_(list(conversations)), *my_rows_where(ctx)
            )
        )
    } if conversations else {}  # fmt: skip
    for conversation in conversations.values():
        if conversation.holder_id not in actors:
            holder = documents.holder_by_id(ctx.session, conversation.holder_id)
            actors[holder.id] = (
                holder, actor_for(ctx.session, ctx.settings, ctx.principal, holder)
            )  # fmt: skip
        holder, actor = actors[conversation.holder_id]
        try:
            judged[conversation.id] = judge(
                ctx, conversation, holder, actor, mine.get(conversation.id),
                "message.attachment-read",
            )  # fmt: skip
        except NotFound:
            judged[conversation.id] = None
    allowed = [(a, m, judged[c.id]) for a, m, c in found if judged[c.id] is not None]
    seen = {
        message_id
        for message_id in ctx.session.scalars(
            select(Message.id)
            .join(Participant, Participant.conversation_id == Message.conversation_id)
            .where(
                Message.id.in_([m.id for _a, m, _f in allowed]),
                Participant.id.in_([f.me.id for _a, _m, f in allowed if f is not None and f.me]),
                *visible_filter(ctx, Participant.deleted_at),
            )
        )
    } if allowed else set()  # fmt: skip
    shown = [(a, m, f) for a, m, f in allowed if f is not None and m.id in seen]
    copies: dict[uuid.UUID, list[Attachment]] = {}
    for attachment, _m, judgement in shown:
        if attachment.document_id is not None:
            copies.setdefault(judgement.holder.id, []).append(attachment)
    verdicts: dict[uuid.UUID, Decision] = {}
    for holder_id, items in copies.items():
        holder, actor = actors[holder_id]
        verdicts.update(copy_decisions(ctx, holder, actor, items))
    out: dict[uuid.UUID, Attachment] = {}
    for attachment, message, judgement in shown:
        decision = verdicts.get(attachment.id)
        if decision is not None and not decision:
            deny(
                ctx, judgement.holder, "message.attachment-read", decision,
                NotFound("No such attachment."), target_id=str(message.id), actor=judgement.actor,
            )  # fmt: skip
            continue
        out[attachment.id] = attachment
    return out


def save_attachment(
    ctx: Context, conversation_id: uuid.UUID, attachment_id: uuid.UUID, *, space: Holder
) -> Document:
    """SRV-1: the holder side saves an attachment into the space's documents (an upload, DOC-1)."""
    if ctx.party != HOLDER:
        raise Forbidden("Only the holder side saves attachments to documents.")
    attachment, name, content = attachment_content(ctx, conversation_id, attachment_id, space=space)
    stem = name.rsplit(".", 1)[0].strip() if "." in name else name
    doc = deposits.deposit(
        ctx.session, ctx.vault, ctx.settings, ctx.principal, space,
        deposits.NewDocument(
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


@dataclass
class NewFile:
    content: bytes
    name: str
    mime_type: str
    source: str
    document_id: uuid.UUID | None = None


def _device_file(settings: Settings, new: NewAttachment) -> NewFile:
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
    return NewFile(new.content, name, sniffed, "device")


def _document_file(ctx: Context, holder: Holder, document_id: uuid.UUID) -> NewFile:
    """A document of this space, read through the decision point (audited as a read, ACC-8)."""
    owner = documents.space_of(ctx.session, document_id)
    if owner != holder.id:
        raise NotFound("No such document.", code="unknown-document")
    doc, stream = documents.read_content(
        ctx.session, ctx.vault, ctx.settings, ctx.principal, document_id,
        request_id=ctx.request_id,
    )  # fmt: skip
    shareable = decide_message_attachment(documents.facts(doc), clock.now())
    if not shareable:  # REP-2, DOC-4: the whole holder side reads the message
        raise unshareable(shareable)
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
    return NewFile(content, name[:255], doc.mime_type, "document", doc.id)


def new_files(ctx: Context, holder: Holder, new: NewMessage, already: int = 0) -> list[NewFile]:
    if len(new.attachments) + len(new.document_ids) + already > rules.MAX_ATTACHMENTS:
        raise InvalidInput(
            f"A message carries at most {rules.MAX_ATTACHMENTS} attachments.", field="attachments"
        )
    files = [_device_file(ctx.settings, item) for item in new.attachments]
    files += [_document_file(ctx, holder, doc_id) for doc_id in dict.fromkeys(new.document_ids)]
    return files


def sources_of(files: Sequence[NewFile]) -> list[uuid.UUID]:
    return [f.document_id for f in files if f.document_id is not None]


def check_copies(
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
    pros = sorted(
        account_service.professionals_by_ids(ctx.session, recipients).values(),
        key=lambda p: (p.name, p.rpps),
    )
    for pro in pros:
        reader = actor_for(
            ctx.session, ctx.settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder
        )
        for doc_id in sources:
            verdict = decide_message_copy(reader, space, found.get(doc_id), now)
            if not verdict:
                raise deny(
                    ctx, holder, "message.send", f"{verdict.reason}:rpps:{pro.rpps}",
                    RecipientMayNotRead(f"{pro.name} (RPPS {pro.rpps})", verdict.reason),
                    target_id=target_id, actor=actor,
                )  # fmt: skip


def check_draft_copies(ctx: Context, found: Found, message: Message) -> None:
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
    with refusals_audited(ctx, holder, "message.send", found.actor, str(conversation.id)):
        for doc in documents.facts_by_id(ctx.session, holder.id, sources).values():
            shareable = decide_message_attachment(doc, clock.now())
            if not shareable:
                raise unshareable(shareable)
        check_copies(
            ctx, holder, found.actor, sources, recipients_of(ctx, conversation),
            str(conversation.id),
        )  # fmt: skip


def store_files(ctx: Context, message: Message, files: Sequence[NewFile]) -> None:
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


def copy_decisions(
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


def _attachment(ctx: Context, found: Found, attachment_id: uuid.UUID) -> tuple[Attachment, Message]:
    attachment = ctx.session.get(Attachment, attachment_id)
    message = ctx.session.get(Message, attachment.message_id) if attachment else None
    assert found.me is not None
    visible = message is not None and message in visible_messages(ctx, found.conversation, found.me)
    if attachment is None or message is None or not visible:
        raise NotFound("No such attachment.")
    return attachment, message
