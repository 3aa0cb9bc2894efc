"""Holder API of the health history, the summary PDF and "download all my data" (issue 7 items
4-6; rules SRV-5, ACC-7, REP-2, ACC-8).

`/me/timeline` and `/me/summary.pdf` act on the caller's own space or on the space named by
`X-Carnet-Space` that they manage (`accounts.family.resolve_space`; anything else 404). The export
covers the caller's own space and every space they manage; only its requester sees or downloads it.
`/me/timeline-settings` shows or hides the health history from professionals, who read it at
`/pro/patients/{id}/timeline` (issue 7 item 4, `access.rules.decide_timeline_read`).
One access rule per route; the services and the decision point do the rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from carnet.access.routes import Acting, Caller, acting_on, calling
from carnet.accounts import service as account_service
from carnet.auth.principal import PrincipalKind
from carnet.errors import NotFound
from carnet.export import service, timeline
from carnet.export.models import ExportRequest
from carnet.http import file_responses, keeping_audit

router = APIRouter(prefix="/api/v1", tags=["export"])


class TimelineEntryOut(BaseModel):
    date: dt.date | None
    category: str
    title: str
    detail: str
    source_id: uuid.UUID


class TimelineGroupOut(BaseModel):
    period: str | None
    entries: list[TimelineEntryOut]


class TimelineOut(BaseModel):
    space_id: uuid.UUID
    by: str
    groups: list[TimelineGroupOut]


class ExportOut(BaseModel):
    id: uuid.UUID
    status: str
    created_at: dt.datetime
    ready_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


def _export_out(row: ExportRequest) -> ExportOut:
    status = "expired" if service.is_expired(row) else row.status
    return ExportOut(
        id=row.id, status=status, created_at=row.created_at, ready_at=row.ready_at,
        expires_at=row.expires_at,
    )  # fmt: skip


@router.get(
    "/me/timeline",
    response_model=TimelineOut,
    summary="Mon histoire de santé: documents, vaccinations, stays, illnesses, reimbursements",
)
def get_timeline(
    acting: Acting = acting_on("timeline.read"),
    by: Annotated[str, Query(description="day, month or year")] = "month",
    category: Annotated[str | None, Query(description="one category only")] = None,
) -> TimelineOut:
    with keeping_audit():
        granularity, groups = service.read_timeline(
            acting.session, acting.vault, acting.settings, acting.principal, acting.holder,
            by=by, category=category, request_id=acting.request_id,
        )  # fmt: skip
    return _timeline_out(acting.holder.id, granularity, groups)


def _timeline_out(
    holder_id: uuid.UUID, granularity: str, groups: list[timeline.TimelineGroup]
) -> TimelineOut:
    return TimelineOut(
        space_id=holder_id,
        by=granularity,
        groups=[
            TimelineGroupOut(
                period=g.period,
                entries=[
                    TimelineEntryOut(date=e.date, category=e.category, title=e.title,
                                     detail=e.detail, source_id=e.source_id)
                    for e in g.entries
                ],
            )
            for g in groups
        ],
    )  # fmt: skip


@router.get(
    "/pro/patients/{holder_id}/timeline",
    response_model=TimelineOut,
    summary="A patient's health history as a professional sees it (ACC-7; the holder may hide it)",
)
def pro_timeline(
    holder_id: uuid.UUID,
    by: Annotated[str, Query(description="day, month or year")] = "month",
    category: Annotated[str | None, Query(description="one category only")] = None,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR),
) -> TimelineOut:
    """Documents they may read, vaccinations, hospital stays and illnesses (never
    reimbursements); 403 outside the care team, or when the holder hid their health history."""
    holder = account_service.holder(caller.session, holder_id)
    if holder is None:
        raise NotFound("No such patient.")
    with keeping_audit():
        granularity, groups = service.read_timeline(
            caller.session, caller.vault, caller.settings, caller.principal, holder, by=by,
            category=category, request_id=caller.request_id,
        )  # fmt: skip
    return _timeline_out(holder.id, granularity, groups)


class TimelineSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visible_to_professionals: bool


class TimelineSettingsOut(BaseModel):
    space_id: uuid.UUID
    visible_to_professionals: bool
    changed_at: dt.datetime | None = None


def _timeline_settings_out(
    acting: Acting, found: service.TimelineVisibility
) -> TimelineSettingsOut:
    return TimelineSettingsOut(
        space_id=acting.holder.id,
        visible_to_professionals=found.visible_to_professionals,
        changed_at=found.changed_at,
    )


@router.get(
    "/me/timeline-settings",
    response_model=TimelineSettingsOut,
    summary="Who sees my health history: visible to my professionals (ACC-7) or not",
)
def get_timeline_settings(
    acting: Acting = acting_on("timeline.settings"),
) -> TimelineSettingsOut:
    found = service.timeline_settings(
        acting.session, acting.settings, acting.principal, acting.holder
    )
    return _timeline_settings_out(acting, found)


@router.put(
    "/me/timeline-settings",
    response_model=TimelineSettingsOut,
    summary="Show or hide my health history from professionals; not by caregivers (REP-4)",
)
def put_timeline_settings(
    body: TimelineSettingsIn,
    acting: Acting = acting_on("timeline.settings"),
) -> TimelineSettingsOut:
    with keeping_audit():
        found = service.set_timeline_settings(
            acting.session, acting.settings, acting.principal, acting.holder,
            visible_to_professionals=body.visible_to_professionals,
            request_id=acting.request_id,
        )  # fmt: skip
    return _timeline_settings_out(acting, found)


@router.get(
    "/me/summary.pdf",
    response_class=Response,
    responses=file_responses({"application/pdf"}, "The summary, in French."),
    summary="A one-click PDF synthesis of the profile (French)",
)
def get_summary(
    acting: Acting = acting_on("summary.generate"),
) -> Response:
    with keeping_audit():
        pdf = service.summary_pdf(
            acting.session, acting.vault, acting.settings, acting.principal, acting.holder,
            acting.relation, request_id=acting.request_id,
        )  # fmt: skip
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="synthese-carnet.pdf"'},
    )


@router.post(
    "/me/export",
    status_code=202,
    response_model=ExportOut,
    summary="Download all my data (SRV-5): starts building the export",
)
def post_export(
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> JSONResponse:
    row = service.request_export(caller.session, caller.principal, request_id=caller.request_id)
    body = _export_out(row).model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/v1/me/export/{row.id}"})


@router.get("/me/export/{export_id}", response_model=ExportOut, summary="An export's status")
def get_export(
    export_id: uuid.UUID,
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> ExportOut:
    return _export_out(service.own_request(caller.session, caller.principal, export_id))


@router.get(
    "/me/export/{export_id}/download",
    response_class=StreamingResponse,
    responses=file_responses({"application/zip"}, "The export's ZIP."),
    summary="The export's ZIP, until it expires",
)
def download_export(
    export_id: uuid.UUID,
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> StreamingResponse:
    with keeping_audit():
        stream = service.download(
            caller.session, caller.vault, caller.principal, export_id, request_id=caller.request_id
        )
        content = b"".join(stream)  # decrypted and checked before the audit entry commits
    return StreamingResponse(
        iter([content]),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="carnet-export-{export_id}.zip"'},
    )
