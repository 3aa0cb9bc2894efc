"""What the professional's patient page shows above the forms (issue 16 items 6 and 7): the
medical summary, the professional's own relation to the patient, and the documents as a
timeline with filters and pages.

Nothing is decided here. The summary is read through `profile.service.read_profile` and
`accounts.wishes.list_contacts` (ACC-7, each read audited, ACC-8), exactly as the FHIR and profile
reads are; a section the decision point refuses is left out with a note, never an error. The
relation comes from `access.care_team.own_relation` (ACC-3: a block is never told), the documents
from `documents.service.search` (narrowed in SQL to what the reader may read).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy.orm import Session

from carnet.access import care_team
from carnet.accounts import wishes
from carnet.accounts.family.schemas import EMERGENCY_CONTACT
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal
from carnet.documents import service as documents
from carnet.errors import Forbidden
from carnet.http import bounded_integer
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import rid
from carnet.portal.views.documents import Row, category_choices, describe
from carnet.portal.views.profile_forms import SECTION_TITLES, shown
from carnet.portal.web import FormErrors, formatter, settings_of, vault_of
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile

# Item 6: what a doctor needs first, in this order.
SUMMARY_SECTIONS = (
    profile_rules.ALLERGY,
    profile_rules.TREATMENT,
    profile_rules.ILLNESS,
    profile_rules.VACCINATION,
    profile_rules.BLOOD_GROUP,
)
PER_PAGE = 20
DONATION = {
    "donor": N_("Agrees to donate their organs"),
    "refuses": N_("Refuses to donate their organs"),
    "undecided": N_("Has not decided"),
}


@dataclass
class SummarySection:
    name: str
    title: str
    visible: bool
    entries: list[Any] = field(default_factory=list)


def summary(request: Request, db: Session, principal: Principal, patient: Holder) -> dict[str, Any]:
    """The profile sections of item 6 and the contacts and wishes, as ACC-7 lets this reader see
    them; a refusal (already audited by the service) leaves the part out with a note."""
    fmt = formatter(request)
    settings, vault = settings_of(request), vault_of(request)
    ctx = profile.context(db, vault, settings, principal, patient, rid(request))
    try:
        found = profile.read_profile(ctx, SUMMARY_SECTIONS)
    except Forbidden:
        found = {}
    sections = []
    for name in SUMMARY_SECTIONS:
        entries = found.get(name)
        if name == profile_rules.TREATMENT and entries is not None:
            entries = [e for e in entries if e.content.get("current", True)]  # current ones
        sections.append(
            SummarySection(
                name=name,
                title=fmt.gettext(SECTION_TITLES[name]),
                visible=entries is not None,
                entries=[shown(name, e, fmt) for e in entries or []],
            )
        )
    try:
        shared: list[wishes.Wish] | None = wishes.list_contacts(
            db, vault, settings, principal, patient,
            kinds=wishes.SHARED_KINDS, request_id=rid(request),
        )  # fmt: skip
    except Forbidden:
        shared = None
    return {"sections": sections, "wishes": _wishes(fmt, shared)}


def _wishes(fmt: Formatter, shared: list[wishes.Wish] | None) -> dict[str, Any] | None:
    if shared is None:
        return None
    single = {w.kind: w.content for w in shared if w.kind != EMERGENCY_CONTACT}
    donation = single.get("organ_donation")
    choice = DONATION.get(str(donation.get("choice"))) if donation else None
    directives = single.get("advance_directives")
    return {
        "contacts": [w.content for w in shared if w.kind == EMERGENCY_CONTACT],
        "trusted": single.get("trusted_person"),
        "donation": (
            {"choice": fmt.gettext(choice), "note": donation.get("note")}
            if donation and choice
            else None
        ),
        "directives": directives,
    }


def relation(
    request: Request, db: Session, principal: Principal, patient: Holder
) -> dict[str, Any]:
    """Item 7: the professional's relation as a sentence, and which actions change it."""
    fmt = formatter(request)
    own = care_team.own_relation(db, settings_of(request), principal, patient)
    since = fmt.date(own.since, "long") if own.since else ""
    if own.is_gp and own.in_care_team:
        text = fmt.gettext(N_("You are this patient's GP (médecin traitant)."))
    elif own.in_care_team:
        text = fmt.gettext(N_("You are part of this patient's care team since %(date)s.")) % {
            "date": since
        }
    elif own.awaiting_authorisation:
        text = fmt.gettext(
            N_(
                "You declared treating this patient on %(date)s. Your practice needs the "
                "patient's express authorisation: the request is awaiting their answer."
            )
        ) % {"date": since}
    else:
        text = fmt.gettext(N_("You are not part of this patient's care team."))
    pending = ""
    if own.gp_proposed_at is not None:
        pending = fmt.gettext(
            N_("Your GP proposal of %(date)s is awaiting the patient's answer.")
        ) % {"date": fmt.date(own.gp_proposed_at, "long")}
    return {
        "text": text,
        "pending_gp": pending,
        "may_declare": not own.in_care_team and not own.awaiting_authorisation,
        "may_propose_gp": not own.is_gp and own.gp_proposed_at is None,
    }


