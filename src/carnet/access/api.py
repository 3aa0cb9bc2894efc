"""Access API: the care team, emergency access, the access history and "explain"
(rules ACC-1, ACC-3…ACC-6, ACC-8, REP-2, REP-4).

Professionals use `/api/v1/pro/...`; the holder side uses `/api/v1/me/...`, on their own space or
on the space named by `X-Carnet-Space` that they manage (`accounts.family.resolve_space`:
representatives and caregivers; anything else is 404). Caregivers may read the access settings but
not change them (REP-4: 403). Every decision is the decision point's, taken in `access.care_team`, `access.emergency`,
`access.history` and `access.explain`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from carnet.access import care_team, explain, lookups
from carnet.access import emergency as access_emergency
from carnet.access import history as space_history
from carnet.access.routes import Acting, Caller, acting_on, calling
from carnet.access.rules import SpaceFacts
from carnet.access.schemas import (
    BlockIn,
    BlockOut,
    CareDeclarationIn,
    CategoryAccessOut,
    EmergencyAccessIn,
    EmergencyAccessOut,
    EmergencySettingsIn,
    EmergencySettingsOut,
    ExplanationOut,
    GpProposalOut,
    HistoryActorOut,
    HistoryEntryOut,
    HistoryLinks,
    HistoryOut,
    ProfessionalChangeIn,
    ProfessionalOut,
    RecordedOut,
    ReportIn,
    ReportOut,
    SensitivityAccessOut,
    VerdictOut,
)
from carnet.auth.principal import PrincipalKind
from carnet.errors import InvalidInput
from carnet.http import PageNumber, keeping_audit
from carnet.http import error_responses as _errors

router = APIRouter(prefix="/api/v1", tags=["access"])


# resolve_space actions: REP-4 lets caregivers read access settings, not change them.
READ_SETTINGS = "read-access-settings"
CHANGE_SETTINGS = "change-access-settings"
READ_HISTORY = "read-access-history"
REPORT = "report-access"


def _professional_out(view: care_team.ProfessionalView) -> ProfessionalOut:
    pro = view.professional
    return ProfessionalOut(
        rpps=pro.rpps,
        name=pro.name,
        profession_code=pro.profession_code,
        profession_label=lookups.profession_label(pro.profession_code),
        specialty=pro.specialty,
        practice=pro.practice,
        status=view.status,
        administrator=view.administrator,
        is_gp=view.is_gp,
        gp_proposed_at=view.gp_proposed_at,
        declared_at=view.declared_at,
        changed_at=view.changed_at,
        last_access_at=view.last_access_at,
        needs_express_authorisation=view.needs_express_authorisation,
        in_care_team=view.in_care_team,
    )


def _switches(space: SpaceFacts) -> EmergencySettingsOut:
    return EmergencySettingsOut(
        regulator=space.regulator_allowed,
        emergency=space.emergency_allowed,
        masked_in_emergency=space.masked_in_emergency,
    )


# -- professionals (ACC-1, ACC-4, ACC-5) ---------------------------------------------------------


@router.post(
    "/pro/care-relationships",
    status_code=202,
    response_model=RecordedOut,
    response_model_exclude_none=True,
    summary="Declare that I treat this patient, with their consent collected during care (ACC-1)",
    responses=_errors(400, 403, 404, 409),
)
def declare_care(
    body: CareDeclarationIn,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL),
) -> RecordedOut:
    """The answer is the same whether the declaration made you part of the care team, found you
    already authorised, or found you blocked by the patient: what the patient decided is theirs.
    Occupational and fire-brigade physicians also need the patient's express authorisation
    (ACC-3). With `as_gp` (physicians only, 400 gp-must-be-physician otherwise), you *propose* to
    be the patient's GP: the answer says `"gp": "awaiting-holder-confirmation"`, and the patient's
    GP (who receives the emergency notices, ACC-6) changes only when the patient confirms it
    (ACC-4). 404: no such patient; 409: their space is not open."""
    care_team.declare(
        caller.session,
        caller.settings,
        caller.principal,
        body.nir,
        as_gp=body.as_gp,
        request_id=caller.request_id,
    )
    return RecordedOut(gp="awaiting-holder-confirmation" if body.as_gp else None)


@router.post(
    "/pro/blocks",
    response_model=BlockOut,
    summary="Block another professional of a patient I am an administrator for (ACC-4)",
    responses=_errors(400, 403, 404, 409),
)
def block_professional(
    body: BlockIn,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL),
) -> BlockOut:
    """403 unless the patient named you administrator; you cannot block yourself. Refusals are
    recorded in the patient's access history."""
    with keeping_audit():
        care_team.block_by_administrator(
            caller.session,
            caller.settings,
            caller.principal,
            body.nir,
            body.rpps,
            request_id=caller.request_id,
        )
    return BlockOut(rpps=body.rpps)


