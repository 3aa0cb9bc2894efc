"""My health story ("Mon histoire de santé") and "Télécharger mes données" (issue 7; SRV-5).

The timeline comes from `export.service.read_timeline` on the space acted on: each source is read
through its own service, which applies ACC-7, REP-2, DOC-4 and audits the read (ACC-8). The export
is the signed-in holder's own (their space and the spaces they manage, SRV-5): requested here, built
by the job "export.build", downloaded here until it expires; only its requester sees it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import Request
from fastapi.responses import Response

from carnet.auth import sessions as sessions
from carnet.documents.present import category_label
from carnet.export import service as export
from carnet.export import timeline
from carnet.export.models import EXPIRED, FAILED, PENDING, READY
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import (
    Acting,
    Visit,
    acting_page,
    new_router,
    rid,
    visiting,
)
from carnet.portal.web import formatter, redirect, settings_of, vault_of

router = new_router()

CATEGORY_LABELS = {
    timeline.DOCUMENT: N_("Documents"),
    timeline.VACCINATION: N_("Vaccinations"),
    timeline.HOSPITAL_STAY: N_("Hospital stays"),
    timeline.ILLNESS: N_("Illnesses"),
    timeline.REIMBURSEMENT: N_("Reimbursements"),
}
BY_LABELS = {"day": N_("By day"), "month": N_("By month"), "year": N_("By year")}
EXPORT_STATUS = {
    PENDING: N_("Being prepared"),
    READY: N_("Ready"),
    FAILED: N_("Failed: ask again"),
    EXPIRED: N_("Expired"),
}


def period_label(period: str | None, by: str, fmt: Formatter) -> str:
    if period is None:
        return fmt.gettext(N_("Undated"))
    if by == "year":
        return period
    if by == "month":
        year, month = (int(part) for part in period.split("-"))
        return fmt.date(dt.date(year, month, 1), "LLLL y")
    return fmt.date(dt.date.fromisoformat(period), "full")


@router.get("/health-story", name="portal_timeline")
def health_story(
    request: Request,
    by: str = "month",
    category: str = "",
    act: Acting = acting_page("timeline.read"),
) -> Response:
    """The space's health history, newest first, grouped by day, month or year; one category or
    all. Unknown filter values fall back to the defaults (a link typed by hand is no error)."""
    fmt = formatter(request)
    by = by if by in timeline.GRANULARITIES else "month"
    category = category if category in timeline.CATEGORIES else ""
    granularity, groups = export.read_timeline(
        act.db, vault_of(request), settings_of(request), act.principal, act.space,
        by=by, category=category or None, request_id=rid(request),
    )  # fmt: skip
    shown = [
        {
            "period": period_label(g.period, granularity, fmt),
            "entries": [
                {
                    "date": fmt.date(e.date, "medium") if e.date else "",
                    "category": e.category,
                    "category_label": fmt.gettext(CATEGORY_LABELS[e.category]),
                    "title": e.title,
                    "detail": category_label(e.detail, fmt.locale)
                    if e.category == timeline.DOCUMENT
                    else e.detail,
                }
                for e in g.entries
            ],
        }
        for g in groups
    ]
    return act.render(
        "health_story.html",
        {
            "groups": shown,
            "total": sum(len(g["entries"]) for g in shown),
            "by": granularity,
            "category": category,
            "by_options": [(k, fmt.gettext(v)) for k, v in BY_LABELS.items()],
            "categories": [("", fmt.gettext(N_("All categories")))]
            + [(k, fmt.gettext(v)) for k, v in CATEGORY_LABELS.items()],
        },
        title=fmt.gettext(N_("My health story")),
    )


@router.get("/my-data", name="portal_export")
def my_data(request: Request, act: Acting = acting_page()) -> Response:
    fmt = formatter(request)
    rows = [
        {
            "id": row.id,
            "requested": fmt.datetime(row.created_at, "short"),
            "status": "expired" if export.is_expired(row) else row.status,
            "status_label": fmt.gettext(
                EXPORT_STATUS[EXPIRED if export.is_expired(row) else row.status]
            ),
            "expires": fmt.datetime(row.expires_at, "short") if row.expires_at else "",
        }
        for row in export.own_requests(act.db, act.principal)
    ]
    return act.render(
        "my_data.html",
        {
            "exports": rows,
            "pending": any(r["status"] == PENDING for r in rows),
            "days": settings_of(request).export_ttl_days,
            "manages_others": len(act.shell.profiles) > 1,
        },
        title=fmt.gettext(N_("Download my data")),
    )


@router.post("/my-data", name="portal_export_request")
def request_export(request: Request, visit: Visit = visiting()) -> Response:
    """SRV-5: one more pending request is harmless; while one is pending, nothing is added."""
    if not any(row.status == PENDING for row in export.own_requests(visit.db, visit.principal)):
        export.request_export(visit.db, visit.principal, request_id=rid(request))
    sessions.set_flash(visit.db, visit.live, "export-requested")
    return redirect("/my-data")


@router.get("/my-data/{export_id}/download", name="portal_export_download")
def download(request: Request, export_id: uuid.UUID, visit: Visit = visiting()) -> Response:
    """The ZIP, decrypted and checked before the audit entry commits (ACC-8)."""
    stream = export.download(
        visit.db, vault_of(request), visit.principal, export_id, request_id=rid(request)
    )
    content = b"".join(stream)
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="carnet-export-{export_id}.zip"'},
    )
