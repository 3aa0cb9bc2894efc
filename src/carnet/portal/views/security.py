"""Account security in "Mon compte" and from the login page: changing one's password, recovering
a forgotten one with a code sent by e-mail or letter, and the list of one's open sessions with the
device each was opened from, to end one or all the others.

The rules are the services': `auth.password.change_password` (the current password throttled like
a login; every other sign-in ends, this session stays), `auth.recovery` (the same answer whether
or not the account exists; a single-use, short-lived code), `auth.sessions` (only one's own
sessions can be ended). Refusals are answered as pages, so their bookkeeping (failure counters,
audit entries) is committed with the request.
"""

from __future__ import annotations

import uuid

from fastapi import BackgroundTasks, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import public
from carnet.audit.service import record
from carnet.auth import password, recovery
from carnet.auth import sessions as sessions
from carnet.auth.service import live_token_count, revoke_all
from carnet.errors import CarnetError
from carnet.http import client_address, db_session, get_database
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import READ, Acting, acting_page, new_router, rid, text
from carnet.portal.views.login import with_retry_after
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of, vault_of

router = new_router()

LOGIN_PATH = "/login"
FORGOTTEN_PATH = "/password/forgotten"
RESET_PATH = "/password/reset"


def _new_password_errors(request: Request, form: FormData, errors: FormErrors) -> str:
    """The new password typed twice: both given and equal (the policy is the service's)."""
    fmt = formatter(request)
    new, again = text(form, "new_password", 1024), text(form, "new_password_again", 1024)
    if not new:
        errors.add("new_password", fmt.gettext(N_("Choose a new password.")))
    elif new != again:
        errors.add("new_password_again", fmt.gettext(N_("The two new passwords differ.")))
    return new


def _service_error(request: Request, errors: FormErrors, error: CarnetError) -> None:
    """A service's refusal, next to the field it is about when it names one."""
    field = error.field if error.field in ("new_password", "current_password") else None
    errors.add(field, messages.describe(error, formatter(request)))


# -- changing one's password ("Mon compte") ---------------------------------------------------


def _password_page(act: Acting, errors: FormErrors | None = None, status: int = 200) -> Response:
    fmt = formatter(act.request)
    return act.render(
        "password_change.html",
        {},
        title=fmt.gettext(N_("Change my password")),
        errors=errors,
        status=status,
    )


@router.get("/account/password", name="portal_password")
def password_form(act: Acting = acting_page(READ)) -> Response:
    return _password_page(act)


@router.post("/account/password")
def password_submit(
    request: Request, form: FormData = Depends(form_data), act: Acting = acting_page(READ)
) -> Response:
    """The current password, then the new one twice (LC-4 policy). Every other session, API
    token and app connection of the holder ends; this session stays (`end_access`, ACC-8)."""
    fmt = formatter(request)
    errors = FormErrors()
    current = text(form, "current_password", 1024)
    if not current:
        errors.add("current_password", fmt.gettext(N_("Enter your current password.")))
    new = _new_password_errors(request, form, errors)
    if errors:
        return _password_page(act, errors, 400)
    outcome = password.change_password(
        act.db, act.vault, act.settings, act.principal, current, new,
        client=client_address(request), keep_session=act.live.id, request_id=act.rid,
    )  # fmt: skip
    if outcome.error is not None:
        error = outcome.error
        if error.code == "bad-password":
            errors.add("current_password", messages.describe(error, fmt))
        else:
            _service_error(request, errors, error)
        return with_retry_after(_password_page(act, errors, error.status_code), error)
    sessions.set_flash(act.db, act.live, "password-changed")
    return redirect("/account")


# -- a forgotten password (public pages) ------------------------------------------------------


def _forgotten_page(
    request: Request, errors: FormErrors | None = None, *, username: str = "", status: int = 200
) -> Response:
    fmt = formatter(request)
    return render(
        request,
        "password_forgotten.html",
        {"username": username},
        title=fmt.gettext(N_("Forgotten password")),
        errors=errors,
        status=status,
    )


def _reset_page(
    request: Request,
    errors: FormErrors | None = None,
    *,
    username: str = "",
    sent: bool = False,
    status: int = 200,
) -> Response:
    fmt = formatter(request)
    return render(
        request,
        "password_reset.html",
        {"username": username, "sent": sent},
        title=fmt.gettext(N_("Choose a new password")),
        errors=errors,
        status=status,
    )


@router.get(FORGOTTEN_PATH, name="portal_password_forgotten", dependencies=[public()])
def forgotten_form(request: Request) -> Response:
    return _forgotten_page(request)