@router.post(
    "/pro/emergency-access",
    status_code=201,
    response_model=EmergencyAccessOut,
    summary="Break the glass (professionals) or open regulation mode (SAMU regulators) (ACC-5)",
    responses=_errors(400, 403, 404, 409),
)
def emergency_access(
    body: EmergencyAccessIn,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR),
) -> EmergencyAccessOut:
    """Opens a time-boxed grant (12 hours by default) unless the patient opposed it (ACC-6: 403
    with code emergency-opposed or regulation-opposed). A reason is required (400 reason-required);
    it is sealed, recorded with the access (110127, Emergency Override Started) and never e-mailed.
    The patient (or a minor's representatives) and their GP are told. Refusals are recorded."""
    with keeping_audit():
        grant = access_emergency.open_emergency(
            caller.session,
            caller.vault,
            caller.settings,
            caller.principal,
            body.nir,
            body.reason,
            request_id=caller.request_id,
        )
    return EmergencyAccessOut(mode=grant.mode, expires_at=grant.expires_at)


# -- the holder's care team (ACC-3, ACC-4, REP-4) ------------------------------------------------


@router.get(
    "/me/professionals",
    response_model=list[ProfessionalOut],
    summary="The professionals of my care team, blocked ones included (ACC-3, ACC-4)",
    responses=_errors(404),
)
def list_professionals(
    acting: Acting = acting_on(READ_SETTINGS),
) -> list[ProfessionalOut]:
    views = care_team.list_professionals(
        acting.session, acting.settings, acting.principal, acting.holder
    )
    return [_professional_out(view) for view in views]


@router.put(
    "/me/professionals/{rpps}",
    response_model=ProfessionalOut,
    summary="Authorise, block or unblock a professional; name an administrator (ACC-3, ACC-4)",
    responses=_errors(400, 403, 404, 409),
)
def change_professional(
    rpps: str,
    body: ProfessionalChangeIn,
    acting: Acting = acting_on(CHANGE_SETTINGS),
) -> ProfessionalOut:
    """Any registered professional may be authorised or blocked. Unblocking leaves no
    authorisation (ACC-3): they read again once authorised, or declared as treating you. Only
    authorised or declared professionals can be administrators; a block removes the role.
    Caregivers cannot change access settings (REP-4: 403)."""
    view = care_team.change_professional(
        acting.session,
        acting.settings,
        acting.principal,
        acting.holder,
        rpps,
        status=body.status,
        administrator=body.administrator,
        request_id=acting.request_id,
    )
    return _professional_out(view)


@router.get(
    "/me/gp-proposals",
    response_model=list[GpProposalOut],
    summary="Physicians who proposed to be my GP, awaiting my answer (ACC-4)",
    responses=_errors(404),
)
def list_gp_proposals(
    acting: Acting = acting_on(READ_SETTINGS),
) -> list[GpProposalOut]:
    """A physician's "I am the GP" changes nothing until you confirm it; oldest first."""
    return [
        GpProposalOut(
            rpps=found.professional.rpps,
            name=found.professional.name,
            profession_label=lookups.profession_label(found.professional.profession_code),
            proposed_at=found.proposed_at,
            blocked=found.is_blocked,
        )
        for found in care_team.gp_proposals(
            acting.session, acting.settings, acting.principal, acting.holder
        )
    ]


