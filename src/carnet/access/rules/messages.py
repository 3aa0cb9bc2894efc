"""Messaging (SRV-1, ID-3, REP-2, DOC-4): who writes first, to whom, who reads, replies and ends a
conversation, and which documents may be attached or copied (ACC-1, DOC-3)."""

from __future__ import annotations

import datetime as dt

from carnet.access.rules.apps import space_reach
from carnet.access.rules.documents import decide_document_read
from carnet.access.rules.facts import (
    HOLDER_SIDE,
    Actor,
    Care,
    Decision,
    DocumentFacts,
    Relation,
    SpaceFacts,
    in_care_team,
    mode_of,
    visible_to_patient,
)
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode
from carnet.auth.principal import PrincipalKind

# SRV-1: the pharmacies a holder may write to first (TRE_G15 profession 21, pharmacien).
PHARMACIST = "21"


def decide_message_start(actor: Actor, space: SpaceFacts, *, qualified: bool) -> Decision:
    """SRV-1, ID-3: who may open a conversation in this space. A professional writes first, only
    to a holder whose INS is qualified (ID-3) and whose space they reach in the care team (ACC-1;
    not blocked, ACC-3; an emergency grant is for reading, not for messaging). The holder side may
    open one too, but only towards pharmacies that dispensed to them (`decide_message_recipient`)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", mode)
    if not qualified:
        return Decision(False, "ins-not-qualified", mode)  # ID-3
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode)
    if not in_care_team(actor):
        return Decision(False, "not-in-care-team", mode)
    return Decision(True, "care-team", Mode.NORMAL)


def decide_message_recipient(
    recipient: Actor, space: SpaceFacts, *, holder_started: bool, dispensed: bool
) -> Decision:
    """SRV-1: may this professional receive a new conversation of this space? When the holder side
    writes first, only a pharmacy that dispensed to the holder; when a professional writes first,
    the professionals put in to/cc must be in the care team themselves (they will read it)."""
    mode = mode_of(recipient)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if recipient.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", mode)
    if recipient.care is Care.BLOCKED:
        return Decision(False, "recipient-blocked", mode)
    if holder_started:
        if recipient.profession_code != PHARMACIST or not dispensed:
            return Decision(False, "not-a-dispensing-pharmacy", mode)
        return Decision(True, "dispensing-pharmacy", Mode.NORMAL)
    if not in_care_team(recipient):
        return Decision(False, "recipient-not-in-care-team", mode)
    return Decision(True, "care-team", Mode.NORMAL)


def decide_message_read(actor: Actor, space: SpaceFacts, *, participant: bool) -> Decision:
    """SRV-1, ACC-8: the holder side reads every conversation of the space; a professional only
    those they take part in, unless the holder blocked them (ACC-3: the holder's block wins)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is not Relation.PROFESSIONAL or not participant:
        return Decision(False, "not-a-participant", mode)
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode)
    return Decision(True, "participant", Mode.NORMAL)


def decide_message_attachment(doc: DocumentFacts, now: dt.datetime) -> Decision:
    """SRV-1, REP-2, DOC-4 (Carnet decision): a message is read by the whole holder side of the
    space, representatives included, and its attachment is a copy that stays in their mailbox
    (`decide_message_copy`). So a document becomes an attachment only if every one of them may
    read it: never one kept from representatives (a minor's secret), nor one still awaiting its
    announcement. Professional recipients are decided one by one (`decide_message_copy`)."""
    if doc.invisible_to_representatives:
        return Decision(False, "invisible-to-representatives")
    if not visible_to_patient(doc, now):
        return Decision(False, "awaiting-announcement")
    if doc.status == "entered-in-error":
        return Decision(False, "entered-in-error")
    return Decision(True, "holder-side-readable")


def decide_message_copy(
    recipient: Actor, space: SpaceFacts, source: DocumentFacts | None, now: dt.datetime
) -> Decision:
    """SRV-1, ACC-1, DOC-3, REP-2, DOC-4: a copy of a record document (a message attachment) is
    read, and sent, only by whoever may read the document itself: the very decision of a direct
    read (`decide_document_read`: care team, habilitation matrix, masking, emergency switches),
    taken again on the source as it is now, so a document masked after it was sent is no longer
    readable through its copy by a professional who may not read it.

    Carnet decision: when the source is gone (deleted by the holder, DOC-6), nothing remains to
    decide on, and the holder's deletion is a withdrawal from the record, so professionals no
    longer read the copy (as they would get 404 on the document). The holder side keeps it: the
    message is in their own mailbox (SRV-1), its REP-2 and DOC-4 flags were checked when it was
    sent and can no longer change. A purge (LC-8) removes the messages with the space.
    """
    if source is None:
        reach = space_reach(recipient, space)
        if reach and recipient.relation in HOLDER_SIDE:
            return Decision(True, "source-deleted:holder-side", reach.mode)
        return Decision(False, "source-deleted", reach.mode)
    return decide_document_read(recipient, space, source, now)


def decide_message_reply(
    actor: Actor, space: SpaceFacts, *, participant: bool, ended: bool
) -> Decision:
    """SRV-1: the parties of a conversation reply in it until a professional ends it."""
    read = decide_message_read(actor, space, participant=participant)
    if not read:
        return read
    if ended:
        return Decision(False, "conversation-ended", read.mode)
    return read


def decide_conversation_end(actor: Actor, space: SpaceFacts, *, participant: bool) -> Decision:
    """SRV-1: a professional taking part in a conversation may end it; the holder side may not."""
    read = decide_message_read(actor, space, participant=participant)
    if not read:
        return read
    if actor.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", read.mode)
    return read


def decide_message_send_fhir(kind: PrincipalKind) -> Decision:
    """SRV-1: through FHIR (`POST /fhir/Communication`) only professionals send; the holder side
    writes in the JSON API and the portal, where drafts live, and apps send no messages."""
    if kind is PrincipalKind.PROFESSIONAL:
        return Decision(True, "professional")
    return Decision(False, "not-a-professional")
