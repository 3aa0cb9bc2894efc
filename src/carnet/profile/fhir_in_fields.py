"""Where each content field of a profile section comes from in its FHIR resource (issue 7 item 2):
a write `profile.service` refuses (future date, implausible value, ATC/CIP shape) is answered 422
at the FHIR element the field was read from by `profile.fhir_in`.
"""

from __future__ import annotations

from carnet.profile import fhir, rules

# Section → its content fields → where they come from in the resource (for the service's errors).
FIELDS: dict[str, dict[str, str]] = {
    rules.VACCINATION: {
        "vaccine": "Immunization.vaccineCode",
        "code": "Immunization.vaccineCode.coding[0].code",
        "codings": "Immunization.vaccineCode.coding",
        "date": "Immunization.occurrenceDateTime",
        "dose_number": "Immunization.protocolApplied[0].doseNumberPositiveInt",
        "lot": "Immunization.lotNumber",
        "by": "Immunization.note[0].text",
    },
    rules.MEASUREMENT: {
        "kind": "Observation.code",
        "value": "Observation.valueQuantity.value",
        "unit": "Observation.valueQuantity.code",
        "date": "Observation.effectiveDateTime",
        "note": "Observation.note[0].text",
    },
    rules.BLOOD_GROUP: {"value": "Observation.valueCodeableConcept"},
    rules.LIFESTYLE: {
        **{a.field: "Observation.valueString" for a in fhir.LIFESTYLE_ASPECTS},
        "date": "Observation.effectiveDateTime",
    },
    rules.ILLNESS: {
        "label": "Condition.code.text",
        "status": "Condition.clinicalStatus",
        "since": "Condition.onsetDateTime",
        "note": "Condition.note[0].text",
    },
    rules.DISABILITY: {
        "type": "Condition.code.text",
        "rate": "Condition.stage[0].summary.text",
        "human_help": "Condition.note[0].text",
        "since": "Condition.onsetDateTime",
    },
    rules.ALLERGY: {
        "substance": "AllergyIntolerance.code.text",
        "type": "AllergyIntolerance.type",
        "reaction": "AllergyIntolerance.reaction[0].manifestation[0].text",
        "severity": "AllergyIntolerance.reaction[0].severity",
        "since": "AllergyIntolerance.onsetDateTime",
    },
    rules.TREATMENT: {
        "label": "MedicationStatement.medicationCodeableConcept.text",
        "atc": "MedicationStatement.medicationCodeableConcept.coding",
        "cip": "MedicationStatement.medicationCodeableConcept.coding",
        "dosage": "MedicationStatement.dosage[0].text",
        "current": "MedicationStatement.status",
        "since": "MedicationStatement.effectiveDateTime",
    },
    rules.FAMILY_HISTORY: {
        "relative": "FamilyMemberHistory.relationship",
        "condition": "FamilyMemberHistory.condition[0].code.text",
        "note": "FamilyMemberHistory.note[0].text",
    },
    rules.HOSPITAL_STAY: {
        "place": "Encounter.serviceProvider.display",
        "from": "Encounter.period.start",
        "to": "Encounter.period.end",
        "reason": "Encounter.reasonCode[0].text",
    },
}


# Section-level problems (raised by a model validator, so without a field) → the field concerned.
_MESSAGE_FIELDS = (
    ("Implausible ", "value"),
    ("The unit of ", "unit"),
    ("Unknown measurement", "kind"),
)


def locate(resource_type: str, section: str, field: str | None, message: str) -> tuple[str, str]:
    """The FHIR location and message of a section error from `profile.service.validate`: its
    field (`date`, `cip`…), a `field: …` prefix of its message, or the kind of problem."""
    fields = FIELDS.get(section, {})
    head, sep, rest = message.partition(": ")
    if sep and head.split(".", 1)[0] in fields:
        field, message = head, rest
    else:
        for prefix, name in _MESSAGE_FIELDS:
            if message.startswith(prefix) and name in fields:
                field = name
    return fields.get((field or "").split(".", 1)[0], resource_type), message
