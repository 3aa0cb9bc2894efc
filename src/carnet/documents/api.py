"""Holder API for documents, folders and document preferences (rules DOC-1…DOC-7, REP-2, REP-4).

Every endpoint acts on the caller's own space, or on the space named by `X-Carnet-Space` when the
caller manages it (`accounts.family.resolve_space`: representative or caregiver; anything else is
404). What may be read is decided by the policy decision point through `documents.service` (one
document: `access.rules`; lists: `access.filters`); a document the caller may not read answers 404.

Documents keep the ids of the FHIR DocumentReferences. Uploads are read from the request stream and
refused with 413 as soon as they pass the size limit, before the rest is received.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from carnet import clock
from carnet.access.routes import SpaceHeader, authenticated
from carnet.access.rules import decide_upload
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder, Professional
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import reference, service, sniff
from carnet.documents.models import Document, Folder
from carnet.documents.schemas import (
    DocumentChange,
    DocumentList,
    DocumentOut,
    FolderIn,
    FolderOut,
    PreferencesIn,
    PreferencesOut,
)
from carnet.errors import CarnetError, Conflict, Forbidden, InvalidInput, NotFound
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import content_disposition, db_session, get_database, request_id
from carnet.http import error_responses as _errors
from carnet.vault.service import Vault

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(prefix="/api/v1", tags=["documents"])


# resolve_space actions. Caregivers may read, add and change documents (REP-4); masking a document
# or changing the default masking decides what professionals may read, an access setting that REP-4
# keeps from caregivers.
READ, UPLOAD, CHANGE, DELETE = (
    "documents.read",
    "documents.upload",
    "documents.change",
    "documents.delete",
)
ACCESS_SETTINGS = "change-access-settings"

# Form fields, part headers and boundaries around the file: what an upload may add to the limit.
FORM_OVERHEAD = 64 * 1024
FIELD_LIMIT = 4 * 1024
UPLOAD_FIELDS = frozenset({"title", "category", "date", "folder_id"})
PER_PAGE_MAX = 100
SORTS = ("-date", "date", "-period", "period")
HOLDER_STATUSES = ("current", "superseded")

# DOC-1: what a file's name claims, checked against what its content is.
_NAME_TYPES = {
    ".pdf": sniff.PDF,
    ".jpg": sniff.JPEG,
    ".jpeg": sniff.JPEG,
    ".jpe": sniff.JPEG,
    ".png": sniff.PNG,
    ".tif": sniff.TIFF,
    ".tiff": sniff.TIFF,
    ".rtf": sniff.RTF,
    ".txt": sniff.TEXT,
}
_EXTENSIONS = {
    sniff.PDF: ".pdf",
    sniff.JPEG: ".jpg",
    sniff.PNG: ".png",
    sniff.TIFF: ".tif",
    sniff.RTF: ".rtf",
    sniff.TEXT: ".txt",
    sniff.XML: ".xml",
}
# Shown in the browser rather than saved (PDF viewer, images); anything else is an attachment.
_INLINE_TYPES = frozenset({sniff.PDF, sniff.JPEG, sniff.PNG})
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class PayloadTooLarge(CarnetError):
    code = "too-large"
    status_code = 413


class UnsupportedMediaType(CarnetError):
    code = "unsupported-media-type"
    status_code = 415


# -- uploads (DOC-1) -------------------------------------------------------------------------


@dataclass
class _Upload:
    content: bytearray = field(default_factory=bytearray)
    file_seen: bool = False
    file_name: str | None = None
    declared_type: str | None = None
    fields: dict[str, bytearray] = field(default_factory=dict)


class _MultipartReader:
    """Feeds a streaming multipart parser and keeps the file and the few known fields, refusing
    the file as soon as it passes `limit` (413) and any field longer than FIELD_LIMIT."""

    def __init__(self, boundary: bytes, limit: int) -> None:
        self.limit = limit
        self.upload = _Upload()
        self.ended = False
        self._name = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}
        self._target: bytearray | None = None
        self._is_file = False
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_end": self._end,
        }
        self.parser = MultipartParser(boundary, callbacks)

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError:
            raise InvalidInput(
                "The multipart body is malformed.", code="malformed-upload"
            ) from None

    def finish(self) -> _Upload:
        try:
            self.parser.finalize()
        except FormParserError:
            raise InvalidInput(
                "The multipart body is malformed.", code="malformed-upload"
            ) from None
        if not self.ended:
            raise InvalidInput("The upload is incomplete.", code="malformed-upload")
        if not self.upload.file_seen:
            raise InvalidInput("A file is required.", field="file")
        return self.upload

    def _part_begin(self) -> None:
        self._headers = {}
        self._target = None
        self._is_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        # latin-1 maps bytes one to one; names in the parameters are decoded as UTF-8 below.
        self._headers[self._name.decode("latin-1").strip().lower()] = self._value.decode("latin-1")
        self._name, self._value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        kind, params = parse_options_header(self._headers.get("content-disposition"))
        if kind != b"form-data":
            raise InvalidInput(
                "Each part needs Content-Disposition: form-data.", code="malformed-upload"
            )
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if self.upload.file_seen:
                raise InvalidInput("Send one file per upload.", field="file")
            self.upload.file_seen = True
            raw_name = params.get(b"filename")
            # Browsers escape '"' as %22 in this parameter (HTML form-data encoding).
            self.upload.file_name = (
                raw_name.decode("utf-8", "replace").replace("%22", '"')
                if raw_name is not None
                else None
            )
            self.upload.declared_type = self._headers.get("content-type", "").strip() or None
            self._target, self._is_file = self.upload.content, True
        elif name in UPLOAD_FIELDS:
            if name in self.upload.fields:
                raise InvalidInput(f"The field {name} is given twice.", field=name)
            self._target = self.upload.fields[name] = bytearray()
        # Unknown parts are skipped (and still count towards the body limit).

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target is None:
            return
        self._target += data[start:end]
        if self._is_file:
            if len(self._target) > self.limit:
                raise _too_large(self.limit)
        elif len(self._target) > FIELD_LIMIT:
            raise InvalidInput("A form field is too long.", code="field-too-long")

    def _end(self) -> None:
        self.ended = True


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {_mb(limit)} limit.",
        field="file",
    )


def _mb(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"


async def _receive_upload(request: Request, limit: int) -> _Upload:
    """Read the multipart body from the stream; stop with 413 once the file passes `limit`."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("Send the file as multipart/form-data.")
    ceiling = limit + FORM_OVERHEAD
    declared_length = request.headers.get("content-length")
    if declared_length is not None:
        if not declared_length.isdigit():
            raise InvalidInput("Invalid Content-Length.", code="malformed-upload")
        if int(declared_length) > ceiling:
            raise _too_large(limit)  # refused before anything is received
    try:
        reader = _MultipartReader(boundary, limit)
    except (ValueError, FormParserError):
        raise InvalidInput("Invalid multipart boundary.", code="malformed-upload") from None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > ceiling:
                raise _too_large(limit)
            if chunk:
                reader.write(chunk)
    except ClientDisconnect:
        raise InvalidInput("The upload was interrupted.", code="upload-interrupted") from None
    return reader.finish()


