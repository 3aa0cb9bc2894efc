"""My account: who is signed in, document preferences (DOC-5, DOC-7), logging out everywhere,
and closing the space (LC-5) after a page that explains the consequences."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import portal_session
from carnet.accounts import lifecycle
from carnet.accounts.proof import masked_nir
from carnet.auth.principal import Principal, PrincipalKind
from carnet.documents import service as documents
from carnet.errors import CarnetError, Forbidden
from carnet.http import db_session
from carnet.portal import messages
from carnet.portal import session as sessions
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import (
    ACCESS_SETTINGS,
    CHANGE,
    CLOSE,
    READ,
    Acting,
    acting,
    new_router,
    text,
)
from carnet.portal.views.documents import _require_open
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of

router = new_router()
holder = portal_session(PrincipalKind.HOLDER)


def _page(request: Request, db: Session, act: Acting) -> Response:
    fmt = formatter(request)
    prefs = documents.preferences(db, act.space.id)
    return render(
        request,
        "account.html",
        {
            "me": act.me,
            "nir": masked_nir(act.me.nir),
            "prefs": prefs,
            "may_mask": act.may_change_access_settings,
        },
        title=fmt.gettext(N_("My account")),
        shell=act.shell,
    )


@router.get("/account", name="portal_account")
def account(
    request: Request,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    return _page(request, db, acting(request, db, READ))


@router.post("/account/preferences", name="portal_preferences")
def preferences(
    request: Request,
    form: FormData = Depends(form_data),
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """DOC-5 (default masking: an access setting, not for caregivers, REP-4) and DOC-7."""
    act = acting(request, db, READ)
    may_mask = act.may_change_access_settings
    act = acting(request, db, ACCESS_SETTINGS if may_mask else CHANGE)
    _require_open(db, request, act)
    documents.set_preferences(
        db,
        act.space,
        principal,
        mask_new_documents=(text(form, "mask_new_documents") == "1") if may_mask else None,
        notify_new_documents=text(form, "notify_new_documents") == "1",
    )
    sessions.set_flash(db, act.live, "preferences-saved")
    return redirect("/account")


def _close_page(
    request: Request, act: Acting, errors: FormErrors | None = None, status: int = 200
) -> Response:
    fmt = formatter(request)
    settings = settings_of(request)
    return render(
        request,
        "close.html",
        {"archive_years": settings.archive_years},
        title=fmt.gettext(N_("Close my space")),
        shell=act.shell,
        errors=errors,
        status=status,
    )


def _own_space(request: Request, db: Session) -> Acting:
    """LC-5: only the holder closes their own space (REP-4: never a caregiver)."""
    act = acting(request, db, CLOSE)
    if not act.is_self:
        raise Forbidden(
            "Only the holder can close their space: switch back to your own profile first.",
            code="close-own-space-only",
        )
    return act


@router.get("/account/close", name="portal_close")
def close_confirm(
    request: Request,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    return _close_page(request, _own_space(request, db))


@router.post("/account/close")
def close(
    request: Request,
    form: FormData = Depends(form_data),
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """rule LC-5: closed at once; archive kept, or erased at the next daily run when asked.
    Every session, API token and app connection of the holder ends (`lifecycle.close`, ACC-8)."""
    fmt = formatter(request)
    act = _own_space(request, db)
    errors = FormErrors()
    choice = text(form, "erase")
    if choice not in ("keep", "erase"):
        errors.add("erase", fmt.gettext(N_("Choose what happens to your data.")))
    if text(form, "confirm") != "1":
        errors.add(
            "confirm", fmt.gettext(N_("Tick the box to confirm that you want to close your space."))
        )
    if errors:
        return _close_page(request, act, errors, 400)
    settings = settings_of(request)
    try:
        lifecycle.close(db, settings, act.me, principal, purge=choice == "erase")
    except CarnetError as exc:
        db.rollback()
        errors.add(None, messages.describe(exc, fmt))
        return _close_page(request, acting(request, db, CLOSE), errors, exc.status_code)
    sessions.forget(request)  # lifecycle.close ended every session, this one too
    response = redirect(f"/closed?erase={1 if choice == 'erase' else 0}")
    sessions.clear_cookie(response, settings)
    return response
