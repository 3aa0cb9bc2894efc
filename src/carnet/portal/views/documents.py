"""The holder's documents: list by category and folder, view, download, change, delete.

What a document shows comes from `documents.present` (formatted and translated here); uploads are
`document_upload`. Everything goes through `documents.service` (which asks the policy decision
point and audits every read, ACC-8) on the space the holder acts on (`family.resolve_space`:
REP-1…REP-5). A document of another space answers 404, as do documents the decision point hides (DOC-4 awaiting announcement,
REP-2 invisible to representatives): those awaiting announcement are only counted.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.rules import decide_upload
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts.models import Holder
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal
from carnet.documents import cda, changes, present, reference, sniff
from carnet.documents import service as documents
from carnet.documents.models import Document
from carnet.documents.present import EXTENSIONS, INLINE_TYPES, category_label
from carnet.documents.service import awaiting_announcement
from carnet.errors import CarnetError, Conflict, Forbidden, NotFound
from carnet.http import PageNumber, content_disposition
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.views.common import (
    ACCESS_SETTINGS,
    CHANGE,
    DELETE,
    READ,
    Acting,
    acting_page,
    new_router,
    optional_uuid,
    rid,
    text,
)
from carnet.portal.web import FormErrors, formatter, redirect, settings_of, vault_of

router = new_router()

PER_PAGE = 50
# What the file field accepts (DOC-1); the service sniffs the real type anyway.
ACCEPT = ".pdf,.jpg,.jpeg,.png,.tif,.tiff,.rtf,.txt,application/pdf,image/jpeg,image/png,image/tiff"
# The content itself runs nothing and loads nothing; only the portal's own pages may frame it.
CONTENT_CSP = "default-src 'none'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"


@dataclass
class Row:
    """A document as the pages show it."""

    id: uuid.UUID
    title: str
    category: str
    category_label: str
    author: str
    date: str
    deposited: str
    size: str
    kind: str
    inline: str  # "pdf", "image" or ""
    masked: bool
    pinned: bool
    folder_id: uuid.UUID | None
    folder_name: str
    deletable: bool
    is_new: bool
    structured: bool  # XML, shown as a CDA document when it is one (issue 16 item 5)


@dataclass(frozen=True)
class StructuredView:
    """A CDA document for `_cda.html`: the tree Carnet built (None: not a readable CDA) and its
    header's date, formatted."""

    cda: cda.Cda | None
    effective: str


def category_choices(locale: str) -> list[tuple[str, str]]:
    return [(code, category_label(code, locale)) for code in reference.categories()]


_KINDS = {
    sniff.PDF: "PDF",
    sniff.JPEG: "JPEG",
    sniff.PNG: "PNG",
    sniff.TIFF: "TIFF",
    sniff.RTF: "RTF",
    sniff.TEXT: N_("Text"),
    sniff.XML: "XML",
}


def describe(
    db: Session, request: Request, principal: Principal, docs: Sequence[Document]
) -> list[Row]:
    """`docs` as the pages show them: the facts from `documents.present`, formatted and
    translated here, with their folders' names."""
    fmt = formatter(request)
    vault = vault_of(request)
    shown = present.present(db, vault, principal, docs)
    folders = {
        f.id: documents.folder_name(db, vault, f)
        for f in documents.folders_by_ids(db, {d.folder_id for d in docs if d.folder_id}).values()
    }
    return [
        Row(
            id=one.doc.id,
            title=one.title,
            category=one.doc.category,
            category_label=one.category_label(fmt.locale),
            author=_author_text(one.author, fmt),
            date=fmt.date(one.date, "medium"),
            deposited=fmt.date(one.doc.deposited_at, "medium"),
            size=fmt.size(one.doc.size),
            kind=fmt.gettext(_KINDS.get(one.doc.mime_type, one.doc.mime_type)),
            inline=one.inline,
            masked=one.doc.masked,
            pinned=one.doc.pinned,
            folder_id=one.doc.folder_id,
            folder_name=folders.get(one.doc.folder_id, "") if one.doc.folder_id else "",
            deletable=one.deletable,
            is_new=one.is_new,
            structured=cda.is_cda_type(one.doc.mime_type),
        )
        for one in shown
    ]


