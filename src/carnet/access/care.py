"""The holder's care team, emergency access and access history (rules ACC-1, ACC-3…ACC-6, ACC-8,
REP-2, REP-4).

Plain functions taking the session; the caller commits. Every decision is taken by the decision
point (`access.rules`): this module only reads and writes the rows those decisions are about,
records the audit entries and queues the e-mails.

Carnet decisions made here (the rules are silent):

- A professional's care declaration always answers the same ("recorded"), whether it made them
  part of the care team, found them already authorised or found them blocked: the answer must not
  tell a professional what the holder chose. A blocked professional stays blocked (ACC-3: only the
  holder lifts a block).
- Reading the access history is audited only when someone other than the holder reads it (a
  representative or a caregiver, `access-history.read`); the holder's own looks would only grow
  the log they are reading.
- Entries about a document the reader may not see are left out of the history: documents
  invisible to representatives (REP-2) for representatives, documents awaiting their announcement
  consultation (DOC-4) for the whole holder side. When there are such documents, the counts that
  search entries carry are not shown either.
- E-mails never name a professional nor carry a reason or any health content; the GP's e-mails
  name the patient (without it, they would tell them nothing).
- A physician's "I am the GP" (ACC-4) is a proposal that the holder side confirms or declines
  (`answer_gp_proposal`); until then the GP, and so who receives the emergency notices (ACC-6),
  does not change. An administrator's block (ACC-4) is the one change a professional makes to the
  holder's team; the holder side is told of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CursorResult, false, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from carnet import clock
from carnet.access.models import AccessReport, CareRelationship, EmergencyGrant, EmergencySettings
from carnet.access.rules import (
    PHYSICIAN,
    Actor,
    Care,
    Decision,
    DocumentFacts,
    Relation,
    SpaceFacts,
    as_told,
    decide_access_settings_read,
    decide_block_by_administrator,
    decide_declare_care,
    decide_document_read,
    decide_emergency_grant,
    decide_gp_answer,
    decide_gp_proposal,
    decide_history_read,
    decide_manage_professionals,
    in_care_team,
    mode_of,
)
from carnet.access.service import EXPRESS_PRACTICES, actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, Professional, Representation
from carnet.audit.models import AuditEntry
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import reference
from carnet.documents import rules as doc_rules
from carnet.documents.models import Document
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

# DICOM / IHE BALP: "Emergency Override Started", the reason code of an emergency access (ACC-5).
EMERGENCY_OVERRIDE_STARTED = "110127"
HISTORY_PAGE_SIZE = 100  # ACC-8
MAX_REASON = 1000
MAX_NOTE = 2000
GP_PROFESSION = PHYSICIAN  # the médecin traitant is a physician (TRE_G15 "10", ACC-4)
CLINICIAN_KINDS = (PrincipalKind.PROFESSIONAL.value, PrincipalKind.REGULATOR.value)
HOLDER_KINDS = (
    PrincipalKind.HOLDER.value,
    PrincipalKind.REPRESENTATIVE.value,
    PrincipalKind.CAREGIVER.value,
)
HISTORY_MODES = (
    Mode.NORMAL,
    Mode.EMERGENCY,
    Mode.REGULATION,
    Mode.REPRESENTATIVE,
    Mode.CAREGIVER,
    Mode.APP,
    Mode.OPERATOR,
)
# Audit targets that name a document (DOC-4, REP-2: hidden from those who may not see it).
DOCUMENT_TARGETS = ("DocumentReference", "Binary")
# Entries whose target is a count of documents found ("2/5"): blanked when some are hidden.
COUNTING_ACTIONS = frozenset({"document.search"})
# Why a holder-side reader may not see a document, so that its history entries are left out too.
_HIDING_REASONS = frozenset({"awaiting-announcement", "invisible-to-representatives"})

ChangeStatus = Literal["authorised", "blocked", "unblocked"]

PRACTICES = {"occupational": "médecine du travail", "fire-brigade": "sapeurs-pompiers"}

# The decision point's reason codes, as the holder reads them (item 7, "explain").
EXPLANATIONS = {
    "care-team": "Ce professionnel fait partie de votre équipe de soins.",
    "author": "Ce professionnel voit toujours les documents qu'il a lui-même déposés.",
    "emergency": "Un accès en urgence est ouvert pour ce professionnel.",
    "regulation": "Un accès en régulation (SAMU – centre 15) est ouvert pour ce professionnel.",
    "not-in-care-team": "Ce professionnel n'est pas dans votre équipe de soins.",
    "express-authorisation": (
        "Ce professionnel (médecine du travail ou sapeurs-pompiers) ne lit votre espace que si "
        "vous l'autorisez expressément."
    ),
    "blocked": "Vous avez bloqué ce professionnel : il ne peut rien lire.",
    "profession-not-habilitated": "Sa profession ne permet pas de lire ce type de document.",
    "masked": "Document masqué : visible seulement des administrateurs.",
    "masked-emergency": (
        "Document masqué : non visible en urgence, sauf si vous l'avez permis dans vos "
        "paramètres d'urgence."
    ),
    "space-not-open": "Votre espace n'est pas ouvert.",
    "emergency-opposed": "Vous vous êtes opposé(e) à l'accès en urgence.",
    "regulation-opposed": "Vous vous êtes opposé(e) à l'accès par le SAMU (centre 15).",
    "no-regulation-grant": "Le SAMU (centre 15) ne lit votre espace qu'en régulation.",
    "entered-in-error": "Document retiré par son auteur.",
}


# -- lookups ---------------------------------------------------------------------------------


def profession_label(code: str) -> str:
    return account_rules.PROFESSIONS.get(code, code)


def holder_by_nir(session: Session, nir: str) -> Holder:
    """The holder a professional names by NIR (rule ID-1); 404 for anyone unknown."""
    problem = account_rules.nir_problem(nir)
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
    pro = session.scalars(select(Professional).where(Professional.rpps == rpps.strip())).first()
    if pro is None:
        raise NotFound("No such professional.", code="unknown-professional")
    return pro


def relationship(
    session: Session, holder_id: uuid.UUID, professional_id: uuid.UUID
) -> CareRelationship | None:
    return session.scalars(
        select(CareRelationship).where(
            CareRelationship.holder_id == holder_id,
            CareRelationship.professional_id == professional_id,
        )
    ).first()


def _refuse(decision: Decision, message: str) -> NoReturn:
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


# -- care team: the professional's declaration (ACC-1) ------------------------------------------


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
        _refuse(decision, "Only a registered professional declares care.")
    pro = session.get(Professional, principal.id)
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
    record(
        session,
        principal,
        "care.declare",
        holder_id=holder.id,
        target_type="Professional",
        target_id=pro.rpps,
        mode=Mode.NORMAL,
        reason=f"{outcome},{gp}" if gp else outcome,
        request_id=request_id,
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
    _notify_holder_side(
        session,
        settings,
        holder,
        kind="access.gp-proposal",
        subject="Un médecin propose d'être déclaré médecin traitant dans Carnet",
        lines=[
            "Un médecin a déclaré être le médecin traitant d'un espace santé Carnet que vous "
            f"suivez, {_when(settings, now)}.",
            "",
            "Rien ne change tant que vous ne l'avez pas confirmé. Vous pouvez confirmer ou refuser "
            f"dans « Mes professionnels » : {settings.base_url}/professionals",
        ],
    )
    return "gp-proposed"


# -- care team: the holder's view and controls (ACC-3, ACC-4) -----------------------------------


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


def _last_accesses(
    session: Session, holder_id: uuid.UUID, professional_ids: Sequence[uuid.UUID]
) -> dict[str, dt.datetime]:
    """ACC-8: the last audit entry of each professional in this space."""
    if not professional_ids:
        return {}
    rows = session.execute(
        select(AuditEntry.actor_id, func.max(AuditEntry.at))
        .where(
            AuditEntry.holder_id == holder_id,
            AuditEntry.actor_kind.in_(CLINICIAN_KINDS),
            AuditEntry.actor_id.in_([str(i) for i in professional_ids]),
        )
        .group_by(AuditEntry.actor_id)
    ).all()
    return {actor_id: at for actor_id, at in rows}


def _view(
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


def _require_settings_read(
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
    _require_settings_read(session, settings, principal, holder)
    rows = session.execute(
        select(CareRelationship, Professional)
        .join(Professional, Professional.id == CareRelationship.professional_id)
        .where(CareRelationship.holder_id == holder.id)
    ).all()
    last = _last_accesses(session, holder.id, [pro.id for _rel, pro in rows])
    views = [_view(pro, rel, last.get(str(pro.id))) for rel, pro in rows]
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
        _refuse(decision, "You may not change who reads this space.")
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
        record(
            session,
            principal,
            action[new_status],
            holder_id=holder.id,
            target_type="Professional",
            target_id=pro.rpps,
            mode=mode,
            reason=f"from:{current}",
            request_id=request_id,
        )
    if rel is not None and new_admin != was_admin:
        rel.administrator = new_admin
        rel.changed_at = now
        record(
            session,
            principal,
            "care.administrator",
            holder_id=holder.id,
            target_type="Professional",
            target_id=pro.rpps,
            mode=mode,
            reason="granted" if new_admin else "revoked",
            request_id=request_id,
        )
    session.flush()
    last = _last_accesses(session, holder.id, [pro.id]).get(str(pro.id))
    return _view(pro, rel, last)


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
    _require_settings_read(session, settings, principal, holder)
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
        _refuse(decision, "You may not change this space's access settings.")
    if rel is None:  # pragma: no cover - a pending proposal has its relationship
        raise NotFound("This professional has no GP proposal awaiting your answer.")
    now = clock.now()
    mode = mode_of(actor)
    rel.gp_proposed_at = None
    rel.changed_at = now
    if not confirm:
        session.flush()
        record(
            session,
            principal,
            "care.gp",
            holder_id=holder.id,
            target_type="Professional",
            target_id=pro.rpps,
            mode=mode,
            reason="declined",
            request_id=request_id,
        )
        return _view(pro, rel, _last_accesses(session, holder.id, [pro.id]).get(str(pro.id)))
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
    record(
        session,
        principal,
        "care.gp",
        holder_id=holder.id,
        target_type="Professional",
        target_id=pro.rpps,
        mode=mode,
        reason="confirmed",
        request_id=request_id,
    )
    for _old_rel, old_pro in previous:
        record(
            session,
            principal,
            "care.gp",
            holder_id=holder.id,
            target_type="Professional",
            target_id=old_pro.rpps,
            mode=mode,
            reason="replaced",
            request_id=request_id,
        )
    _notify_gp_change(
        session,
        settings,
        holder,
        [old_pro for old_rel, old_pro in previous if old_rel.status != Care.BLOCKED.value],
        now,
    )
    return _view(pro, rel, _last_accesses(session, holder.id, [pro.id]).get(str(pro.id)))


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
        record(
            session,
            principal,
            "care.block-denied",
            holder_id=holder.id,
            target_type="Professional",
            target_id=rpps.strip()[:64],
            mode=decision.mode,
            reason=decision.reason,
            request_id=request_id,
        )
        _refuse(decision, "Only an administrator professional of this patient blocks others.")
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
    record(
        session,
        principal,
        "care.block",
        holder_id=holder.id,
        target_type="Professional",
        target_id=target.rpps,
        mode=Mode.NORMAL,
        reason=f"administrator,from:{previous}",
        request_id=request_id,
    )
    # ACC-4 lets an administrator change the holder's team; ACC-3 keeps the holder the one who
    # decides, so the change is not silent (Carnet decision): the holder side is told.
    _notify_holder_side(
        session,
        settings,
        holder,
        kind="access.administrator-block",
        subject="Un professionnel a été bloqué dans un espace santé Carnet",
        lines=[
            "Un professionnel administrateur d'un espace santé Carnet que vous suivez y a bloqué "
            f"un autre professionnel, {_when(settings, now)}.",
            "",
            "Vous pouvez le débloquer dans « Mes professionnels » : "
            f"{settings.base_url}/professionals",
        ],
    )


# -- e-mails (ACC-6, ACC-8) ---------------------------------------------------------------------


def space_recipients(session: Session, settings: Settings, holder: Holder) -> list[str]:
    """Who is told about accesses to a space: the holder, or a minor's accepted representatives;
    an adult's guardian too (REP-5)."""
    minor = account_rules.is_minor(
        holder.birth_date, clock.today(settings.timezone), settings.majority_age
    )
    reps = (
        select(Holder.email)
        .join(Representation, Representation.representative_id == Holder.id)
        .where(Representation.minor_id == holder.id, Representation.status == "accepted")
    )
    if not minor:
        reps = reps.where(Representation.role == "guardian")
    found = [email for email in session.scalars(reps) if email]
    if not minor and holder.email:
        found.insert(0, holder.email)
    unique = list(dict.fromkeys(found))
    return [email for email in unique if mail_rules.is_valid_email(email)]


