"""Profile entries → FHIR R4 resources (issue 7): every section has a view. Immunization,
Observation (measurements: vital signs, LOINC, UCUM; the blood group, LOINC 882-1; lifestyle,
category social-history, one Observation per aspect), AllergyIntolerance, Condition (illnesses;
disabilities, category text "disability"), MedicationStatement (free text, optional ATC/CIP coding),
FamilyMemberHistory (by relative), Encounter (hospital stays). Plain dicts, valid against the
official R4 JSON schema (`tests/profile/test_fhir.py`, `test_round_trip.py`). The way back (FHIR →
section content) is `profile.fhir_in`.

Codes are only those Carnet is sure of (LOINC 882-1, 72166-2, 11331-6; v3 ActCode IMP); anything
else is said in `text` rather than with an invented code.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carnet.accounts.models import Holder
from carnet.fhir.resources import coding, instant, patient_reference
from carnet.profile import rules
from carnet.profile.measurements import Bmi
from carnet.profile.service import Entry

Json = dict[str, Any]

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VACCINE_SYSTEM = "http://hl7.org/fhir/sid/cvx"
SNOMED_SYSTEM = "http://snomed.info/sct"
# SNOMED CT vaccine products → the CVX code the prevention calendar counts (agenda vaccines.csv)
# and a name when the resource gives no text; only unspecified-product concepts.
SNOMED_VACCINES: dict[str, tuple[str, str]] = {
    "836377006": ("88", "Influenza vaccine"),
    "836387005": ("122", "Rotavirus vaccine"),
    "871831003": ("03", "Measles, mumps and rubella vaccine"),
    "1119305005": ("213", "SARS-CoV-2 vaccine"),
}
ATC_SYSTEM = "http://www.whocc.no/atc"
CIP_SYSTEM = "https://smt.esante.gouv.fr/terminologie-cip_ucd"
ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
INPATIENT = ("IMP", "inpatient encounter")  # v3 ActCode: a hospital stay
BLOOD_GROUP = ("882-1", "ABO and Rh group [Type] in Blood")  # LOINC
SOCIAL_HISTORY = "social-history"  # observation-category
LABORATORY = "laboratory"
DISABILITY = "disability"  # Condition.category text (no code Carnet is sure of)
HUMAN_HELP = "Human help: "  # Condition.note of a disability: "Human help: yes" or "…: no"
RATE_LABEL = "Recognised disability rate"  # Condition.stage.type text; summary text "80 %"


@dataclass(frozen=True)
class Aspect:
    """One lifestyle field as its own Observation: id suffix, code text, LOINC when certain."""

    field: str
    slug: str
    label: str
    loinc: tuple[str, str] | None = None


LIFESTYLE_ASPECTS: tuple[Aspect, ...] = (
    Aspect("diet", "diet", "Diet"),
    Aspect("physical_activity", "physical-activity", "Physical activity"),
    Aspect("sleep", "sleep", "Sleep"),
    Aspect("screens", "screens", "Screen time"),
    Aspect("alcohol", "alcohol", "Alcohol use", ("11331-6", "History of Alcohol use")),
    Aspect("tobacco", "tobacco", "Tobacco use", ("72166-2", "Tobacco smoking status")),
)
ASPECTS_BY_SLUG = {a.slug: a for a in LIFESTYLE_ASPECTS}
# The LOINC codes an Observation may carry, beyond the measurements.
OTHER_OBSERVATION_CODES = frozenset(
    {BLOOD_GROUP[0]} | {a.loinc[0] for a in LIFESTYLE_ASPECTS if a.loinc}
)
_ID = re.compile(
    r"^(?P<entry>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-(?P<aspect>[a-z-]+))?$"
)
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
    kept = [coding(c["system"], c["code"], c.get("display")) for c in content.get("codings", [])]
    if content.get("code"):
        kept.append(coding(VACCINE_SYSTEM, content["code"]))
    if kept:
        vaccine["coding"] = kept
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


def encounter(entry: Entry, holder: Holder) -> Json:
    """A hospital stay: an inpatient encounter (v3 ActCode IMP), its period, the place as the
    service provider's display name, the reason as text. Without an end its status is unknown."""
    content = entry.content
    period: Json = {"start": content["from"]}
    if content.get("to"):
        period["end"] = content["to"]
    resource: Json = {
        "resourceType": "Encounter",
        "id": str(entry.id),
        "meta": _meta(entry),
        "status": "finished" if content.get("to") else "unknown",
        "class": coding(ACT_CODE_SYSTEM, *INPATIENT),
        "subject": patient_reference(holder),
        "period": period,
        "serviceProvider": {"display": content["place"]},
    }
    if content.get("reason"):
        resource["reasonCode"] = [{"text": content["reason"]}]
    return resource