def _answer_gp(acting: Acting, rpps: str, *, confirm: bool) -> ProfessionalOut:
    view = care_team.answer_gp_proposal(
        acting.session,
        acting.settings,
        acting.principal,
        acting.holder,
        rpps,
        confirm=confirm,
        request_id=acting.request_id,
    )
    return _professional_out(view)


@router.post(
    "/me/gp-proposals/{rpps}/confirm",
    response_model=ProfessionalOut,
    summary="Confirm a physician as my GP (médecin traitant) (ACC-4, ACC-6)",
    responses=_errors(400, 403, 404, 409),
)
def confirm_gp_proposal(
    rpps: str,
    acting: Acting = acting_on(CHANGE_SETTINGS),
) -> ProfessionalOut:
    """They become your GP, in place of the previous one: emergency notices now go to them
    (ACC-6). You and the previous GP are told by e-mail. 404 no-gp-proposal: nothing pending from
    them; 409 gp-candidate-blocked: unblock them first. Caregivers cannot (REP-4: 403)."""
    return _answer_gp(acting, rpps, confirm=True)


@router.post(
    "/me/gp-proposals/{rpps}/decline",
    response_model=ProfessionalOut,
    summary="Decline a physician's proposal to be my GP (ACC-4)",
    responses=_errors(400, 403, 404, 409),
)
def decline_gp_proposal(
    rpps: str,
    acting: Acting = acting_on(CHANGE_SETTINGS),
) -> ProfessionalOut:
    """The proposal is dropped; your GP does not change and the physician is not told.
    Caregivers cannot (REP-4: 403)."""
    return _answer_gp(acting, rpps, confirm=False)


def _verdict(verdict: explain.Verdict) -> VerdictOut:
    return VerdictOut(
        allowed=verdict.allowed, reason=verdict.reason, explanation=verdict.explanation
    )


@router.get(
    "/me/professionals/{rpps}/access",
    response_model=ExplanationOut,
    summary="What this professional can read in my space, by category, and why (ACC-1)",
    responses=_errors(400, 404),
)
def explain_access(
    rpps: str,
    acting: Acting = acting_on(READ_SETTINGS),
) -> ExplanationOut:
    """Any registered professional, related to the space or not, so that you can check before
    you decide; `if_authorised` shows what an authorisation would change."""
    found = explain.explain(acting.session, acting.settings, acting.principal, acting.holder, rpps)
    return ExplanationOut(
        professional=_professional_out(found.view),
        mode=found.mode,
        summary=_verdict(found.summary),
        own_documents=_verdict(found.own_documents),
        categories=[
            CategoryAccessOut(
                code=cat.code,
                label=cat.label,
                access=cat.access,
                masked_access=cat.masked_access,
                explanation=cat.explanation,
                sensitivities=[
                    SensitivityAccessOut(
                        sensitivity=item.sensitivity,
                        document_types=item.document_types,
                        normal=_verdict(item.normal),
                        masked=_verdict(item.masked),
                        if_authorised=_verdict(item.if_authorised),
                    )
                    for item in cat.sensitivities
                ],
            )
            for cat in found.categories
        ],
    )


# -- emergency switches (ACC-6, REP-4) -----------------------------------------------------------


@router.get(
    "/me/emergency-settings",
    response_model=EmergencySettingsOut,
    summary="My three emergency switches (ACC-6)",
    responses=_errors(404),
)
def get_emergency_settings(
    acting: Acting = acting_on(READ_SETTINGS),
) -> EmergencySettingsOut:
    return _switches(
        access_emergency.emergency_settings(
            acting.session, acting.settings, acting.principal, acting.holder
        )
    )


