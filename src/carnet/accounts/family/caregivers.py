"""Caregivers (REP-4): invited by the holder, listed, revoked; no link survives a purge (LC-8)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts.family.invitations import (
    active_invitee,
    check_cared_for_limit,
    invitation_mail,
)
from carnet.accounts.family.relations import (
    ACCEPTED,
    PENDING,
    REVOKED,
    Relation,
    audit_mode,
)
from carnet.accounts.models import Caregiving, Holder
from carnet.accounts.purge import register_purge_hook
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.auth.service import end_access
from carnet.config import Settings
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.vault.service import Vault


def invite_caregiver(
    session: Session,
    settings: Settings,
    actor: Principal,
    holder: Holder,
    caregiver_nir: str,
    *,
    relation: Relation = "self",
) -> Caregiving:
    """REP-4: invite a caregiver (active space; at most 3 per holder, 5 people per caregiver)."""
    if relation == "caregiver":
        raise Forbidden("A caregiver cannot manage caregivers.", code="caregiver-forbidden")
    nir = rules.normalize_nir(caregiver_nir)
    me = session.get(Holder, actor.id)
    if nir == holder.nir or (me is not None and nir == me.nir):
        raise InvalidInput("You cannot be your own caregiver.", field="nir")
    now = clock.now()
    current = session.scalars(
        select(Caregiving).where(
            Caregiving.holder_id == holder.id,
            (Caregiving.status == ACCEPTED)
            | ((Caregiving.status == PENDING) & (Caregiving.expires_at > now)),
        )
    ).all()
    invitee = active_invitee(session, nir)
    if any(care.caregiver_id == invitee.id for care in current):
        raise Conflict(
            "This person is already a caregiver of this space, or already invited.",
            code="already-caregiver",
        )
    if len(current) >= settings.max_caregivers:
        raise Conflict(
            f"A person can have at most {settings.max_caregivers} caregivers, accepted or invited "
            "(REP-4): revoke one before inviting another.",
            code="caregivers-limit",
        )
    check_cared_for_limit(session, settings, invitee.id)
    care = Caregiving(
        holder_id=holder.id,
        caregiver_id=invitee.id,
        status=PENDING,
        created_at=now,
        expires_at=now + dt.timedelta(days=settings.invitation_days),
    )
    session.add(care)
    session.flush()
    record(
        session,
        actor,
        "caregiving.invite",
        holder_id=holder.id,
        target_type="Caregiving",
        target_id=str(care.id),
        mode=audit_mode(relation),
    )
    invitation_mail(
        session, settings, invitee, "devenir l'aidant d'une personne", "family.caregiver-invitation"
    )
    return care


def list_caregivers(session: Session, holder: Holder) -> list[tuple[Caregiving, Holder]]:
    """The holder's caregivers, accepted and invited (pending, unexpired)."""
    now = clock.now()
    rows = session.execute(
        select(Caregiving, Holder)
        .join(Holder, Holder.id == Caregiving.caregiver_id)
        .where(
            Caregiving.holder_id == holder.id,
            (Caregiving.status == ACCEPTED)
            | ((Caregiving.status == PENDING) & (Caregiving.expires_at > now)),
        )
        .order_by(Caregiving.created_at)
    ).all()
    return [(care, person) for care, person in rows]


def revoke_caregiver(
    session: Session,
    actor: Principal,
    holder: Holder,
    caregiving_id: uuid.UUID,
    *,
    relation: Relation = "self",
) -> Caregiving:
    """REP-4: the holder withdraws a caregiver (or an invitation); access ends at once: the
    caregiver's sessions leave the space and the apps they connected to it are disconnected."""
    if relation == "caregiver":
        raise Forbidden("A caregiver cannot manage caregivers.", code="caregiver-forbidden")
    care = session.get(Caregiving, caregiving_id)
    if care is None or care.holder_id != holder.id or care.status not in (PENDING, ACCEPTED):
        raise NotFound("No such caregiver.")
    was_accepted = care.status == ACCEPTED
    care.status = REVOKED
    care.responded_at = clock.now()
    record(
        session,
        actor,
        "caregiving.revoke",
        holder_id=holder.id,
        target_type="Caregiving",
        target_id=str(care.id),
        mode=audit_mode(relation),
    )
    if was_accepted:  # an invitation never gave access: nothing to end
        end_access(
            session,
            relation=(care.caregiver_id, holder.id),
            reason="caregiver-revoked",
            actor=actor,
            mode=audit_mode(relation),
        )
    return care


# -- purge (LC-8) ----------------------------------------------------------------------------


@register_purge_hook
def _purge_caregivings(session: Session, _vault: Vault, holder_id: uuid.UUID) -> None:
    """LC-8: no link to or from a purged space remains (foreign keys cascade too)."""
    session.execute(
        delete(Caregiving).where(
            (Caregiving.holder_id == holder_id) | (Caregiving.caregiver_id == holder_id)
        )
    )