def _author_text(author: present.Author, fmt: Formatter) -> str:
    """A professional unknown to Carnet is not named; the former shared record (DMP) is."""
    if author.name is not None:
        if author.profession and fmt.locale != "fr":  # "name (profession)" in the page's language
            shown = account_rules.profession_translated(author.profession, fmt.locale)
            return author.name.replace(f"({author.profession})", f"({shown})")
        return author.name
    if author.kind == "me":
        return fmt.gettext(N_("You"))
    if author.migrated:
        return fmt.gettext(N_("Former shared medical record (DMP)"))
    return "—"


def folders_of(db: Session, request: Request, space: Holder) -> list[dict[str, Any]]:
    vault = vault_of(request)
    found = [
        {"id": f.id, "name": documents.folder_name(db, vault, f)}
        for f in documents.folders_of(db, space.id)
    ]
    return sorted(found, key=lambda f: str(f["name"]).casefold())


def recent_documents(act: Acting, count: int = 5) -> tuple[int, list[Row]]:
    """The documents added these last days (the home page's "new documents")."""
    request, db = act.request, act.db
    query = documents.SearchQuery(date_from=present.new_since(), sort="-date", count=count)
    total, docs = documents.search(
        db, settings_of(request), act.principal, act.space, query, request_id=rid(request)
    )
    return total, describe(db, request, act.principal, docs)


def awaiting(act: Acting) -> int:
    """DOC-4: documents awaiting their announcement consultation, as a count (no title)."""
    return awaiting_announcement(act.db, act.settings, act.principal, act.space)


def _in_space(db: Session, act: Acting, document_id: uuid.UUID) -> None:
    """404 unless the document belongs to the space acted on; the service then decides."""
    owner = documents.space_of(db, document_id)
    if owner != act.space.id:
        raise NotFound(documents.NOT_FOUND)


def _require_open(act: Acting) -> None:
    """The decision point's holder-side rule for adding to a space (folders, uploads)."""
    request, db = act.request, act.db
    decision = decide_upload(
        actor_for(db, settings_of(request), act.principal, act.space), space_facts(db, act.space)
    )
    if not decision:
        if decision.reason == "space-not-open":
            raise Conflict("This space is not open.", code="space-not-open")
        raise Forbidden("You may not add documents to this space.", code=decision.reason)


# -- the list --------------------------------------------------------------------------------


def documents_page(
    act: Acting,
    *,
    category: str = "",
    folder: str = "",
    page: int = 1,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    request, db = act.request, act.db
    fmt = formatter(request)
    settings = settings_of(request)
    categories = category_choices(fmt.locale)
    known = dict(categories)
    chosen_category = category if category in known else ""
    folders = folders_of(db, request, act.space)
    folder_id = optional_uuid(folder)
    if folder_id is not None and folder_id not in {f["id"] for f in folders}:
        folder_id = None
    page = max(1, min(page, 10_000))
    query = documents.SearchQuery(
        categories=[chosen_category] if chosen_category else [],
        folder_id=folder_id,
        sort="-date",
        offset=(page - 1) * PER_PAGE,
        count=PER_PAGE,
    )
    total, docs = documents.search(
        db, settings, act.principal, act.space, query, request_id=rid(request)
    )
    rows = describe(db, request, act.principal, docs)
    return act.render(
        "documents.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PER_PAGE)),
            "awaiting": awaiting(act),
            "categories": categories,
            "category": chosen_category,
            "folders": folders,
            "folder_choices": [(str(f["id"]), f["name"]) for f in folders],
            "folder": str(folder_id) if folder_id else "",
            "accept": ACCEPT,
            "nonce": secrets.token_urlsafe(12),
            "values": values or {"category": "AUTR_DOC"},
            "max_size": fmt.size(settings.max_upload_bytes),
        },
        title=fmt.gettext(N_("Documents")),
        errors=errors,
        status=status,
    )


@router.get("/documents", name="portal_documents")
def list_page(
    category: str = "",
    folder: str = "",
    page: PageNumber = 1,
    act: Acting = acting_page(READ),
) -> Response:
    return documents_page(act, category=category, folder=folder, page=page)


# -- folders (DOC-6) ---------------------------------------------------------------------------


@router.post("/folders", name="portal_folder_create")
def create_folder(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE),
) -> Response:
    fmt = formatter(request)
    _require_open(act)
    name = text(form, "name", 200)
    try:
        folder = changes.create_folder(act.db, vault_of(request), act.space, act.principal, name)
    except CarnetError as exc:
        act.db.rollback()
        errors = FormErrors()
        errors.add("folder_name", messages.describe(exc, fmt))
        return documents_page(act.again(), errors=errors, status=400)
    sessions.set_flash(act.db, act.live, "folder-created")
    return redirect(f"/documents?folder={folder.id}")


