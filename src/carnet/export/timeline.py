"""The health history ("Mon histoire de santé", issue 7 item 4): one dated list built from the
documents, vaccinations, hospital stays, illnesses and reimbursements of a space.

Nothing here decides access: each source is read through its own service (documents.service.search,
profile.service.read_profile, reimbursements.service.list_reimbursements), which narrows to what the
caller may read, applies REP-2 and DOC-4, and audits the read (ACC-8). A source the caller may not
read at all is left out of the timeline (its refusal is audited by its service).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from carnet.accounts.models import Holder
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents import service as documents
from carnet.documents.models import Document
from carnet.errors import Forbidden, InvalidInput
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile
from carnet.reimbursements import service as reimbursements
from carnet.vault.service import Vault

Granularity = Literal["day", "month", "year"]
GRANULARITIES: tuple[str, ...] = ("day", "month", "year")

DOCUMENT = "document"
VACCINATION = profile_rules.VACCINATION
HOSPITAL_STAY = profile_rules.HOSPITAL_STAY
ILLNESS = profile_rules.ILLNESS
REIMBURSEMENT = "reimbursement"
CATEGORIES: tuple[str, ...] = (DOCUMENT, VACCINATION, HOSPITAL_STAY, ILLNESS, REIMBURSEMENT)
PROFILE_CATEGORIES = (VACCINATION, HOSPITAL_STAY, ILLNESS)

LABELS_FR = {
    DOCUMENT: "Document",
    VACCINATION: "Vaccination",
    HOSPITAL_STAY: "Hospitalisation",
    ILLNESS: "Maladie",
    REIMBURSEMENT: "Remboursement",
}
DOCUMENT_PAGE = 500  # documents.service.search caps a page at 500


@dataclass(frozen=True)
class TimelineEntry:
    date: dt.date | None
    category: str
    title: str
    detail: str
    source_id: uuid.UUID


@dataclass(frozen=True)
class TimelineGroup:
    period: str | None  # "2026-01-10", "2026-01" or "2026"; None for undated entries
    entries: list[TimelineEntry]


def check_query(by: str, category: str | None) -> tuple[Granularity, str | None]:
    if by not in GRANULARITIES:
        raise InvalidInput("by: expected day, month or year.", field="by")
    if category is not None and category.strip():
        name = category.strip().lower().replace("-", "_")
        if name not in CATEGORIES:
            raise InvalidInput(
                f"category: expected one of {', '.join(CATEGORIES)}.", field="category"
            )
        return by, name  # type: ignore[return-value]
    return by, None  # type: ignore[return-value]


def readable_documents(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    request_id: str | None = None,
    every_status: bool = False,
) -> Iterator[Document]:
    """Every current document of the space the principal may read (with `every_status`, in every
    status, as ITI-67 without `status`), page by page (each page is one audited search of
    documents.service)."""
    offset = 0
    while True:
        query = documents.SearchQuery(count=DOCUMENT_PAGE, offset=offset, sort="-date")
        if every_status:
            query.statuses = []
        total, rows = documents.search(
            session, settings, principal, holder, query, request_id=request_id
        )
        yield from rows
        offset += len(rows)
        if not rows or offset >= total:
            return


def all_reimbursements(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    request_id: str | None = None,
) -> Iterator[reimbursements.ReimbursementView]:
    """Every line of the space, one decision and one audit entry for all (`every_line`)."""
    return reimbursements.every_line(
        session, vault, settings, principal, holder, request_id=request_id
    )


def _document_date(doc: Document) -> dt.date:
    if doc.care_date is not None:
        return doc.care_date
    if doc.period_start is not None:
        return doc.period_start.date()
    return doc.deposited_at.date()


def _profile_entry(entry: profile.Entry) -> TimelineEntry:
    content = entry.content
    if entry.section == VACCINATION:
        dose = f"dose {content.get('dose_number', 1)}"
        detail = dose + (" (rappel)" if content.get("booster") else "")
        return TimelineEntry(
            entry.effective_date, VACCINATION, content["vaccine"], detail, entry.id
        )
    if entry.section == HOSPITAL_STAY:
        end = content.get("to")
        detail = f"jusqu'au {end}" if end else ""
        if content.get("reason"):
            detail = (detail + " — " if detail else "") + content["reason"]
        return TimelineEntry(
            entry.effective_date, HOSPITAL_STAY, content["place"], detail, entry.id
        )
    status = "en cours" if content.get("status") == "current" else "passée"
    return TimelineEntry(entry.effective_date, ILLNESS, content["label"], status, entry.id)


def entries(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    category: str | None = None,
    request_id: str | None = None,
) -> list[TimelineEntry]:
    """Every timeline entry the principal may read, newest first (undated ones last)."""
    wanted = (category,) if category else CATEGORIES
    found: list[TimelineEntry] = []
    if DOCUMENT in wanted:
        try:
            for doc in readable_documents(
                session, settings, principal, holder, request_id=request_id
            ):
                found.append(
                    TimelineEntry(
                        _document_date(doc),
                        DOCUMENT,
                        documents.title_of(session, vault, doc),
                        doc.category,
                        doc.id,
                    )
                )
        except Forbidden:
            pass
    sections = [s for s in PROFILE_CATEGORIES if s in wanted]
    if sections:
        ctx = profile.context(session, vault, settings, principal, holder, request_id)
        readable = [s for s in sections if s in profile.readable_sections(ctx)]
        if readable:
            for items in profile.read_profile(ctx, readable).values():
                found.extend(_profile_entry(e) for e in items)
    if REIMBURSEMENT in wanted:
        try:
            for line in all_reimbursements(
                session, vault, settings, principal, holder, request_id=request_id
            ):
                found.append(
                    TimelineEntry(
                        line.care_date,
                        REIMBURSEMENT,
                        line.act_label,
                        f"remboursé {line.amount_reimbursed:.2f} € sur {line.amount_charged:.2f} €",
                        line.id,
                    )
                )
        except Forbidden:
            pass
    dated = sorted((e for e in found if e.date is not None), key=_newest_first)
    return dated + [e for e in found if e.date is None]


def _newest_first(entry: TimelineEntry) -> tuple[int, str, str]:
    assert entry.date is not None
    return (-entry.date.toordinal(), entry.category, str(entry.source_id))


def period_of(day: dt.date, by: Granularity) -> str:
    if by == "day":
        return day.isoformat()
    if by == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return f"{day.year:04d}"


def group(items: Sequence[TimelineEntry], by: Granularity) -> list[TimelineGroup]:
    """Consecutive entries of the same period together (items are already newest first)."""
    groups: list[TimelineGroup] = []
    for item in items:
        period = period_of(item.date, by) if item.date is not None else None
        if groups and groups[-1].period == period:
            groups[-1].entries.append(item)
        else:
            groups.append(TimelineGroup(period, [item]))
    return groups
