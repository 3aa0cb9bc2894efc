"""Resolving the facts the decision point needs for one space; its only I/O.

`actor_for` reads the principal's relation to the space (self, representative, caregiver), or for
a professional their standing in the care team, any open emergency grant and what their profession
may read. `space_facts` reads the holder's emergency switches and the health history's
visibility.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ScalarSelect, Select, and_, delete, select
from sqlalchemy.orm import Session, aliased

from carnet import clock
from carnet.access import habilitations, lookups
from carnet.access.models import (
    CareRelationship,
    EmergencyGrant,
    EmergencySettings,
    TimelineSettings,
)
from carnet.access.rules import Actor, AppFacts, Care, Relation, SpaceFacts
from carnet.accounts.family.relations import manages
from carnet.accounts.models import Holder, Professional
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import KeyColumn, Preload, unit_cached, unit_keep

_HOLDER_RELATIONS = {
    "self": Relation.SELF,
    "representative": Relation.REPRESENTATIVE,
    "caregiver": Relation.CAREGIVER,
}
# ACC-3: professions practised in a role that needs the holder's express authorisation.
EXPRESS_PRACTICES = frozenset({"occupational", "fire-brigade"})


# What `actor_for` and `space_facts` read: a write to any of these tables within the unit of
# work drops what was resolved from them (`db.unit_cached`).
_ACTOR_TABLES = frozenset(
    {
        "holders",
        "representations",
        "caregivings",
        "professionals",
        "care_relationships",
        "emergency_grants",
        "app_consents",
        "apps",
    }
)
_SPACE_TABLES = frozenset({"emergency_settings", "timeline_settings"})


def actor_for(session: Session, settings: Settings, principal: Principal, holder: Holder) -> Actor:
    """The principal as seen from `holder`'s space: resolved once per unit of work (a request, a
    Bundle), so every decision of the request sees the same facts and none is read twice."""
    return unit_cached(
        session,
        ("access.actor", principal, holder.id, settings.habilitations_file),
        _ACTOR_TABLES,
        lambda: _resolve_actor(session, settings, principal, holder),
    )


def _resolve_actor(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> Actor:
    if principal.kind is PrincipalKind.HOLDER:
        found = manages(session, principal.id, holder.id, settings=settings)
        return Actor(principal, _HOLDER_RELATIONS[found] if found else Relation.NONE)
    if principal.kind in (PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR):
        relation = (
            Relation.REGULATOR
            if principal.kind is PrincipalKind.REGULATOR
            else Relation.PROFESSIONAL
        )
        # One statement: the professional, their standing in the care team (one row per pair)
        # and the mode of their latest unexpired grant on this space (ACC-5).
        row = session.execute(
            _ProfessionalPart(settings, principal, relation).join(
                select().select_from(Holder).where(Holder.id == holder.id), Holder.id
            )
        ).first()
        return _professional_actor(session, settings, principal, relation, holder.id, row)
    if principal.kind is PrincipalKind.OPERATOR:
        return Actor(principal, Relation.OPERATOR)
    if principal.kind is PrincipalKind.APP:
        return _app_actor(session, settings, principal, holder)
    return Actor(principal, Relation.NONE)


def _professional_actor(
    session: Session,
    settings: Settings,
    principal: Principal,
    relation: Relation,
    holder_id: uuid.UUID,
    row: Sequence[Any] | None,
) -> Actor:
    """A professional's (or regulator's) standing on the space, from `_ProfessionalPart`'s row."""
    if row is None or row[0] is None:
        return Actor(principal, Relation.NONE)
    pro, care, grant_mode = row
    if not (session.new or session.dirty):  # the first-access notice reads it next (ACC-8)
        unit_keep(
            session, lookups.relationship_key(holder_id, pro.id), lookups.RELATIONSHIP_TABLES, care
        )
    grant = Mode(grant_mode) if grant_mode is not None else None
    matrix = habilitations.load(settings.habilitations_file)
    return Actor(
        principal,
        relation,
        profession_code=pro.profession_code,
        care=Care(care.status) if care is not None else Care.NONE,
        administrator=bool(care and care.administrator and care.status != "blocked"),
        needs_express_authorisation=pro.practice in EXPRESS_PRACTICES,
        grant=grant,
        readable=matrix.get(pro.profession_code, frozenset()),
    )