def _text_field(upload: _Upload, name: str) -> str | None:
    raw = upload.fields.get(name)
    if raw is None:
        return None
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidInput(f"The field {name} is not valid UTF-8.", field=name) from None
    return value or None


def _base_name(file_name: str | None) -> str | None:
    """The file's own name, without any folder a client may have sent, nor control characters."""
    if not file_name:
        return None
    name = re.split(r"[\\/]", file_name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or None


def _care_date(value: str | None, settings: Settings) -> dt.date | None:
    if value is None:
        return None
    try:
        if not _DATE_RE.fullmatch(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "The date is written YYYY-MM-DD, e.g. 2026-01-02.", field="date"
        ) from None
    if day > clock.today(settings.timezone):
        raise InvalidInput("The care date cannot be in the future.", field="date")
    if day.year < 1900:
        raise InvalidInput("The care date is too far in the past.", field="date")
    return day


def _parse_uuid(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"The field {name} is not a valid id.", field=name) from None


def _check_name(content: bytes, name: str | None) -> None:
    """DOC-1: a file whose name claims another type than its content is refused."""
    if not name or "." not in name:
        return
    claimed = _NAME_TYPES.get(name[name.rfind(".") :].lower())
    sniffed = sniff.sniff(content[: sniff.HEAD_BYTES])
    if claimed is not None and sniffed in sniff.HOLDER_TYPES and sniffed != claimed:
        raise InvalidInput(
            f"Refused: the content is {sniffed} but the file name says {claimed}.",
            code="unsupported-type",
            field="file",
        )


def _new_document(upload: _Upload, settings: Settings) -> service.NewDocument:
    name = _base_name(upload.file_name)
    content = bytes(upload.content)
    if not content:
        raise InvalidInput("The file is empty.", field="file")
    _check_name(content, name)
    title = _text_field(upload, "title")
    if title is None:
        stem = name.rsplit(".", 1)[0].strip() if name and "." in name else name
        title = (stem or "Document")[:300]
    return service.NewDocument(
        content=content,
        title=title,
        declared_type=upload.declared_type,
        category=_text_field(upload, "category") or "AUTR_DOC",
        care_date=_care_date(_text_field(upload, "date"), settings),
        original_name=name,
        source="holder",
        folder_id=_parse_uuid(_text_field(upload, "folder_id"), "folder_id"),
    )


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, JPEG, PNG, TIFF, RTF or plain text (DOC-1).",
                        },
                        "title": {"type": "string", "description": "Default: the file name."},
                        "category": {"type": "string", "description": "Default: AUTR_DOC."},
                        "date": {"type": "string", "format": "date", "description": "Care date."},
                        "folder_id": {"type": "string", "format": "uuid"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/me/documents",
    status_code=201,
    response_model=DocumentOut,
    summary="Upload a document (DOC-1)",
    openapi_extra=_UPLOAD_BODY,
    responses=_errors(400, 404, 409, 413, 415, 429),
)
async def upload_document(
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
) -> DocumentOut:
    """The real type is sniffed (the name and declared type are only checked against it); the file
    is refused with 413 as soon as it passes the size limit, and nothing is stored."""
    settings = _settings(request)
    database = get_database(request)
    vault = _vault(request)
    rid = request_id(request)

    def _may_upload() -> None:
        # Before receiving the body: someone who may not upload here sends no megabytes.
        with database.transaction() as session:
            holder, _relation = family.resolve_space(
                session, principal, space, UPLOAD, settings=settings
            )
            _require_open(session, settings, principal, holder)
            service.refuse_if_too_many_uploads(session, settings, principal)

    await run_in_threadpool(_may_upload)
    upload = await _receive_upload(request, settings.max_upload_bytes)
    new = _new_document(upload, settings)

    def _store() -> DocumentOut:
        with database.transaction() as session:
            holder, _relation = family.resolve_space(
                session, principal, space, UPLOAD, settings=settings
            )
            doc = service.deposit(session, vault, settings, principal, holder, new, request_id=rid)
            return _describe(session, vault, principal, [doc])[0]

    return await run_in_threadpool(_store)