@router.put(
    "/me/emergency-settings",
    response_model=EmergencySettingsOut,
    summary="Set my emergency switches (ACC-6); not by caregivers (REP-4)",
    responses=_errors(400, 403, 404, 409),
)
def put_emergency_settings(
    body: EmergencySettingsIn,
    acting: Acting = acting_on(CHANGE_SETTINGS),
) -> EmergencySettingsOut:
    """Switches left out keep their value. Audited as access.settings."""
    return _switches(
        access_emergency.set_emergency_settings(
            acting.session,
            acting.settings,
            acting.principal,
            acting.holder,
            regulator=body.regulator,
            emergency=body.emergency,
            masked_in_emergency=body.masked_in_emergency,
            request_id=acting.request_id,
        )
    )


# -- access history (ACC-8) ----------------------------------------------------------------------


def _day(value: str | None, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is a day, YYYY-MM-DD.", field=name) from None


def _history_link(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    params.append(("page", str(page)))
    return f"{request.url.path}?{urlencode(params)}"


@router.get(
    "/me/access-history",
    response_model=HistoryOut,
    summary="Who did what in my space, when, how and why; 100 a page, newest first (ACC-8)",
    responses=_errors(400, 404),
)
def access_history(
    request: Request,
    actor: Annotated[
        str | None, Query(description='An RPPS number, or "holder" (you and your relatives).')
    ] = None,
    mode: Annotated[
        str | None,
        Query(
            description="normal | emergency | regulation | representative | caregiver | app | "
            "operator"
        ),
    ] = None,
    date_from: Annotated[
        str | None,
        Query(alias="from", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="First day."),
    ] = None,
    date_to: Annotated[
        str | None,
        Query(alias="to", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="Last day."),
    ] = None,
    page: PageNumber = 1,
    acting: Acting = acting_on(READ_HISTORY),
) -> HistoryOut:
    """Days are counted in Europe/Paris. Reasons are codes; an emergency's sealed reason is never
    shown here. Entries about documents the reader may not see (REP-2, DOC-4) are left out.
    Reading someone else's history (representative, caregiver) is itself recorded."""
    query = space_history.HistoryQuery(
        actor=actor.strip() if actor else None,
        mode=mode,
        date_from=_day(date_from, "from"),
        date_to=_day(date_to, "to"),
        page=page,
    )
    found = space_history.history(
        acting.session,
        acting.settings,
        acting.principal,
        acting.holder,
        query,
        request_id=acting.request_id,
    )
    return HistoryOut(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        entries=[
            HistoryEntryOut(
                id=entry.id,
                at=entry.at,
                action=entry.action,
                mode=entry.mode,
                actor=HistoryActorOut(
                    kind=entry.actor_kind, display=entry.actor_display, rpps=entry.actor_rpps
                ),
                target_type=entry.target_type,
                target_id=entry.target_id,
                reason=entry.reason,
                reported=entry.reported,
            )
            for entry in found.entries
        ],
        links=HistoryLinks(
            self=_history_link(request, found.page),
            first=_history_link(request, 1),
            last=_history_link(request, found.pages),
            prev=_history_link(request, found.page - 1) if found.page > 1 else None,
            next=_history_link(request, found.page + 1) if found.page < found.pages else None,
        ),
    )


@router.post(
    "/me/access-history/{entry_id}/report",
    status_code=201,
    response_model=ReportOut,
    summary="Report a suspicious access (ACC-8)",
    responses=_errors(400, 404),
)
def report_access(
    entry_id: uuid.UUID,
    body: ReportIn | None = None,
    acting: Acting = acting_on(REPORT),
) -> ReportOut:
    """The note is optional and sealed. An entry of another space is 404."""
    row = space_history.report(
        acting.session,
        acting.vault,
        acting.settings,
        acting.principal,
        acting.holder,
        entry_id,
        body.note if body is not None else None,
        request_id=acting.request_id,
    )
    return ReportOut(
        id=row.id, entry_id=row.audit_entry_id, status=row.status, created_at=row.created_at
    )
