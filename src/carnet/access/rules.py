"""The policy decision point: pure functions deciding who may do what in a holder's space.

No other module decides access. Each rule has two faces derived from the same facts: `decide_*`
for one object, and (in `access.filters`) a SQL clause so that searches are narrowed in the query
itself. Tests check that both faces always agree.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from carnet.audit.rules import Mode
from carnet.auth.principal import Principal


class Relation(enum.StrEnum):
    """How the actor relates to the space being accessed (resolved by `access.service`)."""

    SELF = "self"
    REPRESENTATIVE = "representative"  # REP-1, REP-5
    CAREGIVER = "caregiver"  # REP-4
    PROFESSIONAL = "professional"
    REGULATOR = "regulator"
    OPERATOR = "operator"
    APP = "app"
    NONE = "none"


@dataclass(frozen=True)
class Actor:
    """A principal as seen from one space."""

    principal: Principal
    relation: Relation
    profession_code: str | None = None


@dataclass(frozen=True)
class SpaceFacts:
    holder_id: uuid.UUID
    state: str


@dataclass(frozen=True)
class DocumentFacts:
    """What the rules need to know about a document (rules DOC-2…DOC-4, REP-2)."""

    author_kind: str
    author_id: uuid.UUID | None
    sensitivity: str
    status: str
    masked: bool
    invisible_to_patient: bool
    visible_to_patient_from: dt.datetime | None
    invisible_to_representatives: bool


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    mode: Mode = Mode.NORMAL

    def __bool__(self) -> bool:
        return self.allowed


LIVE_STATES = frozenset({"open", "active"})
# What a holder (or someone acting for them) may still see of a closed space: nothing until a new
# space restores the archive (LC-5).
HOLDER_SIDE = frozenset({Relation.SELF, Relation.REPRESENTATIVE, Relation.CAREGIVER})

_MODES = {
    Relation.SELF: Mode.NORMAL,
    Relation.REPRESENTATIVE: Mode.REPRESENTATIVE,
    Relation.CAREGIVER: Mode.CAREGIVER,
    Relation.PROFESSIONAL: Mode.NORMAL,
    Relation.REGULATOR: Mode.REGULATION,
    Relation.OPERATOR: Mode.OPERATOR,
    Relation.APP: Mode.APP,
}


def mode_of(actor: Actor) -> Mode:
    return _MODES.get(actor.relation, Mode.NORMAL)


def visible_to_patient(doc: DocumentFacts, now: dt.datetime) -> bool:
    """DOC-4: hidden from the patient until the announcement, at most one month after deposit."""
    if not doc.invisible_to_patient:
        return True
    return doc.visible_to_patient_from is not None and doc.visible_to_patient_from <= now


def decide_document_read(
    actor: Actor, space: SpaceFacts, doc: DocumentFacts, now: dt.datetime
) -> Decision:
    """May `actor` read this document's metadata and content? Deny by default."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if doc.status == "entered-in-error" and actor.relation in HOLDER_SIDE:
        return Decision(False, "entered-in-error", mode)
    if actor.relation in HOLDER_SIDE:
        if not visible_to_patient(doc, now):
            return Decision(False, "awaiting-announcement", mode)  # DOC-4
        if actor.relation is Relation.REPRESENTATIVE and doc.invisible_to_representatives:
            return Decision(False, "invisible-to-representatives", mode)  # REP-2
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is Relation.PROFESSIONAL:
        if doc.author_kind == "professional" and doc.author_id == actor.principal.id:
            return Decision(True, "author", mode)  # DOC-3: the author always sees their document
        # The care team and the habilitation matrix (ACC-1) come with the access-control work.
        return Decision(False, "not-in-care-team", mode)
    return Decision(False, "no-relation", mode)


def decide_document_write(actor: Actor, space: SpaceFacts, doc: DocumentFacts) -> Decision:
    """May `actor` change this document's holder-side metadata (rename, move, pin, mask, delete)?

    The holder and representatives manage the space's documents (DOC-3, DOC-6); the author changes
    status and replaces versions through `decide_document_author_change`.
    """
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in (Relation.SELF, Relation.REPRESENTATIVE, Relation.CAREGIVER):
        if actor.relation is Relation.REPRESENTATIVE and doc.invisible_to_representatives:
            return Decision(False, "invisible-to-representatives", mode)
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_document_author_change(actor: Actor, space: SpaceFacts, doc: DocumentFacts) -> Decision:
    """DOC-6: a professional replaces or withdraws only their own document."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if (
        actor.relation is Relation.PROFESSIONAL
        and doc.author_kind == "professional"
        and doc.author_id == actor.principal.id
    ):
        return Decision(True, "author", mode)
    return Decision(False, "not-author", mode)


def decide_deposit(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-2: depositing needs less than reading: any professional treating the holder, even a
    blocked one. Until care relationships exist, any registered professional may deposit."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation is Relation.PROFESSIONAL:
        return Decision(True, "professional-deposit", mode)
    return Decision(False, "not-a-professional", mode)


def decide_upload(actor: Actor, space: SpaceFacts) -> Decision:
    """Holders (and those acting for them) add their own documents."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)
