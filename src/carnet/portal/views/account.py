"""My account: who is signed in, document preferences (DOC-5, DOC-7) and the other e-mails one
wants (messages, appointment reminders, accesses), logging out everywhere (the password and the
list of sessions are `views.security`), and closing the space (LC-5) after a page that explains
the consequences — one's own, or that of the child or protected adult one represents (REP-1,
REP-5; never a caregiver, REP-4)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet.accounts import lifecycle
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.proof import masked_nir
from carnet.auth import sessions as sessions
from carnet.documents import changes
from carnet.documents import service as documents
from carnet.errors import CarnetError
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import (
    ACCESS_SETTINGS,
    CHANGE,
    CLOSE,
    READ,
    Acting,
    acting_page,
    new_router,
    text,
)
from carnet.portal.views.documents import _require_open
from carnet.portal.web import FormErrors, formatter, redirect, settings_of, vault_of

router = new_router()


def _page(act: Acting) -> Response:
    request, db = act.request, act.db
    fmt = formatter(request)
    prefs = documents.preferences(db, act.space.id)
    notices = account_service.notification_preferences(db, act.space.id)
    return act.render(
        "account.html",
        {
            "me": act.me,
            "nir": masked_nir(act.me.nir),
            "prefs": prefs,
            "notices": notices,
            "may_mask": act.may_change_access_settings,
        },
        title=fmt.gettext(N_("My account")),
    )


@router.get("/account", name="portal_account")
def account(act: Acting = acting_page(READ)) -> Response:
    return _page(act)


@router.post("/account/preferences", name="portal_preferences")
def preferences(form: FormData = Depends(form_data), act: Acting = acting_page(READ)) -> Response:
    """DOC-5 (default masking: an access setting, not for caregivers, REP-4) and DOC-7."""
    may_mask = act.may_change_access_settings
    act = act.again(ACCESS_SETTINGS if may_mask else CHANGE)
    _require_open(act)
    changes.set_preferences(
        act.db,
        act.space,
        act.principal,
        mask_new_documents=(text(form, "mask_new_documents") == "1") if may_mask else None,
        notify_new_documents=text(form, "notify_new_documents") == "1",
    )
    account_service.set_notification_preferences(
        act.db,
        act.space,
        act.principal,
        {topic: text(form, f"notify_{topic}") == "1" for topic in account_service.NOTICE_TOPICS},
    )
    sessions.set_flash(act.db, act.live, "preferences-saved")
    return redirect("/account")


def _close_page(
    request: Request, act: Acting, errors: FormErrors | None = None, status: int = 200
) -> Response:
    """The consequences and the confirmation (LC-5), for one's own space or the space of the child
    or protected adult one represents (REP-1, REP-5)."""
    fmt = formatter(request)
    settings = settings_of(request)
    name = family.display_name(act.space)
    title = (
        fmt.gettext(N_("Close my space"))
        if act.is_self
        else fmt.gettext(N_("Close the space of %(name)s")) % {"name": name}
    )
    return act.render(
        "close.html",
        {"archive_years": settings.archive_years, "for_self": act.is_self, "name": name},
        title=title,
        errors=errors,
        status=status,
    )


@router.get("/account/close", name="portal_close")
def close_confirm(request: Request, act: Acting = acting_page(CLOSE)) -> Response:
    """LC-5: what closing means, before anything is done. A caregiver is refused here already
    (REP-4: `resolve_space` with the close action)."""
    return _close_page(request, act)


@router.post("/account/close")
def close(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CLOSE),
) -> Response:
    """rule LC-5: closed at once; archive kept, or erased at the next daily run when asked.

    The space is the one the session acts on (never a form field): one's own, whose every session,
    API token and app connection then ends (`lifecycle.close`, ACC-8); or the space of a child or protected adult one
    represents (REP-1, REP-5), after which the representative is back in their own space.
    `lifecycle.close_space` asks the decision point (`decide_close`; REP-4: never a caregiver)."""
    fmt = formatter(request)
    errors = FormErrors()
    choice = text(form, "erase")
    if choice not in ("keep", "erase"):
        errors.add(
            "erase",
            fmt.gettext(N_("Choose what happens to your data."))
            if act.is_self
            else fmt.gettext(N_("Choose what happens to the data of this space.")),
        )
    if text(form, "confirm") != "1":
        errors.add(
            "confirm",
            fmt.gettext(N_("Tick the box to confirm that you want to close your space."))
            if act.is_self
            else fmt.gettext(N_("Tick the box to confirm that you want to close this space.")),
        )
    if errors:
        return _close_page(request, act, errors, 400)
    settings = settings_of(request)
    erase = choice == "erase"
    try:
        lifecycle.close_space(
            act.db,
            vault_of(request),
            settings,
            act.space,
            act.principal,
            relation=act.relation,
            purge=erase,
        )
    except CarnetError as exc:
        act.db.rollback()
        errors.add(None, messages.describe(exc, fmt))
        return _close_page(request, act.again(CLOSE), errors, exc.status_code)
    if not act.is_self:
        sessions.set_acting_space(act.db, act.live, act.principal.id)
        sessions.set_flash(
            act.db, act.live, "managed-space-erased" if erase else "managed-space-closed"
        )
        return redirect("/home")
    sessions.forget(request)  # lifecycle.close ended every session, this one too
    response = redirect(f"/closed?erase={1 if erase else 0}")
    sessions.clear_cookie(response, settings)
    return response
