"""Holder and professional API of the agenda, and the public iCalendar feed (SRV-2).

`/api/v1/me/agenda…` acts on the caller's own space, or on the space named by `X-Carnet-Space`
that they manage (`accounts.family.resolve_space`). `/api/v1/pro/patients/{holder_id}/appointments`
lets a professional of the care team add an appointment. `/ical/{token}.ics` is public: the secret
token is the credential; an unknown or revoked one is 404, and each fetch is audited.
Refused reads and writes are audited, and that entry is committed before the error leaves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Depends, Request, Response
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.routes import Acting, Caller, acting_on, calling, public
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.agenda import ical, prevention, service
from carnet.agenda.schemas import (
    AgendaOut,
    AgendaSettingsIn,
    AgendaSettingsOut,
    AppointmentIn,
    AppointmentOut,
    FeedOut,
    PreventionItemOut,
    ReminderOut,
)
from carnet.auth.principal import PrincipalKind
from carnet.errors import NotFound
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import db_session, keeping_audit, request_id

router = APIRouter(tags=["agenda"])

_EXAMPLE = {
    "title": "Dentiste",
    "start": "2026-03-02T10:00",
    "end": "2026-03-02T10:30",
    "location": "12 rue de la Paix, Paris",
    "reminders": [1440, 60],
}
# How far back the iCalendar feed goes (Carnet decision: calendars keep what they already got).
FEED_PAST = dt.timedelta(days=90)


def _context(caller: Caller, holder: Holder) -> service.Context:
    """The agenda services' context for `caller` on `holder`'s space."""
    return service.context(
        caller.session, caller.vault, caller.settings, caller.principal, holder, caller.request_id
    )


def appointment_out(view: service.AppointmentView) -> AppointmentOut:
    return AppointmentOut(
        id=view.id,
        title=view.title,
        start=view.start,
        end=view.end,
        timezone=view.timezone,
        location=view.location,
        professional=view.professional,
        notes=view.notes,
        reminders=[
            ReminderOut(offset_minutes=r.offset_minutes, due_at=r.due_at, status=r.status)
            for r in view.reminders
        ],
        author_kind=view.author_kind,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def item_out(item: prevention.Item, locale: str = "fr") -> PreventionItemOut:
    return PreventionItemOut(
        id=item.id,
        kind=item.kind,
        series=item.series,
        label=item.label(locale),
        start=item.start,
        end=item.end,
        catch_up_until=item.catch_up_until,
        status=item.status,
        done_on=item.done_on,
        sources=list(item.sources),
    )


def _locale(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "fr").lower().startswith("en") else "fr"


# -- holder side -------------------------------------------------------------------------------


@router.get(
    "/api/v1/me/agenda",
    response_model=AgendaOut,
    summary="Upcoming appointments and the prevention calendar",
)
def get_agenda(
    request: Request,
    acting: Acting = acting_on("agenda.read"),
) -> AgendaOut:
    """Appointments not yet over, by start; the prevention items due, overdue or opening within
    the calendar's horizon (null when switched off)."""
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        appointments = service.list_appointments(ctx, start_from=clock.now())
        items = service.prevention_items(ctx)
    locale = _locale(request)
    return AgendaOut(
        space_id=ctx.holder.id,
        appointments=[appointment_out(a) for a in appointments],
        prevention_enabled=items is not None,
        prevention=[item_out(i, locale) for i in items] if items is not None else None,
        calendar_version=prevention.calendar().version,
    )


@router.get(
    "/api/v1/me/agenda/appointments",
    response_model=list[AppointmentOut],
    summary="Appointments, past ones included",
)
def list_appointments(
    acting: Acting = acting_on("agenda.read"),
) -> list[AppointmentOut]:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return [appointment_out(a) for a in service.list_appointments(ctx)]


@router.post(
    "/api/v1/me/agenda/appointments",
    status_code=201,
    response_model=AppointmentOut,
    summary="Add an appointment",
    description="Times without an offset are read in `timezone` (default Europe/Paris). "
    "Impossible dates, an end before the start and appointments in the past are refused (400).",
)
def create_appointment(
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
    acting: Acting = acting_on("agenda.update"),
) -> AppointmentOut:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return appointment_out(service.create(ctx, body))


@router.get(
    "/api/v1/me/agenda/appointments/{appointment_id}",
    response_model=AppointmentOut,
    summary="One appointment",
)
def get_appointment(
    appointment_id: uuid.UUID,
    acting: Acting = acting_on("agenda.read"),
) -> AppointmentOut:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return appointment_out(service.get(ctx, appointment_id))