# -- one document ------------------------------------------------------------------------------


def _document_page(
    act: Acting,
    document_id: uuid.UUID,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
    template: str = "document.html",
) -> Response:
    request, db = act.request, act.db
    fmt = formatter(request)
    _in_space(db, act, document_id)
    doc = documents.get(
        db, settings_of(request), act.principal, document_id, request_id=rid(request)
    )
    row = describe(db, request, act.principal, [doc])[0]
    structured = None
    if row.structured and template == "document.html":
        structured = structured_view(db, request, act.principal, document_id)
    return act.render(
        template,
        {
            "doc": row,
            "structured": structured,
            "folder_choices": [
                (str(f["id"]), f["name"]) for f in folders_of(db, request, act.space)
            ],
            "may_mask": act.may_change_access_settings,
        },
        # Never the document's title: titles can say what the document is about.
        title=fmt.gettext(N_("Document")),
        errors=errors,
        status=status,
    )


@router.get("/documents/{document_id}", name="portal_document")
def document_page(document_id: uuid.UUID, act: Acting = acting_page(READ)) -> Response:
    return _document_page(act, document_id)


@router.get("/documents/{document_id}/content", name="portal_document_content")
def document_content(
    request: Request,
    document_id: uuid.UUID,
    download: Annotated[int, Query(ge=0, le=1)] = 0,
    act: Acting = acting_page(READ),
) -> Response:
    """The content, streamed through `documents.service.read_content` (decision, audit, hash
    check); shown in the page's frame for PDF and images, downloaded otherwise."""
    _in_space(act.db, act, document_id)
    doc, content = read_content(act.db, request, act.principal, document_id)
    inline = doc.mime_type in INLINE_TYPES and not download
    return content_response(act.db, request, doc, content, doc.mime_type, inline=inline)


@router.get("/documents/{document_id}/embedded", name="portal_document_embedded")
def document_embedded(
    request: Request, document_id: uuid.UUID, act: Acting = acting_page(READ)
) -> Response:
    """The PDF or image a level-1 CDA document wraps, for the page's frame (issue 16 item 5)."""
    _in_space(act.db, act, document_id)
    return embedded_response(act.db, request, act.principal, document_id)


# -- content, shared with the professional pages -------------------------------------------------


def read_content(
    db: Session, request: Request, principal: Principal, document_id: uuid.UUID
) -> tuple[Document, bytes]:
    """The content through `documents.service.read_content` (decision, audit, hash check)."""
    doc, stream = documents.read_content(
        db, vault_of(request), settings_of(request), principal, document_id, request_id=rid(request)
    )
    return doc, b"".join(stream)  # at most the upload limit; its hash is verified before it leaves


def content_response(
    db: Session, request: Request, doc: Document, content: bytes, media_type: str, *, inline: bool
) -> Response:
    """`content` shown inside the portal's own pages only (frame) and running nothing (CSP), or
    downloaded, named after the document with the extension of its real type."""
    vault = vault_of(request)
    name = documents.original_name_of(db, vault, doc) or documents.title_of(db, vault, doc)
    extension = EXTENSIONS.get(media_type, "")
    if extension and not name.lower().endswith(extension):
        name += extension
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition("inline" if inline else "attachment", name),
            "X-Frame-Options": "SAMEORIGIN",
            "Content-Security-Policy": CONTENT_CSP,
        },
    )


def structured_view(
    db: Session, request: Request, principal: Principal, document_id: uuid.UUID
) -> StructuredView:
    """A CDA document read like its download (decision, audit) and parsed by `documents.cda`."""
    _doc, content = read_content(db, request, principal, document_id)
    found = cda.read(content)
    effective = ""
    if found is not None and found.header.effective is not None:
        fmt = formatter(request)
        when = found.header.effective
        if isinstance(when, dt.datetime):
            # A time without offset is the writer's local time: Carnet's time zone, not UTC.
            zone = when.tzinfo or ZoneInfo(fmt.timezone)
            effective = fmt.datetime(when.replace(tzinfo=zone), "medium")
        else:
            effective = fmt.date(when, "medium")
    return StructuredView(found, effective)


