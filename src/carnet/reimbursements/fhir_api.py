"""`GET /fhir/ExplanationOfBenefit?patient=…` and `/{id}`: reimbursements in FHIR R4 (SRV-4, ACC-7, ACC-8).

Same conventions as `carnet.fhir.api`: one access rule per route, `application/fhir+json`
answers, the audit entry committed before the data leaves and a refusal's entry committed too.
Professionals are authenticated readers of `/fhir` but the decision point refuses them (ACC-7).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.fhir.api import READERS, FhirResponse
from carnet.fhir.service import fhir_base
from carnet.http import db_session, keeping_audit, request_id
from carnet.reimbursements import fhir
from carnet.vault.service import Vault

router = APIRouter(prefix="/fhir", tags=["fhir"])


@router.get(
    "/ExplanationOfBenefit",
    response_class=FhirResponse,
    summary="A space's reimbursements as ExplanationOfBenefit (holder side only, ACC-7)",
)
def search_explanations_of_benefit(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("ExplanationOfBenefit", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    settings: Settings = request.app.state.settings
    vault: Vault = request.app.state.vault
    with keeping_audit():
        bundle = fhir.search_explanations(
            session, vault, settings, principal, list(request.query_params.multi_items()),
            fhir_base(settings), request_id=request_id(request),
            prefer=request.headers.get("prefer"),
        )  # fmt: skip
    return FhirResponse(bundle)


@router.get(
    "/ExplanationOfBenefit/{line_id}",
    response_class=FhirResponse,
    summary="One reimbursement line as an ExplanationOfBenefit (holder side only, ACC-7)",
)
def read_explanation_of_benefit(
    line_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("ExplanationOfBenefit", "r")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    settings: Settings = request.app.state.settings
    vault: Vault = request.app.state.vault
    with keeping_audit():
        resource = fhir.read_explanation(
            session, vault, settings, principal, line_id, request_id=request_id(request)
        )
    return FhirResponse(resource)