def _when(settings: Settings, instant: dt.datetime) -> str:
    local = instant.astimezone(ZoneInfo(settings.timezone))
    return local.strftime("le %d/%m/%Y à %H:%M")


def _notify_holder_side(
    session: Session,
    settings: Settings,
    holder: Holder,
    *,
    kind: str,
    subject: str,
    lines: list[str],
) -> int:
    """A neutral e-mail to those told about the space (`space_recipients`): no professional's
    name, no health content."""
    sent = 0
    for email in space_recipients(session, settings, holder):
        enqueue(
            session,
            kind=kind,
            recipient=email,
            subject=subject,
            body_text="\n".join(["Bonjour,", "", *lines]),
            holder_id=holder.id,
        )
        sent += 1
    return sent


def _notify_gp_change(
    session: Session,
    settings: Settings,
    holder: Holder,
    previous: Sequence[Professional],
    now: dt.datetime,
) -> None:
    """ACC-4, ACC-6: the holder side and the previous GP are told that the GP changed. No e-mail
    names a professional; the previous GP's names the patient, like the GP's emergency notice
    (without it, it would tell them nothing), and carries nothing else."""
    when = _when(settings, now)
    _notify_holder_side(
        session,
        settings,
        holder,
        kind="access.gp-change",
        subject="Le médecin traitant d'un espace santé Carnet a changé",
        lines=[
            f"Le médecin traitant d'un espace santé Carnet que vous suivez a changé, {when}. "
            "C'est à lui que sont désormais signalés les accès en urgence.",
            "",
            "Si vous n'êtes pas à l'origine de ce changement, consultez « Mes professionnels » "
            f"et l'historique des accès : {settings.base_url}/professionals",
        ],
    )
    for pro in previous:
        if not pro.email or not mail_rules.is_valid_email(pro.email):
            continue
        enqueue(
            session,
            kind="access.gp-replaced",
            recipient=pro.email,
            subject="Un de vos patients a choisi un autre médecin traitant dans Carnet",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    f"{holder.first_names} {holder.birth_name} a confirmé un autre médecin "
                    f"comme médecin traitant dans Carnet, {when}. Vous ne recevrez plus les avis "
                    "d'accès en urgence à son espace santé.",
                    "",
                    "Ce message ne contient aucune information médicale.",
                ]
            ),
            holder_id=holder.id,
        )