# -- reading ---------------------------------------------------------------------------------


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@router.get(
    "/me/documents",
    response_model=DocumentList,
    summary="List the space's documents, uploaded or deposited by professionals",
    responses=_errors(400, 404),
)
def list_documents(
    request: Request,
    space: SpaceHeader = None,
    category: Annotated[list[str], Query(description="Category codes (repeat or comma).")] = [],  # noqa: B006
    folder: Annotated[uuid.UUID | None, Query(description="Only this folder.")] = None,
    pinned: bool | None = None,
    status: Annotated[list[str], Query(description="current (default) and/or superseded.")] = [],  # noqa: B006
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=PER_PAGE_MAX)] = 20,
    sort: Annotated[
        Literal["-date", "date", "-period", "period"],
        Query(description="By deposit date (date) or care period, newest first with '-'."),
    ] = "-date",
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> DocumentList:
    """Pinned documents first. Documents awaiting an announcement consultation (DOC-4) are not
    listed, only counted in `awaiting_announcement`."""
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, READ, settings=settings)
    categories = _split(category)
    unknown = [code for code in categories if code not in reference.categories()]
    if unknown:
        raise InvalidInput(f"Unknown category {unknown[0]!r}.", field="category")
    statuses = _split(status) or ["current"]
    wrong = [value for value in statuses if value not in HOLDER_STATUSES]
    if wrong:
        raise InvalidInput("status is current or superseded.", field="status")
    query = service.SearchQuery(
        categories=categories,
        statuses=statuses,
        folder_id=folder,
        pinned=pinned,
        sort=sort,
        offset=(page - 1) * per_page,
        count=per_page,
    )
    total, rows = service.search(
        session, settings, principal, holder, query, request_id=request_id(request)
    )
    return DocumentList(
        total=total,
        page=page,
        per_page=per_page,
        awaiting_announcement=service.awaiting_announcement(session, settings, principal, holder),
        items=_describe(session, _vault(request), principal, rows),
    )


