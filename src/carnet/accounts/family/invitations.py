"""Invitations: a second representative for a minor (REP-1), a caregiver (REP-4); answering them,
and their expiry."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts.family.relations import (
    ACCEPTED,
    EXPIRED,
    MANAGING,
    PARENT_ROLES,
    PENDING,
    REFUSED,
    REVOKED,
    SECOND,
    display_name,
    is_minor,
)
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.accounts.service import holder_by_nir
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM, Principal
from carnet.config import Settings
from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue

_NOT_ACTIVE = (
    "This person has no active Carnet space: they must activate their own space before they can "
    "be invited."
)


def active_invitee(session: Session, nir: str) -> Holder:
    """The invited person, who must have an active space (REP-1, REP-4).

    Unknown and inactive persons get the same answer, so the form is no oracle of who exists.
    """
    problem = rules.nir_problem(nir)
    if problem is not None:
        raise InvalidInput(problem, field="nir")
    invitee = holder_by_nir(session, rules.parse_nir(nir))
    if invitee is None or invitee.state != rules.ACTIVE:
        raise Conflict(_NOT_ACTIVE, code="invitee-not-active")
    return invitee


def invitation_mail(
    session: Session, settings: Settings, invitee: Holder, what: str, kind: str
) -> None:
    """Tell the invitee by e-mail; no name in it (the invitee reads who invited once logged in)."""
    if not invitee.email or not mail_rules.is_valid_email(invitee.email):
        return  # the invitation still shows under /me/invitations
    body = "\n".join(
        [
            "Bonjour,",
            "",
            f"Vous avez reçu une invitation sur Carnet : {what}.",
            f"Connectez-vous à votre espace pour l'accepter ou la refuser : {settings.base_url}/",
            f"Sans réponse, elle expire dans {settings.invitation_days} jours.",
        ]
    )
    enqueue(
        session,
        kind=kind,
        recipient=invitee.email,
        subject="Invitation sur Carnet",
        body_text=body,
        holder_id=invitee.id,
    )


def parent_links(session: Session, minor_id: uuid.UUID) -> Sequence[Representation]:
    return session.scalars(
        select(Representation).where(
            Representation.minor_id == minor_id, Representation.role.in_(PARENT_ROLES)
        )
    ).all()


def invite_second_representative(
    session: Session,
    settings: Settings,
    actor: Principal,
    minor_id: uuid.UUID,
    invitee_nir: str,
) -> Representation:
    """REP-1: the managing representative invites the second one (who must have an active space).

    Anyone but the managing representative of a current minor gets 404 (nothing leaks).
    """
    minor = session.get(Holder, minor_id)
    links = parent_links(session, minor_id) if minor is not None else []
    managing = [
        link
        for link in links
        if link.role == MANAGING and link.status == ACCEPTED and link.representative_id == actor.id
    ]
    if minor is None or not managing or not is_minor(minor, settings):
        raise NotFound("No such space.")
    me = session.get(Holder, actor.id)
    nir = rules.normalize_nir(invitee_nir)
    if nir in (minor.nir, me.nir if me is not None else None):
        raise InvalidInput(
            "You cannot invite yourself (or the child) as second representative.", field="nir"
        )
    now = clock.now()
    live = [
        link
        for link in links
        if link.status == ACCEPTED
        or (link.status == PENDING and link.expires_at is not None and link.expires_at > now)
    ]
    if sum(1 for link in live if link.status == ACCEPTED) >= 2:
        raise Conflict(
            "This child already has two legal representatives.", code="two-representatives"
        )
    if any(link.status == PENDING for link in live):
        raise Conflict(
            "An invitation to a second representative is already pending: it must be accepted, "
            "refused or expire before another one is sent.",
            code="invitation-pending",
        )
    invitee = active_invitee(session, nir)
    existing = session.scalars(
        select(Representation).where(
            Representation.minor_id == minor.id, Representation.representative_nir == invitee.nir
        )
    ).first()
    if existing is not None and existing.status == ACCEPTED:  # a guardian already (REP-5)
        raise Conflict("This person already represents this child.", code="already-representative")
    if existing is None:
        existing = Representation(minor_id=minor.id, representative_nir=invitee.nir)
        session.add(existing)
    # A refused, expired or ended earlier link to the same person is reused (one row per pair).
    existing.representative_id = invitee.id
    existing.role = SECOND
    existing.status = PENDING
    existing.created_at = now
    existing.expires_at = now + dt.timedelta(days=settings.invitation_days)
    existing.responded_at = None
    session.flush()
    record(
        session,
        actor,
        "representation.invite",
        holder_id=minor.id,
        target_type="Representation",
        target_id=str(existing.id),
        mode=Mode.REPRESENTATIVE,
    )
    invitation_mail(
        session,
        settings,
        invitee,
        "devenir le second représentant légal d'un enfant",
        "family.representative-invitation",
    )
    return existing


@dataclass(frozen=True)
class Invitation:
    """A pending invitation addressed to someone, as they see it."""

    id: uuid.UUID
    type: Literal["representative", "caregiver"]
    space_id: uuid.UUID
    space_name: str
    invited_by: str
    created_at: dt.datetime
    expires_at: dt.datetime


def list_invitations(session: Session, holder_id: uuid.UUID) -> list[Invitation]:
    """Pending, unexpired invitations addressed to `holder_id` (representative and caregiver)."""
    now = clock.now()
    found: list[Invitation] = []
    reps = session.scalars(
        select(Representation).where(
            Representation.representative_id == holder_id,
            Representation.status == PENDING,
            Representation.expires_at > now,
        )
    ).all()
    for rep in reps:
        assert rep.expires_at is not None
        inviter = session.scalars(
            select(Holder)
            .join(Representation, Representation.representative_id == Holder.id)
            .where(
                Representation.minor_id == rep.minor_id,
                Representation.role == MANAGING,
                Representation.status == ACCEPTED,
            )
        ).first()
        found.append(
            Invitation(
                rep.id,
                "representative",
                rep.minor_id,
                display_name(session.get(Holder, rep.minor_id)),
                display_name(inviter),
                rep.created_at,
                rep.expires_at,
            )
        )
    cares = session.scalars(
        select(Caregiving).where(
            Caregiving.caregiver_id == holder_id,
            Caregiving.status == PENDING,
            Caregiving.expires_at > now,
        )
    ).all()
    for care in cares:
        name = display_name(session.get(Holder, care.holder_id))
        found.append(
            Invitation(
                care.id, "caregiver", care.holder_id, name, name, care.created_at, care.expires_at
            )
        )
    return sorted(found, key=lambda item: item.created_at)


def check_cared_for_limit(session: Session, settings: Settings, caregiver_id: uuid.UUID) -> None:
    """REP-4: a caregiver helps at most `max_cared_for` people."""
    helped = session.scalar(
        select(func.count())
        .select_from(Caregiving)
        .where(Caregiving.caregiver_id == caregiver_id, Caregiving.status == ACCEPTED)
    )
    if (helped or 0) >= settings.max_cared_for:
        raise Conflict(
            f"This caregiver already helps {settings.max_cared_for} people, the most a caregiver "
            "may help (REP-4).",
            code="cared-for-limit",
        )


def _check_answerable(status: str, expires_at: dt.datetime | None, now: dt.datetime) -> None:
    if status == EXPIRED or (status == PENDING and expires_at is not None and expires_at <= now):
        raise Conflict("This invitation has expired: ask for a new one.", code="expired")
    if status == REVOKED:
        raise Conflict("This invitation was withdrawn.", code="withdrawn")
    if status != PENDING:
        raise Conflict(f"This invitation was already answered ({status}).", code="answered")


def respond(
    session: Session,
    settings: Settings,
    actor: Principal,
    invitation_id: uuid.UUID,
    *,
    accept: bool,
) -> Representation | Caregiving:
    """Accept or refuse an invitation addressed to `actor` (REP-1, REP-4); others' give 404."""
    now = clock.now()
    verb = "accept" if accept else "refuse"
    rep = session.get(Representation, invitation_id)
    if rep is not None and rep.representative_id == actor.id and rep.role == SECOND:
        _check_answerable(rep.status, rep.expires_at, now)
        if accept:
            minor = session.get(Holder, rep.minor_id)
            if minor is None or not is_minor(minor, settings):
                raise Conflict("This person is no longer a minor.", code="no-longer-minor")
            accepted = [
                link
                for link in parent_links(session, rep.minor_id)
                if link.status == ACCEPTED and link.id != rep.id
            ]
            if len(accepted) >= 2:
                raise Conflict(
                    "This child already has two legal representatives.",
                    code="two-representatives",
                )
        rep.status = ACCEPTED if accept else REFUSED
        rep.responded_at = now
        record(
            session,
            actor,
            f"representation.{verb}",
            holder_id=rep.minor_id,
            target_type="Representation",
            target_id=str(rep.id),
        )
        return rep
    care = session.get(Caregiving, invitation_id)
    if care is not None and care.caregiver_id == actor.id:
        _check_answerable(care.status, care.expires_at, now)
        if accept:
            check_cared_for_limit(session, settings, actor.id)
        care.status = ACCEPTED if accept else REFUSED
        care.responded_at = now
        record(
            session,
            actor,
            f"caregiving.{verb}",
            holder_id=care.holder_id,
            target_type="Caregiving",
            target_id=str(care.id),
        )
        return care
    raise NotFound("No such invitation.")


def expire_invitations(session: Session, now: dt.datetime, limit: int = 5000) -> int:
    """REP-1, REP-4: pending invitations past their expiry become "expired" (daily job)."""
    count = 0
    reps = session.scalars(
        select(Representation)
        .where(Representation.status == PENDING, Representation.expires_at <= now)
        .limit(limit)
    ).all()
    for rep in reps:
        rep.status = EXPIRED
        record(
            session,
            SYSTEM,
            "representation.expire",
            holder_id=rep.minor_id,
            target_type="Representation",
            target_id=str(rep.id),
        )
    count += len(reps)
    cares = session.scalars(
        select(Caregiving)
        .where(Caregiving.status == PENDING, Caregiving.expires_at <= now)
        .limit(limit)
    ).all()
    for care in cares:
        care.status = EXPIRED
        record(
            session,
            SYSTEM,
            "caregiving.expire",
            holder_id=care.holder_id,
            target_type="Caregiving",
            target_id=str(care.id),
        )
    return count + len(cares)
