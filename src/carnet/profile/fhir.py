"""Profile entries → FHIR R4 resources (issue 7): Immunization, Observation (vital signs, LOINC,
UCUM), AllergyIntolerance, Condition, MedicationStatement (free text, optional ATC/CIP coding),
FamilyMemberHistory (by relative). Plain dicts, valid against the official R4 JSON schema
(`tests/profile/test_fhir.py`). The way back (FHIR → section content) is `profile.fhir_in`."""

from __future__ import annotations

from collections.abc import Callable
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
ATC_SYSTEM = "http://www.whocc.no/atc"
CIP_SYSTEM = "https://smt.esante.gouv.fr/terminologie-cip_ucd"
ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# family_history.relative → v3 RoleCode (and back, in profile.fhir_in).
RELATIVE_CODES: dict[str, tuple[str, str]] = {
    "mother": ("MTH", "mother"),
    "father": ("FTH", "father"),
    "sister": ("SIS", "sister"),
    "brother": ("BRO", "brother"),
    "child": ("CHILD", "child"),
    "grandmother": ("GRMTH", "grandmother"),
    "grandfather": ("GRFTH", "grandfather"),
    "aunt": ("AUNT", "aunt"),
    "uncle": ("UNCLE", "uncle"),
    "cousin": ("COUSN", "cousin"),
    "other": ("FAMMEMB", "family member"),
}


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


def medication_statement(entry: Entry, holder: Holder) -> Json:
    """A treatment: free text, with its ATC and CIP codes when the holder gave them."""
    content = entry.content
    medication: Json = {"text": content["label"]}
    codings = []
    if content.get("atc"):
        codings.append(coding(ATC_SYSTEM, content["atc"]))
    if content.get("cip"):
        codings.append(coding(CIP_SYSTEM, content["cip"]))
    if codings:
        medication["coding"] = codings
    resource: Json = {
        "resourceType": "MedicationStatement",
        "id": str(entry.id),
        "meta": _meta(entry),
        "status": "active" if content.get("current", True) else "completed",
        "medicationCodeableConcept": medication,
        "subject": patient_reference(holder),
        "dateAsserted": instant(entry.created_at),
    }
    if content.get("since"):
        resource["effectiveDateTime"] = content["since"]
    if content.get("dosage"):
        resource["dosage"] = [{"text": content["dosage"]}]
    return resource


def family_member_history(entry: Entry, holder: Holder) -> Json:
    """A family history line: the relative (v3 RoleCode) and the condition, as free text."""
    content = entry.content
    code, display = RELATIVE_CODES[content["relative"]]
    resource: Json = {
        "resourceType": "FamilyMemberHistory",
        "id": str(entry.id),
        "meta": _meta(entry),
        "status": "completed",
        "patient": patient_reference(holder),
        "date": instant(entry.created_at),
        "relationship": {"coding": [coding(ROLE_SYSTEM, code, display)]},
        "condition": [{"code": {"text": content["condition"]}}],
    }
    if content.get("note"):
        resource["note"] = [{"text": content["note"]}]
    return resource


# Resource type → (section, builder): what `/fhir`, `$everything` and the export emit. Hospital
# stays, blood group, lifestyle and disabilities have no FHIR view yet (the holder API has them).
RESOURCES: dict[str, tuple[str, Callable[[Entry, Holder], Json]]] = {
    "Immunization": (rules.VACCINATION, immunization),
    "Observation": (rules.MEASUREMENT, observation),
    "AllergyIntolerance": (rules.ALLERGY, allergy_intolerance),
    "Condition": (rules.ILLNESS, condition),
    "MedicationStatement": (rules.TREATMENT, medication_statement),
    "FamilyMemberHistory": (rules.FAMILY_HISTORY, family_member_history),
}
SECTION_BUILDERS = {section: build for section, build in RESOURCES.values()}
