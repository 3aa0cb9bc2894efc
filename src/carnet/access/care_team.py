"""The holder's care team: professionals' declarations, the holder's controls, GP proposals and
administrators' blocks (rules ACC-1, ACC-3, ACC-4, REP-4).

Plain functions taking the session; the caller commits. Every decision is taken by the decision
point (`access.rules`): this module only reads and writes the rows those decisions are about,
records the audit entries and queues the e-mails (`access.notices`).

Carnet decisions made here (the rules are silent):

- A professional's care declaration always answers the same ("recorded"), whether it made them
  part of the care team, found them already authorised or found them blocked: the answer must not
  tell a professional what the holder chose. A blocked professional stays blocked (ACC-3: only the
  holder lifts a block).
- A physician's "I am the GP" (ACC-4) is a proposal that the holder side confirms or declines
  (`answer_gp_proposal`); until then the GP, and so who receives the emergency notices (ACC-6),
  does not change. An administrator's block (ACC-4) is the one change a professional makes to the
  holder's team; the holder side is told of it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.lookups import holder_by_nir, professional_by_rpps, relationship
from carnet.access.models import CareRelationship
from carnet.access.notices import notify_gp_change, notify_holder_side, when_said
from carnet.access.rules import (
    PHYSICIAN,
    Actor,
    Care,
    Decision,
    Relation,
    decide_access_settings_read,
    decide_block_by_administrator,
    decide_declare_care,
    decide_gp_answer,
    decide_gp_proposal,
    decide_manage_professionals,
    in_care_team,
    mode_of,
)
from carnet.access.service import EXPRESS_PRACTICES, actor_for, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, Professional
from carnet.audit.rules import Mode
from carnet.audit.service import last_entry_at, record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound

GP_PROFESSION = PHYSICIAN  # the médecin traitant is a physician (TRE_G15 "10", ACC-4)
CLINICIAN_KINDS = (PrincipalKind.PROFESSIONAL.value, PrincipalKind.REGULATOR.value)

ChangeStatus = Literal["authorised", "blocked", "unblocked"]


def refuse(decision: Decision, message: str) -> NoReturn:
    """A refused decision as an error: a space that is not open is 409, anything else 403."""
    if decision.reason == "space-not-open":
        raise Conflict("This patient's space is not open.", code="space-not-open")
    raise Forbidden(message, code=decision.reason)


def _professional_actor(pro: Professional, care: Care) -> Actor:
    """The actor a professional would be with `care` (only to ask `in_care_team`)."""
    return Actor(
        Principal(PrincipalKind.PROFESSIONAL, pro.id),
        Relation.PROFESSIONAL,
        profession_code=pro.profession_code,
        care=care,
        needs_express_authorisation=pro.practice in EXPRESS_PRACTICES,
    )


def declare(
    session: Session,
    settings: Settings,
    principal: Principal,
    nir: str,
    *,
    as_gp: bool = False,
    request_id: str | None = None,
) -> str:
    """ACC-1: the professional declares that they treat the holder, with the consent collected
    during care; ACC-4: with `as_gp`, a physician *proposes* to be the holder's médecin traitant.

    The proposal changes nothing until the holder confirms it (`answer_gp_proposal`): the GP
    receives the emergency notices (ACC-6), so no professional names themselves. The holder side is
    told of a new proposal by a neutral e-mail. Returns the outcome code that the audit entry
    records ("declared", "already-declared", "already-authorised", "blocked"); the API answers the
    same whatever it is.
    """
    holder = holder_by_nir(session, nir)
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    decision = decide_declare_care(actor, space)
    if not decision:
        refuse(decision, "Only a registered professional declares care.")
    pro = account_service.professional(session, principal.id)
    if pro is None:  # pragma: no cover - the decision point has just seen them
        raise Forbidden("Only a registered professional declares care.")
    proposal = decide_gp_proposal(actor, space) if as_gp else None
    if proposal is not None and proposal.reason == "gp-must-be-physician":
        raise InvalidInput(
            "Only a physician can be declared as the patient's GP (médecin traitant).",
            code="gp-must-be-physician",
            field="as_gp",
        )
    now = clock.now()
    rel = relationship(session, holder.id, pro.id)
    if rel is None:
        rel = CareRelationship(
            holder_id=holder.id,
            professional_id=pro.id,
            status=Care.DECLARED.value,
            administrator=False,
            is_gp=False,
            declared_at=now,
            changed_at=now,
        )
        session.add(rel)
        outcome = "declared"
    elif rel.status == Care.BLOCKED.value:
        outcome = "blocked"  # ACC-3: only the holder lifts a block; nothing changes
    else:
        outcome = {
            Care.AUTHORISED.value: "already-authorised",
            Care.DECLARED.value: "already-declared",
        }.get(rel.status, "declared")
        rel.status = Care.AUTHORISED.value if rel.status == "authorised" else Care.DECLARED.value
        rel.declared_at = now
        rel.changed_at = now
    gp = ""
    if proposal is not None:
        gp = _propose_gp(session, settings, holder, rel, proposal, now)
    session.flush()
    _record_care(
        session,
        principal,
        "care.declare",
        holder,
        pro.rpps,
        Mode.NORMAL,
        f"{outcome},{gp}" if gp else outcome,
        request_id,
    )
    return outcome


def _propose_gp(
    session: Session,
    settings: Settings,
    holder: Holder,
    rel: CareRelationship,
    proposal: Decision,
    now: dt.datetime,
) -> str:
    """ACC-4: record a GP proposal (the audit reason's GP part). Nothing about the GP changes
    here; a repeated proposal keeps its date and sends no second e-mail."""
    if not proposal:
        return "gp-refused"  # blocked: nothing changes, and the answer does not say so
    if rel.is_gp:
        return "gp-already"
    if rel.gp_proposed_at is not None:
        return "gp-already-proposed"
    rel.gp_proposed_at = now
    notify_holder_side(
        session,
        settings,
        holder,
        kind="access.gp-proposal",
        subject="Un médecin propose d'être déclaré médecin traitant dans Carnet",
        lines=[
            "Un médecin a déclaré être le médecin traitant d'un espace santé Carnet que vous "
            f"suivez, {when_said(settings, now)}.",
            "",
            "Rien ne change tant que vous ne l'avez pas confirmé. Vous pouvez confirmer ou refuser "
            f"dans « Mes professionnels » : {settings.base_url}/professionals",
        ],
    )
    return "gp-proposed"


@dataclass(frozen=True)
class ProfessionalView:
    """One professional of the holder's care team, as the holder sees them."""

    professional: Professional
    status: str
    administrator: bool
    is_gp: bool
    gp_proposed_at: dt.datetime | None  # ACC-4: a GP proposal awaiting the holder's answer
    declared_at: dt.datetime | None
    changed_at: dt.datetime | None
    last_access_at: dt.datetime | None
    needs_express_authorisation: bool
    in_care_team: bool


def last_accesses(
    session: Session, holder_id: uuid.UUID, professional_ids: Sequence[uuid.UUID]
) -> dict[str, dt.datetime]:
    """ACC-8: the last audit entry of each professional in this space."""
    return last_entry_at(session, holder_id, CLINICIAN_KINDS, [str(i) for i in professional_ids])


def professional_view(
    pro: Professional, rel: CareRelationship | None, last: dt.datetime | None
) -> ProfessionalView:
    status = rel.status if rel is not None else Care.NONE.value
    return ProfessionalView(
        professional=pro,
        status=status,
        administrator=bool(rel and rel.administrator),
        is_gp=bool(rel and rel.is_gp),
        gp_proposed_at=rel.gp_proposed_at if rel else None,
        declared_at=rel.declared_at if rel else None,
        changed_at=rel.changed_at if rel else None,
        last_access_at=last,
        needs_express_authorisation=pro.practice in EXPRESS_PRACTICES,
        in_care_team=in_care_team(_professional_actor(pro, Care(status))),
    )


@dataclass(frozen=True)
class OwnRelation:
    """A professional's relation to one patient, as that professional may see it (item 7): what
    their page says and which care actions it offers. ACC-3: a block is never told, so a blocked
    professional reads as one without a relationship (the declaration answers alike)."""

    in_care_team: bool
    since: dt.datetime | None
    is_gp: bool
    gp_proposed_at: dt.datetime | None
    awaiting_authorisation: bool  # declared; ACC-3 express authorisation still to come


def own_relation(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> OwnRelation:
    """ACC-1, ACC-3, ACC-4: the calling professional's own standing with the patient."""
    rel = relationship(session, holder.id, principal.id)
    if rel is None or rel.status in (Care.BLOCKED.value, Care.NONE.value):
        return OwnRelation(False, None, False, None, False)
    actor = actor_for(session, settings, principal, holder)
    member = in_care_team(actor)
    since = rel.declared_at if rel.status == Care.DECLARED.value else rel.changed_at
    return OwnRelation(
        in_care_team=member,
        since=since or rel.changed_at,
        is_gp=rel.is_gp,
        gp_proposed_at=rel.gp_proposed_at,
        awaiting_authorisation=not member and rel.status == Care.DECLARED.value,
    )


def require_settings_read(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> Actor:
    actor = actor_for(session, settings, principal, holder)
    decision = decide_access_settings_read(actor, space_facts(session, holder))
    if not decision:
        raise Forbidden("You may not see this space's access settings.", code=decision.reason)
    return actor


def list_professionals(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> list[ProfessionalView]:
    """ACC-3, ACC-4: the professionals with a relationship to the space, the GP first, then
    administrators, then by name."""
    require_settings_read(session, settings, principal, holder)
    rows = session.execute(
        select(CareRelationship, Professional)
        .join(Professional, Professional.id == CareRelationship.professional_id)
        .where(CareRelationship.holder_id == holder.id)
    ).all()
    last = last_accesses(session, holder.id, [pro.id for _rel, pro in rows])
    views = [professional_view(pro, rel, last.get(str(pro.id))) for rel, pro in rows]
    return sorted(
        views,
        key=lambda v: (not v.is_gp, not v.administrator, v.professional.name, v.professional.rpps),
    )


def change_professional(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    rpps: str,
    *,
    status: ChangeStatus | None,
    administrator: bool | None,
    request_id: str | None = None,
) -> ProfessionalView:
    """ACC-3: authorise (any registered professional), block, unblock (back to no relationship:
    a past authorisation is not restored); ACC-4: name or remove an administrator, only among
    the care team. Every change is audited. All checks come before any change."""
    actor = actor_for(session, settings, principal, holder)
    decision = decide_manage_professionals(actor, space_facts(session, holder))
    if not decision:
        refuse(decision, "You may not change who reads this space.")
    if status is None and administrator is None:
        raise InvalidInput("Give a status, an administrator flag, or both.", field="status")
    pro = professional_by_rpps(session, rpps)
    rel = relationship(session, holder.id, pro.id)
    current = rel.status if rel is not None else Care.NONE.value
    was_admin = bool(rel and rel.administrator)
    if status == "authorised":
        new_status = Care.AUTHORISED.value
    elif status == "blocked":
        new_status = Care.BLOCKED.value
    elif status == "unblocked":
        if current not in (Care.BLOCKED.value, Care.NONE.value):
            raise Conflict("This professional is not blocked.", code="not-blocked")
        new_status = Care.NONE.value  # ACC-3: unblocking does not restore past authorisation
    else:
        new_status = current
    if new_status in (Care.BLOCKED.value, Care.NONE.value) and status is not None:
        if administrator:
            raise InvalidInput(
                "A blocked or unblocked professional cannot be an administrator.",
                code="administrator-needs-care-team",
                field="administrator",
            )
        new_admin = False  # a block (or its end) removes the administrator role
    else:
        new_admin = was_admin if administrator is None else administrator
    if new_admin and not in_care_team(_professional_actor(pro, Care(new_status))):
        raise Conflict(
            "Only a professional of your care team (authorised, or declared as treating you) can "
            "be an administrator.",
            code="administrator-needs-care-team",
        )
    now = clock.now()
    if rel is None and (new_status != current or new_admin):
        rel = CareRelationship(
            holder_id=holder.id,
            professional_id=pro.id,
            status=new_status,
            administrator=new_admin,
            is_gp=False,
            changed_at=now,
        )
        session.add(rel)
    mode = mode_of(actor)
    if rel is not None and new_status != current:
        rel.status = new_status
        rel.changed_at = now
        if new_status == Care.BLOCKED.value:
            rel.gp_proposed_at = None  # ACC-3: the holder's block ends a pending GP proposal
        action = {"authorised": "care.authorise", "blocked": "care.block", "none": "care.unblock"}
        _record_care(
            session,
            principal,
            action[new_status],
            holder,
            pro.rpps,
            mode,
            f"from:{current}",
            request_id,
        )
    if rel is not None and new_admin != was_admin:
        rel.administrator = new_admin
        rel.changed_at = now
        _record_care(
            session,
            principal,
            "care.administrator",
            holder,
            pro.rpps,
            mode,
            "granted" if new_admin else "revoked",
            request_id,
        )
    session.flush()
    last = last_accesses(session, holder.id, [pro.id]).get(str(pro.id))
    return professional_view(pro, rel, last)


@dataclass(frozen=True)
class GpProposalView:
    """A physician's proposal to be the holder's GP, awaiting the holder's answer (ACC-4)."""

    professional: Professional
    proposed_at: dt.datetime
    is_blocked: bool


def gp_proposals(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> list[GpProposalView]:
    """ACC-4: the pending GP proposals of the space, oldest first; read like the other access
    settings (REP-4: caregivers see them, and may not answer them)."""
    require_settings_read(session, settings, principal, holder)
    rows = session.execute(
        select(CareRelationship, Professional)
        .join(Professional, Professional.id == CareRelationship.professional_id)
        .where(
            CareRelationship.holder_id == holder.id,
            CareRelationship.gp_proposed_at.is_not(None),
        )
        .order_by(CareRelationship.gp_proposed_at, Professional.rpps)
    ).all()
    return [
        GpProposalView(
            professional=pro,
            proposed_at=cast("dt.datetime", rel.gp_proposed_at),
            is_blocked=rel.status == Care.BLOCKED.value,
        )
        for rel, pro in rows
    ]


def answer_gp_proposal(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    rpps: str,
    *,
    confirm: bool,
    request_id: str | None = None,
) -> ProfessionalView:
    """ACC-4: the holder confirms or declines a physician's GP proposal (`decide_gp_answer`).

    Confirming makes them the GP and ends the previous GP's standing; the holder side and the
    previous GP are told by neutral e-mails (ACC-6: emergency notices now go to the new GP).
    Declining only drops the proposal; the physician is not told (Carnet decision: what the holder
    chose is theirs). Every change is audited as `care.gp` (ACC-8)."""
    actor = actor_for(session, settings, principal, holder)
    pro = professional_by_rpps(session, rpps)
    rel = relationship(session, holder.id, pro.id)
    decision = decide_gp_answer(
        actor,
        space_facts(session, holder),
        pending=rel is not None and rel.gp_proposed_at is not None,
        candidate=Care(rel.status) if rel is not None else Care.NONE,
        confirm=confirm,
    )
    if not decision:
        if decision.reason == "no-gp-proposal":
            raise NotFound(
                "This professional has no GP proposal awaiting your answer.",
                code="no-gp-proposal",
            )
        if decision.reason == "gp-candidate-blocked":
            raise Conflict(
                "You blocked this professional: unblock them before confirming them as your GP.",
                code="gp-candidate-blocked",
            )
        refuse(decision, "You may not change this space's access settings.")
    if rel is None:  # pragma: no cover - a pending proposal has its relationship
        raise NotFound("This professional has no GP proposal awaiting your answer.")
    now = clock.now()
    mode = mode_of(actor)
    rel.gp_proposed_at = None
    rel.changed_at = now
    if not confirm:
        session.flush()
        _record_care(
            session,
            principal,
            "care.gp",
            holder,
            pro.rpps,
            mode,
            "declined",
            request_id,
        )
        return professional_view(
            pro, rel, last_accesses(session, holder.id, [pro.id]).get(str(pro.id))
        )
    previous = session.execute(
        select(CareRelationship, Professional)
        .join(Professional, Professional.id == CareRelationship.professional_id)
        .where(
            CareRelationship.holder_id == holder.id,
            CareRelationship.is_gp.is_(True),
            CareRelationship.id != rel.id,
        )
    ).all()
    rel.is_gp = True
    for old_rel, _old_pro in previous:
        old_rel.is_gp = False  # ACC-4: one médecin traitant
        old_rel.changed_at = now
    session.flush()
    _record_care(
        session,
        principal,
        "care.gp",
        holder,
        pro.rpps,
        mode,
        "confirmed",
        request_id,
    )
    for _old_rel, old_pro in previous:
        _record_care(
            session,
            principal,
            "care.gp",
            holder,
            old_pro.rpps,
            mode,
            "replaced",
            request_id,
        )
    notify_gp_change(
        session,
        settings,
        holder,
        [old_pro for old_rel, old_pro in previous if old_rel.status != Care.BLOCKED.value],
        now,
    )
    return professional_view(pro, rel, last_accesses(session, holder.id, [pro.id]).get(str(pro.id)))


def block_by_administrator(
    session: Session,
    settings: Settings,
    principal: Principal,
    nir: str,
    rpps: str,
    *,
    request_id: str | None = None,
) -> None:
    """ACC-4: an administrator professional blocks another professional (not themselves); the
    holder side is told by a neutral e-mail. A block ends nothing else: a GP stays the GP (only the
    holder changes it) but, blocked, gets no emergency notice.

    A refusal is recorded before it is raised; the caller commits it (ACC-8).
    """
    holder = holder_by_nir(session, nir)
    actor = actor_for(session, settings, principal, holder)
    decision = decide_block_by_administrator(actor, space_facts(session, holder))
    if not decision:
        _record_care(
            session,
            principal,
            "care.block-denied",
            holder,
            rpps.strip()[:64],
            decision.mode,
            decision.reason,
            request_id,
        )
        refuse(decision, "Only an administrator professional of this patient blocks others.")
    target = professional_by_rpps(session, rpps)
    if target.id == principal.id:
        raise InvalidInput("You cannot block yourself.", code="self-block", field="rpps")
    now = clock.now()
    rel = relationship(session, holder.id, target.id)
    previous = rel.status if rel is not None else Care.NONE.value
    if rel is None:
        rel = CareRelationship(
            holder_id=holder.id, professional_id=target.id, status="blocked", is_gp=False
        )
        session.add(rel)
    rel.status = Care.BLOCKED.value
    rel.administrator = False
    rel.changed_at = now
    session.flush()
    _record_care(
        session,
        principal,
        "care.block",
        holder,
        target.rpps,
        Mode.NORMAL,
        f"administrator,from:{previous}",
        request_id,
    )
    # ACC-4 lets an administrator change the holder's team; ACC-3 keeps the holder the one who
    # decides, so the change is not silent (Carnet decision): the holder side is told.
    notify_holder_side(
        session,
        settings,
        holder,
        kind="access.administrator-block",
        subject="Un professionnel a été bloqué dans un espace santé Carnet",
        lines=[
            "Un professionnel administrateur d'un espace santé Carnet que vous suivez y a bloqué "
            f"un autre professionnel, {when_said(settings, now)}.",
            "",
            "Vous pouvez le débloquer dans « Mes professionnels » : "
            f"{settings.base_url}/professionals",
        ],
    )


def _record_care(
    session: Session,
    principal: Principal,
    action: str,
    holder: Holder,
    rpps: str,
    mode: Mode,
    reason: str,
    request_id: str | None,
) -> None:
    """ACC-8: a change to the space's care team, audited under the professional's RPPS number."""
    record(
        session,
        principal,
        action,
        holder_id=holder.id,
        target_type="Professional",
        target_id=rpps,
        mode=mode,
        reason=reason,
        request_id=request_id,
    )
