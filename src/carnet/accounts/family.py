"""Representatives, guardians and caregivers: who may act on whose space (rules REP-1…REP-5, LC-7).

Plain functions taking the session; the caller commits. Relations are kept in `Representation`
(a minor's legal representatives, a protected adult's guardian) and `Caregiving` rows. Whether a
person may act on a space is decided by `manages()`, which the access layer and every endpoint acting
"for someone else" (the `X-Carnet-Space` header, see `resolve_space`) rely on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts.lifecycle import issue_code, register_purge_hook
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.accounts.notices import send_notice
from carnet.accounts.service import holder_by_nir
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import end_access
from carnet.config import Settings, get_settings
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

Relation = Literal["self", "representative", "caregiver"]

# Representation.role
MANAGING = "managing"
SECOND = "second"
GUARDIAN = "guardian"
# REP-1, REP-3: the roles of a minor's parents, which end at majority; a guardian's does not (REP-5).
PARENT_ROLES = (MANAGING, SECOND)

# Statuses shared by Representation and Caregiving rows.
PENDING = "pending"
ACCEPTED = "accepted"
REFUSED = "refused"
EXPIRED = "expired"
ENDED = "ended"
REVOKED = "revoked"

# rule REP-4: what a caregiver may never do for the person they help.
CAREGIVER_FORBIDDEN = frozenset({"close", "manage-caregivers", "change-access-settings"})

_NOT_ACTIVE = (
    "This person has no active Carnet space: they must activate their own space before they can "
    "be invited."
)


def caregiver_may(action: str) -> bool:
    """REP-4: caregivers act on the holder's behalf, except closing the space, managing caregivers
    and changing access settings."""
    return action not in CAREGIVER_FORBIDDEN


def _today(settings: Settings) -> dt.date:
    return clock.today(settings.timezone)


def _is_minor(holder: Holder, settings: Settings, day: dt.date | None = None) -> bool:
    return rules.is_minor(holder.birth_date, day or _today(settings), settings.majority_age)


# -- who manages what ------------------------------------------------------------------------


def manages(
    session: Session,
    principal_holder_id: uuid.UUID,
    space_id: uuid.UUID,
    *,
    settings: Settings | None = None,
    day: dt.date | None = None,
) -> Relation | None:
    """How the holder `principal_holder_id` relates to the space `space_id`, or None.

    "self" for one's own space; "representative" for an accepted guardian (REP-5, whatever the
    age) or an accepted parent of a space whose owner is still a minor (REP-1, REP-3); "caregiver"
    for an accepted caregiver (REP-4). Pending, refused, expired, ended or revoked links give nothing.
    """
    if principal_holder_id == space_id:
        return "self" if session.get(Holder, space_id) is not None else None
    settings = settings or get_settings()
    roles = session.scalars(
        select(Representation.role).where(
            Representation.representative_id == principal_holder_id,
            Representation.minor_id == space_id,
            Representation.status == ACCEPTED,
        )
    ).all()
    if GUARDIAN in roles:
        return "representative"  # REP-5
    if any(role in PARENT_ROLES for role in roles):
        owner = session.get(Holder, space_id)
        if owner is not None and _is_minor(owner, settings, day):  # REP-3
            return "representative"
    caregiving = session.scalars(
        select(Caregiving.id).where(
            Caregiving.caregiver_id == principal_holder_id,
            Caregiving.holder_id == space_id,
            Caregiving.status == ACCEPTED,
        )
    ).first()
    if caregiving is not None:
        return "caregiver"  # REP-4
    return None


def managed_spaces(
    session: Session, holder_id: uuid.UUID, *, settings: Settings | None = None
) -> list[tuple[Holder, Relation]]:
    """The spaces `holder_id` manages for others (for `/me/profiles`), by the rules of `manages`."""
    settings = settings or get_settings()
    day = _today(settings)
    found: dict[uuid.UUID, tuple[Holder, Relation]] = {}
    reps = session.execute(
        select(Holder, Representation.role)
        .join(Representation, Representation.minor_id == Holder.id)
        .where(Representation.representative_id == holder_id, Representation.status == ACCEPTED)
    ).all()
    for holder, role in reps:
        if role == GUARDIAN or _is_minor(holder, settings, day):
            found[holder.id] = (holder, "representative")
    helped = session.scalars(
        select(Holder)
        .join(Caregiving, Caregiving.holder_id == Holder.id)
        .where(Caregiving.caregiver_id == holder_id, Caregiving.status == ACCEPTED)
    ).all()
    for holder in helped:
        found.setdefault(holder.id, (holder, "caregiver"))
    return sorted(found.values(), key=lambda item: (item[0].birth_name, item[0].first_names))


def resolve_space(
    session: Session,
    principal: Principal,
    header_value: str | None,
    action: str,
    *,
    settings: Settings | None = None,
) -> tuple[Holder, Relation]:
    """The space a `/me/...` request acts on, and the caller's relation to it.

    Without `X-Carnet-Space` (or naming oneself): the caller's own space. Otherwise the named space,
    provided the caller manages it (`manages`); anything else is 404, so that nothing tells whether
    that space exists. A caregiver attempting a forbidden action (REP-4) gets 403.
    """
    if principal.kind != PrincipalKind.HOLDER:
        raise Forbidden("This operation is only available to holders.")
    target_id = principal.id
    if header_value is not None and header_value.strip():
        try:
            target_id = uuid.UUID(header_value.strip())
        except ValueError:
            raise NotFound("No such space.") from None
    relation = manages(session, principal.id, target_id, settings=settings)
    if relation is None:
        raise NotFound("No such space.")
    if relation == "caregiver" and not caregiver_may(action):
        raise Forbidden(
            "A caregiver cannot close the space, manage caregivers or change access settings of "
            "the person they help.",
            code="caregiver-forbidden",
        )
    holder = session.get(Holder, target_id)
    if holder is None:  # pragma: no cover - manages() has just seen it
        raise NotFound("No such space.")
    return holder, relation


def audit_mode(relation: Relation) -> Mode:
    """ACC-8: how an action on a space was performed (on one's own, or on someone's behalf)."""
    if relation == "representative":
        return Mode.REPRESENTATIVE
    if relation == "caregiver":
        return Mode.CAREGIVER
    return Mode.NORMAL


# -- invitations (REP-1, REP-4) --------------------------------------------------------------


def _active_invitee(session: Session, nir: str) -> Holder:
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


def _invitation_mail(
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


def _parent_links(session: Session, minor_id: uuid.UUID) -> Sequence[Representation]:
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
    links = _parent_links(session, minor_id) if minor is not None else []
    managing = [
        link
        for link in links
        if link.role == MANAGING and link.status == ACCEPTED and link.representative_id == actor.id
    ]
    if minor is None or not managing or not _is_minor(minor, settings):
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
    invitee = _active_invitee(session, nir)
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
    _invitation_mail(
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


def display_name(holder: Holder | None) -> str:
    """First names and birth name, as shown to the people involved."""
    return f"{holder.first_names} {holder.birth_name}" if holder is not None else ""


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
            if minor is None or not _is_minor(minor, settings):
                raise Conflict("This person is no longer a minor.", code="no-longer-minor")
            accepted = [
                link
                for link in _parent_links(session, rep.minor_id)
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
            _check_cared_for_limit(session, settings, actor.id)
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


# -- guardians of protected adults (REP-5) ---------------------------------------------------


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


# -- caregivers (REP-4) ----------------------------------------------------------------------


def _check_cared_for_limit(session: Session, settings: Settings, caregiver_id: uuid.UUID) -> None:
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
    invitee = _active_invitee(session, nir)
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
    _check_cared_for_limit(session, settings, invitee.id)
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
    _invitation_mail(
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


# -- majority (REP-3) ------------------------------------------------------------------------


def majority_cutoff(day: dt.date, majority_age: int) -> dt.date:
    """The latest birth date of someone of age on `day` (29 February birthdays count on 1 March,
    as `rules.age_on` does)."""
    try:
        return day.replace(year=day.year - majority_age)
    except ValueError:  # `day` is 29 February, that year is not a leap year
        return day.replace(year=day.year - majority_age, day=28)


def reach_majority(
    session: Session, vault: Vault, settings: Settings, day: dt.date, limit: int = 1000
) -> int:
    """REP-3 (Carnet decision): on the 18th birthday (or at the first run after it) the parents'
    representations end (their sessions leave the space, the apps they connected to it are
    disconnected: `auth.service.end_access`), the young adult gets a provisional code to activate
    the *same* space, and is told directly. Guardians (REP-5) stay. Idempotent: an adult with no
    parent link left is not selected again. Returns the number of young adults processed."""
    cutoff = majority_cutoff(day, settings.majority_age)
    has_parent = exists().where(
        Representation.minor_id == Holder.id,
        Representation.role.in_(PARENT_ROLES),
        Representation.status == ACCEPTED,
    )
    adults = session.scalars(
        select(Holder).where(Holder.birth_date <= cutoff, has_parent).limit(limit)
    ).all()
    for holder in adults:
        for link in _parent_links(session, holder.id):
            if link.status in (ACCEPTED, PENDING):
                if link.status == ACCEPTED and link.representative_id is not None:
                    end_access(
                        session,
                        relation=(link.representative_id, holder.id),
                        reason="majority",
                    )
                link.status = ENDED
                link.responded_at = link.responded_at or clock.now()
        session.flush()
        sent = "none"
        if holder.deceased_on is None and holder.state in (
            rules.NOTIFIED,
            rules.OPEN,
            rules.ACTIVE,
        ):
            code = issue_code(session, vault, settings, holder)
            sent = send_notice(
                session, vault, settings, holder, code, kind="account.majority", today=day
            )
        record(
            session,
            SYSTEM,
            "account.majority",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
            mode=Mode.SYSTEM,
            reason=f"rep-3;notice={sent}",
        )
    return len(adults)


# -- purge (LC-8) ----------------------------------------------------------------------------


@register_purge_hook
def _purge_caregivings(session: Session, _vault: Vault, holder_id: uuid.UUID) -> None:
    """LC-8: no link to or from a purged space remains (foreign keys cascade too)."""
    session.execute(
        delete(Caregiving).where(
            (Caregiving.holder_id == holder_id) | (Caregiving.caregiver_id == holder_id)
        )
    )