def embedded_response(
    db: Session, request: Request, principal: Principal, document_id: uuid.UUID
) -> Response:
    """The file of a level-1 CDA document (PDF or image), read like the download; 404 when the
    document wraps nothing Carnet shows."""
    doc, content = read_content(db, request, principal, document_id)
    found = cda.read(content) if cda.is_cda_type(doc.mime_type) else None
    embedded = found.embedded if found is not None else None
    if embedded is None or embedded.problem or embedded.media_type not in INLINE_TYPES:
        raise NotFound("This document wraps no file that can be shown.")
    return content_response(db, request, doc, embedded.data, embedded.media_type, inline=True)


def _change(
    request: Request,
    act: Acting,
    document_id: uuid.UUID,
    change: changes.HolderChange,
    *,
    flash_key: str,
    field: str = "",
) -> Response:
    fmt = formatter(request)
    db = act.db
    _in_space(db, act, document_id)
    try:
        changes.change_by_holder(
            db,
            vault_of(request),
            settings_of(request),
            act.principal,
            document_id,
            change,
            request_id=rid(request),
        )
    except CarnetError as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        errors = FormErrors()
        errors.add(field, messages.describe(exc, fmt))
        return _document_page(act.again(), document_id, errors=errors, status=exc.status_code)
    sessions.set_flash(db, act.live, flash_key)
    return redirect(f"/documents/{document_id}")


@router.post("/documents/{document_id}/rename", name="portal_document_rename")
def rename(
    request: Request,
    document_id: uuid.UUID,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE),
) -> Response:
    change = changes.HolderChange(title=text(form, "title", 400))
    return _change(request, act, document_id, change, flash_key="document-renamed", field="title")


@router.post("/documents/{document_id}/move", name="portal_document_move")
def move(
    request: Request,
    document_id: uuid.UUID,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(CHANGE),
) -> Response:
    folder_id = optional_uuid(text(form, "folder_id", 40))
    change = changes.HolderChange(folder_id=folder_id, clear_folder=folder_id is None)
    return _change(
        request,
        act,
        document_id,
        change,
        flash_key="document-moved",
        field="folder_id",
    )


def _flag_route(verb: str, flag: str, action: str, on: str, off: str) -> None:
    """POST /documents/{id}/pin or /mask: the form says the wanted state (`1` or not), so that
    sent twice it changes nothing more."""

    @router.post(f"/documents/{{document_id}}/{verb}", name=f"portal_document_{verb}")
    def change_flag(
        request: Request,
        document_id: uuid.UUID,
        form: FormData = Depends(form_data),
        act: Acting = acting_page(action),
    ) -> Response:
        wanted = text(form, flag) == "1"
        change = (
            changes.HolderChange(pinned=wanted)
            if flag == "pinned"
            else changes.HolderChange(masked=wanted)
        )
        flash_key = on if wanted else off
        return _change(request, act, document_id, change, flash_key=flash_key)


_flag_route("pin", "pinned", CHANGE, "document-pinned", "document-unpinned")
# DOC-3: mask from professionals, or unmask; REP-4: not for caregivers (an access setting).
_flag_route("mask", "masked", ACCESS_SETTINGS, "document-masked", "document-unmasked")


@router.get("/documents/{document_id}/delete", name="portal_document_delete")
def delete_confirm(document_id: uuid.UUID, act: Acting = acting_page(DELETE)) -> Response:
    return _document_page(act, document_id, template="document_delete.html")


@router.post("/documents/{document_id}/delete")
def delete(request: Request, document_id: uuid.UUID, act: Acting = acting_page(DELETE)) -> Response:
    """DOC-6; sent twice, the second time says the document is gone already."""
    fmt = formatter(request)
    try:
        _in_space(act.db, act, document_id)
        changes.delete_by_holder(
            act.db,
            vault_of(request),
            settings_of(request),
            act.principal,
            document_id,
            request_id=rid(request),
        )
    except NotFound:
        act.db.rollback()
        sessions.set_flash(act.db, act.live, "document-gone")
        return redirect("/documents")
    except CarnetError as exc:
        act.db.rollback()
        errors = FormErrors()
        errors.add(None, messages.describe(exc, fmt))
        return _document_page(act.again(), document_id, errors=errors, status=exc.status_code)
    sessions.set_flash(act.db, act.live, "document-deleted")
    return redirect("/documents")
