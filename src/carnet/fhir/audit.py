"""The holder's access history as FHIR R4 AuditEvents in the IHE BALP shape (rule ACC-8).

Built from `access.history.history`, which applies the decision point (holder side only) and hides
entries about documents the reader may not see; this module only changes the form.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

from sqlalchemy.orm import Session

from carnet.access import history as access_history
from carnet.access import lookups
from carnet.accounts import service as account_service
from carnet.accounts.rules import RPPS_SYSTEM
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.errors import NotFound
from carnet.fhir import search
from carnet.fhir.parse import Problems
from carnet.fhir.resources import Json, instant, searchset

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
REST = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
CARNET_ACTION = "https://carnet.example/fhir/CodeSystem/audit-action"

PARAMETERS = frozenset({"patient", "patient.identifier", "date", "_page", "_format"})
# Carnet actions by the FHIR AuditEvent.action they are (C, R, U, D, E).
_ACTIONS = {
    "read": "R",
    "search": "E",
    "download": "R",
    "deposit": "C",
    "replace": "C",
    "create": "C",
    "delete": "D",
    "change": "U",
    "update": "U",
}


def _action(action: str) -> str:
    verb = action.split(".")[-1].split("-")[0]
    return _ACTIONS.get(verb, "E")


def audit_event(entry: access_history.HistoryEntry, holder_id: uuid.UUID) -> Json:
    """One entry as a BALP-style AuditEvent; an emergency is 110113 / 110127 with ETREAT."""
    emergency = entry.mode in ("emergency", "regulation")
    if emergency and entry.reason == "110127":
        event_type = {"system": DCM, "code": "110113", "display": "Security Alert"}
        subtype = [{"system": DCM, "code": "110127", "display": "Emergency Override Started"}]
    else:
        event_type = {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
        subtype = [{"system": CARNET_ACTION, "code": entry.action}]
    who: Json
    if entry.actor_rpps:
        who = {
            "identifier": {"system": RPPS_SYSTEM, "value": entry.actor_rpps},
            "display": entry.actor_display,
        }
    else:
        who = {"display": entry.actor_display}
    agent: Json = {"who": who, "requestor": True}
    if emergency or entry.actor_rpps:
        agent["purposeOfUse"] = [
            {"coding": [{"system": ACT_REASON, "code": "ETREAT" if emergency else "TREAT"}]}
        ]
    entities: list[Json] = [
        {
            "what": {"reference": f"Patient/{holder_id}"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
    ]
    if entry.target_type in ("DocumentReference", "Binary") and entry.target_id:
        # A search entry carries counts ("20/135"), not a document id.
        with contextlib.suppress(ValueError):
            document = uuid.UUID(entry.target_id)
            entities.append({"what": {"reference": f"DocumentReference/{document}"}})
    event: Json = {
        "resourceType": "AuditEvent",
        "id": str(entry.id),
        "type": event_type,
        "subtype": subtype,
        "action": _action(entry.action),
        "recorded": instant(entry.at),
        "outcome": "4" if entry.action.endswith("-denied") else "0",
        "agent": [agent],
        "source": {"observer": {"display": "Carnet"}},
        "entity": entities,
    }
    if emergency:
        event["purposeOfEvent"] = [{"coding": [{"system": ACT_REASON, "code": "ETREAT"}]}]
    return event


def search_audit_events(
    session: Session,
    settings: Settings,
    principal: Principal,
    params: list[tuple[str, str]],
    base: str,
    *,
    request_id: str | None = None,
    prefer: str | None = None,
) -> Json:
    """`GET /fhir/AuditEvent?patient=…`: the space's history, 100 a page, newest first."""
    params, ignored = search.received(params, PARAMETERS, prefer)
    problems = Problems()
    unknown = sorted({name for name, _ in params if name not in PARAMETERS})
    for name in unknown:
        problems.add(name, f"Unsupported search parameter {name!r}.", "not-supported")
    patient: search.PatientCriterion | None = None
    date_from = date_to = None
    page = 1
    for name, value in params:
        if name == "patient":
            patient = search.patient_reference(name, value, problems)
        elif name == "patient.identifier":
            patient = search.patient_identifier(name, value, problems)
        elif name == "date":
            prefix, day = value[:2], value[2:]
            try:
                parsed = dt.date.fromisoformat(day[:10])
            except ValueError:
                problems.add(name, "Expected geYYYY-MM-DD or leYYYY-MM-DD.", "value")
                continue
            if prefix == "ge":
                date_from = parsed
            elif prefix == "le":
                date_to = parsed
            else:
                problems.add(name, "Only the ge and le prefixes are supported.", "value")
        elif name == "_page":
            page = search.page_number(name, [value], problems)
    if patient is None and not problems:
        problems.add(
            "patient", "A patient is required (patient or patient.identifier).", "required"
        )
    problems.raise_if_any()
    assert patient is not None
    holder = (
        account_service.holder(session, patient.holder_id)
        if patient.holder_id is not None
        else lookups.holder_by_nir(session, patient.nir or "")
    )
    if holder is None:
        raise NotFound("No such patient.")
    history = access_history.history(
        session,
        settings,
        principal,
        holder,
        access_history.HistoryQuery(date_from=date_from, date_to=date_to, page=page),
        request_id=request_id,
    )
    criteria = [(n, v) for n, v in params if n != "_page"]
    query = "&".join(f"{n}={v}" for n, v in criteria)
    links = [("self", f"{base}/AuditEvent?{query}&_page={page}")]
    if page < history.pages:
        links.append(("next", f"{base}/AuditEvent?{query}&_page={page + 1}"))
    if page > 1:
        links.append(("previous", f"{base}/AuditEvent?{query}&_page={page - 1}"))
    # No `fullUrl`: AuditEvents are only searched (no read by id to point at).
    return searchset(
        ((None, audit_event(e, holder.id)) for e in history.entries),
        history.total,
        links,
        ignored=ignored,
    )
