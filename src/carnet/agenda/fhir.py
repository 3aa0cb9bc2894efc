"""Carnet appointments → FHIR R4 `Appointment` (SRV-2), as `agenda.fhir_api` answers them.

The patient is a participant (ID-1 reference); the professional and the place are given by name
only, as the holder typed them. Valid against the R4 JSON schema (`tests/agenda/test_fhir.py`).
"""

from __future__ import annotations

from typing import Any

from carnet.accounts.models import Holder
from carnet.agenda import service
from carnet.fhir import resources

Json = dict[str, Any]


def appointment(view: service.AppointmentView, holder: Holder) -> Json:
    """An R4 Appointment: the patient as a participant; professional and place by name only."""
    participants: list[Json] = [
        {"actor": resources.patient_reference(holder), "required": "required", "status": "accepted"}
    ]
    if view.professional:
        participants.append(
            {"actor": {"type": "Practitioner", "display": view.professional}, "status": "accepted"}
        )
    if view.location:
        participants.append(
            {"actor": {"type": "Location", "display": view.location}, "status": "accepted"}
        )
    resource: Json = {
        "resourceType": "Appointment",
        "id": str(view.id),
        "meta": {"versionId": str(view.version), "lastUpdated": resources.instant(view.updated_at)},
        "status": "booked",
        "description": view.title,
        "start": resources.instant(view.start),
        "end": resources.instant(view.end),
        "minutesDuration": max(1, int((view.end - view.start).total_seconds() // 60)),
        "created": resources.instant(view.created_at),
        "participant": participants,
    }
    if view.notes:
        resource["comment"] = view.notes
    return resource
