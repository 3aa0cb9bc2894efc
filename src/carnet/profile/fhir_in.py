"""FHIR R4 resources → profile section content (issue 7 item 2: create/update under `/fhir`).

Each reader checks the structure (400, every problem with its FHIR location) and returns the
section content that `profile.service` then validates like any other write (future dates,
plausible ranges, ATC/CIP shapes: 422 at the FHIR element concerned, via `FIELDS`). Nothing is
written here; codes from an unknown system are refused rather than silently dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carnet.fhir.parse import Problems, SubjectRef, subject_reference
from carnet.profile import fhir, rules

Json = dict[str, Any]
UNKNOWN_CODE = "code-invalid"


@dataclass(frozen=True)
class Parsed:
    """What a resource says: whose profile, and the section content (not yet validated)."""

    subject: SubjectRef | None
    content: Json


Reader = Callable[[Json, Problems], Parsed]

# Section content field → where it comes from in the resource (for the service's errors).
FIELDS: dict[str, dict[str, str]] = {
    "Immunization": {
        "vaccine": "Immunization.vaccineCode",
        "code": "Immunization.vaccineCode.coding[0].code",
        "date": "Immunization.occurrenceDateTime",
        "dose_number": "Immunization.protocolApplied[0].doseNumberPositiveInt",
        "lot": "Immunization.lotNumber",
        "by": "Immunization.note[0].text",
    },
    "Observation": {
        "kind": "Observation.code",
        "value": "Observation.valueQuantity.value",
        "unit": "Observation.valueQuantity.code",
        "date": "Observation.effectiveDateTime",
        "note": "Observation.note[0].text",
    },
    "Condition": {
        "label": "Condition.code.text",
        "status": "Condition.clinicalStatus",
        "since": "Condition.onsetDateTime",
        "note": "Condition.note[0].text",
    },
    "AllergyIntolerance": {
        "substance": "AllergyIntolerance.code.text",
        "type": "AllergyIntolerance.type",
        "reaction": "AllergyIntolerance.reaction[0].manifestation[0].text",
        "severity": "AllergyIntolerance.reaction[0].severity",
        "since": "AllergyIntolerance.onsetDateTime",
    },
    "MedicationStatement": {
        "label": "MedicationStatement.medicationCodeableConcept.text",
        "atc": "MedicationStatement.medicationCodeableConcept.coding",
        "cip": "MedicationStatement.medicationCodeableConcept.coding",
        "dosage": "MedicationStatement.dosage[0].text",
        "current": "MedicationStatement.status",
        "since": "MedicationStatement.effectiveDateTime",
    },
    "FamilyMemberHistory": {
        "relative": "FamilyMemberHistory.relationship",
        "condition": "FamilyMemberHistory.condition[0].code.text",
        "note": "FamilyMemberHistory.note[0].text",
    },
}


# Section-level problems (raised by a model validator, so without a field) → the field concerned.
_MESSAGE_FIELDS = (("Implausible ", "value"), ("The unit of ", "unit"), ("Unknown measurement", "kind"))


def locate(resource_type: str, field: str | None, message: str) -> tuple[str, str]:
    """The FHIR location and message of a section error from `profile.service.validate`: its
    field (`date`, `cip`…), a `field: …` prefix of its message, or the kind of problem."""
    fields = FIELDS.get(resource_type, {})
    head, sep, rest = message.partition(": ")
    if sep and head.split(".", 1)[0] in fields:
        field, message = head, rest
    else:
        for prefix, name in _MESSAGE_FIELDS:
            if message.startswith(prefix) and name in fields:
                field = name
    return fields.get((field or "").split(".", 1)[0], resource_type), message


# -- small readers ---------------------------------------------------------------------------


def _obj(value: Any, where: str, problems: Problems, *, required: bool = False) -> Json | None:
    if value is None:
        if required:
            problems.add(where, "Required.", "required")
        return None
    if not isinstance(value, dict):
        problems.add(where, "Expected an object.", "structure")
        return None
    return value


def _first(value: Any, where: str, problems: Problems, *, required: bool = False) -> Json | None:
    """The first item of a list of objects (Carnet keeps one)."""
    if value is None or value == []:
        if required:
            problems.add(where, "Required.", "required")
        return None
    if not isinstance(value, list) or not isinstance(value[0], dict):
        problems.add(where, "Expected a list of objects.", "structure")
        return None
    if len(value) > 1:
        problems.add(f"{where}[1]", "Carnet keeps one item here.", "not-supported")
    first: Json = value[0]
    return first


def _str(value: Any, where: str, problems: Problems, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            problems.add(where, "Required.", "required")
        return None
    if not isinstance(value, str):
        problems.add(where, "Expected a string.", "structure")
        return None
    return value


def _date(value: Any, where: str, problems: Problems, *, required: bool = False) -> str | None:
    """A FHIR date or dateTime kept as its day (YYYY-MM-DD)."""
    text = _str(value, where, problems, required=required)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        problems.add(where, f"{text!r} is not a FHIR date (YYYY-MM-DD…).", "value")
        return None


def _concept_text(concept: Json, where: str, problems: Problems) -> str | None:
    """`text`, or else the first coding's display."""
    text = _str(concept.get("text"), f"{where}.text", problems)
    if text:
        return text
    codings = concept.get("coding")
    if isinstance(codings, list):
        for item in codings:
            if isinstance(item, dict) and isinstance(item.get("display"), str):
                display: str = item["display"]
                return display
    problems.add(f"{where}.text", "Say what it is in text (or a coding's display).", "required")
    return None


