"""The FHIR R4 API under `/fhir` (IHE MHD Document Recipient and Document Responder).

A thin edge over `fhir.service`: bodies are read here (with a size cap enforced while streaming),
every route declares exactly one access rule, and every answer is `application/fhir+json` except
the raw bytes of ITI-68. Errors become OperationOutcomes in `carnet.http`.

Write routes commit explicitly before answering, so that a client never receives `201 Created` for
something a failed commit lost; reads commit too, so that the audit entry (ACC-8) is durable before
any health data leaves.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated, public
from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import CarnetError
from carnet.fhir import audit, parse, resources, service
from carnet.http import FHIR_JSON, db_session, keeping_audit, operation_outcome, request_id
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault

router = APIRouter(prefix="/fhir", tags=["fhir"])

JSON_TYPES = frozenset({FHIR_JSON, "application/json"})
# A Bundle carries at most about this many documents of the largest size allowed (DOC-1); larger
# submissions are split, or their Binaries posted first.
BUNDLE_DOCUMENTS = 10
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


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_capped(request: Request, limit: int) -> bytes:
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


def _json_limit(settings: Settings, documents: int) -> int:
    return documents * (settings.max_upload_bytes * 4 // 3 + 4) + JSON_OVERHEAD


async def _json(request: Request, documents: int, root: str) -> Any:
    if _media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType(f"Send {FHIR_JSON} (or application/json).")
    raw = await _read_capped(request, _json_limit(_settings(request), documents))
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise parse.InvalidResource(
            [parse.Problem(root, "The body is not valid JSON.", "structure")]
        ) from None


async def bundle_body(request: Request) -> Any:
    return await _json(request, BUNDLE_DOCUMENTS, "Bundle")


async def document_body(request: Request) -> Any:
    return await _json(request, 1, "DocumentReference")


async def binary_body(request: Request) -> tuple[str, bytes]:
    """A JSON Binary, or raw bytes with their Content-Type (capped at the DOC-1 size limit)."""
    media = _media_type(request)
    settings = _settings(request)
    if media in JSON_TYPES:
        return media, await _read_capped(request, _json_limit(settings, 1))
    if not media:
        raise UnsupportedMediaType("A Content-Type is required.")
    return media, await _read_capped(request, settings.max_upload_bytes)


def _created(resource: resources.Json, location: str) -> FhirResponse:
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


# -- ITI-65 and creation -------------------------------------------------------------------------


@router.post(
    "",
    response_class=FhirResponse,
    summary="ITI-65 Provide Document Bundle (transaction): all documents or none",
)
def provide_document_bundle(
    request: Request,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    body: Any = Depends(bundle_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    answer = service.provide_bundle(
        session,
        _vault(request),
        _settings(request),
        principal,
        body,
        request_id=request_id(request),
    )
    session.commit()
    return FhirResponse(answer)


@router.post(
    "/DocumentReference",
    response_class=FhirResponse,
    status_code=201,
    summary="Deposit one document: content inline (attachment.data) or a Binary posted before",
)
def create_document_reference(
    request: Request,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    body: Any = Depends(document_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    settings = _settings(request)
    resource = service.create_document_reference(
        session, _vault(request), settings, principal, body, request_id=request_id(request)
    )
    session.commit()
    return _created(resource, f"{service.fhir_base(settings)}/DocumentReference/{resource['id']}")


@router.post(
    "/Binary",
    response_class=FhirResponse,
    status_code=201,
    summary="Post a document's bytes before its DocumentReference (securityContext: the patient)",
)
def create_binary(
    request: Request,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    body: tuple[str, bytes] = Depends(binary_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    settings = _settings(request)
    media, raw = body
    problems = parse.Problems()
    if media in JSON_TYPES:
        try:
            resource = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            resource = None
        problems = parse.resource_type_problem(resource, "Binary")
        problems.raise_if_any()
        entry = parse.binary_resource(resource, "Binary", problems, settings.max_upload_bytes)
        subject = parse.subject_reference(
            resource.get("securityContext"), "Binary.securityContext", problems
        )
        content, content_type = entry.data, entry.content_type
    else:
        header = request.headers.get("x-security-context")
        subject = None
        if header is None:
            problems.add(
                "X-Security-Context",
                f"Name the patient: X-Security-Context: Patient/<id> or {INS_NIR_SYSTEM}|<NIR>.",
                "required",
            )
        else:
            subject = parse.security_context_header(header, problems)
        content, content_type = raw, media
    problems.raise_if_any()
    assert subject is not None and content is not None and content_type is not None
    resource = service.stage_binary(
        session,
        _vault(request),
        settings,
        principal,
        content=content,
        content_type=content_type,
        subject=subject,
        request_id=request_id(request),
    )
    session.commit()
    return _created(resource, f"{service.fhir_base(settings)}/Binary/{resource['id']}")


# -- ITI-67 search and read ----------------------------------------------------------------------


@router.get(
    "/DocumentReference",
    response_class=FhirResponse,
    summary="ITI-67 Find Document References (one patient; unknown parameters are refused)",
)
def search_document_references(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("DocumentReference", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit(session):
        bundle = service.search_documents(
            session,
            _vault(request),
            _settings(request),
            principal,
            list(request.query_params.multi_items()),
            request_id=request_id(request),
        )
    session.commit()
    return FhirResponse(bundle)


@router.get(
    "/DocumentReference/{document_id}",
    response_class=FhirResponse,
    summary="Read one DocumentReference (its id is the Carnet document id)",
)
def read_document_reference(
    document_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("DocumentReference", "r")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit(session):
        resource = service.read_document(
            session,
            _vault(request),
            _settings(request),
            principal,
            document_id,
            request_id=request_id(request),
        )
    session.commit()
    return FhirResponse(resource)


@router.put(
    "/DocumentReference/{document_id}",
    response_class=FhirResponse,
    summary="Metadata update by the author: status entered-in-error, securityLabel",
)
def update_document_reference(
    document_id: str,
    request: Request,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    body: Any = Depends(document_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    resource = service.update_document(
        session,
        _vault(request),
        _settings(request),
        principal,
        document_id,
        body,
        request_id=request_id(request),
    )
    session.commit()
    return FhirResponse(resource)


# -- ITI-68 retrieve -----------------------------------------------------------------------------


def _wants_fhir_json(accept: str) -> bool:
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(types & JSON_TYPES)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b`, `bytes=a-` or `bytes=-n` range → (first, last) inclusive.

    ValueError when it is malformed, several, or not satisfiable; None when the unit is not bytes
    (the header is then ignored, as RFC 9110 says).
    """
    unit, _eq, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    first, dash, last = spec.partition("-")
    if not dash or "," in spec:
        raise ValueError(header)
    if not first:
        if not last.isdigit() or int(last) == 0:
            raise ValueError(header)
        return max(size - int(last), 0), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        raise ValueError(header)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ValueError(header)
    return start, end


