"""The holder's agenda page (SRV-2): upcoming appointments, the add form, the prevention calendar
(with its off switch) and the private calendar link.

Everything goes through `agenda.service` on the space acted on (decision point, audit, sealing).
The calendar link is shown once, in the answer to the form that creates it: only its hash is kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet import clock
from carnet.agenda import prevention
from carnet.agenda import service as agenda
from carnet.auth import sessions as sessions
from carnet.errors import CarnetError, NotFound
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import (
    READ,
    Acting,
    acting_page,
    new_router,
    rid,
    text,
)
from carnet.portal.web import FormErrors, formatter, redirect, settings_of, vault_of

router = new_router()

UPDATE = "agenda.update"
FIELDS = ("title", "date", "time", "duration", "location", "professional", "notes", "reminder")
DURATIONS = (15, 30, 45, 60, 90, 120)
REMINDERS = (
    ("", N_("No reminder")),
    ("60", N_("1 hour before")),
    ("1440", N_("The day before")),
    ("2880", N_("2 days before")),
    ("10080", N_("1 week before")),
)
FIELD_ERRORS = {
    "title": N_("Enter a title (at most 200 characters)."),
    "start": N_("Enter a date and time that exist and have not passed yet."),
    "end": N_("Choose a duration."),
    "location": N_("At most 300 characters."),
    "professional": N_("At most 200 characters."),
    "notes": N_("At most 4000 characters."),
    "reminders": N_("Choose a reminder from the list."),
}
KIND_LABELS = {
    "vaccination": N_("Vaccination"),
    "child-exam": N_("Child examination"),
    "dental": N_("Dental check-up"),
    "bilan": N_("Prevention check-up"),
    "screening": N_("Screening"),
}
STATUS_LABELS = {
    "due": N_("To do now"),
    "overdue": N_("Catch-up recommended"),
    "upcoming": N_("Coming"),
    "done": N_("Done"),
    "past": N_("Past"),
}


def _context(act: Acting) -> agenda.Context:
    request, db = act.request, act.db
    return agenda.context(
        db, vault_of(request), settings_of(request), act.principal, act.space, rid(request)
    )


def _page(
    act: Acting,
    *,
    errors: FormErrors | None = None,
    posted: dict[str, str] | None = None,
    feed_url: str | None = None,
    status: int = 200,
) -> Response:
    request, db = act.request, act.db
    fmt = formatter(request)
    ctx = _context(act)
    appointments = agenda.list_appointments(ctx, start_from=clock.now())
    items = agenda.prevention_items(ctx)
    stored = agenda.agenda_settings(db, act.space.id)
    return act.render(
        "agenda.html",
        {
            "appointments": appointments,
            "prevention_items": items,
            "prevention_on": items is not None,
            "feed_active": stored.feed_token_hash is not None,
            "feed_created_at": stored.feed_created_at,
            "feed_url": feed_url,
            "may_manage_feed": act.relation != "caregiver",
            "posted": posted or {"duration": "30", "reminder": "1440"},
            "durations": DURATIONS,
            "reminders": [(value, fmt.gettext(label)) for value, label in REMINDERS],
            "kind_labels": {k: fmt.gettext(v) for k, v in KIND_LABELS.items()},
            "status_labels": {k: fmt.gettext(v) for k, v in STATUS_LABELS.items()},
            "version": prevention.calendar().version,
            "today": clock.today(settings_of(request).timezone),
            "one_day": dt.timedelta(days=1),
        },
        title=fmt.gettext(N_("Agenda")),
        errors=errors,
        status=status,
    )


@router.get("/agenda", name="portal_agenda")
def agenda_page(act: Acting = acting_page(READ)) -> Response:
    return _page(act)


def _body(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The service's body from the form: a local date and time, and a duration."""
    posted = {name: text(form, name, 4000).strip() for name in FIELDS}
    start = f"{posted['date']}T{posted['time']}"
    end: str | None = None
    try:
        minutes = int(posted["duration"] or "30")
        begin = dt.datetime.fromisoformat(start)
        if minutes in DURATIONS:
            end = (begin + dt.timedelta(minutes=minutes)).isoformat(timespec="minutes")
    except ValueError:
        pass
    reminder = posted["reminder"]
    body: dict[str, Any] = {
        "title": posted["title"],
        "start": start,
        "end": end,
        "location": posted["location"],
        "professional": posted["professional"],
        "notes": posted["notes"],
        # ASCII digits only ("²" is a digit to `isdigit` but not to `int`); SRV-2 rules bound it.
        "reminders": [int(reminder)] if reminder.isascii() and reminder.isdigit() else [],
    }
    if end is None and posted["duration"] not in {str(d) for d in DURATIONS}:
        body["end"] = "invalid"
    return body, posted


@router.post("/agenda/appointments", name="portal_agenda_add")
def add_appointment(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(UPDATE),
) -> Response:
    fmt = formatter(request)
    body, posted = _body(form)
    try:
        agenda.create(_context(act), body)
    except CarnetError as exc:
        if exc.status_code != 400:
            raise
        act.db.rollback()
        errors = FormErrors()
        field = (exc.field or "").split(".")[0]
        target = {"start": "date", "end": "duration", "reminders": "reminder"}.get(field, field)
        message = FIELD_ERRORS.get(field)
        errors.add(
            target if target in FIELDS else None,
            fmt.gettext(message) if message else messages.describe(exc, fmt),
        )
        return _page(act.again(READ), errors=errors, posted=posted, status=400)
    sessions.set_flash(act.db, act.live, "appointment-added")
    return redirect("/agenda")


@router.post("/agenda/appointments/{appointment_id}/delete", name="portal_agenda_delete")
def delete_appointment(appointment_id: uuid.UUID, act: Acting = acting_page(UPDATE)) -> Response:
    """Sent twice, the second time finds nothing and says it is deleted."""
    try:
        agenda.delete_appointment(_context(act), appointment_id)
    except NotFound:
        act.db.rollback()
    sessions.set_flash(act.db, act.live, "appointment-deleted")
    return redirect("/agenda")


@router.post("/agenda/prevention", name="portal_agenda_prevention")
def switch_prevention(
    form: FormData = Depends(form_data),
    act: Acting = acting_page(UPDATE),
) -> Response:
    enabled = text(form, "prevention", 10) == "on"
    agenda.set_prevention(_context(act), enabled)
    sessions.set_flash(act.db, act.live, "prevention-on" if enabled else "prevention-off")
    return redirect("/agenda#prevention")


@router.post("/agenda/feed", name="portal_agenda_feed")
def create_feed(request: Request, act: Acting = acting_page(UPDATE)) -> Response:
    """The link is in this answer only (a later page load cannot show it again)."""
    token, _created = agenda.create_feed(_context(act))
    url = agenda.feed_url(settings_of(request), token)
    return _page(act, feed_url=url)


@router.post("/agenda/feed/revoke", name="portal_agenda_feed_revoke")
def revoke_feed(act: Acting = acting_page(UPDATE)) -> Response:
    agenda.revoke_feed(_context(act))
    sessions.set_flash(act.db, act.live, "feed-revoked")
    return redirect("/agenda#feed")
