"""Messagerie: the holder side lists its conversations, reads one, replies with a file or one of
the space's documents, saves an attachment into its documents and deletes a conversation for
itself (rule SRV-1).

Everything goes through the messaging services (decision point, sealing, audit, notices) on the space
acted on; representatives and caregivers write as such (REP-4).
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from carnet.access.routes import portal_session
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import service as documents
from carnet.errors import CarnetError
from carnet.http import content_disposition, db_session
from carnet.messaging import conversations, mailbox, reading
from carnet.messaging.attachments import attachment_content
from carnet.messaging.attachments import save_attachment as save_to_documents
from carnet.messaging.context import Context, NewAttachment, NewMessage
from carnet.messaging.models import Attachment
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.routing import large_body
from carnet.portal.views.common import UPLOAD, Acting, acting, new_router, rid, text
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of, vault_of

router = new_router()
holder = portal_session(PrincipalKind.HOLDER)
READ, WRITE = "messages.read", "messages.write"


def _ctx(request: Request, db: Session, act: Acting) -> Context:
    return Context(db, vault_of(request), settings_of(request), act.principal, rid(request))


@router.get("/messages", name="portal_messages")
def inbox(
    request: Request,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    fmt = formatter(request)
    act = acting(request, db, READ)
    found = reading.list_conversations(_ctx(request, db, act), space=act.space)
    return render(
        request,
        "messages.html",
        {"conversations": found},
        title=fmt.gettext(N_("Messaging")),
        shell=act.shell,
    )


def _conversation_page(
    request: Request,
    db: Session,
    act: Acting,
    conversation_id: uuid.UUID,
    *,
    errors: FormErrors | None = None,
    body: str = "",
    status: int = 200,
) -> Response:
    fmt = formatter(request)
    view = reading.read(_ctx(request, db, act), conversation_id, space=act.space)
    return render(
        request,
        "conversation.html",
        {
            "conversation": view,
            "body": body,
            "max_attachment": settings_of(request).message_attachment_max_bytes,
            "documents": _attachable(request, db, act) if view.status != "ended" else [],
        },
        title=fmt.gettext(N_("Conversation")),
        shell=act.shell,
        errors=errors,
        status=status,
    )


def _attachable(request: Request, db: Session, act: Acting) -> list[tuple[str, str]]:
    """The space's documents the acting person reads (the decision point's SQL face, one audited
    search), most recent first, offered as attachments (SRV-1); the service decides again."""
    query = documents.SearchQuery(sort="-date", count=ATTACHABLE)
    _total, docs = documents.search(
        db, settings_of(request), act.principal, act.space, query, request_id=rid(request)
    )
    vault = vault_of(request)
    return [(str(doc.id), documents.title_of(db, vault, doc)) for doc in docs]


ATTACHABLE = 50  # the most recent documents offered in the reply form


@router.get("/messages/{conversation_id}", name="portal_conversation")
def conversation(
    request: Request,
    conversation_id: uuid.UUID,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    return _conversation_page(request, db, acting(request, db, READ), conversation_id)


@router.post("/messages/{conversation_id}/reply", name="portal_conversation_reply")
@large_body
def reply(
    request: Request,
    conversation_id: uuid.UUID,
    form: FormData = Depends(form_data),
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """The text and at most one file from the device; a refusal is shown on the page (and was
    audited by the service; nothing else was written)."""
    fmt = formatter(request)
    settings = settings_of(request)
    act = acting(request, db, WRITE)
    body = text(form, "body", 40_000)
    attachments = posted_file(form, settings)
    chosen = _document_id(text(form, "document_id", 40))
    try:
        conversations.reply(
            _ctx(request, db, act),
            conversation_id,
            NewMessage(body=body, attachments=attachments, document_ids=chosen),
            space=act.space,
        )
    except CarnetError as exc:
        if exc.status_code == 404:
            raise
        errors = FormErrors()
        field = {"file": "file", "document_ids": "document_id"}.get(exc.field or "", "body")
        errors.add(field, messages.describe(exc, fmt))
        return _conversation_page(
            request, db, act, conversation_id, errors=errors, body=body, status=exc.status_code
        )
    sessions.set_flash(db, act.live, "message-sent")
    return redirect(f"/messages/{conversation_id}")


def posted_file(form: FormData, settings: Settings) -> list[NewAttachment]:
    """At most one file from the device, read up to one byte past the SRV-1 limit (the service
    refuses it then), its name stripped of any path."""
    file = form.get("file")
    if not (isinstance(file, UploadFile) and file.filename):
        return []
    content = file.file.read(settings.message_attachment_max_bytes + 1)
    name = PurePath(file.filename.replace("\\", "/")).name[:200]
    return [NewAttachment(content, name, file.content_type or None)]


def attachment_response(db: Session, found: Attachment, name: str, content: bytes) -> Response:
    """An attachment's bytes, sent once the read is recorded (ACC-8: committed before they leave)."""
    return Response(
        content,
        media_type=found.mime_type,
        headers={"Content-Disposition": content_disposition("attachment", name)},
    )


def _document_id(value: str) -> list[uuid.UUID]:
    """The document chosen in the reply form, if any (an unknown id is the service's 404)."""
    if not value:
        return []
    try:
        return [uuid.UUID(value)]
    except ValueError:
        return []


@router.get(
    "/messages/{conversation_id}/attachments/{attachment_id}", name="portal_message_attachment"
)
def attachment(
    request: Request,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    act = acting(request, db, READ)
    found, name, content = attachment_content(
        _ctx(request, db, act), conversation_id, attachment_id, space=act.space
    )
    return attachment_response(db, found, name, content)


@router.post(
    "/messages/{conversation_id}/attachments/{attachment_id}/save",
    name="portal_message_attachment_save",
)
def save_attachment(
    request: Request,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    act = acting(request, db, UPLOAD)
    save_to_documents(_ctx(request, db, act), conversation_id, attachment_id, space=act.space)
    sessions.set_flash(db, act.live, "attachment-saved")
    return redirect(f"/messages/{conversation_id}")


@router.post("/messages/{conversation_id}/delete", name="portal_conversation_delete")
def delete(
    request: Request,
    conversation_id: uuid.UUID,
    principal: Principal = holder,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    act = acting(request, db, WRITE)
    mailbox.delete_for_me(_ctx(request, db, act), conversation_id, space=act.space)
    sessions.set_flash(db, act.live, "conversation-deleted")
    return redirect("/messages")