def blood_group(entry: Entry, holder: Holder) -> Json:
    """The blood group: LOINC 882-1, category laboratory, the group as text (A+ … O-)."""
    return {
        "resourceType": "Observation",
        "id": str(entry.id),
        "meta": _meta(entry),
        "status": "final",
        "category": [{"coding": [coding(OBSERVATION_CATEGORY, LABORATORY)]}],
        "code": {"coding": [coding(rules.LOINC_SYSTEM, *BLOOD_GROUP)], "text": "Blood group"},
        "subject": patient_reference(holder),
        "issued": instant(entry.created_at),
        "valueCodeableConcept": {"text": entry.content["value"]},
    }


def lifestyle_id(entry_id: uuid.UUID, aspect: Aspect) -> str:
    return f"{entry_id}-{aspect.slug}"


def lifestyle(entry: Entry, holder: Holder) -> list[Json]:
    """One Observation (category social-history, `valueString`) per filled lifestyle field; its
    id is the entry's followed by the aspect (`<entry id>-tobacco`), so a read finds its entry."""
    found = []
    for aspect in LIFESTYLE_ASPECTS:
        value = entry.content.get(aspect.field)
        if not value:
            continue
        code: Json = {"text": aspect.label}
        if aspect.loinc:
            code["coding"] = [coding(rules.LOINC_SYSTEM, *aspect.loinc)]
        resource: Json = {
            "resourceType": "Observation",
            "id": lifestyle_id(entry.id, aspect),
            "meta": _meta(entry),
            "status": "final",
            "category": [{"coding": [coding(OBSERVATION_CATEGORY, SOCIAL_HISTORY)]}],
            "code": code,
            "subject": patient_reference(holder),
        }
        if content_date := entry.content.get("date"):
            resource["effectiveDateTime"] = content_date
        resource["valueString"] = value
        found.append(resource)
    return found


def disability(entry: Entry, holder: Holder) -> Json:
    """A disability: a Condition of category text "disability", its type as code text, the
    recognised rate as a stage ("80 %"), human help as a note ("Human help: yes")."""
    content = entry.content
    resource: Json = {
        "resourceType": "Condition",
        "id": str(entry.id),
        "meta": _meta(entry),
        "clinicalStatus": {"coding": [coding(CONDITION_CLINICAL, "active")]},
        "category": [{"text": DISABILITY}],
        "code": {"text": content["type"]},
        "subject": patient_reference(holder),
        "recordedDate": instant(entry.created_at),
    }
    if content.get("since"):
        resource["onsetDateTime"] = content["since"]
    if content.get("rate") is not None:
        resource["stage"] = [
            {"summary": {"text": f"{content['rate']} %"}, "type": {"text": RATE_LABEL}}
        ]
    resource["note"] = [{"text": HUMAN_HELP + ("yes" if content.get("human_help") else "no")}]
    return resource


Builder = Callable[[Entry, Holder], list[Json]]


def _one(build: Callable[[Entry, Holder], Json]) -> Builder:
    return lambda entry, holder: [build(entry, holder)]


# Section → (resource type, builder of its resources): what `/fhir`, `$everything` and the export
# emit. Every section has a view; an entry gives one resource (lifestyle: one per filled field).
VIEWS: dict[str, tuple[str, Builder]] = {
    rules.VACCINATION: ("Immunization", _one(immunization)),
    rules.MEASUREMENT: ("Observation", _one(observation)),
    rules.BLOOD_GROUP: ("Observation", _one(blood_group)),
    rules.LIFESTYLE: ("Observation", lifestyle),
    rules.ALLERGY: ("AllergyIntolerance", _one(allergy_intolerance)),
    rules.ILLNESS: ("Condition", _one(condition)),
    rules.DISABILITY: ("Condition", _one(disability)),
    rules.TREATMENT: ("MedicationStatement", _one(medication_statement)),
    rules.FAMILY_HISTORY: ("FamilyMemberHistory", _one(family_member_history)),
    rules.HOSPITAL_STAY: ("Encounter", _one(encounter)),
}
assert set(VIEWS) == set(rules.SECTIONS)
# Resource type → the sections it shows (in the order above).
RESOURCES: dict[str, tuple[str, ...]] = {}
for _section, (_type, _build) in VIEWS.items():
    RESOURCES[_type] = (*RESOURCES.get(_type, ()), _section)


def resources_of(entry: Entry, holder: Holder) -> list[Json]:
    return VIEWS[entry.section][1](entry, holder)


def split_id(resource_id: str) -> tuple[uuid.UUID, str | None] | None:
    """A profile resource id: the entry's id, and the lifestyle aspect when there is one."""
    found = _ID.match(resource_id)
    if found is None:
        return None
    return uuid.UUID(found["entry"]), found["aspect"]
