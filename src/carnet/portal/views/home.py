"""The home page, the profile switcher and invitations (REP-1, REP-4, REP-5)."""

from __future__ import annotations

import uuid

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.accounts.family import invitations as family_invitations
from carnet.accounts.family import relations as family
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import (
    READ,
    Acting,
    Visit,
    acting_page,
    new_router,
    optional_uuid,
    text,
    visiting,
)
from carnet.portal.views.documents import awaiting, recent_documents
from carnet.portal.web import formatter, redirect, settings_of

router = new_router()

SECTIONS = (
    "/home",
    "/documents",
    "/contacts",
    "/agenda",
    "/account",
    "/medical-profile",
    "/health-story",
    "/my-data",
)


@router.get("/home", name="portal_home")
def home(request: Request, act: Acting = acting_page(READ)) -> Response:
    """New documents, documents awaiting announcement (a count, DOC-4), pending invitations."""
    fmt = formatter(request)
    total_new, recent = recent_documents(act)
    invitations = family_invitations.list_invitations(act.db, act.principal.id)
    return act.render(
        "home.html",
        {
            "recent": recent,
            "total_new": total_new,
            "awaiting": awaiting(act),
            "invitations": invitations,
            "first_names": act.me.first_names.split(" ")[0],
        },
        title=fmt.gettext(N_("Home")),
    )


@router.post("/profile", name="portal_profile")
def switch_profile(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(),
) -> Response:
    """Act in another space the holder manages (`family.resolve_space` decides; 404 otherwise)."""
    target = optional_uuid(text(form, "space_id", 40)) or visit.principal.id
    space, _relation = family.resolve_space(
        visit.db, visit.principal, str(target), READ, settings=settings_of(request)
    )
    sessions.set_acting_space(visit.db, visit.live, space.id)
    sessions.set_flash(visit.db, visit.live, "profile-switched")
    back = text(form, "next", 200)
    return redirect(back if back in SECTIONS else "/home")


def _answer(
    request: Request, db: Session, principal: Principal, invitation: uuid.UUID, accept: bool
) -> Response:
    live: sessions.LiveSession = request.state.portal_session
    family_invitations.respond(db, settings_of(request), principal, invitation, accept=accept)
    sessions.set_flash(db, live, "invitation-accepted" if accept else "invitation-refused")
    return redirect("/home")


@router.post("/invitations/{invitation_id}/accept", name="portal_invitation_accept")
def accept_invitation(
    request: Request,
    invitation_id: uuid.UUID,
    visit: Visit = visiting(),
) -> Response:
    return _answer(request, visit.db, visit.principal, invitation_id, True)


@router.post("/invitations/{invitation_id}/refuse", name="portal_invitation_refuse")
def refuse_invitation(
    request: Request,
    invitation_id: uuid.UUID,
    visit: Visit = visiting(),
) -> Response:
    return _answer(request, visit.db, visit.principal, invitation_id, False)
