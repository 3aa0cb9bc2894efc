"""The medical profile ("Profil médical", issue 7): each section listed, added to, edited, deleted,
with the history of changes and who made them; measurements with targets, and growth curves for a
child's space.

Everything goes through `profile.service` on the space acted on (`family.resolve_space`: the holder,
a representative for a minor, a caregiver; REP-1…REP-5), which asks the decision point (ACC-7) and
audits every read and change (ACC-8). The forms are described once (`FIELDS`) and validated by the
section models of `profile.schemas`, the same as the JSON API's.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import portal_session
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder, Professional
from carnet.auth.principal import Principal, PrincipalKind
from carnet.errors import CarnetError, ConfigurationError, NotFound
from carnet.http import db_session
from carnet.portal import charts, messages
from carnet.portal import session as sessions
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import Acting, acting, new_router, rid, text
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of, vault_of
from carnet.profile import growth, growth_reference, rules
from carnet.profile import service as profile

log = logging.getLogger("carnet.portal")
router = new_router()
holder = portal_session(PrincipalKind.HOLDER)

READ = "profile.read"
UPDATE = "profile.update"

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


def _ctx(request: Request, db: Session, act: Acting) -> profile.Context:
    return profile.context(
        db, vault_of(request), settings_of(request), act.principal, act.space, rid(request)
    )


def _section(name: str) -> str:
    return profile.section_name(name)  # 404 when unknown


# -- showing entries -----------------------------------------------------------------------------


def _display(field: Field, value: Any, fmt: Formatter) -> str:
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
    shown = _display(first, content.get(first.name), fmt)
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
        value = _display(field, entry.content.get(field.name), fmt)
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
        person = db.get(Holder, ident)
        return family.display_name(person) if person else "—"
    if kind in ("professional", "regulator"):
        pro = db.get(Professional, ident)
        return pro.name if pro else "—"
    return ref


# -- pages ---------------------------------------------------------------------------------------


@router.get("/medical-profile", name="portal_medical_profile")
def overview(
    request: Request,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """Every section with how many entries it has; BMI when weight and height are known."""
    fmt = formatter(request)
    act = acting(request, db, READ)
    ctx = _ctx(request, db, act)
    found = profile.read_profile(ctx)
    derived = profile.bmi(found.get(rules.MEASUREMENT, []))
    sections = [
        {
            "name": name,
            "slug": name.replace("_", "-"),
            "title": fmt.gettext(SECTION_TITLES[name]),
            "count": len(found.get(name, [])),
            "latest": [shown(name, e, fmt).title for e in found.get(name, [])[:3]],
        }
        for name in rules.SECTIONS
    ]
    return render(
        request,
        "medical_profile.html",
        {
            "sections": sections,
            "bmi": fmt.number(derived.value) if derived else None,
            "is_child": profile.is_child(ctx),
        },
        title=fmt.gettext(N_("Medical profile")),
        shell=act.shell,
    )


def _growth(
    request: Request, ctx: profile.Context, measurements: list[profile.Entry], fmt: Formatter
) -> dict[str, Any] | None:
    if not profile.is_child(ctx):
        return None
    reference: growth.Reference | None = None
    broken = False
    try:
        reference = growth_reference.load(settings_of(request).growth_reference_file)
    except ConfigurationError:
        log.warning("growth reference unusable", extra={"request_id": rid(request)})
        broken = True
    found = profile.growth_charts(ctx, reference, measurements)
    return {
        "reference": reference,
        "broken": broken,
        "charts": [
            {
                "chart": charts.build(c, fmt),
                "name": measure_name(c.indicator, fmt),
                "unit": unit_of(c.indicator),
                "points": [
                    {
                        "date": fmt.date(p.date, "medium"),
                        "age": charts.age_label(p.age_days, fmt),
                        "value": fmt.number(p.value),
                        "percentile": fmt.number(round(p.percentile))
                        if p.percentile is not None
                        else "",
                    }
                    for p in c.points
                ],
            }
            for c in found.charts
        ],
    }


def _targets(
    ctx: profile.Context, measurements: list[profile.Entry], fmt: Formatter
) -> list[dict[str, Any]]:
    rows = []
    for view in profile.targets_against_latest(ctx, measurements):
        target = view.target
        if target is None:
            wanted = ""
        elif target.low is not None and target.high is not None:
            wanted = fmt.gettext(N_("between %(low)s and %(high)s")) % {
                "low": fmt.number(target.low),
                "high": fmt.number(target.high),
            }
        elif target.low is not None:
            wanted = fmt.gettext(N_("at least %(low)s")) % {"low": fmt.number(target.low)}
        else:
            wanted = fmt.gettext(N_("at most %(high)s")) % {"high": fmt.number(target.high or 0)}
        rows.append(
            {
                "kind": view.kind,
                "name": measure_name(view.kind, fmt),
                "unit": unit_of(view.kind),
                "target": wanted,
                "has_target": target is not None,
                "note": target.note if target else "",
                "latest": fmt.number(view.latest_value) if view.latest_value is not None else "",
                "latest_date": fmt.date(view.latest_date, "medium") if view.latest_date else "",
                "status": view.status or "",
                "status_label": fmt.gettext(STATUS_LABELS[view.status]) if view.status else "",
            }
        )
    return rows


def _section_page(
    request: Request,
    db: Session,
    act: Acting,
    section: str,
    *,
    errors: FormErrors | None = None,
    posted: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    fmt = formatter(request)
    ctx = _ctx(request, db, act)
    entries = profile.list_section(ctx, section)
    extra: dict[str, Any] = {}
    if section == rules.MEASUREMENT:
        extra["targets"] = _targets(ctx, entries, fmt)
        extra["growth"] = _growth(request, ctx, entries, fmt)
        extra["target_kinds"] = [
            (k, f"{measure_name(k, fmt)} ({unit_of(k)})") for k in rules.TARGET_KINDS
        ]
        extra["units"] = [(measure_name(k, fmt), unit_of(k)) for k in rules.MEASURES]
    return render(
        request,
        "medical_section.html",
        {
            "section": section,
            "slug": section.replace("_", "-"),
            "entries": [shown(section, e, fmt) for e in entries],
            "fields": fields_for(section, fmt),
            "single": section in rules.SINGLE_SECTIONS,
            "posted": posted or {"key": "", "values": {}},
            "defaults": DEFAULTS.get(section, {}),
            **extra,
        },
        title=fmt.gettext(SECTION_TITLES[section]),
        shell=act.shell,
        errors=errors,
        status=status,
    )


@router.get("/medical-profile/{section}", name="portal_profile_section")
def section_page(
    request: Request,
    section: str,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    name = _section(section)
    return _section_page(request, db, acting(request, db, READ), name)


def _save(
    request: Request, db: Session, section: str, form: FormData, entry_id: uuid.UUID | None
) -> Response:
    fmt = formatter(request)
    act = acting(request, db, UPDATE)
    data = content_of(section, form)
    key = f"e{entry_id.hex[:12]}" if entry_id else "new"
    try:
        ctx = _ctx(request, db, act)
        if entry_id is None:
            profile.create_entry(ctx, section, data)
        else:
            profile.update_entry(ctx, section, entry_id, data)
    except CarnetError as exc:
        if isinstance(exc, NotFound) or exc.status_code == 403:
            raise
        db.rollback()
        errors = FormErrors()
        field = (exc.field or "").split(".")[0]
        if "Implausible" in exc.message or "whole number" in exc.message:
            field = "value"  # the section model's own check: the value is what is wrong
        elif "is in the future" in exc.message:
            field = next((f for f in ("date", "since", "from") if f in exc.message), field)
        names = {f.name for f in FIELDS[section]}
        errors.add(
            f"{key}-{field}" if field in names else None, problem_message(section, exc, data, fmt)
        )
        values = {
            k: ("on" if v is True else "" if v in (None, False) else str(v))
            for k, v in data.items()
        }
        return _section_page(
            request,
            db,
            acting(request, db, READ),
            section,
            errors=errors,
            posted={"key": key, "values": values},
            status=exc.status_code,
        )
    sessions.set_flash(db, act.live, "profile-entry-saved")
    return redirect(f"/medical-profile/{section.replace('_', '-')}")


@router.post("/medical-profile/{section}", name="portal_profile_add")
def add_entry(
    request: Request,
    section: str,
    form: FormData = Depends(form_data),
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    return _save(request, db, _section(section), form, None)


@router.post("/medical-profile/{section}/{entry_id}", name="portal_profile_update")
def update_entry(
    request: Request,
    section: str,
    entry_id: uuid.UUID,
    form: FormData = Depends(form_data),
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    return _save(request, db, _section(section), form, entry_id)


@router.post("/medical-profile/{section}/{entry_id}/delete", name="portal_profile_delete")
def delete_entry(
    request: Request,
    section: str,
    entry_id: uuid.UUID,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """Sent twice, the second time finds nothing and says it is deleted."""
    name = _section(section)
    act = acting(request, db, UPDATE)
    try:
        profile.delete_entry(_ctx(request, db, act), name, entry_id)
    except NotFound:
        db.rollback()
    sessions.set_flash(db, act.live, "profile-entry-deleted")
    return redirect(f"/medical-profile/{name.replace('_', '-')}")


@router.get("/medical-profile/{section}/{entry_id}/history", name="portal_profile_history")
def entry_history(
    request: Request,
    section: str,
    entry_id: uuid.UUID,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """Every version of an entry: what it said, when, by whom and acting as whom."""
    fmt = formatter(request)
    name = _section(section)
    act = acting(request, db, READ)
    versions = profile.history(_ctx(request, db, act), name, entry_id)
    rows = [
        {
            "version": v.version,
            "change": fmt.gettext(CHANGE_LABELS.get(v.change, v.change)),
            "when": fmt.datetime(v.changed_at, "short"),
            "who": who(db, v.changed_by, act.me.id, fmt),
            "as": fmt.gettext(RELATION_LABELS.get(v.changed_as, v.changed_as)),
            "title": title_of(name, v.content, fmt),
            "details": [
                (fmt.gettext(f.label), _display(f, v.content.get(f.name), fmt))
                for f in FIELDS[name]
                if _display(f, v.content.get(f.name), fmt)
            ],
        }
        for v in versions
    ]
    return render(
        request,
        "medical_history.html",
        {
            "rows": rows,
            "slug": name.replace("_", "-"),
            "section_title": fmt.gettext(SECTION_TITLES[name]),
        },
        title=fmt.gettext(N_("History of changes")),
        shell=act.shell,
    )


# -- measurement targets -------------------------------------------------------------------------


def _number(form: FormData, name: str) -> float | str | None:
    raw = text(form, name, 40).strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


@router.post("/measurement-targets", name="portal_target_put")
def put_target(
    request: Request,
    form: FormData = Depends(form_data),
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    fmt = formatter(request)
    act = acting(request, db, UPDATE)
    kind = text(form, "kind", 40)
    data = {
        "low": _number(form, "low"),
        "high": _number(form, "high"),
        "note": text(form, "note", 500).strip(),
    }
    try:
        name = profile.target_kind(kind)
        profile.set_target(_ctx(request, db, act), name, data)
    except CarnetError as exc:
        if exc.status_code == 403:
            raise
        db.rollback()
        errors = FormErrors()
        errors.add("target-low", target_message(kind, exc, data, fmt))
        posted = {
            "key": "target",
            "values": {"kind": kind, **{k: "" if v is None else str(v) for k, v in data.items()}},
        }
        return _section_page(
            request,
            db,
            acting(request, db, READ),
            rules.MEASUREMENT,
            errors=errors,
            posted=posted,
            status=exc.status_code,
        )
    sessions.set_flash(db, act.live, "target-saved")
    return redirect("/medical-profile/measurement#targets")


def target_message(kind: str, exc: CarnetError, data: dict[str, Any], fmt: Formatter) -> str:
    measure = rules.TARGET_KINDS.get(kind)
    if measure is None:
        return fmt.gettext(N_("Choose a measurement from the list."))
    if data["low"] is None and data["high"] is None:
        return fmt.gettext(N_("Enter a lower bound, an upper bound or both."))
    bounds = [v for v in (data["low"], data["high"]) if v is not None]
    if any(isinstance(v, str) for v in bounds):
        return fmt.gettext(N_("Enter a number."))
    if any(not measure.low <= float(v) <= measure.high for v in bounds):
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
    if "whole number" in exc.message:
        return fmt.gettext(N_("%(kind)s is counted in whole numbers.")) % {
            "kind": measure_name(kind, fmt)
        }
    if "lower bound" in exc.message:
        return fmt.gettext(N_("The lower bound is above the upper bound."))
    return messages.describe(exc, fmt)


@router.post("/measurement-targets/{kind}/delete", name="portal_target_delete")
def delete_target(
    request: Request,
    kind: str,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    act = acting(request, db, UPDATE)
    try:
        profile.delete_target(_ctx(request, db, act), profile.target_kind(kind))
    except NotFound:
        db.rollback()
    sessions.set_flash(db, act.live, "target-deleted")
    return redirect("/medical-profile/measurement#targets")