def _codings(concept: Json, where: str, problems: Problems) -> list[tuple[str, str, str]]:
    """(system, code, location) of each coding."""
    found: list[tuple[str, str, str]] = []
    codings = concept.get("coding")
    if codings is None:
        return found
    if not isinstance(codings, list):
        problems.add(f"{where}.coding", "Expected a list.", "structure")
        return found
    for index, item in enumerate(codings):
        at = f"{where}.coding[{index}]"
        if not isinstance(item, dict):
            problems.add(at, "Expected an object.", "structure")
            continue
        system = _str(item.get("system"), f"{at}.system", problems, required=True)
        code = _str(item.get("code"), f"{at}.code", problems, required=True)
        if system and code:
            found.append((system, code, at))
    return found


def _note(resource: Json, where: str, problems: Problems) -> str:
    note = _first(resource.get("note"), where, problems)
    return (_str(note.get("text"), f"{where}[0].text", problems) or "") if note else ""


def _subject(resource: Json, element: str, problems: Problems) -> SubjectRef | None:
    path = f"{resource.get('resourceType')}.{element}"
    return subject_reference(resource.get(element), path, problems)


# -- one reader per resource type ------------------------------------------------------------


def immunization(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "patient", problems)
    if resource.get("status") not in (None, "completed"):
        problems.add("Immunization.status", "Only completed immunizations are recorded.", "value")
    content: Json = {}
    vaccine = _obj(resource.get("vaccineCode"), "Immunization.vaccineCode", problems, required=True)
    if vaccine is not None:
        content["vaccine"] = _concept_text(vaccine, "Immunization.vaccineCode", problems)
        for system, code, at in _codings(vaccine, "Immunization.vaccineCode", problems):
            if system != fhir.VACCINE_SYSTEM:
                problems.add(
                    f"{at}.system",
                    f"Unknown vaccine code system; Carnet codes vaccines in {fhir.VACCINE_SYSTEM}.",
                    UNKNOWN_CODE,
                )
            elif not code.isdigit() or len(code) > 3:
                problems.add(f"{at}.code", f"Unknown CVX code {code!r}.", UNKNOWN_CODE)
            else:
                content["code"] = code
    content["date"] = _date(
        resource.get("occurrenceDateTime"), "Immunization.occurrenceDateTime", problems,
        required=True,
    )  # fmt: skip
    if resource.get("lotNumber") is not None:
        content["lot"] = _str(resource.get("lotNumber"), "Immunization.lotNumber", problems) or ""
    note = _note(resource, "Immunization.note", problems)
    if note:
        content["by"] = note.removeprefix("Administered by: ")
    protocol = _first(resource.get("protocolApplied"), "Immunization.protocolApplied", problems)
    if protocol is not None:
        dose = protocol.get("doseNumberPositiveInt")
        if dose is not None:
            content["dose_number"] = dose
        content["booster"] = protocol.get("series") == "booster"
    return Parsed(subject, content)