_MODE_WORDS = {
    Mode.EMERGENCY: "en urgence",
    Mode.REGULATION: "en régulation (SAMU – centre 15)",
}


def _notify_emergency(
    session: Session,
    settings: Settings,
    holder: Holder,
    pro: Professional,
    mode: Mode,
    grant: EmergencyGrant,
) -> int:
    """ACC-6: after every emergency or regulation access, the holder (or a minor's
    representatives) and their GP are told, without the reason nor any health content."""
    when = _when(settings, grant.started_at)
    how = _MODE_WORDS[mode]
    sent = 0
    for email in space_recipients(session, settings, holder):
        enqueue(
            session,
            kind="access.emergency",
            recipient=email,
            subject="Accès en urgence à un espace santé Carnet",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    f"Un professionnel de santé a ouvert un accès {how} à un espace santé Carnet "
                    f"que vous suivez, {when}. Cet accès dure au plus "
                    f"{settings.emergency_hours} heures.",
                    "",
                    "L'historique des accès de l'espace dit qui a consulté quoi ; vous pouvez y "
                    f"signaler un accès qui vous paraît suspect : {settings.base_url}/",
                ]
            ),
            holder_id=holder.id,
        )
        sent += 1
    gps = session.scalars(
        select(Professional.email)
        .join(CareRelationship, CareRelationship.professional_id == Professional.id)
        .where(
            CareRelationship.holder_id == holder.id,
            CareRelationship.is_gp.is_(True),
            CareRelationship.status != Care.BLOCKED.value,  # the holder excluded them
            Professional.id != pro.id,
        )
    ).all()
    for gp_email in gps:
        if not gp_email or not mail_rules.is_valid_email(gp_email):
            continue
        enqueue(
            session,
            kind="access.emergency-gp",
            recipient=gp_email,
            subject="Accès en urgence au dossier Carnet d'un de vos patients",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    "Vous êtes déclaré(e) comme médecin traitant de "
                    f"{holder.first_names} {holder.birth_name}. Un autre professionnel de santé "
                    f"a ouvert un accès {how} à son espace santé Carnet, {when}.",
                    "",
                    "Ce message ne contient aucune information médicale.",
                ]
            ),
            holder_id=holder.id,
        )
        sent += 1
    return sent


