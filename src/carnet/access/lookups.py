"""Who a request names: a holder by NIR (ID-1), a professional by RPPS (ID-2), and the care
relationship between them (ACC-1, ACC-3), found the same way by every access service."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.access.models import CareRelationship
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, Professional
from carnet.db import unit_cached
from carnet.errors import InvalidInput, NotFound


def profession_label(code: str, locale: str = "fr") -> str:
    return account_rules.profession_name(code, locale)


def holder_by_nir(session: Session, nir: str) -> Holder:
    """The holder a professional names by NIR (rule ID-1); 404 for anyone unknown."""
    problem = account_rules.nir_problem(nir)
    if problem == account_rules.NIR_KEY_MISMATCH:
        raise InvalidInput(problem, field="nir", code="nir-key-mismatch")
    if problem is not None:
        raise InvalidInput(problem, field="nir")
    holder = account_service.holder_by_nir(session, account_rules.parse_nir(nir))
    if holder is None:
        raise NotFound("No such patient.", code="unknown-patient")
    return holder


def professional_by_rpps(session: Session, rpps: str) -> Professional:
    """A registered professional by RPPS number (rule ID-2); 404 when unknown."""
    problem = account_rules.rpps_problem(rpps)
    if problem is not None:
        raise InvalidInput(problem, field="rpps")
    pro = account_service.professional_by_rpps(session, rpps.strip())
    if pro is None:
        raise NotFound("No such professional.", code="unknown-professional")
    return pro


RELATIONSHIP_TABLES = frozenset({"care_relationships"})


def relationship_key(holder_id: uuid.UUID, professional_id: uuid.UUID) -> tuple[object, ...]:
    """The unit-of-work cache key of a care relationship (`db.unit_cached`): `access.service`
    stores there the row it read with the actor, so a read's first-access notice (ACC-8) does not
    read it again."""
    return ("access.relationship", holder_id, professional_id)


def relationship(
    session: Session, holder_id: uuid.UUID, professional_id: uuid.UUID
) -> CareRelationship | None:
    def read() -> CareRelationship | None:
        return session.scalars(
            select(CareRelationship).where(
                CareRelationship.holder_id == holder_id,
                CareRelationship.professional_id == professional_id,
            )
        ).first()

    if session.new or session.dirty:
        return read()  # unflushed changes: the query's autoflush must see them
    return unit_cached(
        session, relationship_key(holder_id, professional_id), RELATIONSHIP_TABLES, read
    )