@router.post(FORGOTTEN_PATH, dependencies=[public()])
def forgotten_submit(
    request: Request,
    background: BackgroundTasks,
    form: FormData = Depends(form_data),
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """The same answer, as quick, whether or not the username is someone's: the code is sent
    after the page has left (`recovery.recover_apart`); asking is throttled per client."""
    fmt = formatter(request)
    username = text(form, "username", 200).strip()
    errors = FormErrors()
    wait = None
    if not username:
        errors.add("username", fmt.gettext(N_("Enter your username.")))
    else:
        wait = recovery.ask_recovery(
            db, vault_of(request), settings_of(request), client=client_address(request)
        )
        if wait is not None:
            errors.add(None, messages.describe(wait, fmt))
    if errors:
        status = wait.status_code if wait is not None else 400
        return with_retry_after(
            _forgotten_page(request, errors, username=username, status=status), wait
        )
    background.add_task(
        recovery.recover_apart,
        get_database(request),
        vault_of(request),
        settings_of(request),
        username,
    )
    return _reset_page(request, username=username, sent=True)


@router.get(RESET_PATH, name="portal_password_reset", dependencies=[public()])
def reset_form(request: Request) -> Response:
    """Where a code received by letter (or an e-mail opened later) is typed."""
    return _reset_page(request)


@router.post(RESET_PATH, dependencies=[public()])
def reset_submit(
    request: Request,
    form: FormData = Depends(form_data),
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """Username, code and the new password twice; every sign-in of the holder ends."""
    fmt = formatter(request)
    errors = FormErrors()
    username = text(form, "username", 200).strip()
    code = text(form, "code", 40)
    if not username:
        errors.add("username", fmt.gettext(N_("Enter your username.")))
    if not code.strip():
        errors.add("code", fmt.gettext(N_("Enter the code you received.")))
    new = _new_password_errors(request, form, errors)
    if errors:
        return _reset_page(request, errors, username=username, status=400)
    outcome = recovery.reset_password(
        db, vault_of(request), settings_of(request), username, code, new,
        client=client_address(request), request_id=rid(request),
    )  # fmt: skip
    if outcome.error is not None:
        error = outcome.error
        if error.code == "bad-recovery-code":
            errors.add("code", messages.describe(error, fmt))
        else:
            _service_error(request, errors, error)
        page = _reset_page(request, errors, username=username, status=error.status_code)
        return with_retry_after(page, error)
    sessions.forget(request)
    response = redirect(f"{LOGIN_PATH}?reason=password-reset")
    sessions.clear_cookie(response, settings_of(request))
    return response


# -- sessions and devices ("Mon compte") ------------------------------------------------------


@router.get("/account/sessions", name="portal_sessions")
def sessions_page(act: Acting = acting_page(READ)) -> Response:
    """The holder's open portal sessions (when opened, last used, from which device; this one
    marked) and how many API tokens still work."""
    fmt = formatter(act.request)
    rows = sessions.live_rows(act.db, act.principal)
    return act.render(
        "sessions.html",
        {
            "rows": rows,
            "current": act.live.id,
            "tokens": live_token_count(act.db, act.principal),
        },
        title=fmt.gettext(N_("Sessions and devices")),
    )


@router.post("/account/sessions/{session_id}/end", name="portal_session_end")
def end_one(session_id: uuid.UUID, act: Acting = acting_page(READ)) -> Response:
    """End one of one's sessions (ACC-8: recorded); ending this one is logging out."""
    if not sessions.revoke_own(act.db, act.principal, session_id):
        sessions.set_flash(act.db, act.live, "session-gone")
        return redirect("/account/sessions")
    record(
        act.db,
        act.principal,
        "auth.logout",
        holder_id=act.principal.id,
        target_type="PortalSession",
        target_id=str(session_id),
        reason="portal-device",
        request_id=act.rid,
    )
    if session_id == act.live.id:
        sessions.forget(act.request)
        response = redirect(f"{LOGIN_PATH}?reason=logged-out")
        sessions.clear_cookie(response, act.settings)
        return response
    sessions.set_flash(act.db, act.live, "session-ended")
    return redirect("/account/sessions")


@router.post("/account/sessions/others", name="portal_sessions_end_others")
def end_others(act: Acting = acting_page(READ)) -> Response:
    """Every other portal session and every API token of the holder end; this session stays
    (ACC-8: recorded with the count). App connections stay: "Applications" ends those."""
    count = sessions.revoke_all(act.db, act.principal, keep=act.live.id) + revoke_all(
        act.db, act.principal.kind, act.principal.id
    )
    record(
        act.db,
        act.principal,
        "auth.logout",
        holder_id=act.principal.id,
        target_type="PortalSession",
        reason=f"portal-others:{count}",
        request_id=act.rid,
    )
    sessions.set_flash(act.db, act.live, "logged-out-elsewhere")
    return redirect("/account/sessions")
