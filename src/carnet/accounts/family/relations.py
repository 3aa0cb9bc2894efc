"""Representatives, guardians and caregivers: who may act on whose space (rules REP-1…REP-5, LC-7).

Plain functions taking the session; the caller commits. Relations are kept in `Representation`
(a minor's legal representatives, a protected adult's guardian) and `Caregiving` rows. Whether a
person may act on a space is decided by `manages()`, which the access layer and every endpoint acting
"for someone else" (the `X-Carnet-Space` header, see `resolve_space`) rely on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import decide_space_choice
from carnet.accounts import rules
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal
from carnet.config import Settings, get_settings
from carnet.errors import Forbidden, NotFound

Relation = Literal["self", "representative", "caregiver"]

# Representation.role
MANAGING = "managing"
SECOND = "second"
GUARDIAN = "guardian"
# REP-1, REP-3: the roles of a minor's parents, which end at majority; a guardian's does not (REP-5).
PARENT_ROLES = (MANAGING, SECOND)
CAREGIVER = "caregiver"  # not a Representation role: marks a caregiving in `managed_spaces`

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


def today(settings: Settings) -> dt.date:
    return clock.today(settings.timezone)


def is_minor(holder: Holder, settings: Settings, day: dt.date | None = None) -> bool:
    return rules.is_minor(holder.birth_date, day or today(settings), settings.majority_age)


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
        if owner is not None and is_minor(owner, settings, day):  # REP-3
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


def representative_emails(
    session: Session, minor_id: uuid.UUID, *, guardians_only: bool = False
) -> list[str]:
    """The addresses of the accepted representatives of `minor_id` (REP-1), or only of its
    guardians (REP-5: a protected adult's), in one query; representatives without one are left
    out. Whether the space's own holder is told instead is the caller's to say."""
    query = (
        select(Holder.email)
        .join(Representation, Representation.representative_id == Holder.id)
        .where(Representation.minor_id == minor_id, Representation.status == ACCEPTED)
    )
    if guardians_only:
        query = query.where(Representation.role == GUARDIAN)
    return [email for email in session.scalars(query) if email]


def managed_spaces(
    session: Session, holder_id: uuid.UUID, *, settings: Settings | None = None
) -> list[tuple[Holder, Relation]]:
    """The spaces `holder_id` manages for others (for `/me/profiles`), by the rules of `manages`."""
    settings = settings or get_settings()
    day = today(settings)
    represented = select(
        Representation.minor_id.label("space_id"), Representation.role.label("role")
    ).where(Representation.representative_id == holder_id, Representation.status == ACCEPTED)
    helped = select(Caregiving.holder_id.label("space_id"), literal(CAREGIVER).label("role")).where(
        Caregiving.caregiver_id == holder_id, Caregiving.status == ACCEPTED
    )
    both = union_all(represented, helped).subquery()
    rows = session.execute(
        select(Holder, both.c.role).join(both, both.c.space_id == Holder.id)
    ).all()  # one statement: both relations, then each space's holder by its key
    found: dict[uuid.UUID, tuple[Holder, Relation]] = {}
    for holder, role in rows:
        if role != CAREGIVER and (role == GUARDIAN or is_minor(holder, settings, day)):
            found[holder.id] = (holder, "representative")
    for holder, role in rows:
        if role == CAREGIVER:
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
    if not decide_space_choice(principal.kind):
        raise Forbidden("This operation is only available to holders.")
    target_id = principal.id
    if header_value is not None and header_value.strip():
        try:
            target_id = uuid.UUID(header_value.strip())
        except ValueError:
            raise NotFound("No such space.") from None
    holder = session.get(Holder, target_id)  # held here: `manages` finds it in the session
    relation = manages(session, principal.id, target_id, settings=settings)
    if relation is None:
        raise NotFound("No such space.")
    refuse_caregiver(relation, action)
    if holder is None:  # pragma: no cover - manages() has just seen it
        raise NotFound("No such space.")
    return holder, relation


def refuse_caregiver(relation: Relation, action: str) -> None:
    """REP-4: 403 when a caregiver attempts what only the holder or a representative may do."""
    if relation == "caregiver" and not caregiver_may(action):
        raise Forbidden(
            "A caregiver cannot close the space, manage caregivers or change access settings of "
            "the person they help.",
            code="caregiver-forbidden",
        )


def audit_mode(relation: Relation) -> Mode:
    """ACC-8: how an action on a space was performed (on one's own, or on someone's behalf)."""
    if relation == "representative":
        return Mode.REPRESENTATIVE
    if relation == "caregiver":
        return Mode.CAREGIVER
    return Mode.NORMAL


def display_name(holder: Holder | None) -> str:
    """First names and birth name, as shown to the people involved."""
    return f"{holder.first_names} {holder.birth_name}" if holder is not None else ""
