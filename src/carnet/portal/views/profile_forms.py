"""How the medical profile's sections read and are filled in (issue 7, ACC-7): each section's form
described once (`FIELDS`), entries shown in the person's words, a posted form read back into the
content the section models of `profile.schemas` validate (the JSON API's), their refusals said
again field by field, and who made a change. No route and no decision here: the pages are in
`views.medical`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.errors import CarnetError
from carnet.portal import messages
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import text
from carnet.profile import rules
from carnet.profile import service as profile

SECTION_TITLES: dict[str, str] = {
    rules.ILLNESS: N_("Illnesses"),
    rules.TREATMENT: N_("Treatments"),
    rules.HOSPITAL_STAY: N_("Hospital stays"),
    rules.ALLERGY: N_("Allergies and intolerances"),
    rules.FAMILY_HISTORY: N_("Family history"),
    rules.VACCINATION: N_("Vaccinations"),
    rules.BLOOD_GROUP: N_("Blood group"),
    rules.MEASUREMENT: N_("Measurements"),
    rules.LIFESTYLE: N_("Lifestyle"),
    rules.DISABILITY: N_("Disabilities"),
}
MEASURE_NAMES: dict[str, str] = {
    "weight": N_("Weight"),
    "height": N_("Height"),
    "waist": N_("Waist circumference"),
    "temperature": N_("Temperature"),
    "glucose": N_("Blood glucose"),
    "systolic": N_("Blood pressure, systolic"),
    "diastolic": N_("Blood pressure, diastolic"),
    "pain": N_("Pain (0 to 10)"),
    "heart_rate": N_("Heart rate"),
    "head_circumference": N_("Head circumference"),
    "steps": N_("Steps per day"),
    "hba1c": N_("HbA1c"),
    "bmi": N_("Body mass index (BMI)"),
}
# How units read on a page (the stored unit is UCUM).
UNIT_DISPLAY = {
    "kg/m2": "kg/m²",
    "Cel": "°C",
    "mm[Hg]": "mmHg",
    "{score}": "/10",
    "/min": "/min",
    "/d": "/d",
}
STATUS_LABELS = {
    "below": N_("Below the target"),
    "within": N_("Within the target"),
    "above": N_("Above the target"),
}
CHANGE_LABELS = {"create": N_("Added"), "update": N_("Changed"), "delete": N_("Deleted")}
RELATION_LABELS = {
    "self": N_("the holder"),
    "representative": N_("legal representative"),
    "caregiver": N_("caregiver"),
    "professional": N_("professional"),
    "regulator": N_("regulating physician"),
    "app": N_("application"),
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, date, number, select, checkbox
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    help: str = ""


def _opts(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return pairs


RELATIVES = _opts(
    ("mother", N_("Mother")),
    ("father", N_("Father")),
    ("sister", N_("Sister")),
    ("brother", N_("Brother")),
    ("child", N_("Child")),
    ("grandmother", N_("Grandmother")),
    ("grandfather", N_("Grandfather")),
    ("aunt", N_("Aunt")),
    ("uncle", N_("Uncle")),
    ("cousin", N_("Cousin")),
    ("other", N_("Other relative")),
)
FIELDS: dict[str, tuple[Field, ...]] = {
    rules.ILLNESS: (
        Field("label", N_("Illness"), required=True),
        Field(
            "status",
            N_("Status"),
            "select",
            True,
            _opts(("current", N_("Current")), ("past", N_("Past"))),
        ),
        Field("since", N_("Since (optional)"), "date"),
        Field("note", N_("Note (optional)"), "textarea"),
    ),
    rules.TREATMENT: (
        Field("label", N_("Medicine"), required=True),
        Field("dosage", N_("Dosage (optional)")),
        Field("atc", N_("ATC code (optional)"), help=N_("For example: C09AA05.")),
        Field("cip", N_("CIP code (optional)"), help=N_("7 or 13 digits, on the box.")),
        Field("current", N_("I am taking it now"), "checkbox"),
        Field("since", N_("Since (optional)"), "date"),
    ),
    rules.HOSPITAL_STAY: (
        Field("place", N_("Hospital or clinic"), required=True),
        Field("from", N_("From"), "date", True),
        Field("to", N_("To (optional)"), "date"),
        Field("reason", N_("Reason (optional)"), "textarea"),
    ),
    rules.ALLERGY: (
        Field("substance", N_("Substance"), required=True),
        Field(
            "type",
            N_("Type"),
            "select",
            True,
            _opts(("allergy", N_("Allergy")), ("intolerance", N_("Intolerance"))),
        ),
        Field("reaction", N_("Reaction (optional)")),
        Field(
            "severity",
            N_("Severity (optional)"),
            "select",
            False,
            _opts(
                ("", N_("Not stated")),
                ("mild", N_("Mild")),
                ("moderate", N_("Moderate")),
                ("severe", N_("Severe")),
            ),
        ),
        Field("since", N_("Since (optional)"), "date"),
    ),
    rules.FAMILY_HISTORY: (
        Field("relative", N_("Relative"), "select", True, RELATIVES),
        Field("condition", N_("Condition"), required=True),
        Field("note", N_("Note (optional)"), "textarea"),
    ),
    rules.VACCINATION: (
        Field("vaccine", N_("Vaccine"), required=True),
        Field("date", N_("Date"), "date", True),
        Field("dose_number", N_("Dose number"), "number", True),
        Field("booster", N_("Booster"), "checkbox"),
        Field("lot", N_("Batch number (optional)")),
        Field("by", N_("Given by (optional)")),
    ),
    rules.BLOOD_GROUP: (
        Field(
            "value",
            N_("Blood group"),
            "select",
            True,
            tuple((g, g) for g in ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")),
        ),
    ),
    rules.MEASUREMENT: (
        Field(
            "kind",
            N_("Measurement"),
            "select",
            True,
            tuple((k, MEASURE_NAMES[k]) for k in rules.MEASURES),
        ),
        Field(
            "value",
            N_("Value"),
            "number",
            True,
            help=N_("In the unit shown next to each measurement."),
        ),
        Field("date", N_("Date"), "date", True),
        Field("note", N_("Note (optional)")),
    ),
    rules.LIFESTYLE: (
        Field("diet", N_("Diet (optional)")),
        Field("physical_activity", N_("Physical activity (optional)")),
        Field("sleep", N_("Sleep (optional)")),
        Field("screens", N_("Screens (optional)")),
        Field("alcohol", N_("Alcohol (optional)")),
        Field("tobacco", N_("Tobacco (optional)")),
        Field("date", N_("Date (optional)"), "date"),
    ),
    rules.DISABILITY: (
        Field("type", N_("Type of disability"), required=True),
        Field("rate", N_("Recognised rate, in percent (optional)"), "number"),
        Field("human_help", N_("Needs human help"), "checkbox"),
        Field("since", N_("Since (optional)"), "date"),
    ),
}
assert set(FIELDS) == set(rules.SECTIONS)
INTEGER_FIELDS = frozenset({"dose_number", "rate"})
# What an empty "add" form starts with.
DEFAULTS: dict[str, dict[str, str]] = {
    rules.VACCINATION: {"dose_number": "1"},
    rules.TREATMENT: {"current": "on"},
    rules.ILLNESS: {"status": "current"},
}


def unit_of(kind: str) -> str:
    unit = rules.TARGET_KINDS[kind].unit
    return UNIT_DISPLAY.get(unit, unit)


def measure_name(kind: str, fmt: Formatter) -> str:
    return fmt.gettext(MEASURE_NAMES.get(kind, kind))


# -- showing entries -----------------------------------------------------------------------------


def display(field: Field, value: Any, fmt: Formatter) -> str:
    if value is None or value == "":
        return ""
    if field.kind == "checkbox":
        return fmt.gettext(N_("Yes") if value else N_("No"))
    if field.kind == "select":
        for option, label in field.options:
            if option == value:
                return fmt.gettext(label) if label != option else label
        return str(value)
    if field.kind == "date":
        try:
            return fmt.date(dt.date.fromisoformat(str(value)), "medium")
        except ValueError:
            return str(value)
    if field.kind == "number":
        return fmt.number(value)
    return str(value)


@dataclass
class Shown:
    """An entry as the section page shows it."""

    id: uuid.UUID
    key: str
    title: str
    details: list[tuple[str, str]]
    values: dict[str, str]  # what the edit form starts with
    updated: str


def title_of(section: str, content: dict[str, Any], fmt: Formatter) -> str:
    if section == rules.MEASUREMENT:
        kind = str(content.get("kind"))
        return f"{measure_name(kind, fmt)} — {fmt.number(content['value'])} {unit_of(kind)}"
    if section == rules.LIFESTYLE:
        return fmt.gettext(N_("Lifestyle"))
    first = FIELDS[section][0]
    shown = display(first, content.get(first.name), fmt)
    if section == rules.FAMILY_HISTORY:
        return f"{content.get('condition', '')} ({shown})"
    return shown


def _form_values(section: str, content: dict[str, Any]) -> dict[str, str]:
    values = {}
    for field in FIELDS[section]:
        value = content.get(field.name)
        if field.kind == "checkbox":
            values[field.name] = "on" if value else ""
        else:
            values[field.name] = "" if value is None else str(value)
    return values


def shown(section: str, entry: profile.Entry, fmt: Formatter) -> Shown:
    details = []
    for field in FIELDS[section]:
        value = display(field, entry.content.get(field.name), fmt)
        if value and not (section == rules.MEASUREMENT and field.name in ("kind", "value")):
            details.append((fmt.gettext(field.label), value))
    return Shown(
        entry.id,
        f"e{entry.id.hex[:12]}",
        title_of(section, entry.content, fmt),
        details,
        _form_values(section, entry.content),
        fmt.datetime(entry.updated_at, "short"),
    )


def fields_for(section: str, fmt: Formatter) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "label": fmt.gettext(f.label),
            "kind": f.kind,
            "required": f.required,
            "help": fmt.gettext(f.help) if f.help else "",
            "options": [
                (value, fmt.gettext(label) if label != value else label)
                for value, label in f.options
            ],
        }
        for f in FIELDS[section]
    ]


# -- reading a form ------------------------------------------------------------------------------


def content_of(section: str, form: FormData) -> dict[str, Any]:
    """The posted fields as the section model expects them (it validates)."""
    data: dict[str, Any] = {}
    for field in FIELDS[section]:
        raw = text(form, field.name, 4000).strip()
        if field.kind == "checkbox":
            data[field.name] = raw in ("on", "1", "yes")
        elif raw == "":
            if field.kind in ("text", "textarea") and not field.required:
                data[field.name] = ""
            continue  # absent: the model's default, or "field required"
        elif field.kind == "number":
            try:
                number = float(raw.replace(",", "."))
                data[field.name] = (
                    int(number) if field.name in INTEGER_FIELDS and number.is_integer() else number
                )
            except ValueError:
                data[field.name] = raw  # the model says it is not a number
        else:
            data[field.name] = raw
    return data


def problem_message(section: str, exc: CarnetError, data: dict[str, Any], fmt: Formatter) -> str:
    """A clear message in the person's language (the services' messages are English)."""
    if section == rules.MEASUREMENT and isinstance(data.get("value"), float):
        kind = str(data.get("kind"))
        measure = rules.MEASURES.get(kind)
        if measure is not None:
            value = float(data["value"])
            if not measure.low <= value <= measure.high:
                return fmt.gettext(
                    N_(
                        "Impossible value for %(kind)s: enter a value between %(low)s and %(high)s %(unit)s."
                    )
                ) % {
                    "kind": measure_name(kind, fmt).lower(),
                    "low": fmt.number(measure.low),
                    "high": fmt.number(measure.high),
                    "unit": unit_of(kind),
                }
            if measure.integer and not value.is_integer():
                return fmt.gettext(N_("%(kind)s is counted in whole numbers.")) % {
                    "kind": measure_name(kind, fmt)
                }
    if "is in the future" in exc.message:
        return fmt.gettext(N_("A date cannot be in the future."))
    if "Field required" in exc.message:
        return fmt.gettext(N_("This information is required."))
    if "valid number" in exc.message or "valid integer" in exc.message:
        return fmt.gettext(N_("Enter a number."))
    if "end of the stay is before" in exc.message:
        return fmt.gettext(N_("The end of the stay is before its start."))
    if "CIP" in exc.message:
        return fmt.gettext(N_("A CIP code has 7 or 13 digits."))
    if "ATC" in exc.message:
        return fmt.gettext(N_("This is not an ATC code (for example C09AA05)."))
    if exc.code == "already-set":
        return fmt.gettext(N_("There is already an entry in this section: change it instead."))
    return messages.describe(exc, fmt)


# -- who made a change ---------------------------------------------------------------------------


def who(db: Session, ref: str, me: uuid.UUID, fmt: Formatter) -> str:
    """A principal reference (`holder/<id>`, `professional/<id>`) as a name."""
    kind, _sep, raw = ref.partition("/")
    try:
        ident = uuid.UUID(raw)
    except ValueError:
        return ref
    if kind == "holder":
        if ident == me:
            return fmt.gettext(N_("You"))
        person = account_service.holder(db, ident)
        return family.display_name(person) if person else "—"
    if kind in ("professional", "regulator"):
        pro = account_service.professional(db, ident)
        return pro.name if pro else "—"
    return ref
