"""The documents' FHIR R4 routes under `/fhir` (IHE MHD Document Recipient and Document Responder).

ITI-65 (transaction Bundle), `POST /fhir/DocumentReference` and `/fhir/Binary`, ITI-67 (search and
read), metadata updates (`PUT`) and ITI-68 (the bytes). A thin edge over `documents.fhir_service`:
bodies are read here (with a size cap enforced while streaming, `carnet.fhir.api`), every route
declares exactly one access rule, and every answer is `application/fhir+json` except the raw bytes
of ITI-68. Errors become OperationOutcomes in `carnet.http`.

Write routes commit explicitly before answering, so that a client never receives `201 Created` for
something a failed commit lost; reads commit too, so that the audit entry (ACC-8) is durable before
any health data leaves.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carnet.access.routes import authenticated
from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import committed_tasks
from carnet.documents import fhir, fhir_in, sniff
from carnet.documents import fhir_service as service
from carnet.documents.deposits import Prepared
from carnet.documents.fhir_in_bundle import ParsedBundle
from carnet.fhir import parse, search
from carnet.fhir.api import (
    JSON_TYPES,
    READERS,
    FhirResponse,
    UnsupportedMediaType,
    created,
    document_body,
    json_body,
    json_limit,
    media_type,
    patch_body,
    read_capped,
)
from carnet.fhir.parse import Json
from carnet.fhir.service import fhir_base
from carnet.http import (
    FHIR_JSON,
    db_session,
    file_responses,
    get_database,
    keeping_audit,
    operation_outcome,
    request_id,
)
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault

router = APIRouter(prefix="/fhir", tags=["fhir"])

# A Bundle carries at most about this many documents of the largest size allowed (DOC-1); larger
# submissions are split, or their Binaries posted first.
BUNDLE_DOCUMENTS = 10
FORM = "application/x-www-form-urlencoded"
SEARCH_FORM_LIMIT = 64 * 1024


async def bundle_body(request: Request) -> Any:
    return await json_body(request, BUNDLE_DOCUMENTS, "Bundle")


async def binary_body(request: Request) -> tuple[str, bytes]:
    """A JSON Binary, or raw bytes with their Content-Type (capped at the DOC-1 size limit)."""
    media = media_type(request)
    settings = _settings(request)
    if media in JSON_TYPES:
        return media, await read_capped(request, json_limit(settings, 1))
    if not media:
        raise UnsupportedMediaType("A Content-Type is required.")
    return media, await read_capped(request, settings.max_upload_bytes)


async def search_form(request: Request) -> list[tuple[str, str]]:
    """The parameters of a search by POST: `application/x-www-form-urlencoded` only (415
    otherwise), capped like any small body."""
    if media_type(request) != FORM:
        raise UnsupportedMediaType(f"Send the search parameters as {FORM}.")
    raw = await read_capped(request, SEARCH_FORM_LIMIT)
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise parse.InvalidResource(
            [parse.Problem("Parameters", "The body is not a valid form.", "structure")]
        ) from None


@router.post(
    "",
    response_class=FhirResponse,
    summary="ITI-65 Provide Document Bundle (transaction): all documents or none",
)
async def provide_document_bundle(
    request: Request,
    background: BackgroundTasks,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL, own_transactions=True),
    body: Any = Depends(bundle_body),
) -> FhirResponse:
    """Two steps (issue 14): the content work (PDF checks, encryption, the blobs' fsync) in a
    read-only unit of work, then the rows in the write transaction, which holds the database's
    write lock for those only. A deposit that does not commit leaves no blob behind."""
    settings, vault, database = _settings(request), _vault(request), get_database(request)
    rid = request_id(request)

    def _prepare() -> tuple[ParsedBundle, list[Prepared]]:
        bundle = service.parse_bundle(settings, body)
        with database.read_mostly() as session:
            return bundle, service.prepare_bundle(session, vault, settings, bundle)

    bundle, prepared = await run_in_threadpool(_prepare)

    def _store() -> Json:
        with database.transaction() as session:
            answer = service.provide_bundle(
                session, vault, settings, principal, bundle, request_id=rid
            )
        for task in committed_tasks(session):
            background.add_task(task, database, settings)
        return answer

    try:
        answer = await run_in_threadpool(_store)
    except BaseException:
        await run_in_threadpool(service.drop_prepared, vault, prepared)
        raise
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
    return created(resource, f"{fhir_base(settings)}/DocumentReference/{resource['id']}")


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
        entry = fhir_in.binary_resource(resource, "Binary", problems, settings.max_upload_bytes)
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
            subject = fhir_in.security_context_header(header, problems)
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
    return created(resource, f"{fhir_base(settings)}/Binary/{resource['id']}")


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
    return _search(request, principal, session, list(request.query_params.multi_items()))


@router.post(
    "/DocumentReference/_search",
    response_class=FhirResponse,
    summary="ITI-67 by POST: the parameters form-encoded in the body (merged with the query string)",
)
def search_document_references_by_post(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("DocumentReference", "s")),
    form: list[tuple[str, str]] = Depends(search_form),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    """MHD Document Responders answer a search by POST exactly as by GET (same rules, audit and
    answer): clients use it to keep identifiers (INS-NIR) out of URLs and logs."""
    return _search(request, principal, session, [*request.query_params.multi_items(), *form])


def _search(
    request: Request, principal: Principal, session: Session, params: list[tuple[str, str]]
) -> FhirResponse:
    with keeping_audit():
        bundle = service.search_documents(
            session,
            _vault(request),
            _settings(request),
            principal,
            params,
            request_id=request_id(request),
            lenient=search.lenient(request.headers.get("prefer")),
        )
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
    with keeping_audit():
        resource = service.read_document(
            session,
            _vault(request),
            _settings(request),
            principal,
            document_id,
            request_id=request_id(request),
        )
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
    return FhirResponse(resource)


@router.patch(
    "/DocumentReference/{document_id}",
    response_class=FhirResponse,
    summary="Metadata update by the author as PDSm sends it: JSON Patch or FHIRPath Patch of "
    "status (entered-in-error) and securityLabel",
)
def patch_document_reference(
    document_id: str,
    request: Request,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    body: tuple[str, Any] = Depends(patch_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    kind, patch = body
    resource = service.patch_document(
        session, _vault(request), _settings(request), principal, document_id, kind, patch,
        request_id=request_id(request),
    )  # fmt: skip
    return FhirResponse(resource)


@router.patch(
    "/DocumentReference",
    response_class=FhirResponse,
    summary="Conditional metadata update (PDSm flux 03): ?identifier=[system|]value names one "
    "document of the author's by its masterIdentifier",
)
def conditional_patch_document_reference(
    request: Request,
    identifier: str,
    principal: Principal = authenticated(PrincipalKind.PROFESSIONAL),
    body: tuple[str, Any] = Depends(patch_body),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    others = sorted({name for name in request.query_params if name != "identifier"})
    if others or len(request.query_params.getlist("identifier")) != 1:
        raise parse.InvalidResource(
            [parse.Problem("identifier", "A conditional patch takes one identifier only.", "value")]
        )
    system, bar, value = identifier.rpartition("|")
    kind, patch = body
    resource = service.patch_document(
        session, _vault(request), _settings(request), principal,
        (system if bar else None, value), kind, patch, request_id=request_id(request),
    )  # fmt: skip
    return FhirResponse(resource)


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
        **file_responses({*sniff.SERVED_TYPES, FHIR_JSON}, "The bytes, or a FHIR Binary"),
        **file_responses(sniff.SERVED_TYPES, "One byte range", status=206),
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
    with keeping_audit():
        doc, stream = service.read_content(
            session,
            _vault(request),
            _settings(request),
            principal,
            document_id,
            request_id=request_id(request),
        )
    etag = f'"{doc.sha256}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    content = b"".join(stream)  # the SHA-256 is checked before anything is sent
    if _wants_fhir_json(request.headers.get("accept", "")):
        return FhirResponse(fhir.binary(doc, content), headers={"ETag": etag})
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
