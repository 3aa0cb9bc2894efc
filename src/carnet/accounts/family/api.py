"""Holder API: representatives, invitations, caregivers, contacts and wishes (REP-1…REP-5, ACC-7).

Endpoints under `/api/v1/me/...` act on the caller's own space, or on the space named by the
`X-Carnet-Space` header when the caller manages it (representative of a minor or protected adult,
or caregiver); any other space is 404. Caregivers cannot manage caregivers (REP-4: 403).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from sqlalchemy.orm import Session

from carnet.access.routes import Acting, Caller, acting_on, calling
from carnet.accounts import wishes
from carnet.accounts.family import caregivers, invitations
from carnet.accounts.family import relations as family
from carnet.accounts.family.schemas import (
    EMERGENCY_CONTACT,
    CaregiverOut,
    EmergencyContact,
    InvitationAnswerOut,
    InvitationOut,
    NirIn,
    RepresentationOut,
    WishesOut,
    WishOut,
)
from carnet.accounts.models import Caregiving, Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings

router = APIRouter(prefix="/api/v1", tags=["family"])


# -- representatives and invitations (REP-1, REP-4) ------------------------------------------


@router.post(
    "/me/children/{minor_id}/representatives",
    status_code=201,
    response_model=RepresentationOut,
    summary="Invite the second legal representative of a minor (REP-1)",
)
def invite_representative(
    minor_id: uuid.UUID,
    body: NirIn,
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> RepresentationOut:
    """Only the managing representative may invite; the invitee must have an active space."""
    rep = invitations.invite_second_representative(
        caller.session, caller.settings, caller.principal, minor_id, body.nir
    )
    return RepresentationOut(
        id=rep.id,
        space_id=rep.minor_id,
        role=rep.role,
        status=rep.status,
        expires_at=rep.expires_at,
    )


@router.get(
    "/me/invitations",
    response_model=list[InvitationOut],
    summary="Pending invitations addressed to me",
)
def my_invitations(
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> list[InvitationOut]:
    return [
        InvitationOut(
            id=item.id,
            type=item.type,
            space_id=item.space_id,
            space_name=item.space_name,
            invited_by=item.invited_by,
            created_at=item.created_at,
            expires_at=item.expires_at,
        )
        for item in invitations.list_invitations(caller.session, caller.principal.id)
    ]


def _answer(
    session: Session,
    settings: Settings,
    principal: Principal,
    invitation_id: uuid.UUID,
    accept: bool,
) -> InvitationAnswerOut:
    row = invitations.respond(session, settings, principal, invitation_id, accept=accept)
    if isinstance(row, Caregiving):
        return InvitationAnswerOut(
            id=row.id, type="caregiver", space_id=row.holder_id, status=row.status
        )
    return InvitationAnswerOut(
        id=row.id, type="representative", space_id=row.minor_id, status=row.status
    )


@router.post(
    "/me/invitations/{invitation_id}/accept",
    response_model=InvitationAnswerOut,
    summary="Accept an invitation (representative or caregiver)",
)
def accept_invitation(
    invitation_id: uuid.UUID,
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> InvitationAnswerOut:
    return _answer(caller.session, caller.settings, caller.principal, invitation_id, True)


@router.post(
    "/me/invitations/{invitation_id}/refuse",
    response_model=InvitationAnswerOut,
    summary="Refuse an invitation (representative or caregiver)",
)
def refuse_invitation(
    invitation_id: uuid.UUID,
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> InvitationAnswerOut:
    return _answer(caller.session, caller.settings, caller.principal, invitation_id, False)


# -- caregivers (REP-4) ----------------------------------------------------------------------


def _caregiver_out(care: Caregiving, name: str) -> CaregiverOut:
    return CaregiverOut(
        id=care.id,
        caregiver_name=name,
        status=care.status,
        created_at=care.created_at,
        expires_at=care.expires_at,
    )


@router.post(
    "/me/caregivers",
    status_code=201,
    response_model=CaregiverOut,
    summary="Invite a caregiver (at most 3; a caregiver helps at most 5 people)",
)
def invite_caregiver(
    body: NirIn,
    acting: Acting = acting_on("manage-caregivers"),
) -> CaregiverOut:
    care = caregivers.invite_caregiver(
        acting.session,
        acting.settings,
        acting.principal,
        acting.holder,
        body.nir,
        relation=acting.relation,
    )
    invitee = acting.session.get(Holder, care.caregiver_id)
    return _caregiver_out(care, family.display_name(invitee))


@router.get("/me/caregivers", response_model=list[CaregiverOut], summary="My caregivers")
def list_caregivers(
    acting: Acting = acting_on("read-caregivers"),
) -> list[CaregiverOut]:
    return [
        _caregiver_out(care, family.display_name(person))
        for care, person in caregivers.list_caregivers(acting.session, acting.holder)
    ]


@router.delete(
    "/me/caregivers/{caregiving_id}",
    status_code=204,
    summary="Revoke a caregiver or a pending invitation",
)
def revoke_caregiver(
    caregiving_id: uuid.UUID,
    acting: Acting = acting_on("manage-caregivers"),
) -> Response:
    caregivers.revoke_caregiver(
        acting.session, acting.principal, acting.holder, caregiving_id, relation=acting.relation
    )
    return Response(status_code=204)


# -- contacts and wishes (ACC-7) -------------------------------------------------------------


def _wish_out(wish: wishes.Wish) -> WishOut:
    return WishOut(
        id=wish.id,
        kind=wish.kind,
        content=wish.content,
        updated_at=wish.updated_at,
        updated_by=wish.updated_by,
    )


@router.get("/me/wishes", response_model=WishesOut, summary="Contacts and wishes")
def get_wishes(
    acting: Acting = acting_on("wishes.read"),
) -> WishesOut:
    found = [
        _wish_out(w)
        for w in wishes.list_wishes(
            acting.session, acting.vault, acting.holder, acting.principal, acting.relation
        )
    ]
    single = {w.kind: w for w in found if w.kind != EMERGENCY_CONTACT}
    return WishesOut(
        space_id=acting.holder.id,
        emergency_contacts=[w for w in found if w.kind == EMERGENCY_CONTACT],
        trusted_person=single.get("trusted_person"),
        organ_donation=single.get("organ_donation"),
        advance_directives=single.get("advance_directives"),
    )


@router.post(
    "/me/wishes/emergency-contacts",
    status_code=201,
    response_model=WishOut,
    summary="Add an emergency contact",
)
def add_emergency_contact(
    body: EmergencyContact,
    acting: Acting = acting_on("wishes.update"),
) -> WishOut:
    wish = wishes.add_emergency_contact(
        acting.session, acting.vault, acting.holder, body, acting.principal, acting.relation
    )
    return _wish_out(wish)


@router.put(
    "/me/wishes/emergency-contacts/{wish_id}",
    response_model=WishOut,
    summary="Replace an emergency contact",
)
def update_emergency_contact(
    wish_id: uuid.UUID,
    body: EmergencyContact,
    acting: Acting = acting_on("wishes.update"),
) -> WishOut:
    wish = wishes.update_emergency_contact(
        acting.session,
        acting.vault,
        acting.holder,
        wish_id,
        body,
        acting.principal,
        acting.relation,
    )
    return _wish_out(wish)


_SINGLE_DOC = (
    "`trusted_person` {name, phone, email, address}; `organ_donation` {choice: donor|refuses|"
    "undecided, note}; `advance_directives` {has_directives, where_kept, text}."
)


@router.put(
    "/me/wishes/{kind}",
    response_model=WishOut,
    summary="Set the trusted person, organ donation or advance directives",
    description=_SINGLE_DOC,
)
def put_wish(
    kind: str,
    body: Annotated[dict[str, Any], Body(examples=[{"choice": "donor", "note": ""}])],
    acting: Acting = acting_on("wishes.update"),
) -> WishOut:
    wish = wishes.put_single(
        acting.session,
        acting.vault,
        acting.holder,
        kind.replace("-", "_"),
        body,
        acting.principal,
        acting.relation,
    )
    return _wish_out(wish)


@router.delete("/me/wishes/{wish_id}", status_code=204, summary="Remove a contact or wish")
def delete_wish(
    wish_id: uuid.UUID,
    acting: Acting = acting_on("wishes.update"),
) -> Response:
    wishes.delete_wish(acting.session, acting.holder, wish_id, acting.principal, acting.relation)
    return Response(status_code=204)
