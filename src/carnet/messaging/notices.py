"""E-mail notices of a new message (SRV-1): they say that a message is waiting, never what it says
or who wrote it (the mailbox may be read by others).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.family.relations import representative_emails
from carnet.accounts.models import Holder
from carnet.config import Settings
from carnet.documents import service as documents
from carnet.messaging.context import Context
from carnet.messaging.models import HOLDER, Conversation
from carnet.messaging.parties import pros_in
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue


def holder_recipients(session: Session, settings: Settings, holder: Holder) -> list[str]:
    """Who hears of a new message for the holder: the holder, or a minor's representatives."""
    if account_rules.is_minor(
        holder.birth_date, clock.today(settings.timezone), settings.majority_age
    ):
        return representative_emails(session, holder.id)
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
    if ctx.party != HOLDER and account_service.wants_notice(ctx.session, holder.id, "messages"):
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
    others = [pro_id for pro_id in pros_in(ctx, conversation) if pro_id != ctx.principal.id]
    for email in _mailable(
        pro.email for pro in account_service.professionals_by_ids(ctx.session, others).values()
    ):
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
