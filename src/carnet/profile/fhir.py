"""Profile entries → FHIR R4 resources (issue 7): Immunization, Observation (vital signs, LOINC,
UCUM), AllergyIntolerance, Condition. Plain dicts, valid against the official R4 JSON schema
(`tests/profile/test_fhir.py`)."""

from __future__ import annotations

from typing import Any

from carnet.accounts.models import Holder
from carnet.fhir.resources import coding, instant, patient_reference
from carnet.profile import rules
from carnet.profile.service import Bmi, Entry

Json = dict[str, Any]

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VACCINE_SYSTEM = "http://hl7.org/fhir/sid/cvx"


def _meta(entry: Entry) -> Json:
    return {"versionId": str(entry.version), "lastUpdated": instant(entry.updated_at)}


def immunization(entry: Entry, holder: Holder) -> Json:
    content = entry.content
    vaccine: Json = {"text": content["vaccine"]}
    if content.get("code"):
        vaccine["coding"] = [coding(VACCINE_SYSTEM, content["code"])]
    resource: Json = {
        "resourceType": "Immunization",
        "id": str(entry.id),
        "meta": _meta(entry),
        "status": "completed",
        "vaccineCode": vaccine,
        "patient": patient_reference(holder),
        "occurrenceDateTime": content["date"],
        "recorded": instant(entry.created_at),
    }
    if content.get("lot"):
        resource["lotNumber"] = content["lot"]
    if content.get("by"):
        resource["note"] = [{"text": f"Administered by: {content['by']}"}]
    protocol: Json = {"doseNumberPositiveInt": content.get("dose_number", 1)}
    if content.get("booster"):
        protocol["series"] = "booster"
    resource["protocolApplied"] = [protocol]
    return resource


def _observation(
    resource_id: str,
    measure: rules.MeasureKind,
    value: float,
    when: str,
    holder: Holder,
) -> Json:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [
            {"coding": [coding(OBSERVATION_CATEGORY, measure.category)]},
        ],
        "code": {
            "coding": [coding(rules.LOINC_SYSTEM, measure.loinc, measure.display)],
            "text": measure.name,
        },
        "subject": patient_reference(holder),
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": measure.unit,
            "system": rules.UCUM_SYSTEM,
            "code": measure.unit,
        },
    }


def observation(entry: Entry, holder: Holder) -> Json:
    measure = rules.MEASURES[entry.content["kind"]]
    resource = _observation(
        str(entry.id), measure, entry.content["value"], entry.content["date"], holder
    )
    resource["meta"] = _meta(entry)
    return resource


def bmi_observation(derived: Bmi, holder: Holder) -> Json:
    """The derived BMI (not stored): its id names the holder, it points at its sources."""
    resource = _observation(
        f"bmi-{holder.id}", rules.BMI, derived.value, derived.date.isoformat(), holder
    )
    resource["derivedFrom"] = [
        {"reference": f"Observation/{derived.weight.id}"},
        {"reference": f"Observation/{derived.height.id}"},
    ]
    return resource


def allergy_intolerance(entry: Entry, holder: Holder) -> Json:
    content = entry.content
    resource: Json = {
        "resourceType": "AllergyIntolerance",
        "id": str(entry.id),
        "meta": _meta(entry),
        "clinicalStatus": {"coding": [coding(ALLERGY_CLINICAL, "active")]},
        "type": content.get("type", "allergy"),
        "code": {"text": content["substance"]},
        "patient": patient_reference(holder),
        "recordedDate": instant(entry.created_at),
    }
    if content.get("since"):
        resource["onsetDateTime"] = content["since"]
    if content.get("reaction") or content.get("severity"):
        reaction: Json = {"manifestation": [{"text": content.get("reaction") or "unspecified"}]}
        if content.get("severity"):
            reaction["severity"] = content["severity"]
        resource["reaction"] = [reaction]
    return resource


def condition(entry: Entry, holder: Holder) -> Json:
    content = entry.content
    status = "active" if content.get("status") == "current" else "resolved"
    resource: Json = {
        "resourceType": "Condition",
        "id": str(entry.id),
        "meta": _meta(entry),
        "clinicalStatus": {"coding": [coding(CONDITION_CLINICAL, status)]},
        "category": [{"coding": [coding(CONDITION_CATEGORY, "problem-list-item")]}],
        "code": {"text": content["label"]},
        "subject": patient_reference(holder),
        "recordedDate": instant(entry.created_at),
    }
    if content.get("since"):
        resource["onsetDateTime"] = content["since"]
    if content.get("note"):
        resource["note"] = [{"text": content["note"]}]
    return resource