def observation(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "subject", problems)
    if resource.get("status") not in ("final", "amended", "corrected", "preliminary"):
        problems.add("Observation.status", "Expected final, amended, corrected or preliminary.")
    content: Json = {}
    concept = _obj(resource.get("code"), "Observation.code", problems, required=True)
    loinc = [
        (code, at)
        for system, code, at in (_codings(concept, "Observation.code", problems) if concept else [])
        if system == rules.LOINC_SYSTEM
    ]
    if concept is not None and not loinc:
        problems.add("Observation.code.coding", f"A LOINC code ({rules.LOINC_SYSTEM}) is required.",
                     "required")  # fmt: skip
    for code, at in loinc[:1]:
        measure = rules.LOINC_TO_MEASURE.get(code)
        if measure is None or measure is rules.BMI:
            known = ", ".join(m.loinc for m in rules.MEASURES.values())
            why = "BMI is derived from weight and height, never recorded" if measure else (
                f"Unknown LOINC code {code!r}; known: {known}"
            )  # fmt: skip
            problems.add(f"{at}.code", why + ".", UNKNOWN_CODE)
        else:
            content["kind"] = measure.name
    quantity = _obj(
        resource.get("valueQuantity"), "Observation.valueQuantity", problems, required=True
    )
    if quantity is not None:
        value = quantity.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.add("Observation.valueQuantity.value", "A number is required.", "required")
        else:
            content["value"] = value
        system = quantity.get("system")
        if system is not None and system != rules.UCUM_SYSTEM:
            problems.add("Observation.valueQuantity.system", f"Units are UCUM ({rules.UCUM_SYSTEM}).",
                         UNKNOWN_CODE)  # fmt: skip
        unit = quantity.get("code", quantity.get("unit"))
        if unit is not None:
            content["unit"] = unit
    content["date"] = _date(
        resource.get("effectiveDateTime"), "Observation.effectiveDateTime", problems, required=True
    )
    note = _note(resource, "Observation.note", problems)
    if note:
        content["note"] = note
    return Parsed(subject, content)


_ACTIVE = frozenset({"active", "recurrence", "relapse"})
_PAST = frozenset({"inactive", "remission", "resolved"})


def condition(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "subject", problems)
    content: Json = {}
    concept = _obj(resource.get("code"), "Condition.code", problems, required=True)
    if concept is not None:
        content["label"] = _concept_text(concept, "Condition.code", problems)
    status = _obj(resource.get("clinicalStatus"), "Condition.clinicalStatus", problems)
    codes = [c for _s, c, _at in (_codings(status, "Condition.clinicalStatus", problems)
                                  if status else [])]  # fmt: skip
    if not codes or codes[0] in _ACTIVE:
        content["status"] = "current"
    elif codes[0] in _PAST:
        content["status"] = "past"
    else:
        problems.add("Condition.clinicalStatus.coding[0].code",
                     f"Unknown clinical status {codes[0]!r}.", UNKNOWN_CODE)  # fmt: skip
    since = _date(resource.get("onsetDateTime"), "Condition.onsetDateTime", problems)
    if since:
        content["since"] = since
    note = _note(resource, "Condition.note", problems)
    if note:
        content["note"] = note
    return Parsed(subject, content)


