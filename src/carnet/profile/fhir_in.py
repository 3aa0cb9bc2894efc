"""FHIR R4 resources → profile section content (issue 7 item 2: create/update under `/fhir`).

Each reader checks the structure (400, every problem with its FHIR location) and returns the
section (an Observation is a measurement, the blood group or a lifestyle field, by its code; a
Condition is an illness or, with the category text "disability", a disability) and its content
that `profile.service` then validates like any other write (future dates, plausible ranges, ATC/CIP
shapes: 422 at the FHIR element concerned, located by `profile.fhir_in_fields`). Nothing is
written here; codes from an unknown system are refused rather than silently dropped, except a
vaccine's, which are kept as given (issue 15 item 11).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carnet.fhir.parse import Problems, SubjectRef, loose_string, subject_reference
from carnet.profile import fhir, rules

Json = dict[str, Any]
UNKNOWN_CODE = "code-invalid"


@dataclass(frozen=True)
class Parsed:
    """What a resource says: whose profile, which section, its content (not yet validated) and,
    for a lifestyle Observation, the field it carries."""

    subject: SubjectRef | None
    content: Json
    section: str
    aspect: str | None = None


Reader = Callable[[Json, Problems], Parsed]

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


def _date(value: Any, where: str, problems: Problems, *, required: bool = False) -> str | None:
    """A FHIR date or dateTime kept as its day (YYYY-MM-DD)."""
    text = loose_string(value, where, problems, required=required)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        problems.add(where, f"{text!r} is not a FHIR date (YYYY-MM-DD…).", "value")
        return None


def _concept_text(concept: Json, where: str, problems: Problems) -> str | None:
    """`text`, or else the first coding's display."""
    text = loose_string(concept.get("text"), f"{where}.text", problems)
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
        system = loose_string(item.get("system"), f"{at}.system", problems, required=True)
        code = loose_string(item.get("code"), f"{at}.code", problems, required=True)
        if system and code:
            found.append((system, code, at))
    return found


def _note(resource: Json, where: str, problems: Problems) -> str:
    note = _first(resource.get("note"), where, problems)
    return (loose_string(note.get("text"), f"{where}[0].text", problems) or "") if note else ""


def _subject(resource: Json, element: str, problems: Problems) -> SubjectRef | None:
    path = f"{resource.get('resourceType')}.{element}"
    return subject_reference(resource.get(element), path, problems)


def _vaccine(concept: Json, problems: Problems) -> Json:
    """vaccineCode → `vaccine` (name), `code` (CVX, what the prevention calendar counts) and
    `codings` (any other coding, kept as given). A known SNOMED CT product is also mapped to its
    CVX code; with no known coding the name must be given as `text` (issue 15 item 11)."""
    where = "Immunization.vaccineCode"
    found: Json = {}
    kept: list[Json] = []
    named: str | None = None
    for system, code, at in _codings(concept, where, problems):
        if system == fhir.VACCINE_SYSTEM:
            if not code.isdigit() or len(code) > 3:
                problems.add(f"{at}.code", f"Unknown CVX code {code!r}.", UNKNOWN_CODE)
            else:
                found["code"] = code
            continue
        display = concept["coding"][int(at[at.rindex("[") + 1 : -1])].get("display")
        kept.append({"system": system, "code": code,
                     "display": display if isinstance(display, str) else ""})  # fmt: skip
        known = fhir.SNOMED_VACCINES.get(code) if system == fhir.SNOMED_SYSTEM else None
        if known is not None:
            found.setdefault("mapped", known[0])
            named = named or known[1]
    mapped = found.pop("mapped", None)
    if "code" not in found and mapped:
        found["code"] = mapped
    if kept:
        found["codings"] = kept
    text = loose_string(concept.get("text"), f"{where}.text", problems)
    if not text and "code" in found:
        text = _concept_display(concept) or named or f"CVX {found['code']}"
    if not text:
        problems.add(f"{where}.text", "Say which vaccine in text: no coding Carnet knows "
                     f"({fhir.VACCINE_SYSTEM} or a known {fhir.SNOMED_SYSTEM} product).",
                     "required")  # fmt: skip
    found["vaccine"] = text
    return found


