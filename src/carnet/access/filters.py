"""The SQL face of the decision point: the documents an actor may read, as a WHERE clause.

Mirrors `access.rules.decide_document_read` exactly, so searches never fetch what the actor may not
read and paging, totals and `_count` stay consistent (a test checks both faces agree).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, false, or_, true

from carnet.access.rules import HOLDER_SIDE, LIVE_STATES, Actor, Relation, SpaceFacts
from carnet.documents.models import Document


def readable_documents(actor: Actor, space: SpaceFacts, now: dt.datetime) -> ColumnElement[bool]:
    if space.state not in LIVE_STATES:
        return false()
    clauses: list[ColumnElement[bool]] = [Document.holder_id == space.holder_id]
    if actor.relation in HOLDER_SIDE:
        clauses.append(Document.status != "entered-in-error")
        clauses.append(
            or_(
                Document.invisible_to_patient.is_(False),
                and_(
                    Document.visible_to_patient_from.is_not(None),
                    Document.visible_to_patient_from <= now,
                ),
            )
        )
        if actor.relation is Relation.REPRESENTATIVE:
            clauses.append(Document.invisible_to_representatives.is_(False))
        return and_(true(), *clauses)
    if actor.relation is Relation.PROFESSIONAL:
        clauses.append(Document.author_kind == "professional")
        clauses.append(Document.author_id == actor.principal.id)
        return and_(true(), *clauses)
    return false()