def after_read(
    session: Session, settings: Settings, actor: Actor, holder: Holder, decision: Decision
) -> bool:
    """ACC-8: at the first successful read by a professional of the care team in a space, e-mail
    the holder once. Called by `documents.service` after each allowed read; emergency and
    regulation reads are covered by the grant's e-mail, and professionals without a relationship
    row (authors reading their own deposit) are not tracked. Returns whether a mail was queued."""
    if actor.relation is not Relation.PROFESSIONAL or not decision:
        return False
    if decision.mode is not Mode.NORMAL:
        return False
    rel = relationship(session, holder.id, actor.principal.id)
    if rel is None or rel.first_access_notified_at is not None:
        return False
    now = clock.now()
    claimed = cast(
        "CursorResult[object]",
        session.execute(
            update(CareRelationship)
            .where(
                CareRelationship.id == rel.id,
                CareRelationship.first_access_notified_at.is_(None),
            )
            .values(first_access_notified_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        return False  # a concurrent first read claimed it
    set_committed_value(rel, "first_access_notified_at", now)
    for email in space_recipients(session, settings, holder):
        enqueue(
            session,
            kind="access.first",
            recipient=email,
            subject="Un nouveau professionnel a consulté un espace santé Carnet",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    "Un professionnel de santé a consulté pour la première fois un espace santé "
                    f"Carnet que vous suivez, {_when(settings, now)}.",
                    "",
                    "L'historique des accès dit qui ; vous pouvez y signaler un accès suspect, "
                    f"et bloquer ce professionnel : {settings.base_url}/",
                ]
            ),
            holder_id=holder.id,
        )
    return True


# -- emergency (ACC-5, ACC-6) -------------------------------------------------------------------


def open_emergency(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    nir: str,
    reason: str,
    *,
    request_id: str | None = None,
) -> EmergencyGrant:
    """ACC-5: break-the-glass (professionals) or regulation (regulators), time-boxed by
    `settings.emergency_hours`, with a reason sealed under the holder's key, unless the holder
    opposed it (ACC-6). A refusal is recorded before it is raised; the caller commits it."""
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"The reason has at most {MAX_REASON} characters.",
            code="reason-too-long",
            field="reason",
        )
    holder = holder_by_nir(session, nir)
    actor = actor_for(session, settings, principal, holder)
    decision = decide_emergency_grant(actor, space_facts(session, holder), reason)
    if not decision:
        record(
            session,
            principal,
            "emergency.open-denied",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
            # the mode that was attempted, so that the holder finds refusals under it too
            mode=Mode.REGULATION if actor.relation is Relation.REGULATOR else Mode.EMERGENCY,
            reason=decision.reason,
            request_id=request_id,
        )
        if decision.reason == "reason-required":
            raise InvalidInput(
                "An emergency access needs a reason.", code="reason-required", field="reason"
            )
        # ACC-3: a blocked professional (or regulator) is answered as if the holder opposed
        # their emergency access (ACC-6), which in effect they did: the block is never told.
        opposed = "regulation-opposed" if actor.relation is Relation.REGULATOR else "emergency-opposed"
        _refuse(as_told(decision, opposed), "Emergency access to this patient's space is refused.")
    pro = session.get(Professional, principal.id)
    if pro is None:  # pragma: no cover - the decision point has just seen them
        raise Forbidden("Only a registered professional opens an emergency access.")
    now = clock.now()
    grant = EmergencyGrant(
        id=uuid.uuid4(),
        holder_id=holder.id,
        professional_id=pro.id,
        mode=decision.mode.value,
        started_at=now,
        expires_at=now + dt.timedelta(hours=settings.emergency_hours),
    )
    grant.reason_sealed = vault.seal_text(session, holder.id, grant.id, "emergency-reason", reason)
    session.add(grant)
    session.flush()
    record(
        session,
        principal,
        "emergency.open",
        holder_id=holder.id,
        target_type="EmergencyGrant",
        target_id=str(grant.id),
        mode=decision.mode,
        reason=EMERGENCY_OVERRIDE_STARTED,
        detail=grant.reason_sealed,
        request_id=request_id,
    )
    _notify_emergency(session, settings, holder, pro, decision.mode, grant)
    return grant