def _concept_display(concept: Json) -> str | None:
    for item in concept.get("coding") or []:
        if isinstance(item, dict) and isinstance(item.get("display"), str) and item["display"]:
            display: str = item["display"]
            return display
    return None


# -- one reader per resource type ------------------------------------------------------------


def immunization(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "patient", problems)
    if resource.get("status") not in (None, "completed"):
        problems.add("Immunization.status", "Only completed immunizations are recorded.", "value")
    content: Json = {}
    vaccine = _obj(resource.get("vaccineCode"), "Immunization.vaccineCode", problems, required=True)
    if vaccine is not None:
        content.update(_vaccine(vaccine, problems))
    content["date"] = _date(
        resource.get("occurrenceDateTime"), "Immunization.occurrenceDateTime", problems,
        required=True,
    )  # fmt: skip
    if resource.get("lotNumber") is not None:
        content["lot"] = (
            loose_string(resource.get("lotNumber"), "Immunization.lotNumber", problems) or ""
        )
    note = _note(resource, "Immunization.note", problems)
    if note:
        content["by"] = note.removeprefix("Administered by: ")
    protocol = _first(resource.get("protocolApplied"), "Immunization.protocolApplied", problems)
    if protocol is not None:
        dose = protocol.get("doseNumberPositiveInt")
        if dose is not None:
            content["dose_number"] = dose
        content["booster"] = protocol.get("series") == "booster"
    return Parsed(subject, content, rules.VACCINATION)


def _observation_kind(concept: Json | None, problems: Problems) -> tuple[str | None, str | None]:
    """The section (and lifestyle field) an Observation's code names: a measurement's LOINC code,
    882-1 (blood group), a lifestyle LOINC code, or else a lifestyle field's code text."""
    codings = _codings(concept, "Observation.code", problems) if concept else []
    loinc = [(code, at) for system, code, at in codings if system == rules.LOINC_SYSTEM]
    for code, at in loinc[:1]:
        if code == fhir.BLOOD_GROUP[0]:
            return rules.BLOOD_GROUP, None
        for aspect in fhir.LIFESTYLE_ASPECTS:
            if aspect.loinc and aspect.loinc[0] == code:
                return rules.LIFESTYLE, aspect.field
        measure = rules.LOINC_TO_MEASURE.get(code)
        if measure is None or measure is rules.BMI:
            known = ", ".join(
                [m.loinc for m in rules.MEASURES.values()] + sorted(fhir.OTHER_OBSERVATION_CODES)
            )
            why = "BMI is derived from weight and height, never recorded" if measure else (
                f"Unknown LOINC code {code!r}; known: {known}"
            )  # fmt: skip
            problems.add(f"{at}.code", why + ".", UNKNOWN_CODE)
            return None, None
        return rules.MEASUREMENT, measure.name
    if concept is None:
        return None, None
    text = concept.get("text")
    for aspect in fhir.LIFESTYLE_ASPECTS:
        if isinstance(text, str) and text.strip().lower() == aspect.label.lower():
            return rules.LIFESTYLE, aspect.field
    labels = ", ".join(repr(a.label) for a in fhir.LIFESTYLE_ASPECTS if not a.loinc)
    problems.add("Observation.code.coding", f"A LOINC code ({rules.LOINC_SYSTEM}) is required "
                 f"(lifestyle without one: code.text {labels}).", "required")  # fmt: skip
    return None, None


def _text_value(resource: Json, problems: Problems) -> str | None:
    """`valueString`, or the text of `valueCodeableConcept`."""
    if resource.get("valueString") is not None:
        return loose_string(
            resource["valueString"], "Observation.valueString", problems, required=True
        )
    concept = _obj(resource.get("valueCodeableConcept"), "Observation.valueCodeableConcept",
                   problems, required=True)  # fmt: skip
    return _concept_text(concept, "Observation.valueCodeableConcept", problems) if concept else None


