"""The shared FHIR R4 edge under `/fhir`: bodies, answers, the CapabilityStatement, Patient, AuditEvent.

Every domain's `fhir_api` reads its bodies with these readers (a size cap enforced while
streaming) and answers `application/fhir+json` with `FhirResponse`; every route declares exactly
one access rule. Errors become OperationOutcomes in `carnet.http`. The documents' routes (ITI-65,
ITI-67, ITI-68) are in `documents.fhir_api`.

Write routes commit explicitly before answering, so that a client never receives `201 Created` for
something a failed commit lost; reads commit too, so that the audit entry (ACC-8) is durable before
any health data leaves.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated, public
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import CarnetError
from carnet.fhir import audit, parse, resources, search, service
from carnet.http import FHIR_JSON, db_session, keeping_audit, request_id
from carnet.http import app_settings as _settings

router = APIRouter(prefix="/fhir", tags=["fhir"])

JSON_TYPES = frozenset({FHIR_JSON, "application/json"})
JSON_OVERHEAD = 1024 * 1024

READERS = (PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR, PrincipalKind.HOLDER)


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class TooLarge(CarnetError):
    code = "too-large"
    status_code = 413


class UnsupportedMediaType(CarnetError):
    code = "unsupported-media-type"
    status_code = 415


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds `limit` (never buffered past it)."""
    declared = request.headers.get("content-length", "")
    message = f"The request body is larger than the {limit} bytes accepted here (rule DOC-1)."
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(message)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(message)
        chunks.append(chunk)
    return b"".join(chunks)


def json_limit(settings: Settings, documents: int) -> int:
    return documents * (settings.max_upload_bytes * 4 // 3 + 4) + JSON_OVERHEAD


async def json_body(request: Request, documents: int, root: str) -> Any:
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType(f"Send {FHIR_JSON} (or application/json).")
    raw = await read_capped(request, json_limit(_settings(request), documents))
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise parse.InvalidResource(
            [parse.Problem(root, "The body is not valid JSON.", "structure")]
        ) from None


async def document_body(request: Request) -> Any:
    return await json_body(request, 1, "DocumentReference")


JSON_PATCH = "application/json-patch+json"


async def patch_body(request: Request) -> tuple[str, Any]:
    """A PATCH body: a JSON Patch (RFC 6902) or a FHIRPath Patch (a Parameters in FHIR JSON)."""
    if media_type(request) == JSON_PATCH:
        raw = await read_capped(request, JSON_OVERHEAD)
        try:
            return "json-patch", json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise parse.InvalidResource(
                [parse.Problem("Patch", "The body is not valid JSON.", "structure")]
            ) from None
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Send a JSON Patch ({JSON_PATCH}) or a FHIRPath Patch ({FHIR_JSON})."
        )
    return "fhirpath-patch", await json_body(request, 0, "Parameters")


def created(resource: resources.Json, location: str) -> FhirResponse:
    return FhirResponse(resource, status_code=201, headers={"Location": location})


# -- capabilities ------------------------------------------------------------------------------


@router.get(
    "/metadata",
    dependencies=[public()],
    response_class=FhirResponse,
    summary="CapabilityStatement: what this FHIR server implements",
)
def metadata(request: Request) -> FhirResponse:
    return FhirResponse(resources.capability_statement(_settings(request).base_url.rstrip("/")))


# -- Patient ------------------------------------------------------------------------------------


@router.get(
    "/Patient",
    response_class=FhirResponse,
    summary="Find a patient by INS-NIR (identifier=urn:oid:1.2.250.1.213.1.4.8|<NIR>)",
)
def search_patients(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Patient", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit():
        bundle = service.search_patients(
            session,
            _settings(request),
            principal,
            list(request.query_params.multi_items()),
            request_id=request_id(request),
            lenient=search.lenient(request.headers.get("prefer")),
        )
    return FhirResponse(bundle)


@router.get("/Patient/{patient_id}", response_class=FhirResponse, summary="Read a Patient")
def read_patient(
    patient_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Patient", "r")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit():
        resource = service.read_patient(
            session, _settings(request), principal, patient_id, request_id=request_id(request)
        )
    return FhirResponse(resource)


# -- AuditEvent (the holder's access history, IHE BALP shape; rule ACC-8) ----------------------


@router.get(
    "/AuditEvent",
    response_class=FhirResponse,
    summary="The access history of a space, as AuditEvents (holder side only)",
)
def search_audit_events(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("AuditEvent", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit():
        bundle = audit.search_audit_events(
            session,
            _settings(request),
            principal,
            list(request.query_params.multi_items()),
            service.fhir_base(_settings(request)),
            request_id=request_id(request),
            prefer=request.headers.get("prefer"),
        )
    return FhirResponse(bundle)
