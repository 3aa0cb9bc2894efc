"""Refusals of messaging (SRV-1, ID-3, ACC-8): each told in clear words without health data, and
recorded once in the audit trail; the edge commits that entry, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from carnet.access.rules import Actor, Decision, mode_of
from carnet.accounts.models import Holder
from carnet.audit.service import record
from carnet.errors import CarnetError, Conflict, Forbidden, InvalidInput
from carnet.messaging.context import TARGET, Context


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


def deny(
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
def refusals_audited(
    ctx: Context, holder: Holder, action: str, actor: Actor, target_id: str | None = None
) -> Iterator[None]:
    """ACC-8: any bad input on a send (recipient, size, type, quota) is recorded once."""
    try:
        yield
    except CarnetError as exc:
        if not getattr(exc, _AUDITED, False):
            deny(ctx, holder, action, exc.code, exc, target_id=target_id, actor=actor)
        raise


def refusal(decision: Decision) -> CarnetError:
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


def unshareable(decision: Decision) -> Forbidden:
    return Forbidden(
        "This document cannot be attached: the message would show it to people who may not "
        "read it (a document kept from representatives, or awaiting its announcement).",
        code=decision.reason,
    )