def _in_space(session: Session, holder: Holder, document_id: uuid.UUID) -> None:
    """404 unless the document belongs to the space acted on (`X-Carnet-Space` names one space;
    a document of another space the caller manages is not reached through it). Whether the caller
    may read or change it is then decided, and audited, by the service."""
    owner = session.scalar(select(Document.holder_id).where(Document.id == document_id))
    if owner != holder.id:
        raise NotFound(service.NOT_FOUND)


@router.get(
    "/me/documents/{document_id}",
    response_model=DocumentOut,
    summary="One document's metadata",
    responses=_errors(404),
)
def get_document(
    document_id: uuid.UUID,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> DocumentOut:
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, READ, settings=settings)
    _in_space(session, holder, document_id)
    doc = service.get(session, settings, principal, document_id, request_id=request_id(request))
    return _describe(session, _vault(request), principal, [doc])[0]


@router.get(
    "/me/documents/{document_id}/content",
    summary="Download a document (the exact bytes deposited)",
    response_class=Response,
    responses={
        200: {"description": "The content, with its sniffed Content-Type and an ETag."},
        304: {"description": "Not modified (If-None-Match)."},
        **_errors(404),
    },
)
def download_document(
    document_id: uuid.UUID,
    request: Request,
    space: SpaceHeader = None,
    disposition: Annotated[
        Literal["inline", "attachment"] | None,
        Query(description="Default: inline for PDF and images, attachment otherwise."),
    ] = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The hash is checked before anything is sent; the download is audited (ACC-8)."""
    settings = _settings(request)
    vault = _vault(request)
    holder, _relation = family.resolve_space(session, principal, space, READ, settings=settings)
    _in_space(session, holder, document_id)
    doc, stream = service.read_content(
        session, vault, settings, principal, document_id, request_id=request_id(request)
    )
    etag = f'"{doc.sha256}"'
    if etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers={"ETag": etag})
    content = b"".join(stream)  # at most the upload limit; verified before the first byte leaves
    kind = disposition or ("inline" if doc.mime_type in _INLINE_TYPES else "attachment")
    name = _download_name(session, vault, doc)
    return Response(
        content,
        media_type=doc.mime_type,
        headers={"ETag": etag, "Content-Disposition": content_disposition(kind, name)},
    )


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _download_name(session: Session, vault: Vault, doc: Document) -> str:
    """The uploaded file's name, or the title; with the extension of the real type."""
    name = _base_name(service.original_name_of(session, vault, doc))
    if name is None:
        name = _base_name(service.title_of(session, vault, doc)) or "document"
    extension = _EXTENSIONS.get(doc.mime_type, "")
    own = name[name.rfind(".") :].lower() if "." in name else ""
    if extension and own != extension and _NAME_TYPES.get(own) != doc.mime_type:
        name += extension
    return name


# -- changing --------------------------------------------------------------------------------


@router.patch(
    "/me/documents/{document_id}",
    response_model=DocumentOut,
    summary="Rename, move to a folder, pin, mask or unmask a document (DOC-3, DOC-6)",
    responses=_errors(400, 403, 404),
)
def change_document(
    document_id: uuid.UUID,
    body: DocumentChange,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> DocumentOut:
    settings = _settings(request)
    vault = _vault(request)
    action = ACCESS_SETTINGS if body.masked is not None else CHANGE
    holder, _relation = family.resolve_space(session, principal, space, action, settings=settings)
    _in_space(session, holder, document_id)
    change = service.HolderChange(
        title=body.title,
        folder_id=body.folder_id,
        clear_folder="folder_id" in body.model_fields_set and body.folder_id is None,
        pinned=body.pinned,
        masked=body.masked,
    )
    doc = service.change_by_holder(
        session, vault, settings, principal, document_id, change, request_id=request_id(request)
    )
    return _describe(session, vault, principal, [doc])[0]


@router.delete(
    "/me/documents/{document_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a document (DOC-6)",
    responses=_errors(403, 404, 409),
)
def delete_document(
    document_id: uuid.UUID,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Refused with 409 `not-deletable` for documents flagged so."""
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, DELETE, settings=settings)
    _in_space(session, holder, document_id)
    service.delete_by_holder(
        session, _vault(request), settings, principal, document_id, request_id=request_id(request)
    )
    return Response(status_code=204)


# -- folders (DOC-6) -------------------------------------------------------------------------


def _require_open(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> None:
    """The decision point's holder-side rule for adding to a space (live space, holder side)."""
    decision = decide_upload(
        actor_for(session, settings, principal, holder), space_facts(session, holder)
    )
    if not decision:
        if decision.reason == "space-not-open":
            raise Conflict("This space is not open.", code="space-not-open")
        raise Forbidden("You may not change this space.", code=decision.reason)


def _folder_out(session: Session, vault: Vault, folder: Folder) -> FolderOut:
    return FolderOut(
        id=folder.id,
        name=service.folder_name(session, vault, folder),
        created_at=folder.created_at,
    )


@router.get(
    "/me/folders",
    response_model=list[FolderOut],
    summary="The space's folders, by name",
    responses=_errors(404, 409),
)
def list_folders(
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> list[FolderOut]:
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, READ, settings=settings)
    _require_open(session, settings, principal, holder)
    vault = _vault(request)
    folders = session.scalars(select(Folder).where(Folder.holder_id == holder.id)).all()
    out = [_folder_out(session, vault, folder) for folder in folders]
    return sorted(out, key=lambda f: (f.name.casefold(), f.created_at))


@router.post(
    "/me/folders",
    status_code=201,
    response_model=FolderOut,
    summary="Create a folder",
    responses=_errors(400, 404, 409),
)
def create_folder(
    body: FolderIn,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> FolderOut:
    settings = _settings(request)
    vault = _vault(request)
    holder, _relation = family.resolve_space(session, principal, space, CHANGE, settings=settings)
    _require_open(session, settings, principal, holder)
    folder = service.create_folder(session, vault, holder, principal, body.name)
    return _folder_out(session, vault, folder)


@router.patch(
    "/me/folders/{folder_id}",
    response_model=FolderOut,
    summary="Rename a folder",
    responses=_errors(400, 404, 409),
)
def rename_folder(
    folder_id: uuid.UUID,
    body: FolderIn,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> FolderOut:
    settings = _settings(request)
    vault = _vault(request)
    holder, _relation = family.resolve_space(session, principal, space, CHANGE, settings=settings)
    _require_open(session, settings, principal, holder)
    folder = service.rename_folder(session, vault, holder, principal, folder_id, body.name)
    return _folder_out(session, vault, folder)


@router.delete(
    "/me/folders/{folder_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a folder; its documents stay, in no folder",
    responses=_errors(404, 409),
)
def delete_folder(
    folder_id: uuid.UUID,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, CHANGE, settings=settings)
    _require_open(session, settings, principal, holder)
    service.delete_folder(session, holder, principal, folder_id)
    return Response(status_code=204)


# -- preferences (DOC-5, DOC-7) --------------------------------------------------------------


@router.get(
    "/me/document-preferences",
    response_model=PreferencesOut,
    summary="Default confidentiality of new documents (DOC-5) and new-document e-mails (DOC-7)",
    responses=_errors(404, 409),
)
def get_preferences(
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> PreferencesOut:
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, READ, settings=settings)
    _require_open(session, settings, principal, holder)
    pref = service.preferences(session, holder.id)
    return PreferencesOut(
        mask_new_documents=pref.mask_new_documents,
        notify_new_documents=pref.notify_new_documents,
    )


@router.put(
    "/me/document-preferences",
    response_model=PreferencesOut,
    summary="Set the default confidentiality of new documents (DOC-5) and new-document e-mails",
    responses=_errors(400, 403, 404, 409),
)
def put_preferences(
    body: PreferencesIn,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> PreferencesOut:
    """Fields left out keep their value. Caregivers cannot change the default masking (REP-4)."""
    settings = _settings(request)
    action = ACCESS_SETTINGS if body.mask_new_documents is not None else CHANGE
    holder, _relation = family.resolve_space(session, principal, space, action, settings=settings)
    _require_open(session, settings, principal, holder)
    pref = service.set_preferences(
        session,
        holder,
        principal,
        mask_new_documents=body.mask_new_documents,
        notify_new_documents=body.notify_new_documents,
    )
    return PreferencesOut(
        mask_new_documents=pref.mask_new_documents,
        notify_new_documents=pref.notify_new_documents,
    )


# -- describing documents --------------------------------------------------------------------


AuthorKind = Literal["me", "holder", "professional", "migration", "unknown"]
_AuthorFn = Callable[[Document], tuple[str, AuthorKind, str | None]]


def _authors(session: Session, principal: Principal, docs: Sequence[Document]) -> _AuthorFn:
    """Who added each document, as (author, author_kind, profession label), in two queries."""
    pro_ids = {d.author_id for d in docs if d.author_kind == "professional" and d.author_id}
    rpps = {d.author_rpps for d in docs if d.author_rpps}
    pros: list[Professional] = []
    if pro_ids or rpps:
        pros = list(
            session.scalars(
                select(Professional).where(
                    or_(Professional.id.in_(pro_ids), Professional.rpps.in_(rpps))
                )
            )
        )
    by_id = {p.id: p for p in pros}
    by_rpps = {p.rpps: p for p in pros}
    holder_ids = {
        d.author_id
        for d in docs
        if d.author_kind != "professional" and d.author_id and d.author_id != principal.id
    }
    people = (
        {h.id: h for h in session.scalars(select(Holder).where(Holder.id.in_(holder_ids)))}
        if holder_ids
        else {}
    )

    def author(doc: Document) -> tuple[str, AuthorKind, str | None]:
        pro = (by_id.get(doc.author_id) if doc.author_id else None) or (
            by_rpps.get(doc.author_rpps) if doc.author_rpps else None
        )
        if pro is not None:
            profession = account_rules.PROFESSIONS.get(pro.profession_code)
            shown = f"{pro.name} ({profession})" if profession else pro.name
            return shown, "professional", profession
        if doc.author_kind == "professional" or doc.author_rpps:
            return (f"RPPS {doc.author_rpps}" if doc.author_rpps else "—"), "professional", None
        if doc.author_id is not None and doc.author_id == principal.id:
            return "me", "me", None
        person = people.get(doc.author_id) if doc.author_id else None
        if person is not None:
            return family.display_name(person), "holder", None
        if doc.source == "dmp-migration":
            return "DMP", "migration", None
        return "—", "unknown", None

    return author


def _describe(
    session: Session, vault: Vault, principal: Principal, docs: Sequence[Document]
) -> list[DocumentOut]:
    author_of = _authors(session, principal, docs)
    categories = reference.categories()
    types = reference.document_types()
    out: list[DocumentOut] = []
    for doc in docs:
        author, author_kind, profession = author_of(doc)
        category = categories.get(doc.category)
        doc_type = types.get(doc.type_code) if doc.type_code else None
        out.append(
            DocumentOut(
                id=doc.id,
                title=service.title_of(session, vault, doc),
                category=doc.category,
                category_label=category.label_fr if category else doc.category,
                type_code=doc.type_code,
                type_label=doc_type.label_fr if doc_type else None,
                author=author,
                author_kind=author_kind,
                author_profession=profession,
                source=doc.source,
                care_date=doc.care_date,
                deposited_at=doc.deposited_at,
                mime_type=doc.mime_type,
                size=doc.size,
                file_name=_base_name(service.original_name_of(session, vault, doc)),
                masked=doc.masked,
                pinned=doc.pinned,
                folder_id=doc.folder_id,
                status=doc.status,
                version=doc.version,
                deletable=not doc.not_deletable,
            )
        )
    return out
