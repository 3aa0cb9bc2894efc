"""FHIR R4 `Appointment` routes of the agenda (SRV-2): read, search by patient and date, create.

The holder side sees every appointment of the space; a professional sees those they entered
(`access.rules.decide_agenda_read`); an app sees them as the holder who connected it, with
`patient/Appointment.r`/`.s` (ACC-9). A refused read answers 404, existence is not told.
Appointments are created by the holder side, a professional of the care team, or an app with
`patient/Appointment.c` (`decide_agenda_write`), through `agenda.service.create`: checked before
anything is stored (400 for the structure, 422 at the element for a past start, an end before the
start, an impossible date), so nothing is half-written. Every read, search, creation and refusal is
audited (ACC-8). The resource itself is built by `agenda.fhir`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.accounts import service as account_service
from carnet.agenda import fhir, fhir_in, service
from carnet.agenda.models import Appointment
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.errors import InvalidInput, NotFound
from carnet.fhir import resources, search
from carnet.fhir.api import READERS, FhirResponse, document_body
from carnet.fhir.parse import (
    InvalidResource,
    Problem,
    Problems,
    date_range,
    resource_type_problem,
)
from carnet.fhir.service import fhir_base, resolve_subject, searched_holder
from carnet.http import db_session, keeping_audit, request_id
from carnet.vault.service import Vault

Json = dict[str, Any]
router = APIRouter(prefix="/fhir", tags=["fhir"])
_PREFIXES = ("eq", "ge", "gt", "le", "lt")


def _bounds(
    values: list[str], timezone: str, problems: Problems
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`date=ge2026-03-01&date=lt2026-04`: the start instant's lower and upper bounds (AND)."""
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None
    for value in values:
        prefix = value[:2] if value[:2] in _PREFIXES else "eq"
        text = value[2:] if value[:2] in _PREFIXES else value
        try:
            start, end, _precision = date_range(text, timezone)
        except ValueError:
            problems.add("date", f"{value!r} is not a FHIR date (e.g. ge2026-03-01).", "value")
            continue
        low, high = {
            "eq": (start, end),
            "ge": (start, None),
            "gt": (end, None),
            "le": (None, end),
            "lt": (None, start),
        }[prefix]
        if low is not None:
            lower = low if lower is None else max(lower, low)
        if high is not None:
            upper = high if upper is None else min(upper, high)
    return lower, upper


@router.get(
    "/Appointment",
    response_class=FhirResponse,
    summary="Appointments of a patient (SRV-2), by date of start",
)
def search_appointments(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Appointment", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    allowed = (
        frozenset(n for n, _t, _d in resources.SEARCH_PARAMETERS["Appointment"]) | search.PAGING
    )
    params, ignored = search.received(
        list(request.query_params.multi_items()), allowed, request.headers.get("prefer")
    )
    problems = Problems()
    search.unsupported(params, allowed, problems)
    criterion = search.one_patient(params, problems)
    settings: Settings = request.app.state.settings
    lower, upper = _bounds([v for n, v in params if n == "date"], settings.timezone, problems)
    common = search.common_filter(params, settings.timezone, problems)
    count, offset = search.paging(params, problems)
    problems.raise_if_any()
    vault: Vault = request.app.state.vault
    base = fhir_base(settings)
    link = [("self", f"{base}/Appointment?{urlencode(params)}")]
    holder = searched_holder(session, criterion)
    if holder is None:
        return FhirResponse(resources.searchset([], 0, link, ignored=ignored))
    ctx = service.context(session, vault, settings, principal, holder, request_id(request))
    with keeping_audit():
        views = service.list_appointments(ctx, start_min=lower, start_before=upper, limit=None)
    rendered = (fhir.appointment(view, holder) for view in views)
    entries = [(f"{base}/Appointment/{r['id']}", r) for r in rendered if common(r)]
    return FhirResponse(
        search.page_of(f"{base}/Appointment", params, entries, count, offset, ignored=ignored)
    )


