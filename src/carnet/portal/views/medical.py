"""The medical profile ("Profil médical", issue 7): each section listed, added to, edited, deleted,
with the history of changes and who made them; measurements with targets, and growth curves for a
child's space.

Everything goes through `profile.service` on the space acted on (`family.resolve_space`: the holder,
a representative for a minor, a caregiver; REP-1…REP-5), which asks the decision point (ACC-7) and
audits every read and change (ACC-8). The forms are described once (`FIELDS`, in
`views.profile_forms`) and validated by the section models of `profile.schemas`, the same as the
JSON API's.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet.auth import sessions as sessions
from carnet.errors import CarnetError, ConfigurationError, NotFound
from carnet.portal import charts, messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import (
    Acting,
    acting_page,
    new_router,
    rid,
    text,
)
from carnet.portal.views.profile_forms import (
    CHANGE_LABELS,
    DEFAULTS,
    FIELDS,
    RELATION_LABELS,
    SECTION_TITLES,
    STATUS_LABELS,
    content_of,
    display,
    fields_for,
    measure_name,
    problem_message,
    shown,
    title_of,
    unit_of,
    who,
)
from carnet.portal.web import FormErrors, formatter, redirect, settings_of, vault_of
from carnet.profile import growth, growth_reference, rules
from carnet.profile import measurements as measures
from carnet.profile import service as profile

log = logging.getLogger("carnet.portal")
router = new_router()

READ = "profile.read"
UPDATE = "profile.update"


def _ctx(act: Acting) -> profile.Context:
    request, db = act.request, act.db
    return profile.context(
        db, vault_of(request), settings_of(request), act.principal, act.space, rid(request)
    )


def _section(name: str) -> str:
    return profile.section_name(name)  # 404 when unknown


# -- pages ---------------------------------------------------------------------------------------


@router.get("/medical-profile", name="portal_medical_profile")
def overview(request: Request, act: Acting = acting_page(READ)) -> Response:
    """Every section with how many entries it has; BMI when weight and height are known."""
    fmt = formatter(request)
    ctx = _ctx(act)
    found = profile.read_profile(ctx)
    derived = measures.bmi(found.get(rules.MEASUREMENT, []))
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
    return act.render(
        "medical_profile.html",
        {
            "sections": sections,
            "bmi": fmt.number(derived.value) if derived else None,
            "is_child": measures.is_child(ctx),
        },
        title=fmt.gettext(N_("Medical profile")),
    )


def _growth(
    request: Request, ctx: profile.Context, measurements: list[profile.Entry], fmt: Formatter
) -> dict[str, Any] | None:
    if not measures.is_child(ctx):
        return None
    reference: growth.Reference | None = None
    broken = False
    try:
        reference = growth_reference.load(settings_of(request).growth_reference_file)
    except ConfigurationError:
        log.warning("growth reference unusable", extra={"request_id": rid(request)})
        broken = True
    found = measures.growth_charts(ctx, reference, measurements)
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
    for view in measures.targets_against_latest(ctx, measurements):
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
    act: Acting,
    section: str,
    *,
    errors: FormErrors | None = None,
    posted: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    request = act.request
    fmt = formatter(request)
    ctx = _ctx(act)
    entries = profile.list_section(ctx, section)
    extra: dict[str, Any] = {}
    if section == rules.MEASUREMENT:
        extra["targets"] = _targets(ctx, entries, fmt)
        extra["growth"] = _growth(request, ctx, entries, fmt)
        extra["target_kinds"] = [
            (k, f"{measure_name(k, fmt)} ({unit_of(k)})") for k in rules.TARGET_KINDS
        ]
        extra["units"] = [(measure_name(k, fmt), unit_of(k)) for k in rules.MEASURES]
    return act.render(
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
        errors=errors,
        status=status,
    )


@router.get("/medical-profile/{section}", name="portal_profile_section")
def section_page(section: str, act: Acting = acting_page(READ)) -> Response:
    name = _section(section)
    return _section_page(act, name)


def _save(
    request: Request, act: Acting, section: str, form: FormData, entry_id: uuid.UUID | None
) -> Response:
    fmt = formatter(request)
    db = act.db
    data = content_of(section, form)
    key = f"e{entry_id.hex[:12]}" if entry_id else "new"
    try:
        ctx = _ctx(act)
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
            act.again(READ),
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
    act: Acting = acting_page(UPDATE),
) -> Response:
    return _save(request, act, _section(section), form, None)


@router.post("/medical-profile/{section}/{entry_id}", name="portal_profile_update")
def update_entry(
    request: Request,
    section: str,
    entry_id: uuid.UUID,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(UPDATE),
) -> Response:
    return _save(request, act, _section(section), form, entry_id)


@router.post("/medical-profile/{section}/{entry_id}/delete", name="portal_profile_delete")
def delete_entry(section: str, entry_id: uuid.UUID, act: Acting = acting_page(UPDATE)) -> Response:
    """Sent twice, the second time finds nothing and says it is deleted."""
    name = _section(section)
    try:
        profile.delete_entry(_ctx(act), name, entry_id)
    except NotFound:
        act.db.rollback()
    sessions.set_flash(act.db, act.live, "profile-entry-deleted")
    return redirect(f"/medical-profile/{name.replace('_', '-')}")


@router.get("/medical-profile/{section}/{entry_id}/history", name="portal_profile_history")
def entry_history(
    request: Request,
    section: str,
    entry_id: uuid.UUID,
    act: Acting = acting_page(READ),
) -> Response:
    """Every version of an entry: what it said, when, by whom and acting as whom."""
    fmt = formatter(request)
    name = _section(section)
    versions = profile.history(_ctx(act), name, entry_id)
    rows = [
        {
            "version": v.version,
            "change": fmt.gettext(CHANGE_LABELS.get(v.change, v.change)),
            "when": fmt.datetime(v.changed_at, "short"),
            "who": who(act.db, v.changed_by, act.me.id, fmt),
            "as": fmt.gettext(RELATION_LABELS.get(v.changed_as, v.changed_as)),
            "title": title_of(name, v.content, fmt),
            "details": [
                (fmt.gettext(f.label), display(f, v.content.get(f.name), fmt))
                for f in FIELDS[name]
                if display(f, v.content.get(f.name), fmt)
            ],
        }
        for v in versions
    ]
    return act.render(
        "medical_history.html",
        {
            "rows": rows,
            "slug": name.replace("_", "-"),
            "section_title": fmt.gettext(SECTION_TITLES[name]),
        },
        title=fmt.gettext(N_("History of changes")),
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
    act: Acting = acting_page(UPDATE),
) -> Response:
    fmt = formatter(request)
    kind = text(form, "kind", 40)
    data = {
        "low": _number(form, "low"),
        "high": _number(form, "high"),
        "note": text(form, "note", 500).strip(),
    }
    try:
        name = measures.target_kind(kind)
        measures.set_target(_ctx(act), name, data)
    except CarnetError as exc:
        if exc.status_code == 403:
            raise
        act.db.rollback()
        errors = FormErrors()
        errors.add("target-low", target_message(kind, exc, data, fmt))
        posted = {
            "key": "target",
            "values": {"kind": kind, **{k: "" if v is None else str(v) for k, v in data.items()}},
        }
        return _section_page(
            act.again(READ),
            rules.MEASUREMENT,
            errors=errors,
            posted=posted,
            status=exc.status_code,
        )
    sessions.set_flash(act.db, act.live, "target-saved")
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
def delete_target(kind: str, act: Acting = acting_page(UPDATE)) -> Response:
    try:
        measures.delete_target(_ctx(act), measures.target_kind(kind))
    except NotFound:
        act.db.rollback()
    sessions.set_flash(act.db, act.live, "target-deleted")
    return redirect("/medical-profile/measurement#targets")
