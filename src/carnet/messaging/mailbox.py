"""Mailboxes (SRV-1): the bytes each one holds, the quota every send must fit, and deleting a
conversation for one party only (which frees their mailbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import Actor
from carnet.accounts.models import Holder
from carnet.errors import Conflict
from carnet.messaging import rules
from carnet.messaging.context import Context
from carnet.messaging.models import DRAFT, HOLDER, PROFESSIONAL, Attachment, Message, Participant
from carnet.messaging.parties import audit, find_conversation
from carnet.messaging.refusals import deny


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


def check_quota(
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
        raise deny(
            ctx, holder, "message.send", "mailbox-full",
            Conflict(full, code="mailbox-full"), target_id=target_id, actor=actor,
        )  # fmt: skip


def delete_for_me(ctx: Context, conversation_id: uuid.UUID, *, space: Holder | None = None) -> None:
    """SRV-1: delete a conversation for the deleting party only (frees their mailbox); the other
    parties keep it. A later message brings the conversation back with that message only.
    Drafts of a conversation never sent are deleted outright."""
    found = find_conversation(ctx, conversation_id, space, "conversation.delete")
    conversation = found.conversation
    audit(ctx, conversation, found.actor, "conversation.delete")
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
