"""The SQL face of the decision point: the documents an actor may read, as a WHERE clause.

Mirrors `access.rules.decide_document_read` exactly (a property-based test checks it), so searches
never fetch what the actor may not read and paging, totals and `_count` stay consistent.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, false, or_

from carnet.access.rules import (
    CLINICIANS,
    HOLDER_SIDE,
    Actor,
    Care,
    Relation,
    SpaceFacts,
    clinical_access,
    decide_app_reach,
    on_behalf,
)
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode
from carnet.documents.models import Document


def readable_documents(actor: Actor, space: SpaceFacts, now: dt.datetime) -> ColumnElement[bool]:
    if space.state not in LIVE_STATES:
        return false()
    if actor.relation is Relation.APP:  # ACC-9: the scope, then what the consenting holder sees
        if not decide_app_reach(actor, space, "DocumentReference", "s"):
            return false()
        return readable_documents(on_behalf(actor), space, now)
    own = Document.holder_id == space.holder_id
    if actor.relation in HOLDER_SIDE:
        clauses = [
            own,
            Document.status != "entered-in-error",
            or_(
                Document.invisible_to_patient.is_(False),
                and_(
                    Document.visible_to_patient_from.is_not(None),
                    Document.visible_to_patient_from <= now,
                ),
            ),
        ]
        if actor.relation is Relation.REPRESENTATIVE:
            clauses.append(Document.invisible_to_representatives.is_(False))
        return and_(*clauses)
    if actor.relation not in CLINICIANS:
        return false()
    authored: ColumnElement[bool] = false()
    if actor.care is not Care.BLOCKED:
        authored = and_(
            Document.author_kind == "professional", Document.author_id == actor.principal.id
        )
    access = clinical_access(actor, space)
    if not access:
        return and_(own, authored)
    others = [
        Document.status != "entered-in-error",
        Document.sensitivity.in_(sorted(actor.readable)) if actor.readable else false(),
    ]
    sees_masked = actor.administrator if access.mode is Mode.NORMAL else space.masked_in_emergency
    if not sees_masked:
        others.append(Document.masked.is_(False))
    return and_(own, or_(authored, and_(*others)))


def awaiting_announcement(actor: Actor, space: SpaceFacts, now: dt.datetime) -> ColumnElement[bool]:
    """DOC-4: the holder side's documents still waiting for their announcement consultation (the
    holder-side branch of `readable_documents` with the DOC-4 condition reversed), for a count
    only; REP-2 documents are not counted for representatives."""
    if actor.relation not in HOLDER_SIDE or space.state not in LIVE_STATES:
        return false()
    clauses = [
        Document.holder_id == space.holder_id,
        Document.status == "current",
        Document.invisible_to_patient.is_(True),
        or_(Document.visible_to_patient_from.is_(None), Document.visible_to_patient_from > now),
    ]
    if actor.relation is Relation.REPRESENTATIVE:
        clauses.append(Document.invisible_to_representatives.is_(False))
    return and_(*clauses)