class _ProfessionalPart:
    """A professional's standing on a space as a share of another domain's query (`db.Preload`):
    the professional, their care relationship with the space and their latest unexpired grant's
    mode (ACC-5); kept as the actor `actor_for` resolves."""

    width = 3
    # Built once: an alias made per request costs its column adaptation on every statement.
    _pro = aliased(Professional, name="actor")
    _care = aliased(CareRelationship, name="actor_care")

    def __init__(self, settings: Settings, principal: Principal, relation: Relation) -> None:
        self.settings, self.principal, self.relation = settings, principal, relation

    def join(self, statement: Select[Any], holder_id: KeyColumn) -> Select[Any]:
        pro, care = self._pro, self._care
        return (
            statement.add_columns(pro, care, _grant_mode(holder_id, self.relation, pro.id))
            .outerjoin(pro, pro.id == self.principal.id)
            .outerjoin(care, and_(care.holder_id == holder_id, care.professional_id == pro.id))
        )

    def keep(self, session: Session, holder_id: uuid.UUID, values: Sequence[Any]) -> None:
        actor = _professional_actor(
            session, self.settings, self.principal, self.relation, holder_id, values
        )
        unit_keep(
            session,
            ("access.actor", self.principal, holder_id, self.settings.habilitations_file),
            _ACTOR_TABLES,
            actor,
        )


def actor_part(settings: Settings, principal: Principal) -> tuple[Preload, ...]:
    """The caller's standing on a space, to join on the space when loading it (issue 13): for a
    professional or a regulator; other callers are resolved without a statement of their own or
    by `actor_for`."""
    if principal.kind is PrincipalKind.PROFESSIONAL:
        return (_ProfessionalPart(settings, principal, Relation.PROFESSIONAL),)
    if principal.kind is PrincipalKind.REGULATOR:
        return (_ProfessionalPart(settings, principal, Relation.REGULATOR),)
    return ()


def _app_actor(session: Session, settings: Settings, principal: Principal, holder: Holder) -> Actor:
    """ACC-9: an app acts for the holder who connected it, as long as they still act for the
    space (their relation is resolved now: a representative loses it at majority, REP-3)."""
    grant = principal.app_grant
    if grant is None:
        return Actor(principal, Relation.APP)
    found = manages(session, grant.granted_by, grant.space_id, settings=settings)
    return Actor(
        principal,
        Relation.APP,
        app=app_facts(principal),
        on_behalf=_HOLDER_RELATIONS[found] if found else Relation.NONE,
    )


def app_facts(principal: Principal) -> AppFacts | None:
    """The token-level facts of an app principal (for the route-level scope check)."""
    grant = principal.app_grant
    if grant is None:
        return None
    return AppFacts(
        status=grant.app_status,
        space_id=grant.space_id,
        granted=grant.scopes,
        consented_listing=grant.consented_listing,
        listing=grant.app_listing,
    )


def _grant_mode(
    holder_id: uuid.UUID | KeyColumn,
    relation: Relation,
    professional_id: KeyColumn,
) -> ScalarSelect[str]:
    """The mode of the professional's latest unexpired grant on the space, as `current_grant`
    finds it (ACC-5), for the professional row of the enclosing query."""
    wanted = "regulation" if relation is Relation.REGULATOR else "emergency"
    return (
        select(EmergencyGrant.mode)
        .where(
            EmergencyGrant.holder_id == holder_id,
            EmergencyGrant.professional_id == professional_id,
            EmergencyGrant.mode == wanted,
            EmergencyGrant.expires_at > clock.now(),
        )
        .order_by(EmergencyGrant.expires_at.desc())
        .limit(1)
        .correlate_except(EmergencyGrant)
        .scalar_subquery()
    )


def open_grant(
    session: Session, holder: Holder, pro: Professional, relation: Relation
) -> Mode | None:
    """The mode of the professional's unexpired grant on this space, if any (ACC-5)."""
    found = current_grant(session, holder, pro, relation)
    return Mode(found.mode) if found is not None else None


