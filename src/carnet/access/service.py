"""Resolving who the actor is for a given space; the only I/O the decision point needs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carnet.access.rules import Actor, Relation, SpaceFacts
from carnet.accounts.family import manages
from carnet.accounts.models import Holder, Professional
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings

_HOLDER_RELATIONS = {
    "self": Relation.SELF,
    "representative": Relation.REPRESENTATIVE,
    "caregiver": Relation.CAREGIVER,
}


def actor_for(session: Session, settings: Settings, principal: Principal, holder: Holder) -> Actor:
    """The principal as seen from `holder`'s space (relation, profession)."""
    if principal.kind is PrincipalKind.HOLDER:
        found = manages(session, principal.id, holder.id, settings=settings)
        return Actor(principal, _HOLDER_RELATIONS[found] if found else Relation.NONE)
    if principal.kind in (PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR):
        pro = session.get(Professional, principal.id)
        if pro is None:
            return Actor(principal, Relation.NONE)
        relation = (
            Relation.REGULATOR
            if principal.kind is PrincipalKind.REGULATOR
            else Relation.PROFESSIONAL
        )
        return Actor(principal, relation, pro.profession_code)
    if principal.kind is PrincipalKind.OPERATOR:
        return Actor(principal, Relation.OPERATOR)
    if principal.kind is PrincipalKind.APP:
        return Actor(principal, Relation.APP)
    return Actor(principal, Relation.NONE)


def space_facts(holder: Holder) -> SpaceFacts:
    return SpaceFacts(holder_id=holder.id, state=holder.state)
