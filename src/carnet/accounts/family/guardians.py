"""Guardians of protected adults (REP-5): recorded and ended by operators."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts.family.relations import (
    ACCEPTED,
    ENDED,
    GUARDIAN,
)
from carnet.accounts.models import Holder, Representation
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import end_access
from carnet.errors import Conflict, InvalidInput, NotFound


def _operator_mode(actor: Principal) -> Mode:
    return (
        Mode.OPERATOR
        if actor.kind in (PrincipalKind.OPERATOR, PrincipalKind.SYSTEM)
        else Mode.NORMAL
    )


def add_guardian(
    session: Session, adult: Holder, guardian: Holder, actor: Principal
) -> Representation:
    """REP-5: record a court measure with representation; the guardian acts as a representative,
    whatever the protected person's age (the majority job never ends it)."""
    if adult.id == guardian.id:
        raise InvalidInput("A person cannot be their own guardian.")
    existing = session.scalars(
        select(Representation).where(
            Representation.minor_id == adult.id,
            Representation.representative_nir == guardian.nir,
        )
    ).first()
    if existing is not None and existing.status == ACCEPTED and existing.role == GUARDIAN:
        raise Conflict(
            "This guardian is already recorded for this person.", code="already-guardian"
        )
    if existing is None:
        existing = Representation(minor_id=adult.id, representative_nir=guardian.nir)
        session.add(existing)
    existing.representative_id = guardian.id
    existing.role = GUARDIAN
    existing.status = ACCEPTED
    existing.created_at = clock.now()
    existing.expires_at = None
    existing.responded_at = clock.now()
    session.flush()
    record(
        session,
        actor,
        "representation.guardian-add",
        holder_id=adult.id,
        target_type="Representation",
        target_id=str(existing.id),
        mode=_operator_mode(actor),
    )
    return existing


def end_guardian(
    session: Session, adult: Holder, guardian: Holder, actor: Principal
) -> Representation:
    """REP-5: the court measure ended; the guardian loses access at once (their sessions leave
    the space, the apps they connected to it are disconnected: `auth.service.end_access`)."""
    existing = session.scalars(
        select(Representation).where(
            Representation.minor_id == adult.id,
            Representation.representative_id == guardian.id,
            Representation.role == GUARDIAN,
            Representation.status == ACCEPTED,
        )
    ).first()
    if existing is None:
        raise NotFound("No such guardian is recorded for this person.")
    existing.status = ENDED
    record(
        session,
        actor,
        "representation.guardian-end",
        holder_id=adult.id,
        target_type="Representation",
        target_id=str(existing.id),
        mode=_operator_mode(actor),
    )
    end_access(
        session,
        relation=(guardian.id, adult.id),
        reason="guardian-ended",
        actor=actor,
        mode=_operator_mode(actor),
    )
    return existing