def current_grant(
    session: Session, holder: Holder, pro: Professional, relation: Relation
) -> EmergencyGrant | None:
    """The professional's unexpired grant on this space (the latest to expire), if any (ACC-5)."""
    wanted = "regulation" if relation is Relation.REGULATOR else "emergency"
    return session.scalars(
        select(EmergencyGrant)
        .where(
            EmergencyGrant.holder_id == holder.id,
            EmergencyGrant.professional_id == pro.id,
            EmergencyGrant.mode == wanted,
            EmergencyGrant.expires_at > clock.now(),
        )
        .order_by(EmergencyGrant.expires_at.desc())
    ).first()


def space_facts(session: Session, holder: Holder) -> SpaceFacts:
    """The holder's switches: ACC-6 emergency switches, and the health history's visibility.
    Both rows are read in one statement, once per unit of work; the holder's state is taken from
    `holder` at each call."""
    switches, timeline = unit_cached(
        session,
        ("access.space", holder.id),
        _SPACE_TABLES,
        lambda: _switches(session, holder.id),
    )
    history = timeline.visible_to_professionals if timeline is not None else True
    if switches is None:
        return SpaceFacts(
            holder_id=holder.id, state=holder.state, history_visible_to_professionals=history
        )
    return SpaceFacts(
        holder_id=holder.id,
        state=holder.state,
        regulator_allowed=switches.regulator,
        emergency_allowed=switches.emergency,
        masked_in_emergency=switches.masked_in_emergency,
        history_visible_to_professionals=history,
    )


class _SwitchesPart:
    """The space's switches as a share of another domain's query (`db.Preload`): kept for
    `space_facts` as if it had read them."""

    width = 2

    def join(self, statement: Select[Any], holder_id: KeyColumn) -> Select[Any]:
        return (
            statement.add_columns(EmergencySettings, TimelineSettings)
            .outerjoin(EmergencySettings, EmergencySettings.holder_id == holder_id)
            .outerjoin(TimelineSettings, TimelineSettings.holder_id == holder_id)
        )

    def keep(self, session: Session, holder_id: uuid.UUID, values: Sequence[Any]) -> None:
        unit_keep(session, ("access.space", holder_id), _SPACE_TABLES, (values[0], values[1]))


SWITCHES: Preload = _SwitchesPart()


def _switches(
    session: Session, holder_id: uuid.UUID
) -> tuple[EmergencySettings | None, TimelineSettings | None]:
    found = session.execute(
        select(EmergencySettings, TimelineSettings)
        .select_from(Holder)
        .outerjoin(EmergencySettings, EmergencySettings.holder_id == Holder.id)
        .outerjoin(TimelineSettings, TimelineSettings.holder_id == Holder.id)
        .where(Holder.id == holder_id)
    ).first()
    return (found[0], found[1]) if found is not None else (None, None)


def timeline_settings(session: Session, holder_id: uuid.UUID) -> TimelineSettings | None:
    """The space's health-history switch (ACC-7), or None while the default holds (visible).
    Undecided: the caller has checked who reads it."""
    return session.get(TimelineSettings, holder_id)


def set_timeline_visibility(
    session: Session, holder_id: uuid.UUID, visible_to_professionals: bool, changed_by: str
) -> TimelineSettings:
    """Write the space's health-history switch (ACC-7); the caller has decided and audits."""
    row = session.get(TimelineSettings, holder_id)
    if row is None:
        row = TimelineSettings(holder_id=holder_id)
        session.add(row)
    row.visible_to_professionals = visible_to_professionals
    row.changed_at = clock.now()
    row.changed_by = changed_by
    session.flush()
    return row


def forget_timeline_settings(session: Session, holder_id: uuid.UUID) -> None:
    """LC-8: the switch goes with the purged space."""
    session.execute(delete(TimelineSettings).where(TimelineSettings.holder_id == holder_id))


if TYPE_CHECKING:
    from carnet.vault.service import Vault


@dataclass(frozen=True)
class SpaceContext:
    """Who acts on which space, with what: resolved once per request by the services that work
    on one space (profile, agenda), so every decision in the request sees the same facts."""

    session: Session
    vault: Vault
    settings: Settings
    holder: Holder
    actor: Actor
    space: SpaceFacts
    request_id: str | None = None

    @property
    def principal(self) -> Principal:
        return self.actor.principal


def space_context(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    request_id: str | None = None,
) -> SpaceContext:
    actor = actor_for(session, settings, principal, holder)
    return SpaceContext(
        session, vault, settings, holder, actor, space_facts(session, holder), request_id
    )
