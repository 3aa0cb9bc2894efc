"""Holder API of the health history, the summary PDF and "download all my data" (issue 7 items
4-6; rules SRV-5, ACC-7, REP-2, ACC-8).

`/me/timeline` and `/me/summary.pdf` act on the caller's own space or on the space named by
`X-Carnet-Space` that they manage (`accounts.family.resolve_space`; anything else 404). The export
covers the caller's own space and every space they manage; only its requester sees or downloads it.
One access rule per route (`authenticated:holder`); the services and the decision point do the rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.accounts import family
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import CarnetError
from carnet.export import service
from carnet.export.models import ExportRequest
from carnet.http import db_session, request_id
from carnet.vault.service import Vault

router = APIRouter(prefix="/api/v1", tags=["export"])

SpaceHeader = Annotated[
    str | None,
    Header(
        alias="X-Carnet-Space",
        description="Act on this space (holder id) that you manage, instead of your own.",
    ),
]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


@contextmanager
def _keeping_audit(session: Session) -> Iterator[None]:
    """ACC-8: a refusal still commits its audit entry."""
    try:
        yield
    except CarnetError:
        session.commit()
        raise


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
    request: Request,
    space: SpaceHeader = None,
    by: Annotated[str, Query(description="day, month or year")] = "month",
    category: Annotated[str | None, Query(description="one category only")] = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> TimelineOut:
    settings = _settings(request)
    with _keeping_audit(session):
        holder, _relation = family.resolve_space(
            session, principal, space, "timeline.read", settings=settings
        )
        granularity, groups = service.read_timeline(
            session, _vault(request), settings, principal, holder, by=by, category=category,
            request_id=request_id(request),
        )  # fmt: skip
    session.commit()  # the reads' audit entries are durable before any data leaves
    return TimelineOut(
        space_id=holder.id,
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
    "/me/summary.pdf",
    response_class=Response,
    summary="A one-click PDF synthesis of the profile (French)",
)
def get_summary(
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    settings = _settings(request)
    with _keeping_audit(session):
        holder, relation = family.resolve_space(
            session, principal, space, "summary.generate", settings=settings
        )
        pdf = service.summary_pdf(
            session, _vault(request), settings, principal, holder, relation,
            request_id=request_id(request),
        )  # fmt: skip
    session.commit()
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
    request: Request,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> JSONResponse:
    row = service.request_export(session, principal, request_id=request_id(request))
    session.commit()
    body = _export_out(row).model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/v1/me/export/{row.id}"})


@router.get("/me/export/{export_id}", response_model=ExportOut, summary="An export's status")
def get_export(
    export_id: uuid.UUID,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> ExportOut:
    return _export_out(service.own_request(session, principal, export_id))


@router.get(
    "/me/export/{export_id}/download",
    response_class=StreamingResponse,
    summary="The export's ZIP, until it expires",
)
def download_export(
    request: Request,
    export_id: uuid.UUID,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> StreamingResponse:
    with _keeping_audit(session):
        stream = service.download(
            session, _vault(request), principal, export_id, request_id=request_id(request)
        )
        content = b"".join(stream)  # decrypted and checked before the audit entry commits
    session.commit()
    return StreamingResponse(
        iter([content]),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="carnet-export-{export_id}.zip"'},
    )
