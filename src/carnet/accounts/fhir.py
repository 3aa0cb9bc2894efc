"""The holder's contacts as FHIR R4 `RelatedPerson` (issue 7: emergency contacts and the trusted
person of `accounts.wishes`; rules ACC-7, ACC-8). Organ donation and advance directives are wishes,
not persons: they are not emitted here. Valid against the official R4 JSON schema."""

from __future__ import annotations

from typing import Any

from carnet.accounts.family.schemas import EMERGENCY_CONTACT
from carnet.accounts.models import Holder
from carnet.accounts.wishes import Wish
from carnet.fhir.resources import coding, instant, patient_reference

Json = dict[str, Any]

CONTACT_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0131"
CARNET_ROLE_SYSTEM = "https://carnet.example/fhir/CodeSystem/contact-role"
EMERGENCY = (CONTACT_ROLE_SYSTEM, "C", "Emergency Contact")
TRUSTED = (CARNET_ROLE_SYSTEM, "trusted-person", "Personne de confiance")
ROLES = {EMERGENCY_CONTACT: EMERGENCY, "trusted_person": TRUSTED}


def role_code(wish: Wish) -> tuple[str, str]:
    system, code, _display = ROLES[wish.kind]
    return system, code


def related_person(wish: Wish, holder: Holder) -> Json:
    content = wish.content
    system, code, display = ROLES[wish.kind]
    relationship: Json = {"coding": [coding(system, code, display)]}
    if content.get("relation"):
        relationship["text"] = content["relation"]
    resource: Json = {
        "resourceType": "RelatedPerson",
        "id": str(wish.id),
        "meta": {"lastUpdated": instant(wish.updated_at)},
        "active": True,
        "patient": patient_reference(holder),
        "relationship": [relationship],
        "name": [{"text": content["name"]}],
    }
    telecom = [
        {"system": kind, "value": content[kind]} for kind in ("phone", "email") if content.get(kind)
    ]
    if telecom:
        resource["telecom"] = telecom
    if content.get("address"):
        resource["address"] = [{"text": content["address"]}]
    return resource
