"""Health history, summary PDF and "download all my data" (issue 7 items 4-6; SRV-5, ACC-7,
REP-2, ACC-8).

Every piece of data comes from the service that owns it, called with the principal who asked: the
export is what that principal may read, read the way the read endpoints read it (each read audited
by its service, in the principal's mode), and nothing else. No rule is decided here.

An export is requested by a holder (`request_export`), built by the job "export.build"
(`export.archive.build_pending`: one ZIP for the holder's own space and one folder per space they
manage), stored encrypted under the holder's key (purpose "export"), announced by e-mail without
any content, and downloadable by the holder until it expires (`export_ttl`:
`CARNET_EXPORT_TTL_DAYS`), then `expire`d.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access import notices
from carnet.access import service as access_service
from carnet.access.rules import (
    decide_access_settings_read,
    decide_export,
    decide_export_read,
    decide_manage_professionals,
    decide_timeline_read,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import service as account_service
from carnet.accounts import wishes
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.accounts.purge import register_purge_hook
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database, new_id
from carnet.documents import cda, sniff
from carnet.documents import service as documents
from carnet.errors import Conflict, Forbidden, NotFound
from carnet.export import summary, timeline
from carnet.export.models import EXPIRED, PENDING, PURPOSE, READY, ExportRequest
from carnet.profile import measurements as measures
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile
from carnet.vault.service import Vault

TARGET = "Export"


def export_ttl(settings: Settings) -> dt.timedelta:
    """SRV-5: how long a built export stays downloadable (Carnet decision; issue 7 says "the link
    expires"): `CARNET_EXPORT_TTL_DAYS`, 7 by default."""
    return dt.timedelta(days=settings.export_ttl_days)


def holder_principal(holder_id: uuid.UUID) -> Principal:
    return Principal(PrincipalKind.HOLDER, holder_id)


# -- health history --------------------------------------------------------------------------


def read_timeline(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    by: str = "month",
    category: str | None = None,
    request_id: str | None = None,
) -> tuple[str, list[timeline.TimelineGroup]]:
    """Item 4: the space's health history grouped by period, newest first. The timeline itself
    is asked of the decision point (its own visibility setting); each source then audits its reads.
    """
    granularity, wanted = timeline.check_query(by, category)
    actor = actor_for(session, settings, principal, holder)
    decision = decide_timeline_read(actor, space_facts(session, holder))
    record(session, principal, "timeline.read" if decision else "timeline.read-denied",
           holder_id=holder.id, target_type="Timeline", target_id=str(holder.id),
           mode=decision.mode, reason=None if decision else decision.reason,
           request_id=request_id)  # fmt: skip
    if not decision:
        if decision.reason == "history-hidden":
            raise Forbidden("The holder keeps their health history private.", code=decision.reason)
        raise Forbidden("You may not read this space's health history.", code=decision.reason)
    items = timeline.entries(
        session, vault, settings, principal, holder, category=wanted, request_id=request_id
    )
    notices.after_read(session, settings, actor, holder, decision)
    return granularity, timeline.group(items, granularity)


@dataclass(frozen=True)
class TimelineVisibility:
    visible_to_professionals: bool
    changed_at: dt.datetime | None


def timeline_settings(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> TimelineVisibility:
    """The health history's visibility: read by the holder side (like the other access settings)."""
    actor = actor_for(session, settings, principal, holder)
    decision = decide_access_settings_read(actor, space_facts(session, holder))
    if not decision:
        raise Forbidden("You may not read this space's settings.", code=decision.reason)
    row = access_service.timeline_settings(session, holder.id)
    if row is None:
        return TimelineVisibility(True, None)  # ACC-7 default
    return TimelineVisibility(row.visible_to_professionals, row.changed_at)


def set_timeline_settings(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    visible_to_professionals: bool,
    request_id: str | None = None,
) -> TimelineVisibility:
    """Show or hide the health history from professionals. An access setting: changed by the
    holder or a representative, never by a caregiver (ACC-3, REP-4); audited (ACC-8)."""
    actor = actor_for(session, settings, principal, holder)
    decision = decide_manage_professionals(actor, space_facts(session, holder))
    if not decision:
        record(session, principal, "timeline.settings-denied", holder_id=holder.id,
               target_type="Space", target_id=str(holder.id), mode=decision.mode,
               reason=decision.reason, request_id=request_id)  # fmt: skip
        raise Forbidden("You may not change this space's access settings.", code=decision.reason)
    row = access_service.set_timeline_visibility(
        session, holder.id, visible_to_professionals, principal.ref
    )
    record(session, principal, "timeline.settings", holder_id=holder.id, target_type="Space",
           target_id=str(holder.id), mode=decision.mode,
           reason=f"visible_to_professionals={int(visible_to_professionals)}",
           request_id=request_id)  # fmt: skip
    return TimelineVisibility(row.visible_to_professionals, row.changed_at)


# -- summary PDF -----------------------------------------------------------------------------


# The summary shows the narrative of this many of the latest structured (CDA) documents.
SUMMARY_REPORTS = 3


def summary_pdf(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    relation: family.Relation,
    *,
    request_id: str | None = None,
) -> bytes:
    """Item 5: the profile synthesis, from what the principal may read; audited (ACC-8)."""
    ctx = profile.context(session, vault, settings, principal, holder, request_id)
    found = profile.read_profile(ctx)  # refuses (and audits) when nothing is readable
    bmi = measures.bmi(found.get(profile_rules.MEASUREMENT, []))
    opened = wishes.list_wishes(session, vault, holder, principal, relation)
    data = summary.SummaryData(
        holder=holder,
        sections={name: [e.content for e in items] for name, items in found.items()},
        wishes=[(w.kind, w.content) for w in opened],
        generated_at=clock.now(),
        bmi=bmi.value if bmi is not None else None,
        reports=structured_reports(session, vault, settings, principal, holder, request_id),
    )
    record(
        session, principal, "summary.generate", holder_id=holder.id, target_type="Space",
        target_id=str(holder.id), mode=family.audit_mode(relation), request_id=request_id,
    )  # fmt: skip
    return summary.render(data, settings.timezone)


def structured_reports(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    request_id: str | None = None,
) -> list[summary.Report]:
    """Issue 16 item 5: the latest structured (CDA) documents the principal may read, each read
    like its download (decision point, audit entry) and turned into text by `documents.cda`."""
    query = documents.SearchQuery(mime_types=[sniff.XML], sort="-date", count=SUMMARY_REPORTS)
    _total, docs = documents.search(
        session, settings, principal, holder, query, request_id=request_id
    )
    reports = []
    for doc in docs:
        _doc, stream = documents.read_content(
            session, vault, settings, principal, doc.id, request_id=request_id
        )
        found = cda.read(b"".join(stream))
        if found is None:
            continue
        reports.append(
            summary.Report(
                title=documents.title_of(session, vault, doc),
                date=doc.care_date or doc.deposited_at.date(),
                lines=tuple(cda.outline(found)) if found.level == 3 else (),
                embedded=found.level == 1,
            )
        )
    return reports


# -- export requests ---------------------------------------------------------------------------


def request_export(
    session: Session, principal: Principal, *, request_id: str | None = None
) -> ExportRequest:
    """SRV-5: a holder asks for all their data (and that of the spaces they manage)."""
    if not decide_export(principal.kind):
        raise Forbidden("Only holders may download their data.")
    holder = account_service.holder(session, principal.id)
    if holder is None:
        raise NotFound("No such space.")
    row = ExportRequest(
        id=new_id(),
        holder_id=holder.id,
        requested_by=principal.ref,
        status=PENDING,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    record(session, principal, "export.request", holder_id=holder.id, target_type=TARGET,
           target_id=str(row.id), request_id=request_id)  # fmt: skip
    return row


def own_request(session: Session, principal: Principal, export_id: uuid.UUID) -> ExportRequest:
    """The principal's own export request (anyone else's is 404)."""
    row = session.get(ExportRequest, export_id)
    if row is None or not decide_export_read(principal.kind, principal.id, row.holder_id):
        raise NotFound("No such export.")
    return row


def own_requests(session: Session, principal: Principal, limit: int = 20) -> list[ExportRequest]:
    """The principal's latest export requests, newest first (the portal's "my data" page)."""
    if not decide_export(principal.kind):
        return []
    return list(
        session.scalars(
            select(ExportRequest)
            .where(ExportRequest.holder_id == principal.id)
            .order_by(ExportRequest.created_at.desc())
            .limit(limit)
        )
    )


def is_expired(row: ExportRequest, now: dt.datetime | None = None) -> bool:
    return row.status == EXPIRED or (
        row.expires_at is not None and (now or clock.now()) >= row.expires_at
    )


def download(
    session: Session,
    vault: Vault,
    principal: Principal,
    export_id: uuid.UUID,
    *,
    request_id: str | None = None,
) -> Iterator[bytes]:
    """The decrypted ZIP as a stream, after the audit entry (ACC-8); 409 while not ready, 404 once
    expired (the blob is gone or going)."""
    row = own_request(session, principal, export_id)
    if is_expired(row):
        raise NotFound("This export has expired; ask for a new one.", code="expired")
    if row.status != READY or row.blob_id is None:
        raise Conflict("This export is not ready.", code=f"export-{row.status}")
    record(session, principal, "export.download", holder_id=row.holder_id, target_type=TARGET,
           target_id=str(row.id), request_id=request_id)  # fmt: skip
    return vault.read_blob(session, row.holder_id, row.id, PURPOSE, row.blob_id)


def expire(database: Database, vault: Vault) -> int:
    """SRV-5: ready exports past their date become expired, their blob deleted once it commits."""
    now = clock.now()
    with database.transaction() as session:
        rows = session.scalars(
            select(ExportRequest).where(
                ExportRequest.status == READY, ExportRequest.expires_at <= now
            )
        ).all()
        for row in rows:
            if row.blob_id is not None:
                vault.delete_blob_after_commit(session, row.blob_id)
            row.blob_id = None
            row.status = EXPIRED
        return len(rows)


@register_purge_hook
def _purge_exports(session: Session, vault: Vault, holder_id: uuid.UUID) -> None:
    """LC-8: an export's ZIP goes with the space (its key is destroyed too)."""
    rows = session.scalars(select(ExportRequest).where(ExportRequest.holder_id == holder_id)).all()
    for row in rows:
        if row.blob_id is not None:
            vault.delete_blob_after_commit(session, row.blob_id)
    session.execute(delete(ExportRequest).where(ExportRequest.holder_id == holder_id))
    access_service.forget_timeline_settings(session, holder_id)