@router.put(
    "/api/v1/me/agenda/appointments/{appointment_id}",
    response_model=AppointmentOut,
    summary="Replace an appointment (its reminders are re-armed)",
)
def update_appointment(
    appointment_id: uuid.UUID,
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
    acting: Acting = acting_on("agenda.update"),
) -> AppointmentOut:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return appointment_out(service.update(ctx, appointment_id, body))


@router.delete(
    "/api/v1/me/agenda/appointments/{appointment_id}",
    status_code=204,
    summary="Delete an appointment and its reminders",
)
def delete_appointment(
    appointment_id: uuid.UUID,
    acting: Acting = acting_on("agenda.update"),
) -> Response:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        service.delete_appointment(ctx, appointment_id)
    return Response(status_code=204)


@router.get(
    "/api/v1/me/agenda/prevention",
    response_model=list[PreventionItemOut] | None,
    summary="The whole prevention calendar, done and past items included (null when off)",
)
def get_prevention(
    request: Request,
    acting: Acting = acting_on("agenda.read"),
) -> list[PreventionItemOut] | None:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        items = service.prevention_items(ctx, everything=True)
    locale = _locale(request)
    return [item_out(i, locale) for i in items] if items is not None else None


def _settings_out(stored: Any) -> AgendaSettingsOut:
    return AgendaSettingsOut(
        prevention=bool(stored.prevention),
        feed_active=stored.feed_token_hash is not None,
        feed_created_at=stored.feed_created_at,
    )


@router.get(
    "/api/v1/me/agenda/settings", response_model=AgendaSettingsOut, summary="Agenda switches"
)
def get_settings(
    acting: Acting = acting_on("agenda.read"),
) -> AgendaSettingsOut:
    ctx = _context(acting, acting.holder)
    return _settings_out(service.agenda_settings(acting.session, ctx.holder.id))


@router.put(
    "/api/v1/me/agenda/settings",
    response_model=AgendaSettingsOut,
    summary="Switch the prevention calendar on or off (SRV-2)",
)
def put_settings(
    body: AgendaSettingsIn,
    acting: Acting = acting_on("agenda.update"),
) -> AgendaSettingsOut:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return _settings_out(service.set_prevention(ctx, body.prevention))


@router.post(
    "/api/v1/me/agenda/feed",
    status_code=201,
    response_model=FeedOut,
    summary="Create the private calendar link (replaces any previous one)",
)
def create_feed(
    acting: Acting = acting_on("agenda.update"),
) -> FeedOut:
    """The URL is shown once: only a hash of its secret is kept. Not for caregivers (REP-4)."""
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        token, created = service.create_feed(ctx)
    return FeedOut(url=service.feed_url(acting.settings, token), created_at=created)


@router.delete(
    "/api/v1/me/agenda/feed", status_code=204, summary="Revoke the private calendar link"
)
def revoke_feed(
    acting: Acting = acting_on("agenda.update"),
) -> Response:
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        service.revoke_feed(ctx)
    return Response(status_code=204)


# -- professionals -----------------------------------------------------------------------------


@router.post(
    "/api/v1/pro/patients/{holder_id}/appointments",
    status_code=201,
    response_model=AppointmentOut,
    summary="Add an appointment to a patient's agenda (care team only, SRV-2)",
)
def pro_create_appointment(
    holder_id: uuid.UUID,
    body: AppointmentIn,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL),
) -> AppointmentOut:
    """`professional` defaults to the professional's name. 403 outside the care team or when
    blocked; the holder is reminded like for their own appointments."""
    holder = account_service.holder(caller.session, holder_id)
    if holder is None:
        raise NotFound("No such patient.")
    with keeping_audit():
        return appointment_out(service.create(_context(caller, holder), body))


# -- the iCalendar feed (public: the token is the credential) ----------------------------------


@router.get(
    "/ical/{token}.ics",
    summary="The private calendar feed (iCalendar)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "Unknown or revoked"}},
    dependencies=[public()],
)
def ical_feed(
    token: str,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    settings = _settings(request)
    ctx = service.feed_context(session, _vault(request), settings, token, request_id(request))
    now = clock.now()
    appointments = service.list_appointments(
        ctx, start_from=now - FEED_PAST, action="agenda.feed-read"
    )
    items = service.prevention_items(ctx)
    body = ical.calendar(
        appointments,
        items,
        stamp=now,
        domain=urlsplit(settings.base_url).hostname or "carnet",
        name=f"Carnet – {family.display_name(ctx.holder)}",
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"},
    )
