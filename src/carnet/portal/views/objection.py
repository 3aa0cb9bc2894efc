"""Objecting to a suspension without logging in (LC-6): the page the suspension notice links to.

A suspended space lets nobody sign in, so the holder — or, for a minor, the representative the
notice went to (LC-7) — objects with the NIR and the notice's code, as an opposition (LC-2) is
made. The form calls `accounts.objections`, as the JSON API does; a refused code keeps its
bookkeeping (the page is answered normally, the request's transaction commits it).
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import public
from carnet.accounts import lifecycle, objections
from carnet.accounts import rules as account_rules
from carnet.errors import CarnetError
from carnet.http import client_address, db_session
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import new_router, text
from carnet.portal.views.login import with_retry_after
from carnet.portal.views.public import CODE_HELP, NIR_HELP, nir_error
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of, vault_of

router = new_router()

PATH = "/suspension/objection"
# LC-6: the reasons offered, in the order shown (codes: `accounts.rules.OBJECTION_REASONS`).
REASONS = {
    "mistake": N_("The suspension is a mistake: nothing wrong happened with this space"),
    "resolved": N_("The problem behind the suspension is solved"),
    "care-needs": N_("I need the space for ongoing care"),
    "other": N_("Another reason (say which below)"),
}
NOTE_HELP = N_(
    "Optional, at most 1000 characters. Kept confidential: only the agent who decides reads it."
)


def _page(
    request: Request, values: dict[str, str], errors: FormErrors, status: int = 200
) -> Response:
    fmt = formatter(request)
    return render(
        request,
        "suspension_objection.html",
        {
            "values": values,
            "reasons": [(code, fmt.gettext(label)) for code, label in REASONS.items()],
            "nir_help": fmt.gettext(NIR_HELP),
            "code_help": fmt.gettext(CODE_HELP),
            "note_help": fmt.gettext(NOTE_HELP),
            "weeks": settings_of(request).suspension_weeks,
        },
        title=fmt.gettext(N_("Object to the suspension of a space")),
        errors=errors,
        status=status,
    )


@router.get(PATH, name="portal_suspension_objection", dependencies=[public()])
def objection_form(request: Request) -> Response:
    """LC-6: the way the suspension notice gives; no login (the space lets nobody in)."""
    return _page(request, {}, FormErrors())


@router.post(PATH, dependencies=[public()])  # rule LC-6: a suspended space has no sign-in
def objection_submit(
    request: Request,
    form: FormData = Depends(form_data),
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    fmt = formatter(request)
    settings = settings_of(request)
    nir, code = text(form, "nir", 32), text(form, "code", 32)
    reason, note = text(form, "reason", 30), text(form, "note", 4000)
    values = {"nir": nir, "code": code, "reason": reason, "note": note}
    errors = FormErrors()
    problem = nir_error(fmt, nir)
    if problem:
        errors.add("nir", problem)
    if not code.strip():
        errors.add("code", fmt.gettext(N_("Enter the provisional code you received.")))
    if reason not in account_rules.OBJECTION_REASONS:
        errors.add("reason", fmt.gettext(N_("Choose why you object to the suspension.")))
    if len(note.strip()) > objections.NOTE_MAX:
        errors.add("note", fmt.gettext(N_("The note has at most 1000 characters.")))
    if errors:
        return _page(request, values, errors, 400)
    check = lifecycle.check_code(
        db, vault_of(request), settings, nir, code, client=client_address(request)
    )
    if check.error is not None:
        errors.add("code", messages.describe(check.error, fmt))
        return with_retry_after(
            _page(request, values, errors, check.error.status_code), check.error
        )
    try:
        objections.object_to_suspension(
            db, vault_of(request), settings, check, reason=reason, note=note
        )
    except CarnetError as exc:
        db.rollback()
        errors.add(None, messages.describe(exc, fmt))
        return _page(request, values, errors, exc.status_code)
    return redirect(f"{PATH}/recorded")


@router.get(f"{PATH}/recorded", name="portal_suspension_objected", dependencies=[public()])
def objection_recorded(request: Request) -> Response:
    """LC-6: what happens next; no data (the page is the same for everyone)."""
    fmt = formatter(request)
    return render(
        request,
        "suspension_objection_done.html",
        {},
        title=fmt.gettext(N_("Your objection is recorded")),
    )
