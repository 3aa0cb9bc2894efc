"""Documents (ACC-1…ACC-3, ACC-5, DOC-2…DOC-6, REP-2): who reads, changes and deposits a holder's
documents, and who reads their reimbursements (SRV-4)."""

from __future__ import annotations

import datetime as dt

from carnet.access.rules.apps import for_app
from carnet.access.rules.facts import (
    CLINICIANS,
    HOLDER_SIDE,
    Actor,
    Care,
    Decision,
    DocumentFacts,
    Relation,
    SpaceFacts,
    clinical_access,
    mode_of,
    visible_to_patient,
)
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode


def decide_document_read(
    actor: Actor, space: SpaceFacts, doc: DocumentFacts, now: dt.datetime
) -> Decision:
    """May `actor` read this document's metadata and content? Deny by default."""
    if actor.relation is Relation.APP:  # ACC-9: DocumentReference scopes cover the content too
        return for_app(
            actor, space, "DocumentReference", "r",
            lambda a: decide_document_read(a, space, doc, now),
        )  # fmt: skip
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        if doc.status == "entered-in-error":
            return Decision(False, "entered-in-error", mode)
        if not visible_to_patient(doc, now):
            return Decision(False, "awaiting-announcement", mode)  # DOC-4
        if actor.relation is Relation.REPRESENTATIVE and doc.invisible_to_representatives:
            return Decision(False, "invisible-to-representatives", mode)  # REP-2
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation not in CLINICIANS:
        return Decision(False, "no-relation", mode)
    is_author = doc.author_kind == "professional" and doc.author_id == actor.principal.id
    if is_author and actor.care is not Care.BLOCKED:
        return Decision(True, "author", Mode.NORMAL)  # DOC-3: the author sees their document
    access = clinical_access(actor, space)
    if not access:
        return access
    if doc.status == "entered-in-error":
        return Decision(False, "entered-in-error", access.mode)
    if doc.sensitivity not in actor.readable:
        return Decision(False, "profession-not-habilitated", access.mode)  # ACC-1 matrix
    if doc.masked:
        if access.mode is Mode.NORMAL and not actor.administrator:
            return Decision(False, "masked", access.mode)  # DOC-3, ACC-4
        if access.mode is not Mode.NORMAL and not space.masked_in_emergency:
            return Decision(False, "masked", access.mode)  # ACC-6 switch 3
    return Decision(True, access.reason, access.mode)


def decide_document_write(actor: Actor, space: SpaceFacts, doc: DocumentFacts) -> Decision:
    """May `actor` change this document's holder-side metadata (rename, move, pin, mask, delete)?

    The holder and those acting for them manage the space's documents (DOC-3, DOC-6).
    """
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        if actor.relation is Relation.REPRESENTATIVE and doc.invisible_to_representatives:
            return Decision(False, "invisible-to-representatives", mode)
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_document_author_change(actor: Actor, space: SpaceFacts, doc: DocumentFacts) -> Decision:
    """DOC-6: a professional replaces or withdraws only their own document (ACC-2: even blocked)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if (
        actor.relation in CLINICIANS
        and doc.author_kind == "professional"
        and doc.author_id == actor.principal.id
    ):
        return Decision(True, "author", Mode.NORMAL)
    return Decision(False, "not-author", mode)


def decide_deposit(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-2: depositing needs less than reading: any professional treating the holder may deposit,
    even a blocked one. The deposit itself is the professional's attestation that they treat the
    holder; it gives them no right to read anything but their own documents."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation not in CLINICIANS:
        return Decision(False, "not-a-professional", mode)
    return Decision(True, "treating", Mode.NORMAL)


def decide_deposit_subject(ins_qualified: bool, state: str) -> Decision:
    """ID-3: a professional (or the DMP migration) deposits only for a holder whose identity (INS)
    is qualified, and only into an open space. The one decision behind every deposit path: the
    document API's and the FHIR DocumentReference/Bundle's."""
    if not ins_qualified:
        return Decision(False, "ins-not-qualified")
    if state not in LIVE_STATES:
        return Decision(False, "space-not-open")
    return Decision(True, "depositable")


def decide_upload(actor: Actor, space: SpaceFacts) -> Decision:
    """Holders (and those acting for them) add their own documents."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_reimbursements_read(actor: Actor, space: SpaceFacts) -> Decision:
    """SRV-4: the insurer's reimbursement lines are read by the holder side only (holder,
    representatives, caregivers); ACC-7: professionals do not see them, not even in an emergency.
    REP-2 needs no check here: lines of acts a minor keeps secret are never imported. Apps need
    an ExplanationOfBenefit scope (ACC-9)."""
    if actor.relation is Relation.APP:
        return for_app(
            actor, space, "ExplanationOfBenefit", "s",
            lambda a: decide_reimbursements_read(a, space),
        )  # fmt: skip
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)
