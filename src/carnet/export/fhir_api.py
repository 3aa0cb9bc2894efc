"""`GET /fhir/Patient/{id}/$everything` (issue 7 item 6): everything the caller may read of one
space, as a searchset Bundle, paged (`_count`, at most 500, and `_offset`).

The content is `export.everything.collect`: each source read through its own service and the
decision point (holder side: everything; a representative never meets a minor's secret acts,
REP-2; a professional gets what ACC-1/ACC-7 allow; reimbursements never reach professionals).
Audited by each source; a refusal's entry is committed before the error leaves.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.accounts import service as account_service
from carnet.auth.principal import Principal
from carnet.errors import NotFound
from carnet.export import everything
from carnet.fhir import resources, search
from carnet.fhir.api import READERS, FhirResponse
from carnet.fhir.parse import Problems
from carnet.fhir.service import fhir_base
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import db_session, keeping_audit, request_id

router = APIRouter(prefix="/fhir", tags=["fhir"])

DEFAULT_COUNT = 100
PARAMETERS = search.PAGING


def _paging(params: list[tuple[str, str]]) -> tuple[int, int]:
    problems = Problems()
    for name in sorted({n for n, _v in params if n not in PARAMETERS and n not in search.IGNORED}):
        problems.add(name, f"Unsupported parameter {name!r}: only _count and _offset.",
                     "not-supported")  # fmt: skip
    count, offset = search.paging(params, problems, DEFAULT_COUNT)
    problems.raise_if_any()
    return count, offset


@router.get(
    "/Patient/{patient_id}/$everything",
    response_class=FhirResponse,
    summary="Everything the caller may read of a patient's space (Bundle searchset, paged)",
)
def patient_everything(
    patient_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    count, offset = _paging(list(request.query_params.multi_items()))
    settings = _settings(request)
    try:
        holder = account_service.holder(session, uuid.UUID(patient_id))
    except ValueError:
        holder = None
    if holder is None:
        raise NotFound("No such patient.")
    with keeping_audit():
        found = everything.collect(
            session, _vault(request), settings, principal, holder, request_id=request_id(request)
        )
    base = fhir_base(settings)
    here = f"{base}/Patient/{holder.id}/$everything"
    total = len(found.resources)
    page = found.resources[offset : offset + count]

    def url(at: int) -> str:
        return f"{here}?{urlencode([('_count', count), ('_offset', at)])}"

    links = [("self", url(offset))]
    if offset > 0 and count > 0:
        links.append(("previous", url(max(offset - count, 0))))
    if count > 0 and offset + count < total:
        links.append(("next", url(offset + count)))
    bundle = resources.searchset(
        ((f"{base}/{r['resourceType']}/{r['id']}", r) for r in page), total, links
    )
    return FhirResponse(bundle)
