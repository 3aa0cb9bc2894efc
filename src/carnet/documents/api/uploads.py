"""Uploading a document through the holder API (DOC-1).

The multipart body is read from the request stream and refused with 413 as soon as the file passes
the size limit, before the rest is received; the real type is sniffed, the name and the declared
type are only checked against it. Messages' attachments are received the same way
(`receive_upload`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from carnet import clock
from carnet.access.routes import SpaceHeader, authenticated
from carnet.accounts.family import relations as family
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import deposits, sniff
from carnet.documents.api.common import UPLOAD, describe, require_open
from carnet.documents.present import NAME_TYPES, base_name
from carnet.documents.schemas import DocumentOut
from carnet.errors import CarnetError, InvalidInput
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import error_responses as _errors
from carnet.http import get_database, multipart_file_body, request_id

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(prefix="/api/v1", tags=["documents"])

# Form fields, part headers and boundaries around the file: what an upload may add to the limit.
FORM_OVERHEAD = 64 * 1024
FIELD_LIMIT = 4 * 1024
UPLOAD_FIELDS = frozenset({"title", "category", "date", "folder_id"})
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class PayloadTooLarge(CarnetError):
    code = "too-large"
    status_code = 413


class UnsupportedMediaType(CarnetError):
    code = "unsupported-media-type"
    status_code = 415


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


async def receive_upload(request: Request, limit: int) -> _Upload:
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
    claimed = NAME_TYPES.get(name[name.rfind(".") :].lower())
    sniffed = sniff.sniff(content[: sniff.HEAD_BYTES])
    if claimed is not None and sniffed in sniff.HOLDER_TYPES and sniffed != claimed:
        raise InvalidInput(
            f"Refused: the content is {sniffed} but the file name says {claimed}.",
            code="unsupported-type",
            field="file",
        )


def _new_document(upload: _Upload, settings: Settings) -> deposits.NewDocument:
    name = base_name(upload.file_name)
    content = bytes(upload.content)
    if not content:
        raise InvalidInput("The file is empty.", field="file")
    _check_name(content, name)
    title = _text_field(upload, "title")
    if title is None:
        stem = name.rsplit(".", 1)[0].strip() if name and "." in name else name
        title = (stem or "Document")[:300]
    return deposits.NewDocument(
        content=content,
        title=title,
        declared_type=upload.declared_type,
        category=_text_field(upload, "category") or "AUTR_DOC",
        care_date=_care_date(_text_field(upload, "date"), settings),
        original_name=name,
        source="holder",
        folder_id=_parse_uuid(_text_field(upload, "folder_id"), "folder_id"),
    )


_UPLOAD_BODY = multipart_file_body(
    "PDF, JPEG, PNG, TIFF, RTF or plain text (DOC-1).",
    title={"type": "string", "description": "Default: the file name."},
    category={"type": "string", "description": "Default: AUTR_DOC."},
    date={"type": "string", "format": "date", "description": "Care date."},
    folder_id={"type": "string", "format": "uuid"},
)


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
    principal: Principal = authenticated(PrincipalKind.HOLDER, own_transactions=True),
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
            require_open(session, settings, principal, holder)
            deposits.refuse_if_too_many_uploads(session, settings, principal)

    await run_in_threadpool(_may_upload)
    upload = await receive_upload(request, settings.max_upload_bytes)
    new = _new_document(upload, settings)

    def _store() -> DocumentOut:
        with database.transaction() as session:
            holder, _relation = family.resolve_space(
                session, principal, space, UPLOAD, settings=settings
            )
            doc = deposits.deposit(session, vault, settings, principal, holder, new, request_id=rid)
            return describe(session, vault, principal, [doc])[0]

    return await run_in_threadpool(_store)
