"""The holder's contacts as FHIR R4 `RelatedPerson` (issue 7: emergency contacts and the trusted
person of `accounts.wishes`; rules ACC-7, ACC-8), and the two wishes ACC-7 names beside them,
organ donation and advance directives, as `Consent` (they are choices, not persons). Valid against
the official R4 JSON schema."""

from __future__ import annotations

import base64
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


# The two wishes as `Consent`. Codes Carnet is sure of only: LOINC 59284-0 "Patient Consent"
# (category), the R4 consent scope `adr` (advance directives); organ donation has no scope code
# in R4, so its scope is text. The policy is the French law each wish falls under.
CONSENT_CATEGORY = ("http://loinc.org", "59284-0", "Patient Consent")
SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
ORGAN_DONATION_LAW = "Code de la santé publique, art. L1232-1 (prélèvement d'organes)"
DIRECTIVES_LAW = "Code de la santé publique, art. L1111-11 (directives anticipées)"
DONATION_PROVISION = {"donor": "permit", "refuses": "deny"}  # undecided: no provision


def _text_attachment(title: str, text: str) -> Json:
    found: Json = {"contentType": "text/plain;charset=utf-8"}
    if title:
        found["title"] = title
    if text:
        found["data"] = base64.b64encode(text.encode()).decode("ascii")
    return found


def consent(wish: Wish, holder: Holder) -> Json | None:
    """Organ donation or advance directives as a `Consent`; None for advance directives the
    holder says they have not written (nothing to point a professional to)."""
    content = wish.content
    resource: Json = {
        "resourceType": "Consent",
        "id": str(wish.id),
        "meta": {"lastUpdated": instant(wish.updated_at)},
        "status": "active",
        "category": [{"coding": [coding(*CONSENT_CATEGORY)]}],
        "patient": patient_reference(holder),
        "dateTime": instant(wish.updated_at),
    }
    if wish.kind == "organ_donation":
        resource["scope"] = {"text": "Organ donation"}
        resource["policyRule"] = {"text": ORGAN_DONATION_LAW}
        provision = DONATION_PROVISION.get(str(content.get("choice")))
        if provision is not None:
            resource["provision"] = {"type": provision}
        if content.get("note"):
            resource["sourceAttachment"] = _text_attachment("Note", str(content["note"]))
        return resource
    if not content.get("has_directives"):
        return None
    resource["scope"] = {"coding": [coding(SCOPE_SYSTEM, "adr", "Advanced Care Directive")]}
    resource["policyRule"] = {"text": DIRECTIVES_LAW}
    where, text = str(content.get("where_kept") or ""), str(content.get("text") or "")
    if where or text:
        resource["sourceAttachment"] = _text_attachment(where, text)
    return resource