def allergy_intolerance(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "patient", problems)
    content: Json = {}
    concept = _obj(resource.get("code"), "AllergyIntolerance.code", problems, required=True)
    if concept is not None:
        content["substance"] = _concept_text(concept, "AllergyIntolerance.code", problems)
    if resource.get("type") is not None:
        content["type"] = resource["type"]
    reaction = _first(resource.get("reaction"), "AllergyIntolerance.reaction", problems)
    if reaction is not None:
        manifestation = _first(
            reaction.get("manifestation"), "AllergyIntolerance.reaction[0].manifestation", problems
        )
        if manifestation is not None:
            text = manifestation.get("text")
            if isinstance(text, str) and text != "unspecified":
                content["reaction"] = text
        if reaction.get("severity") is not None:
            content["severity"] = reaction["severity"]
    since = _date(resource.get("onsetDateTime"), "AllergyIntolerance.onsetDateTime", problems)
    if since:
        content["since"] = since
    return Parsed(subject, content)


def medication_statement(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "subject", problems)
    where = "MedicationStatement.medicationCodeableConcept"
    content: Json = {}
    concept = _obj(resource.get("medicationCodeableConcept"), where, problems, required=True)
    if concept is not None:
        content["label"] = _concept_text(concept, where, problems)
        for system, code, at in _codings(concept, where, problems):
            if system == fhir.ATC_SYSTEM:
                content["atc"] = code
            elif system == fhir.CIP_SYSTEM:
                content["cip"] = code
            else:
                problems.add(f"{at}.system", f"Medicines are coded in ATC ({fhir.ATC_SYSTEM}) or "
                             f"CIP ({fhir.CIP_SYSTEM}).", UNKNOWN_CODE)  # fmt: skip
    status = resource.get("status")
    if status in ("active", "intended", "on-hold"):
        content["current"] = True
    elif status in ("completed", "stopped"):
        content["current"] = False
    else:
        problems.add("MedicationStatement.status",
                     "Expected active, intended, on-hold, completed or stopped.", "value")  # fmt: skip
    since = _date(resource.get("effectiveDateTime"), "MedicationStatement.effectiveDateTime",
                  problems)  # fmt: skip
    if since:
        content["since"] = since
    dosage = _first(resource.get("dosage"), "MedicationStatement.dosage", problems)
    if dosage is not None:
        content["dosage"] = _str(dosage.get("text"), "MedicationStatement.dosage[0].text",
                                 problems) or ""  # fmt: skip
    return Parsed(subject, content)


_RELATIVES = {code: name for name, (code, _display) in fhir.RELATIVE_CODES.items()}


def family_member_history(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "patient", problems)
    content: Json = {}
    relationship = _obj(
        resource.get("relationship"), "FamilyMemberHistory.relationship", problems, required=True
    )
    if relationship is not None:
        codings = _codings(relationship, "FamilyMemberHistory.relationship", problems)
        if not codings:
            problems.add("FamilyMemberHistory.relationship.coding",
                         f"The relative is coded in {fhir.ROLE_SYSTEM}.", "required")  # fmt: skip
        for system, code, at in codings[:1]:
            if system != fhir.ROLE_SYSTEM or code not in _RELATIVES:
                known = ", ".join(_RELATIVES)
                problems.add(f"{at}.code", f"Unknown relative {code!r}; known ({fhir.ROLE_SYSTEM}): "
                             f"{known}.", UNKNOWN_CODE)  # fmt: skip
            else:
                content["relative"] = _RELATIVES[code]
    first = _first(resource.get("condition"), "FamilyMemberHistory.condition", problems,
                   required=True)  # fmt: skip
    if first is not None:
        concept = _obj(first.get("code"), "FamilyMemberHistory.condition[0].code", problems,
                       required=True)  # fmt: skip
        if concept is not None:
            content["condition"] = _concept_text(
                concept, "FamilyMemberHistory.condition[0].code", problems
            )
    note = _note(resource, "FamilyMemberHistory.note", problems)
    if note:
        content["note"] = note
    return Parsed(subject, content)


READERS: dict[str, Reader] = {
    "Immunization": immunization,
    "Observation": observation,
    "Condition": condition,
    "AllergyIntolerance": allergy_intolerance,
    "MedicationStatement": medication_statement,
    "FamilyMemberHistory": family_member_history,
}
