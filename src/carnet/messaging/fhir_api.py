"""`/fhir/Communication`: read, search by patient, and create (= send a message) (SRV-1, ACC-8).

Same conventions as `carnet.fhir.api`: one access rule per route, `application/fhir+json` answers,
the audit entry committed before the data leaves, a refusal's entry committed too; errors become
OperationOutcomes. Attachments travel inline (base64) on create only; reads give their URL.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.auth.principal import Principal, PrincipalKind
from carnet.fhir.api import READERS, FhirResponse, TooLarge, UnsupportedMediaType
from carnet.fhir.parse import InvalidResource, Problem
from carnet.fhir.service import fhir_base
from carnet.http import FHIR_JSON, db_session, keeping_audit, request_id
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.messaging import fhir, rules
from carnet.messaging.context import Context

router = APIRouter(prefix="/fhir", tags=["fhir"])
JSON_OVERHEAD = 1024 * 1024


def _ctx(request: Request, session: Session, principal: Principal) -> Context:
    return Context(session, _vault(request), _settings(request), principal, request_id(request))


async def communication_body(request: Request) -> Any:
    """The JSON body, capped at the attachments it may carry (base64) plus some text."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in (FHIR_JSON, "application/json"):
        raise UnsupportedMediaType(f"Send {FHIR_JSON} (or application/json).")
    limit = (
        rules.MAX_ATTACHMENTS * (_settings(request).message_attachment_max_bytes * 4 // 3 + 4)
        + JSON_OVERHEAD
    )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The request body is larger than the {limit} bytes accepted here.")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidResource(
            [Problem("Communication", "The body is not valid JSON.", "structure")]
        ) from None


@router.get(
    "/Communication/{message_id}",
    response_class=FhirResponse,
    summary="A message as Communication (parties of the conversation; audited)",
)
def read_communication(
    message_id: uuid.UUID,
    request: Request,
    principal: Principal = authenticated(*READERS),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit():
        resource = fhir.read_communication(_ctx(request, session, principal), message_id)
    return FhirResponse(resource)


@router.get(
    "/Communication",
    response_class=FhirResponse,
    summary="A patient's messages in the caller's conversations (SRV-1)",
)
def search_communications(
    request: Request,
    principal: Principal = authenticated(*READERS),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit():
        bundle = fhir.search_communications(
            _ctx(request, session, principal),
            list(request.query_params.multi_items()),
            fhir_base(_settings(request)),
            prefer=request.headers.get("prefer"),
        )
    return FhirResponse(bundle)


@router.post(
    "/Communication",
    response_class=FhirResponse,
    status_code=201,
    summary="Send a message: a new conversation, or a reply with inResponseTo (SRV-1, ID-3)",
)
async def create_communication(
    request: Request,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    body = await communication_body(request)
    with keeping_audit():
        resource = fhir.create_communication(_ctx(request, session, principal), body)
    location = f"{fhir_base(_settings(request))}/Communication/{resource['id']}"
    return FhirResponse(resource, status_code=201, headers={"Location": location})