@router.get(
    "/Binary/{document_id}",
    summary="ITI-68 Retrieve Document: the original bytes (ETag, Range) or, with "
    "Accept: application/fhir+json, a FHIR Binary",
    responses={
        200: {"content": {"application/pdf": {}, FHIR_JSON: {}}},
        206: {"description": "One byte range"},
        304: {"description": "Not modified (If-None-Match)"},
        416: {"description": "Range not satisfiable"},
    },
)
def read_binary(
    document_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Binary", "r")),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    with keeping_audit(session):
        doc, stream = service.read_content(
            session,
            _vault(request),
            _settings(request),
            principal,
            document_id,
            request_id=request_id(request),
        )
    session.commit()
    etag = f'"{doc.sha256}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    content = b"".join(stream)  # the SHA-256 is checked before anything is sent
    if _wants_fhir_json(request.headers.get("accept", "")):
        return FhirResponse(resources.binary(doc, content), headers={"ETag": etag})
    header = request.headers.get("range")
    if header:
        try:
            wanted = byte_range(header, len(content))
        except ValueError:
            outcome = operation_outcome(
                416,
                "range-not-satisfiable",
                f"Only one satisfiable byte range is served; the document has {len(content)} "
                "bytes.",
                request_id(request),
                field="Range",
            )
            return FhirResponse(
                outcome, status_code=416, headers={"Content-Range": f"bytes */{len(content)}"}
            )
        if wanted is not None:
            first, last = wanted
            headers["Content-Range"] = f"bytes {first}-{last}/{len(content)}"
            return Response(
                content[first : last + 1],
                status_code=206,
                media_type=doc.mime_type,
                headers=headers,
            )
    return Response(content, media_type=doc.mime_type, headers=headers)


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
    with keeping_audit(session):
        bundle = service.search_patients(
            session,
            _settings(request),
            principal,
            list(request.query_params.multi_items()),
            request_id=request_id(request),
        )
    session.commit()
    return FhirResponse(bundle)


@router.get("/Patient/{patient_id}", response_class=FhirResponse, summary="Read a Patient")
def read_patient(
    patient_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Patient", "r")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit(session):
        resource = service.read_patient(
            session, _settings(request), principal, patient_id, request_id=request_id(request)
        )
    session.commit()
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
    with keeping_audit(session):
        bundle = audit.search_audit_events(
            session,
            _settings(request),
            principal,
            list(request.query_params.multi_items()),
            service.fhir_base(_settings(request)),
            request_id=request_id(request),
        )
    session.commit()
    return FhirResponse(bundle)
