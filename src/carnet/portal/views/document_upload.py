"""Adding a document from the portal (DOC-1): drag-and-drop with progress, or the plain file field.

The file is read up to the upload limit (413 beyond) and handed to `documents.deposits.deposit`,
which sniffs its real type, checks the space's quota and upload rate and asks the decision point;
a refusal is shown next to the file field on the documents page.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from carnet.auth import sessions
from carnet.documents import deposits
from carnet.errors import CarnetError
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.routing import large_body, wants_json
from carnet.portal.views.common import (
    UPLOAD,
    Acting,
    acting_page,
    new_router,
    optional_uuid,
    rid,
    text,
)
from carnet.portal.views.documents import documents_page
from carnet.portal.web import FormErrors, formatter, redirect, settings_of, vault_of

router = new_router()


def _too_large_message(fmt: Formatter, limit: int) -> str:
    return fmt.gettext(N_("The file is larger than the %(size)s limit.")) % {
        "size": fmt.size(limit)
    }


@router.post("/documents/upload", name="portal_upload")
@large_body
def upload(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(UPLOAD),
) -> Response:
    """Drag-and-drop (with progress, the script asks for JSON) or the plain file field."""
    fmt = formatter(request)
    settings = settings_of(request)
    values = {
        "title": text(form, "title", 300),
        "category": text(form, "category", 20) or "AUTR_DOC",
        "folder_id": text(form, "folder_id", 40),
    }
    errors = FormErrors()
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        errors.add("file", fmt.gettext(N_("Choose a file to add.")))
        return _upload_refused(act, errors, values, 400)
    content = file.file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        errors.add("file", _too_large_message(fmt, settings.max_upload_bytes))
        return _upload_refused(act, errors, values, 413)
    name = PurePath(file.filename.replace("\\", "/")).name[:200]
    title = values["title"].strip() or (PurePath(name).stem or name)
    if not sessions.use_nonce(act.db, act.live, text(form, "nonce", 40)):
        sessions.set_flash(act.db, act.live, "already-received")
        return _after_upload(request)
    new = deposits.NewDocument(
        content=content,
        title=title[:300],
        declared_type=file.content_type or None,
        category=values["category"],
        original_name=name or None,
        source="holder",
        folder_id=optional_uuid(values["folder_id"]),
    )
    try:
        doc = deposits.deposit(
            act.db,
            vault_of(request),
            settings,
            act.principal,
            act.space,
            new,
            request_id=rid(request),
        )
    except CarnetError as exc:
        act.db.rollback()
        message = (
            _too_large_message(fmt, settings.max_upload_bytes)
            if exc.code == "too-large"
            else messages.describe(exc, fmt)
        )
        field = {"title": "title", "category": "category"}.get(exc.field or "", "file")
        errors.add(field, message)
        status = 429 if exc.status_code == 429 else 400
        refused = _upload_refused(act.again(UPLOAD), errors, values, status)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # DOC-1: too many uploads, try again after this
            refused.headers["Retry-After"] = str(retry_after)
        return refused
    sessions.set_flash(act.db, act.live, "document-added")
    return _after_upload(request, doc.id)


def _after_upload(request: Request, doc_id: uuid.UUID | None = None) -> Response:
    if wants_json(request):
        return JSONResponse({"redirect": "/documents", "id": str(doc_id) if doc_id else None})
    return redirect("/documents")


def _upload_refused(
    act: Acting,
    errors: FormErrors,
    values: dict[str, str],
    status: int,
) -> Response:
    request = act.request
    if wants_json(request):
        field, message = next(iter(errors.fields.items()), ("", " ".join(errors.general)))
        return JSONResponse({"error": {"message": message, "field": field}}, status_code=status)
    return documents_page(act, errors=errors, values=values, status=status)