def _existing(
    request: Request, session: Session, principal: Principal, appointment_id: str
) -> tuple[service.Context, uuid.UUID]:
    """The space of an existing appointment, seen by `principal`; 404 when there is none (the
    decision, and its audit entry, come from the service call that follows)."""
    try:
        wanted = uuid.UUID(appointment_id)
    except ValueError:
        raise NotFound("No such Appointment.") from None
    row = session.get(Appointment, wanted)
    holder = account_service.holder(session, row.holder_id) if row is not None else None
    if row is None or holder is None:
        raise NotFound("No such Appointment.")
    ctx = service.context(
        session,
        request.app.state.vault,
        request.app.state.settings,
        principal,
        holder,
        request_id(request),
    )
    return ctx, wanted


def _located(error: InvalidInput) -> InvalidResource:
    """A business-rule refusal of the agenda (dates…), placed on its FHIR element."""
    message = error.message.partition(": ")[2] or error.message
    answer = InvalidResource(
        [Problem(fhir_in.locate(error.field), message, "business-rule")], status=422
    )
    answer.code = error.code
    return answer


@router.get("/Appointment/{appointment_id}", response_class=FhirResponse, summary="One appointment")
def read_appointment(
    appointment_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Appointment", "r")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    ctx, wanted = _existing(request, session, principal, appointment_id)
    with keeping_audit():
        view = service.get(ctx, wanted)
    return FhirResponse(fhir.appointment(view, ctx.holder))


@router.put(
    "/Appointment/{appointment_id}",
    response_class=FhirResponse,
    summary="Change an appointment (SRV-2: holder side, its author, apps with Appointment.u)",
)
def update_appointment(
    appointment_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Appointment", "u")),
    body: Any = Depends(document_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    problems = resource_type_problem(body, "Appointment")
    problems.raise_if_any()
    parsed = fhir_in.appointment(body, problems)
    if body.get("id") not in (None, appointment_id):
        problems.add("Appointment.id", "The id in the body is not the one in the URL.", "value")
    problems.raise_if_any()
    assert parsed.subject is not None
    ctx, wanted = _existing(request, session, principal, appointment_id)
    if resolve_subject(session, parsed.subject).id != ctx.holder.id:
        problems.add("Appointment.participant", "An appointment stays in its patient's space.",
                     "value")  # fmt: skip
        problems.raise_if_any()
    with keeping_audit():
        # FHIR has no reminders: the ones already set are kept.
        current = service.get(ctx, wanted)
        changes = {**parsed.body, "reminders": [r.offset_minutes for r in current.reminders]}
        try:
            view = service.update(ctx, wanted, changes)
        except InvalidInput as error:
            raise _located(error) from None
    return FhirResponse(fhir.appointment(view, ctx.holder))


@router.delete(
    "/Appointment/{appointment_id}",
    status_code=204,
    summary="Cancel (delete) an appointment (SRV-2: holder side, its author, apps with .d)",
)
def delete_appointment(
    appointment_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Appointment", "d")),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    ctx, wanted = _existing(request, session, principal, appointment_id)
    with keeping_audit():
        service.delete_appointment(ctx, wanted)
    return Response(status_code=204)


@router.post(
    "/Appointment",
    response_class=FhirResponse,
    status_code=201,
    summary="Create an appointment (SRV-2: holder side, care team, apps with Appointment.c)",
)
def create_appointment(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Appointment", "c")),
    body: Any = Depends(document_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    problems = resource_type_problem(body, "Appointment")
    problems.raise_if_any()
    parsed = fhir_in.appointment(body, problems)
    problems.raise_if_any()
    assert parsed.subject is not None
    settings: Settings = request.app.state.settings
    holder = resolve_subject(session, parsed.subject)
    ctx = service.context(
        session, request.app.state.vault, settings, principal, holder, request_id(request)
    )
    with keeping_audit():
        try:
            view = service.create(ctx, parsed.body)
        except InvalidInput as error:
            raise _located(error) from None
    resource = fhir.appointment(view, holder)
    location = f"{fhir_base(settings)}/Appointment/{resource['id']}"
    return FhirResponse(resource, status_code=201, headers={"Location": location})
