"""The holder API's documents: list, read, download, change and delete them (DOC-2…DOC-6).

Each route checks that the document belongs to the space acted on (`common.in_space`); the service
then asks the decision point and audits every read (ACC-8). A document the caller may not read
answers 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from carnet.access.routes import Acting, acting_on
from carnet.accounts.family import relations as family
from carnet.documents import changes, reference, service, sniff
from carnet.documents.api.common import ACCESS_SETTINGS, CHANGE, DELETE, READ, describe, in_space
from carnet.documents.models import Document
from carnet.documents.present import EXTENSIONS, INLINE_TYPES, NAME_TYPES, base_name
from carnet.documents.schemas import DocumentChange, DocumentList, DocumentOut
from carnet.errors import InvalidInput
from carnet.http import content_disposition, file_responses
from carnet.http import error_responses as _errors
from carnet.vault.service import Vault

router = APIRouter(prefix="/api/v1", tags=["documents"])

PER_PAGE_MAX = 100
SORTS = ("-date", "date", "-period", "period")
HOLDER_STATUSES = ("current", "superseded")


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@router.get(
    "/me/documents",
    response_model=DocumentList,
    summary="List the space's documents, uploaded or deposited by professionals",
    responses=_errors(400, 404),
)
def list_documents(
    acting: Acting = acting_on(READ),
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
) -> DocumentList:
    """Pinned documents first. Documents awaiting an announcement consultation (DOC-4) are not
    listed, only counted in `awaiting_announcement`."""
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
        acting.session,
        acting.settings,
        acting.principal,
        acting.holder,
        query,
        request_id=acting.request_id,
    )
    return DocumentList(
        total=total,
        page=page,
        per_page=per_page,
        awaiting_announcement=service.awaiting_announcement(
            acting.session, acting.settings, acting.principal, acting.holder
        ),
        items=describe(acting.session, acting.vault, acting.principal, rows),
    )


@router.get(
    "/me/documents/{document_id}",
    response_model=DocumentOut,
    summary="One document's metadata",
    responses=_errors(404),
)
def get_document(
    document_id: uuid.UUID,
    acting: Acting = acting_on(READ),
) -> DocumentOut:
    # read once: `service.get` finds it
    _kept = in_space(acting.session, acting.holder, document_id)
    doc = service.get(
        acting.session, acting.settings, acting.principal, document_id, request_id=acting.request_id
    )
    return describe(acting.session, acting.vault, acting.principal, [doc])[0]


@router.get(
    "/me/documents/{document_id}/content",
    summary="Download a document (the exact bytes deposited)",
    response_class=Response,
    responses={
        **file_responses(sniff.SERVED_TYPES, "The content, its sniffed type, and an ETag."),
        304: {"description": "Not modified (If-None-Match)."},
        **_errors(404),
    },
)
def download_document(
    document_id: uuid.UUID,
    request: Request,
    acting: Acting = acting_on(READ),
    disposition: Annotated[
        Literal["inline", "attachment"] | None,
        Query(description="Default: inline for PDF and images, attachment otherwise."),
    ] = None,
) -> Response:
    """The hash is checked before anything is sent; the download is audited (ACC-8)."""
    vault = acting.vault
    _kept = in_space(acting.session, acting.holder, document_id)  # read once: the service finds it
    doc, stream = service.read_content(
        acting.session,
        vault,
        acting.settings,
        acting.principal,
        document_id,
        request_id=acting.request_id,
    )
    etag = f'"{doc.sha256}"'
    if etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers={"ETag": etag})
    content = b"".join(stream)  # at most the upload limit; verified before the first byte leaves
    kind = disposition or ("inline" if doc.mime_type in INLINE_TYPES else "attachment")
    name = _download_name(acting.session, vault, doc)
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
    name = base_name(service.original_name_of(session, vault, doc))
    if name is None:
        name = base_name(service.title_of(session, vault, doc)) or "document"
    extension = EXTENSIONS.get(doc.mime_type, "")
    own = name[name.rfind(".") :].lower() if "." in name else ""
    if extension and own != extension and NAME_TYPES.get(own) != doc.mime_type:
        name += extension
    return name


@router.patch(
    "/me/documents/{document_id}",
    response_model=DocumentOut,
    summary="Rename, move to a folder, pin, mask or unmask a document (DOC-3, DOC-6)",
    responses=_errors(400, 403, 404),
)
def change_document(
    document_id: uuid.UUID,
    body: DocumentChange,
    acting: Acting = acting_on(CHANGE),
) -> DocumentOut:
    """Masking or unmasking is an access setting: not for caregivers (REP-4)."""
    if body.masked is not None:
        family.refuse_caregiver(acting.relation, ACCESS_SETTINGS)
    vault = acting.vault
    _kept = in_space(acting.session, acting.holder, document_id)  # read once: the service finds it
    change = changes.HolderChange(
        title=body.title,
        folder_id=body.folder_id,
        clear_folder="folder_id" in body.model_fields_set and body.folder_id is None,
        pinned=body.pinned,
        masked=body.masked,
    )
    doc = changes.change_by_holder(
        acting.session,
        vault,
        acting.settings,
        acting.principal,
        document_id,
        change,
        request_id=acting.request_id,
    )
    return describe(acting.session, vault, acting.principal, [doc])[0]


@router.delete(
    "/me/documents/{document_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a document (DOC-6)",
    responses=_errors(403, 404, 409),
)
def delete_document(
    document_id: uuid.UUID,
    acting: Acting = acting_on(DELETE),
) -> Response:
    """Refused with 409 `not-deletable` for documents flagged so."""
    _kept = in_space(acting.session, acting.holder, document_id)  # read once: the service finds it
    changes.delete_by_holder(
        acting.session,
        acting.vault,
        acting.settings,
        acting.principal,
        document_id,
        request_id=acting.request_id,
    )
    return Response(status_code=204)
