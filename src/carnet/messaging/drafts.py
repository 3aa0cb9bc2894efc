"""Drafts (SRV-1): written, edited and given attachments by their author only, and sent under the
rules of the moment (an ended conversation, ID-3, the copies decided again).
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from carnet import clock
from carnet.access.rules import decide_message_reply, decide_message_start
from carnet.access.service import space_facts
from carnet.accounts.models import Holder
from carnet.errors import Conflict, NotFound
from carnet.messaging import rules
from carnet.messaging.attachments import (
    check_copies,
    check_draft_copies,
    new_files,
    sources_of,
    store_files,
)
from carnet.messaging.context import BODY, SUBJECT, Context, NewAttachment, NewMessage
from carnet.messaging.conversations import check_text, mark_sent
from carnet.messaging.mailbox import check_quota
from carnet.messaging.models import DRAFT, ENDED, SENT, Attachment, Message
from carnet.messaging.parties import Found, audit, find_conversation, pros_in, recipients_of
from carnet.messaging.refusals import deny, refusal, refusals_audited


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
    found = find_conversation(ctx, conversation_id, space, "message.draft")
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
    with refusals_audited(ctx, holder, "message.draft", found.actor, str(conversation.id)):
        check_text(subject, new_body, draft=True)
        count = ctx.session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.message_id == message.id)
        )
        files = new_files(ctx, holder, add or NewMessage(body=""), already=int(count or 0))
        check_copies(
            ctx, holder, found.actor, sources_of(files), recipients_of(ctx, conversation),
            str(conversation.id),
        )  # fmt: skip
        grown = rules.message_size(
            new_body,
            subject if subject is not None else old_subject,
            (len(f.content) for f in files),
        ) - rules.message_size(old_body, old_subject, ())
        pro_ids = pros_in(ctx, conversation)
        check_quota(ctx, holder, pro_ids, grown, found.actor, str(conversation.id))
    if body is not None:
        message.body_sealed = ctx.vault.seal_text(ctx.session, holder.id, message.id, BODY, body)
    if subject is not None:
        conversation.subject_sealed = ctx.vault.seal_text(
            ctx.session, holder.id, conversation.id, SUBJECT, subject.strip()
        )
    message.size += grown
    message.updated_at = clock.now()
    store_files(ctx, message, files)
    audit(ctx, conversation, found.actor, "message.draft", message.id)
    return message


def send_draft(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID, *, space: Holder | None = None
) -> Message:
    """SRV-1: a draft is sent under the rules of the moment (ended conversation, ID-3…)."""
    found = find_conversation(ctx, conversation_id, space, "message.send")
    message = _own_draft(ctx, found, message_id)
    _may_write(ctx, found)
    body = ctx.vault.unseal_text(
        ctx.session, found.holder.id, message.id, BODY, message.body_sealed
    )
    check_text(None, body, draft=False)
    check_draft_copies(ctx, found, message)
    now = clock.now()
    message.status = SENT
    message.sent_at = now
    message.updated_at = now
    mark_sent(ctx, found.conversation, found.actor, message, now)
    return message


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


def check_own_draft(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID, *, space: Holder | None
) -> None:
    """Before an upload is received: the draft exists, is the caller's, and may still be written."""
    found = find_conversation(ctx, conversation_id, space, "message.draft")
    _own_draft(ctx, found, message_id)
    _may_write(ctx, found)


def _own_draft(ctx: Context, found: Found, message_id: uuid.UUID) -> Message:
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


def _may_write(ctx: Context, found: Found) -> None:
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
        raise deny(
            ctx, found.holder, "message.send", decision, refusal(decision),
            target_id=str(conversation.id), actor=found.actor,
        )  # fmt: skip
