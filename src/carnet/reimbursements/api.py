"""Holder API: `GET /api/v1/me/reimbursements` (rules SRV-4, ACC-7, ACC-8, REP-2).

The caller's own space, or the space named by `X-Carnet-Space` that they manage
(`accounts.family.resolve_space`: representative or caregiver; anything else is 404). Holders only
(one access rule: `authenticated:holder`); the decision point (`decide_reimbursements_read`) does
the rest. Amounts are strings with two decimals (euros), never floats.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from carnet.access.routes import Acting, acting_on
from carnet.http import PageNumber, keeping_audit
from carnet.reimbursements import service

router = APIRouter(prefix="/api/v1", tags=["reimbursements"])


class ReimbursementOut(BaseModel):
    id: str
    care_date: dt.date
    payment_date: dt.date
    act_code: str
    act_label: str
    professional_rpps: str | None
    amount_charged: str
    amount_reimbursed: str
    currency: str = "EUR"


class ReimbursementList(BaseModel):
    items: list[ReimbursementOut]
    total: int
    page: int
    pages: int


def _out(view: service.ReimbursementView) -> ReimbursementOut:
    return ReimbursementOut(
        id=str(view.id),
        care_date=view.care_date,
        payment_date=view.payment_date,
        act_code=view.act_code,
        act_label=view.act_label,
        professional_rpps=view.professional_rpps,
        amount_charged=f"{view.amount_charged:.2f}",
        amount_reimbursed=f"{view.amount_reimbursed:.2f}",
    )


@router.get(
    "/me/reimbursements",
    response_model=ReimbursementList,
    summary="The insurer's reimbursement lines of a space, newest care first (SRV-4)",
)
def list_reimbursements(
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
    page: PageNumber = 1,
    acting: Acting = acting_on(service.ACTION_READ),
) -> ReimbursementList:
    with keeping_audit():
        found = service.list_reimbursements(
            acting.session, acting.vault, acting.settings, acting.principal, acting.holder,
            date_from=date_from, date_to=date_to, page=page, request_id=acting.request_id,
        )  # fmt: skip
    return ReimbursementList(
        items=[_out(v) for v in found.items], total=found.total, page=found.page, pages=found.pages
    )
