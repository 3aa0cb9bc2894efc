"""Who reads the space and who did: "My professionals" (ACC-3, ACC-4, ACC-6, item 7) and the
access history with "report this access" (ACC-8).

Everything goes through the access services (`access.care_team`, `emergency`, `history`, `explain`), on the space acted on (`family.resolve_space`, with the
same action names as the JSON API: caregivers read the access settings and the history, and may
not change the settings, REP-4). The portal only translates the decision point's reason codes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet.access import care_team, explain, lookups
from carnet.access import emergency as access_emergency
from carnet.access import history as access_history
from carnet.access.care_team import CLINICIAN_KINDS
from carnet.accounts.family import relations as family
from carnet.audit.rules import Mode
from carnet.auth import sessions as sessions
from carnet.auth.principal import PrincipalKind
from carnet.documents import reference
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.http import bounded_integer
from carnet.portal import actions, messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import (
    Acting,
    acting_page,
    new_router,
    rid,
    text,
)
from carnet.portal.web import FormErrors, formatter, redirect, settings_of, vault_of

router = new_router()

# resolve_space actions, the same as access.api's (REP-4).
READ_SETTINGS = "read-access-settings"
CHANGE_SETTINGS = "change-access-settings"
READ_HISTORY = "read-access-history"
REPORT = "report-access"

# The decision point's explanations (access.explain.EXPLANATIONS, French), by key, in English msgids.
EXPLANATIONS: dict[str, str] = {
    "care-team": N_("This professional is part of your care team."),
    "author": N_("A professional always sees the documents they deposited themselves."),
    "emergency": N_("An emergency access is open for this professional."),
    "regulation": N_("A regulation access (SAMU – centre 15) is open for this professional."),
    "not-in-care-team": N_("This professional is not part of your care team."),
    "express-authorisation": N_(
        "This professional (occupational health or fire brigade) reads your space only if you "
        "expressly authorise them."
    ),
    "blocked": N_("You blocked this professional: they cannot read anything."),
    "profession-not-habilitated": N_("Their profession may not read this type of document."),
    "masked": N_("Masked document: visible only to administrators."),
    "masked-emergency": N_(
        "Masked document: not visible in an emergency, unless you allowed it in your emergency "
        "settings."
    ),
    "space-not-open": N_("Your space is not open."),
    "emergency-opposed": N_("You opposed emergency access."),
    "regulation-opposed": N_("You opposed access by the SAMU (centre 15)."),
    "no-regulation-grant": N_("The SAMU (centre 15) reads your space only during regulation."),
    "entered-in-error": N_("Document withdrawn by its author."),
}
_KEY_OF = {french: key for key, french in explain.EXPLANATIONS.items()}
REFUSED = N_("Access refused.")

STATUSES: dict[str, str] = {
    "authorised": N_("Authorised"),
    "declared": N_("Declared as treating you"),
    "blocked": N_("Blocked"),
    "none": N_("No relationship"),
}

MODES: dict[str, str] = {
    Mode.NORMAL.value: N_("Normal"),
    Mode.EMERGENCY.value: N_("Emergency"),
    Mode.REGULATION.value: N_("Regulation (SAMU)"),
    Mode.REPRESENTATIVE.value: N_("Legal representative"),
    Mode.CAREGIVER.value: N_("Caregiver"),
    Mode.APP.value: N_("Connected application"),
    Mode.OPERATOR.value: N_("Carnet operator"),
    Mode.SYSTEM.value: N_("Carnet"),
}

ACCESS_LEVELS: dict[str, str] = {
    "all": N_("Yes"),
    "some": N_("Partly"),
    "none": N_("No"),
}


def _explanation(fmt: Formatter, french: str) -> str:
    key = _KEY_OF.get(french)
    return fmt.gettext(EXPLANATIONS[key]) if key in EXPLANATIONS else fmt.gettext(REFUSED)


def _categories(fmt: Formatter, found: explain.Explanation) -> list[dict[str, Any]]:
    labels = reference.categories()
    rows = []
    for category in found.categories:
        items = category.sensitivities
        if category.access == "all":
            reasons = [next(i.normal.explanation for i in items if i.normal.allowed)]
        else:
            reasons = [i.normal.explanation for i in items if not i.normal.allowed]
        label = category.label
        if category.code in labels:
            label = (
                labels[category.code].label_fr
                if fmt.locale == "fr"
                else labels[category.code].label_en
            )
        rows.append(
            {
                "label": label,
                "access": category.access,
                "access_label": fmt.gettext(ACCESS_LEVELS[category.access]),
                "explanation": " ".join(
                    _explanation(fmt, reason) for reason in dict.fromkeys(reasons)
                ),
            }
        )
    return rows


def _relation_text(fmt: Formatter, view: care_team.ProfessionalView) -> str:
    """Item 7: the relation as it is, in words (ACC-1, ACC-3, ACC-4)."""
    since = view.declared_at if view.status == "declared" else view.changed_at
    when = {"date": fmt.date(since, "long")} if since else {"date": "—"}
    if view.status == "blocked":
        return (
            fmt.gettext(N_("Blocked since %(date)s: reads nothing, even in an emergency.")) % when
        )
    if view.in_care_team:
        if view.status == "authorised":
            text = fmt.gettext(N_("In your care team since %(date)s: you authorised them.")) % when
        else:
            text = (
                fmt.gettext(N_("In your care team since %(date)s: they declared treating you."))
                % when
            )
        return text
    if view.status == "declared":
        return (
            fmt.gettext(
                N_(
                    "Declared treating you on %(date)s. Their practice reads your space only if you "
                    "authorise them."
                )
            )
            % when
        )
    return fmt.gettext(N_("Not in your care team."))


def _professionals_page(
    act: Acting,
    *,
    errors: FormErrors | None = None,
    rpps: str = "",
    status: int = 200,
) -> Response:
    request, db = act.request, act.db
    fmt = formatter(request)
    settings = settings_of(request)
    views = care_team.list_professionals(db, settings, act.principal, act.space)
    rows = []
    for view in views:
        found = explain.explain(db, settings, act.principal, act.space, view.professional.rpps)
        rows.append(
            {
                "view": view,
                "profession": lookups.profession_label(
                    view.professional.profession_code, fmt.locale
                ),
                "status_label": fmt.gettext(STATUSES.get(view.status, STATUSES["none"])),
                "summary": _explanation(fmt, found.summary.explanation),
                "categories": _categories(fmt, found),
                "last_access": fmt.datetime(view.last_access_at) if view.last_access_at else "",
                "relation": _relation_text(fmt, view),
            }
        )
    facts = access_emergency.emergency_settings(db, settings, act.principal, act.space)
    proposals = [
        {
            "name": found.professional.name,
            "rpps": found.professional.rpps,
            "profession": lookups.profession_label(found.professional.profession_code, fmt.locale),
            "when": fmt.datetime(found.proposed_at),
            "blocked": found.is_blocked,
        }
        for found in care_team.gp_proposals(db, settings, act.principal, act.space)
    ]
    return act.render(
        "professionals.html",
        {
            "proposals": proposals,
            "rows": rows,
            "facts": facts,
            "may_change": act.may_change_access_settings,
            "rpps": rpps,
        },
        title=fmt.gettext(N_("My professionals")),
        errors=errors,
        status=status,
    )


@router.get("/professionals", name="portal_professionals")
def professionals(act: Acting = acting_page(READ_SETTINGS)) -> Response:
    return _professionals_page(act)


def _change(
    request: Request,
    act: Acting,
    form: FormData,
    *,
    status: care_team.ChangeStatus | None,
    administrator: bool | None,
    flash: str,
    field: str,
) -> Response:
    db = act.db
    rpps = text(form, "rpps", 40).strip()
    try:
        care_team.change_professional(
            db,
            settings_of(request),
            act.principal,
            act.space,
            rpps,
            status=status,
            administrator=administrator,
            request_id=rid(request),
        )
    except CarnetError as exc:
        db.rollback()
        fmt = formatter(request)
        errors = FormErrors()
        if exc.code == "invalid-input" and exc.field == "rpps":
            errors.add(field, fmt.gettext(N_("Enter an RPPS number of 11 digits.")))
        else:
            errors.add(field, messages.describe(exc, fmt))
        return _professionals_page(
            act.again(READ_SETTINGS),
            errors=errors,
            rpps=rpps if field == "rpps" else "",
            status=exc.status_code,
        )
    sessions.set_flash(db, act.live, flash)
    return redirect("/professionals")


@router.post("/professionals/authorise", name="portal_professional_authorise")
def authorise(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE_SETTINGS),
) -> Response:
    """ACC-3: authorise any registered professional by RPPS number."""
    return _change(
        request,
        act,
        form,
        status="authorised",
        administrator=None,
        flash="professional-authorised",
        field="rpps",
    )


@router.post("/professionals/status", name="portal_professional_status")
def change_status(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE_SETTINGS),
) -> Response:
    """ACC-3: block or unblock (states the wanted value: a second submission changes nothing)."""
    wanted = text(form, "status", 20)
    chosen: Literal["blocked", "unblocked"] = "blocked" if wanted == "blocked" else "unblocked"
    if wanted not in ("blocked", "unblocked"):
        raise NotFound("No such action.")
    return _change(
        request,
        act,
        form,
        status=chosen,
        administrator=None,
        flash=f"professional-{chosen}",
        field="",
    )


@router.post("/professionals/administrator", name="portal_professional_administrator")
def change_administrator(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE_SETTINGS),
) -> Response:
    """ACC-4: name or remove an administrator (only among the care team: the service checks)."""
    wanted = text(form, "administrator", 2) == "1"
    return _change(
        request,
        act,
        form,
        status=None,
        administrator=wanted,
        flash="administrator-granted" if wanted else "administrator-revoked",
        field="",
    )


@router.post("/professionals/gp", name="portal_professional_gp")
def answer_gp(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE_SETTINGS),
) -> Response:
    """ACC-4: confirm or decline a physician's GP proposal (the service asks the decision point;
    REP-4: not caregivers). The form states the answer: a second submission finds nothing pending."""
    wanted = text(form, "answer", 10)
    if wanted not in ("confirm", "decline"):
        raise NotFound("No such action.")
    try:
        care_team.answer_gp_proposal(
            act.db,
            settings_of(request),
            act.principal,
            act.space,
            text(form, "rpps", 40).strip(),
            confirm=wanted == "confirm",
            request_id=rid(request),
        )
    except CarnetError as exc:
        act.db.rollback()
        errors = FormErrors()
        errors.add(None, messages.describe(exc, formatter(request)))
        return _professionals_page(act.again(READ_SETTINGS), errors=errors, status=exc.status_code)
    sessions.set_flash(act.db, act.live, "gp-confirmed" if wanted == "confirm" else "gp-declined")
    return redirect("/professionals")


@router.post("/professionals/emergency", name="portal_emergency_settings")
def emergency(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE_SETTINGS),
) -> Response:
    """ACC-6: the three switches, each stated (an unticked box is "no")."""
    access_emergency.set_emergency_settings(
        act.db,
        settings_of(request),
        act.principal,
        act.space,
        regulator=text(form, "regulator", 2) == "1",
        emergency=text(form, "emergency", 2) == "1",
        masked_in_emergency=text(form, "masked_in_emergency", 2) == "1",
        request_id=rid(request),
    )
    sessions.set_flash(act.db, act.live, "emergency-saved")
    return redirect("/professionals#emergency")


# -- the access history (ACC-8) -----------------------------------------------------------------


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


HISTORY_FILTERS = ("actor", "mode", "from", "to", "page")


def _who(fmt: Formatter, entry: access_history.HistoryEntry) -> str:
    """Who acted, in the reader's language (a professional's profession too)."""
    kind = entry.actor_kind
    if entry.own or entry.actor_display == "vous":
        return fmt.gettext(N_("you"))
    if entry.profession_code is not None:
        profession = lookups.profession_label(entry.profession_code, fmt.locale)
        return f"{entry.actor_name} ({profession})"
    if kind in access_history.HOLDER_KINDS:
        return entry.actor_name or fmt.gettext(N_("A relative"))
    if kind == PrincipalKind.APP.value:
        if entry.actor_name:
            return fmt.gettext(N_("Application %(name)s")) % {"name": entry.actor_name}
        return fmt.gettext(N_("Connected application"))
    if kind == PrincipalKind.OPERATOR.value:
        return fmt.gettext(N_("Carnet operator"))
    if kind in CLINICIAN_KINDS:
        return fmt.gettext(N_("Health professional"))
    return "Carnet"


@router.get("/history", name="portal_history")
def history(request: Request, act: Acting = acting_page(READ_HISTORY)) -> Response:
    fmt = formatter(request)
    params = request.query_params
    raw = {name: (params.get(name) or "")[:40] for name in HISTORY_FILTERS}
    errors = FormErrors()
    unknown = sorted({name for name in params if name not in HISTORY_FILTERS})
    if unknown:  # issue 16: `?rpps=` was silently ignored, showing everything as if filtered
        errors.add(
            None,
            fmt.gettext(N_("Unknown filter: %(names)s. Use the form's filters."))
            % {"names": ", ".join(name[:40] for name in unknown[:5])},
        )
    modes = {m.value for m in access_history.HISTORY_MODES}
    mode = raw["mode"] if raw["mode"] in modes else ""
    if raw["mode"] and not mode:
        errors.add("history-mode", fmt.gettext(N_("Choose a mode from the list.")))
    # Nothing is read on a filter that is refused: no page that looks filtered and is not.
    refused = bool(errors)
    date_from, date_to = _day(raw["from"]), _day(raw["to"])
    for name, value in (("from", date_from), ("to", date_to)):
        if raw[name].strip() and value is None:
            errors.add(f"history-{name}", fmt.gettext(N_("Enter a date such as 2024-03-31.")))
    page_number = bounded_integer(raw["page"] or "1", minimum=1)
    if page_number is None:  # the shared bound: a readable 400 page, never an overflow
        raise InvalidInput("There is no such page.", field="page")
    query = access_history.HistoryQuery(
        actor=raw["actor"].strip() or None,
        mode=mode or None,
        date_from=date_from,
        date_to=date_to,
        page=page_number,
    )
    found: access_history.HistoryPage | None = None
    try:
        if refused:
            raise InvalidInput("Unknown filter.")
        found = access_history.history(
            act.db, settings_of(request), act.principal, act.space, query, request_id=rid(request)
        )
    except CarnetError as exc:
        if exc.status_code != 400:
            raise
        act.db.rollback()
        field = {"actor": "history-actor", "from": "history-from"}.get(exc.field or "")
        message = messages.describe(exc, fmt)
        if exc.field == "actor":
            message = fmt.gettext(N_("Enter an RPPS number of 11 digits, or leave it empty."))
        elif exc.field == "from":
            message = fmt.gettext(N_("The start date must not be after the end date."))
        if not refused:
            errors.add(field, message)
    entries = []
    for entry in found.entries if found else []:
        entries.append(
            {
                "id": entry.id,
                "at": fmt.datetime(entry.at),
                "actions": [actions.label(fmt, action) for action in entry.actions],
                "mode": entry.mode,
                "mode_label": fmt.gettext(MODES.get(entry.mode, MODES["system"])),
                "who": _who(fmt, entry),
                "rpps": entry.actor_rpps,
                "reported": entry.reported,
                "own": entry.own,
            }
        )
    base = {k: v for k, v in raw.items() if k != "page" and v}
    return act.render(
        "history.html",
        {
            "entries": entries,
            "page": found,
            "filters": raw,
            "modes": [(m.value, fmt.gettext(MODES[m.value])) for m in access_history.HISTORY_MODES],
            "base_query": urlencode(base),
            "may_report": act.relation != "caregiver" or family.caregiver_may(REPORT),
        },
        title=fmt.gettext(N_("History")),
        errors=errors or None,
        status=400 if errors else 200,
    )


@router.post("/history/report", name="portal_history_report")
def report_access(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(REPORT),
) -> Response:
    """ACC-8: report an access of the history, with an optional note (sealed by the service)."""
    try:
        entry_id = uuid.UUID(text(form, "entry_id", 40).strip())
    except ValueError:
        raise NotFound("No such access in this space's history.") from None
    access_history.report(
        act.db,
        vault_of(request),
        settings_of(request),
        act.principal,
        act.space,
        entry_id,
        text(form, "note", access_history.MAX_NOTE).strip() or None,
        request_id=rid(request),
    )
    sessions.set_flash(act.db, act.live, "access-reported")
    return redirect("/history")