def observation(resource: Json, problems: Problems) -> Parsed:
    subject = _subject(resource, "subject", problems)
    if resource.get("status") not in ("final", "amended", "corrected", "preliminary"):
        problems.add("Observation.status", "Expected final, amended, corrected or preliminary.")
    concept = _obj(resource.get("code"), "Observation.code", problems, required=True)
    section, field = _observation_kind(concept, problems)
    content: Json = {}
    if section == rules.BLOOD_GROUP:
        value = _text_value(resource, problems)
        if value is not None:
            content["value"] = value.replace(" ", "")
    elif section == rules.LIFESTYLE:
        assert field is not None
        content[field] = _text_value(resource, problems)
        when = _date(resource.get("effectiveDateTime"), "Observation.effectiveDateTime", problems)
        if when:
            content["date"] = when
    else:
        if field:
            content["kind"] = field
        _measurement_value(resource, content, problems)
    if section in (rules.BLOOD_GROUP, rules.LIFESTYLE):
        if resource.get("note"):
            problems.add("Observation.note", "Carnet keeps no note on this observation.",
                         "not-supported")  # fmt: skip
        if resource.get("valueQuantity") is not None:
            problems.add("Observation.valueQuantity", "This observation's value is text.",
                         "structure")  # fmt: skip
    aspect = next((a.slug for a in fhir.LIFESTYLE_ASPECTS if a.field == field), None)
    return Parsed(subject, content, section or rules.MEASUREMENT,
                  aspect if section == rules.LIFESTYLE else None)  # fmt: skip


def _measurement_value(resource: Json, content: Json, problems: Problems) -> None:
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


_ACTIVE = frozenset({"active", "recurrence", "relapse"})
_PAST = frozenset({"inactive", "remission", "resolved"})
_RATE = re.compile(r"^\s*([0-9]{1,3})\s*%\s*$")


def _is_disability(resource: Json, problems: Problems) -> bool:
    """A category saying "disability" (its text, or a coding's code or display)."""
    categories = resource.get("category")
    if categories is None:
        return False
    if not isinstance(categories, list):
        problems.add("Condition.category", "Expected a list.", "structure")
        return False
    for item in categories:
        if not isinstance(item, dict):
            continue
        said = [item.get("text")] + [
            part
            for c in item.get("coding") or []
            if isinstance(c, dict)
            for part in (c.get("code"), c.get("display"))
        ]
        if any(isinstance(x, str) and x.strip().lower() == fhir.DISABILITY for x in said):
            return True
    return False


def _status_codes(resource: Json, problems: Problems) -> list[str]:
    status = _obj(resource.get("clinicalStatus"), "Condition.clinicalStatus", problems)
    return [c for _s, c, _at in (_codings(status, "Condition.clinicalStatus", problems)
                                 if status else [])]  # fmt: skip


def condition(resource: Json, problems: Problems) -> Parsed:
    if _is_disability(resource, problems):
        return disability(resource, problems)
    subject = _subject(resource, "subject", problems)
    content: Json = {}
    concept = _obj(resource.get("code"), "Condition.code", problems, required=True)
    if concept is not None:
        content["label"] = _concept_text(concept, "Condition.code", problems)
    codes = _status_codes(resource, problems)
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
    return Parsed(subject, content, rules.ILLNESS)