def emergency_settings(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> SpaceFacts:
    """ACC-6: the three switches (absent row: the defaults)."""
    _require_settings_read(session, settings, principal, holder)
    return space_facts(session, holder)


def set_emergency_settings(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    regulator: bool | None,
    emergency: bool | None,
    masked_in_emergency: bool | None,
    request_id: str | None = None,
) -> SpaceFacts:
    """ACC-6: set the switches (those left out keep their value); REP-4: not by caregivers.
    The holder's access settings are managed under the same rule as the care team (ACC-3)."""
    actor = actor_for(session, settings, principal, holder)
    current = space_facts(session, holder)
    decision = decide_manage_professionals(actor, current)
    if not decision:
        _refuse(decision, "You may not change this space's access settings.")
    row = session.get(EmergencySettings, holder.id)
    if row is None:
        row = EmergencySettings(
            holder_id=holder.id,
            regulator=current.regulator_allowed,
            emergency=current.emergency_allowed,
            masked_in_emergency=current.masked_in_emergency,
        )
        session.add(row)
    if regulator is not None:
        row.regulator = regulator
    if emergency is not None:
        row.emergency = emergency
    if masked_in_emergency is not None:
        row.masked_in_emergency = masked_in_emergency
    row.changed_at = clock.now()
    session.flush()
    record(
        session,
        principal,
        "access.settings",
        holder_id=holder.id,
        target_type="Space",
        target_id=str(holder.id),
        mode=mode_of(actor),
        reason=(
            f"regulator={int(row.regulator)},emergency={int(row.emergency)},"
            f"masked_in_emergency={int(row.masked_in_emergency)}"
        ),
        request_id=request_id,
    )
    return space_facts(session, holder)


# -- access history (ACC-8) ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryQuery:
    actor: str | None = None  # an RPPS number, or "holder"
    mode: str | None = None
    date_from: dt.date | None = None  # Europe/Paris days, inclusive
    date_to: dt.date | None = None
    page: int = 1


@dataclass(frozen=True)
class HistoryEntry:
    id: uuid.UUID
    at: dt.datetime
    action: str
    mode: str
    actor_kind: str
    actor_display: str
    actor_rpps: str | None
    target_type: str | None
    target_id: str | None
    reason: str | None
    reported: bool


@dataclass(frozen=True)
class HistoryPage:
    total: int
    page: int
    per_page: int
    entries: list[HistoryEntry]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _hidden_targets(session: Session, actor: Actor, space: SpaceFacts) -> list[str]:
    """Ids of documents the holder-side reader may not see (DOC-4, REP-2), per the decision point:
    their history entries are left out, so a secret document never reaches a representative."""
    from carnet.documents.service import facts  # documents.service calls this module

    candidates = session.scalars(
        select(Document).where(
            Document.holder_id == space.holder_id,
            or_(
                Document.invisible_to_patient.is_(True),
                Document.invisible_to_representatives.is_(True),
            ),
        )
    ).all()
    now = clock.now()
    hidden: list[str] = []
    for doc in candidates:
        decision = decide_document_read(actor, space, facts(doc), now)
        if not decision and decision.reason in _HIDING_REASONS:
            hidden.append(str(doc.id))
    return hidden


def _history_filters(
    session: Session, settings: Settings, holder: Holder, query: HistoryQuery
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [AuditEntry.holder_id == holder.id]
    if query.actor:
        if query.actor == "holder":
            where.append(AuditEntry.actor_kind.in_(HOLDER_KINDS))
        else:
            problem = account_rules.rpps_problem(query.actor)
            if problem is not None:
                raise InvalidInput(f"actor: {problem}, or 'holder'.", field="actor")
            pro_id = session.scalars(
                select(Professional.id).where(Professional.rpps == query.actor)
            ).first()
            if pro_id is None:
                where.append(false())  # nobody by that number: no entry
            else:
                where.append(AuditEntry.actor_kind.in_(CLINICIAN_KINDS))
                where.append(AuditEntry.actor_id == str(pro_id))
    if query.mode:
        if query.mode not in {m.value for m in HISTORY_MODES}:
            raise InvalidInput(f"Unknown mode {query.mode!r}.", field="mode")
        where.append(AuditEntry.mode == query.mode)
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise InvalidInput("from must not be after to.", field="from")
    if query.date_from:
        where.append(AuditEntry.at >= clock.start_of_day(query.date_from, settings.timezone))
    if query.date_to:
        end = clock.start_of_day(query.date_to + dt.timedelta(days=1), settings.timezone)
        where.append(AuditEntry.at < end)
    return where


def _displays(
    session: Session, principal: Principal, rows: Sequence[AuditEntry]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(actor_kind, actor_id) → (display, rpps), in two queries for a page."""
    pro_ids: set[uuid.UUID] = set()
    holder_ids: set[uuid.UUID] = set()
    for row in rows:
        try:
            ident = uuid.UUID(row.actor_id)
        except ValueError:
            continue
        if row.actor_kind in CLINICIAN_KINDS:
            pro_ids.add(ident)
        elif row.actor_kind in HOLDER_KINDS:
            holder_ids.add(ident)
    pros = (
        {p.id: p for p in session.scalars(select(Professional).where(Professional.id.in_(pro_ids)))}
        if pro_ids
        else {}
    )
    people = (
        {h.id: h for h in session.scalars(select(Holder).where(Holder.id.in_(holder_ids)))}
        if holder_ids
        else {}
    )
    out: dict[tuple[str, str], tuple[str, str | None]] = {}
    for row in rows:
        key = (row.actor_kind, row.actor_id)
        if key in out:
            continue
        if row.actor_kind in CLINICIAN_KINDS:
            pro = pros.get(uuid.UUID(row.actor_id))
            if pro is None:
                out[key] = ("Professionnel de santé", None)
            else:
                out[key] = (f"{pro.name} ({profession_label(pro.profession_code)})", pro.rpps)
        elif row.actor_kind in HOLDER_KINDS:
            if row.actor_id == str(principal.id):
                out[key] = ("vous", None)
            else:
                person = people.get(uuid.UUID(row.actor_id))
                out[key] = (person.first_names if person else "Un proche", None)
        elif row.actor_kind == PrincipalKind.OPERATOR.value:
            out[key] = ("Opérateur Carnet", None)
        elif row.actor_kind == PrincipalKind.APP.value:
            from carnet.apps.models import App  # SRV-3: the holder sees which app it was

            app = session.get(App, uuid.UUID(row.actor_id))
            out[key] = (f"Application {app.name}" if app else "Application connectée", None)
        else:
            out[key] = ("Carnet", None)
    return out


def history(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    query: HistoryQuery,
    *,
    request_id: str | None = None,
) -> HistoryPage:
    """ACC-8: the space's audit entries, newest first, 100 a page, filtered; codes only (the
    sealed `detail` is never opened). Read by someone other than the holder, the read is audited."""
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    decision = decide_history_read(actor, space)
    if not decision:
        raise Forbidden("You may not read this space's access history.", code=decision.reason)
    if query.page < 1:
        raise InvalidInput("page starts at 1.", field="page")
    where = _history_filters(session, settings, holder, query)
    hidden = _hidden_targets(session, actor, space)
    if hidden:
        where.append(
            or_(
                AuditEntry.target_type.is_(None),
                AuditEntry.target_type.not_in(DOCUMENT_TARGETS),
                AuditEntry.target_id.is_(None),
                AuditEntry.target_id.not_in(hidden),
            )
        )
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.scalars(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.seq.desc())
        .offset((query.page - 1) * HISTORY_PAGE_SIZE)
        .limit(HISTORY_PAGE_SIZE)
    ).all()
    reported = (
        set(
            session.scalars(
                select(AccessReport.audit_entry_id).where(
                    AccessReport.holder_id == holder.id,
                    AccessReport.audit_entry_id.in_([r.id for r in rows]),
                )
            )
        )
        if rows
        else set()
    )
    shown = _displays(session, principal, rows)
    entries = [
        HistoryEntry(
            id=row.id,
            at=row.at,
            action=row.action,
            mode=row.mode,
            actor_kind=row.actor_kind,
            actor_display=shown[(row.actor_kind, row.actor_id)][0],
            actor_rpps=shown[(row.actor_kind, row.actor_id)][1],
            target_type=row.target_type,
            # Search entries carry "found/total" counts, which would count hidden documents.
            target_id=None if hidden and row.action in COUNTING_ACTIONS else row.target_id,
            reason=row.reason,
            reported=row.id in reported,
        )
        for row in rows
    ]
    if actor.relation is not Relation.SELF:
        record(
            session,
            principal,
            "access-history.read",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
            mode=mode_of(actor),
            reason=f"page={query.page}",
            request_id=request_id,
        )
    return HistoryPage(total=total, page=query.page, per_page=HISTORY_PAGE_SIZE, entries=entries)


def report(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    entry_id: uuid.UUID,
    note: str | None,
    *,
    request_id: str | None = None,
) -> AccessReport:
    """ACC-8: report a suspicious access. The entry must be one the reader sees in this space's
    history (anything else is 404); the note is sealed under the holder's key."""
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    decision = decide_history_read(actor, space)
    if not decision:
        raise Forbidden("You may not report accesses of this space.", code=decision.reason)
    entry = session.get(AuditEntry, entry_id)
    if entry is None or entry.holder_id != holder.id:
        raise NotFound("No such access in this space's history.")
    hidden = _hidden_targets(session, actor, space)
    if entry.target_type in DOCUMENT_TARGETS and entry.target_id in hidden:
        raise NotFound("No such access in this space's history.")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"A note has at most {MAX_NOTE} characters.", field="note")
    row = AccessReport(
        id=uuid.uuid4(), holder_id=holder.id, audit_entry_id=entry.id, created_at=clock.now()
    )
    row.note_sealed = (
        vault.seal_text(session, holder.id, row.id, "access-report-note", note) if note else None
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "access.report",
        holder_id=holder.id,
        target_type="AuditEntry",
        target_id=str(entry.id),
        mode=mode_of(actor),
        reason=entry.action[:64],
        request_id=request_id,
    )
    return row


# -- explain (ACC-1, item 7) --------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    explanation: str


@dataclass(frozen=True)
class SensitivityAccess:
    sensitivity: str
    document_types: list[str]
    normal: Verdict
    masked: Verdict
    if_authorised: Verdict  # what authorising them (ACC-3) would change


@dataclass(frozen=True)
class CategoryAccess:
    code: str
    label: str
    access: Literal["all", "some", "none"]
    masked_access: Literal["all", "some", "none"]
    explanation: str
    sensitivities: list[SensitivityAccess]


@dataclass(frozen=True)
class Explanation:
    view: ProfessionalView
    mode: str
    summary: Verdict
    own_documents: Verdict
    categories: list[CategoryAccess]


def _explain(actor: Actor, decision: Decision) -> str:
    reason = decision.reason
    if reason == "not-in-care-team" and actor.needs_express_authorisation:
        reason = "express-authorisation"
    if reason == "masked" and decision.mode is not Mode.NORMAL:
        reason = "masked-emergency"
    return EXPLANATIONS.get(reason, "Accès refusé.")


def _verdict(actor: Actor, decision: Decision) -> Verdict:
    return Verdict(decision.allowed, decision.reason, _explain(actor, decision))


def _sensitivities_by_category() -> dict[str, dict[str, list[str]]]:
    """For each category, the sensitivities of its document types (with their labels), plus the
    sensitivity of the holder's own uploads in that category (DOC-1)."""
    found: dict[str, dict[str, list[str]]] = {code: {} for code in reference.categories()}
    for doc_type in reference.document_types().values():
        found.setdefault(doc_type.category, {}).setdefault(doc_type.sensitivity, []).append(
            doc_type.label_fr
        )
    for code, by_sensitivity in found.items():
        by_sensitivity.setdefault(doc_rules.upload_category_sensitivity(code), [])
    return found


def _overall(flags: list[bool]) -> Literal["all", "some", "none"]:
    if flags and all(flags):
        return "all"
    return "some" if any(flags) else "none"


def explain(
    session: Session, settings: Settings, principal: Principal, holder: Holder, rpps: str
) -> Explanation:
    """Item 7: what this professional can read now in this space, by category, and why.

    Every answer comes from `decide_document_read` on representative documents of each category's
    sensitivities (plain and masked), written by someone else; nothing is re-decided here.
    """
    _require_settings_read(session, settings, principal, holder)
    pro = professional_by_rpps(session, rpps)
    space = space_facts(session, holder)
    actor = actor_for(session, settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder)
    authorised = dataclasses.replace(actor, care=Care.AUTHORISED)
    now = clock.now()

    def facts(sensitivity: str, *, masked: bool, author: uuid.UUID | None = None) -> DocumentFacts:
        return DocumentFacts(
            author_kind="professional" if author else "holder",
            author_id=author or holder.id,
            sensitivity=sensitivity,
            status="current",
            masked=masked,
            invisible_to_patient=False,
            visible_to_patient_from=None,
            invisible_to_representatives=False,
        )

    categories: list[CategoryAccess] = []
    labels = reference.categories()
    for code, by_sensitivity in _sensitivities_by_category().items():
        items: list[SensitivityAccess] = []
        for sensitivity in sorted(by_sensitivity):
            items.append(
                SensitivityAccess(
                    sensitivity=sensitivity,
                    document_types=sorted(by_sensitivity[sensitivity]),
                    normal=_verdict(
                        actor,
                        decide_document_read(actor, space, facts(sensitivity, masked=False), now),
                    ),
                    masked=_verdict(
                        actor,
                        decide_document_read(actor, space, facts(sensitivity, masked=True), now),
                    ),
                    if_authorised=_verdict(
                        authorised,
                        decide_document_read(
                            authorised, space, facts(sensitivity, masked=False), now
                        ),
                    ),
                )
            )
        access = _overall([item.normal.allowed for item in items])
        refusals = list(
            dict.fromkeys(item.normal.explanation for item in items if not item.normal.allowed)
        )
        granted = next((item.normal.explanation for item in items if item.normal.allowed), "")
        if access == "all":
            explanation = granted
        elif access == "none":
            explanation = " ".join(refusals)
        else:
            explanation = "Une partie seulement des documents de cette catégorie. " + " ".join(
                refusals
            )
        label = labels[code].label_fr if code in labels else code
        categories.append(
            CategoryAccess(
                code=code,
                label=label,
                access=access,
                masked_access=_overall([item.masked.allowed for item in items]),
                explanation=explanation,
                sensitivities=items,
            )
        )
    summary = decide_document_read(actor, space, facts("general", masked=False), now)
    own = decide_document_read(actor, space, facts("general", masked=True, author=pro.id), now)
    rel = relationship(session, holder.id, pro.id)
    last = _last_accesses(session, holder.id, [pro.id]).get(str(pro.id))
    return Explanation(
        view=_view(pro, rel, last),
        mode=summary.mode.value,
        summary=_verdict(actor, summary),
        own_documents=_verdict(actor, own),
        categories=categories,
    )