@dataclass
class Month:
    label: str
    rows: list[Row]


def _day(value: str, fmt: Formatter, errors: FormErrors, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.add(name, fmt.gettext(N_("Enter a date as YYYY-MM-DD, e.g. 2025-03-14.")))
        return None


def _start_of(day: dt.date, timezone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone))


def document_timeline(
    request: Request,
    db: Session,
    principal: Principal,
    patient: Holder,
    is_professional: bool,
    errors: FormErrors,
) -> dict[str, Any]:
    """Item 6: the readable documents, filtered (category, type, deposit dates, "mine"), PER_PAGE a
    page, newest first, grouped by month of deposit. Wrong dates are said on their field and the
    list is shown without them."""
    fmt = formatter(request)
    settings = settings_of(request)
    params = request.query_params
    categories = category_choices(fmt.locale)
    category = params.get("category", "")
    category = category if category in dict(categories) else ""
    type_code = params.get("type", "")[:20]
    start = _day(params.get("from", "")[:10], fmt, errors, "from")
    end = _day(params.get("to", "")[:10], fmt, errors, "to")
    mine = params.get("mine") == "1" and is_professional
    page = bounded_integer(params.get("page", "1"), minimum=1) or 1
    query = documents.SearchQuery(
        categories=[category] if category else [],
        type_codes=[type_code] if type_code else [],
        date_from=_start_of(start, fmt.timezone) if start else None,
        date_to=_start_of(end + dt.timedelta(days=1), fmt.timezone) if end else None,
        deposited_by=principal.id if mine else None,
        sort="-date",
        offset=(page - 1) * PER_PAGE,
        count=PER_PAGE,
    )
    total, docs = documents.search(db, settings, principal, patient, query, request_id=rid(request))
    months: list[Month] = []
    for doc, row in zip(docs, describe(db, request, principal, docs), strict=True):
        label = fmt.date(doc.deposited_at, "LLLL y")
        if not months or months[-1].label != label:
            months.append(Month(label, []))
        months[-1].rows.append(row)
    chosen = {
        "category": category,
        "type": type_code,
        "from": start.isoformat() if start else "",
        "to": end.isoformat() if end else "",
        "mine": "1" if mine else "",
    }
    kept = {k: v for k, v in chosen.items() if v}
    pages = max(1, -(-total // PER_PAGE))

    def link(number: int) -> str:
        return "/pro/patient?" + urlencode({**kept, "page": str(number)}) + "#docs-title"

    return {
        "months": months,
        "total": total,
        "page": page,
        "pages": pages,
        "first": (page - 1) * PER_PAGE + 1 if docs else 0,
        "last": (page - 1) * PER_PAGE + len(docs),
        "previous": link(page - 1) if page > 1 else "",
        "next": link(page + 1) if page < pages else "",
        "filters": chosen,
        "filtered": bool(kept),
        "categories": [("", fmt.gettext(N_("All categories"))), *categories],
    }
