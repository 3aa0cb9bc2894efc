"""FHIR R4 `Appointment` → the agenda's appointment body (SRV-2: created by the holder side, a
professional or an app through `POST /fhir/Appointment`).

The reader checks the structure (400, every problem with its FHIR location) and returns what
`agenda.service.create` then validates like any other appointment (past start, end before start,
impossible or skipped dates: 422 at the element concerned, via `FIELDS`). Nothing is written here.
Carnet keeps booked appointments with the patient as a participant and the professional and place
by name only (as `agenda.fhir.appointment` emits them); anything it would not keep is refused
rather than dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.fhir.parse import Problems, SubjectRef, loose_string, subject_reference

Json = dict[str, Any]

# Appointment body field → where it comes from in the resource (for the service's errors).
FIELDS = {
    "title": "Appointment.description",
    "start": "Appointment.start",
    "end": "Appointment.end",
    "notes": "Appointment.comment",
    "professional": "Appointment.participant",
    "location": "Appointment.participant",
}
# FHIR `instant` (seconds optional here): a date, a time and an offset, always.
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
_PRACTITIONERS = ("Practitioner", "PractitionerRole")
_MAX_MINUTES = 31 * 24 * 60


@dataclass(frozen=True)
class Parsed:
    """Whose agenda, and the appointment body (not yet validated by the service)."""

    subject: SubjectRef | None
    body: Json


def locate(field: str | None) -> str:
    """The FHIR element of an agenda body field (`start`, `title`…)."""
    return FIELDS.get((field or "").split(".", 1)[0], "Appointment")


def _instant(value: Any, where: str, problems: Problems, *, required: bool = False) -> str | None:
    """The text of a FHIR instant; whether the date exists is the agenda rules' call (422)."""
    text = loose_string(value, where, problems, required=required)
    if text is not None and not _INSTANT.match(text):
        problems.add(
            where,
            f"{text!r} is not a FHIR instant: give the date, the time and the offset, "
            "e.g. 2026-03-02T10:00:00+01:00.",
            "value",
        )
        return None
    return text


def _kind(actor: Json) -> str | None:
    """The participant's resource type: `type`, the prefix of its literal reference, or Patient
    for an INS-NIR identifier (ID-1)."""
    kind = actor.get("type")
    if isinstance(kind, str):
        return kind
    literal = actor.get("reference")
    if isinstance(literal, str) and "/" in literal:
        return literal.rstrip("/").split("/")[-2]
    identifier = actor.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") == INS_NIR_SYSTEM:
        return "Patient"
    return None


def _end_from_duration(start: str | None, minutes: Any, problems: Problems) -> str | None:
    """`minutesDuration` without `end`: the end it means (None when the start is unusable)."""
    where = "Appointment.minutesDuration"
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        problems.add(where, "Expected a positive whole number of minutes.", "value")
        return None
    if minutes > _MAX_MINUTES:
        problems.add(where, "An appointment lasts at most 31 days.", "value")
        return None
    if start is None:
        return None
    try:
        begins = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        return None  # an impossible start: the agenda rules say so, at Appointment.start
    return (begins + dt.timedelta(minutes=minutes)).isoformat()


def appointment(resource: Json, problems: Problems) -> Parsed:
    """Check an Appointment (resourceType already checked) and map it to the agenda's body."""
    status = resource.get("status")
    if status not in (None, "booked"):
        problems.add(
            "Appointment.status", "Carnet keeps booked appointments only (status booked).", "value"
        )
    title = loose_string(resource.get("description"), "Appointment.description", problems)
    if resource.get("description") in (None, ""):
        problems.add(
            "Appointment.description", "Say what the appointment is (e.g. Cardiologue).", "required"
        )
    start = _instant(resource.get("start"), "Appointment.start", problems, required=True)
    end = _instant(resource.get("end"), "Appointment.end", problems)
    if end is None and resource.get("end") is None and resource.get("minutesDuration") is not None:
        end = _end_from_duration(start, resource.get("minutesDuration"), problems)
    notes = loose_string(resource.get("comment"), "Appointment.comment", problems) or ""
    subject: SubjectRef | None = None
    patients = 0
    professional = location = ""
    participants = resource.get("participant")
    if not isinstance(participants, list) or not participants:
        problems.add(
            "Appointment.participant",
            "Required: at least the patient (actor Patient/<id> or its INS-NIR).",
            "required",
        )
        participants = []
    for index, item in enumerate(participants):
        where = f"Appointment.participant[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("actor"), dict):
            problems.add(f"{where}.actor", "Expected a participant with an actor.", "structure")
            continue
        actor = item["actor"]
        kind = _kind(actor)
        if kind == "Patient":
            patients += 1
            if patients == 1:
                subject = subject_reference(actor, f"{where}.actor", problems)
            continue
        display = loose_string(
            actor.get("display"), f"{where}.actor.display", problems, required=True
        )
        if kind in _PRACTITIONERS and not professional:
            professional = display or ""
        elif kind == "Location" and not location:
            location = display or ""
        else:
            problems.add(
                f"{where}.actor.type",
                "Carnet keeps the patient, one practitioner and one location (by name).",
                "not-supported",
            )
    if participants and patients != 1:
        problems.add(
            "Appointment.participant",
            "Exactly one participant is the patient (actor Patient/<id> or its INS-NIR).",
            "required" if patients == 0 else "value",
        )
    body: Json = {
        "title": title or "",
        "start": start or "",
        "end": end,
        "location": location,
        "professional": professional,
        "notes": notes,
    }
    return Parsed(subject, body)