def disability(resource: Json, problems: Problems) -> Parsed:
    """A Condition of category "disability": type (code text), rate (stage summary "80 %"), human
    help (the note "Human help: yes" or "Human help: no"), since (onset)."""
    subject = _subject(resource, "subject", problems)
    content: Json = {}
    concept = _obj(resource.get("code"), "Condition.code", problems, required=True)
    if concept is not None:
        content["type"] = _concept_text(concept, "Condition.code", problems)
    codes = _status_codes(resource, problems)
    if codes and codes[0] not in _ACTIVE:
        problems.add("Condition.clinicalStatus.coding[0].code",
                     "Carnet records disabilities as active; delete the entry instead.", "value")  # fmt: skip
    since = _date(resource.get("onsetDateTime"), "Condition.onsetDateTime", problems)
    if since:
        content["since"] = since
    stage = _first(resource.get("stage"), "Condition.stage", problems)
    if stage is not None:
        summary = _obj(stage.get("summary"), "Condition.stage[0].summary", problems, required=True)
        text = loose_string(summary.get("text"), "Condition.stage[0].summary.text", problems,
                    required=True) if summary else None  # fmt: skip
        rate = _RATE.match(text) if text else None
        if text and rate is None:
            problems.add("Condition.stage[0].summary.text",
                         f"The recognised rate is a percentage such as '80 %', not {text!r}.",
                         "value")  # fmt: skip
        elif rate is not None:
            content["rate"] = int(rate.group(1))
    note = _note(resource, "Condition.note", problems)
    if note:
        answer = note.removeprefix(fhir.HUMAN_HELP).strip().lower()
        if not note.startswith(fhir.HUMAN_HELP) or answer not in ("yes", "no"):
            problems.add("Condition.note[0].text", f"A disability's note is "
                         f"'{fhir.HUMAN_HELP}yes' or '{fhir.HUMAN_HELP}no'.", "value")  # fmt: skip
        content["human_help"] = answer == "yes"
    return Parsed(subject, content, rules.DISABILITY)


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
    return Parsed(subject, content, rules.ALLERGY)


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
        content["dosage"] = loose_string(dosage.get("text"), "MedicationStatement.dosage[0].text",
                                 problems) or ""  # fmt: skip
    return Parsed(subject, content, rules.TREATMENT)


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
    return Parsed(subject, content, rules.FAMILY_HISTORY)


_NOT_A_STAY = frozenset({"planned", "cancelled", "entered-in-error"})


def encounter(resource: Json, problems: Problems) -> Parsed:
    """A hospital stay: class IMP (v3 ActCode), period (start required), the place as the
    serviceProvider's (or first location's) display name, reasonCode text."""
    subject = _subject(resource, "subject", problems)
    if resource.get("status") in _NOT_A_STAY:
        problems.add("Encounter.status", "Only stays that took place (or are under way) are "
                     "recorded.", "value")  # fmt: skip
    klass = _obj(resource.get("class"), "Encounter.class", problems, required=True)
    if klass is not None and (klass.get("system"), klass.get("code")) != (
        fhir.ACT_CODE_SYSTEM,
        fhir.INPATIENT[0],
    ):
        problems.add("Encounter.class", f"Carnet records hospital stays: class "
                     f"{fhir.ACT_CODE_SYSTEM}|{fhir.INPATIENT[0]}.", UNKNOWN_CODE)  # fmt: skip
    content: Json = {}
    period = _obj(resource.get("period"), "Encounter.period", problems, required=True)
    if period is not None:
        content["from"] = _date(period.get("start"), "Encounter.period.start", problems,
                                required=True)  # fmt: skip
        end = _date(period.get("end"), "Encounter.period.end", problems)
        if end:
            content["to"] = end
    provider = _obj(resource.get("serviceProvider"), "Encounter.serviceProvider", problems)
    place = loose_string(provider.get("display"), "Encounter.serviceProvider.display", problems) if (
        provider
    ) else None  # fmt: skip
    if place is None:
        location = _first(resource.get("location"), "Encounter.location", problems)
        where = _obj(location.get("location"), "Encounter.location[0].location", problems) if (
            location
        ) else None  # fmt: skip
        place = loose_string(where.get("display"), "Encounter.location[0].location.display",
                     problems) if where else None  # fmt: skip
    if place is None:
        problems.add("Encounter.serviceProvider.display",
                     "Name the place of the stay (serviceProvider or location display).",
                     "required")  # fmt: skip
    else:
        content["place"] = place
    reason = _first(resource.get("reasonCode"), "Encounter.reasonCode", problems)
    if reason is not None:
        content["reason"] = _concept_text(reason, "Encounter.reasonCode[0]", problems) or ""
    return Parsed(subject, content, rules.HOSPITAL_STAY)


READERS: dict[str, Reader] = {
    "Immunization": immunization,
    "Observation": observation,
    "Condition": condition,
    "AllergyIntolerance": allergy_intolerance,
    "MedicationStatement": medication_statement,
    "FamilyMemberHistory": family_member_history,
    "Encounter": encounter,
}
