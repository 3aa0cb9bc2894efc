"""Messagerie: the holder side lists its conversations, reads one, replies with a file or one of
the space's documents, saves an attachment into its documents and deletes a conversation for
itself (rule SRV-1). The pages both sides share (`Side`, `side_routes`) are declared here; the
professional's own routes are in `pro_messages`.

Everything goes through the messaging services (decision point, sealing, audit, notices) on the space
acted on; representatives and caregivers write as such (REP-4).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from carnet.access.routes import wrapping
from carnet.accounts.models import Holder
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents import service as documents
from carnet.errors import CarnetError, NotFound
from carnet.http import content_disposition
from carnet.messaging import conversations, mailbox, parties, reading
from carnet.messaging.attachments import attachment_content
from carnet.messaging.attachments import save_attachment as save_to_documents
from carnet.messaging.context import Context, NewAttachment, NewConversation, NewMessage
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.routing import large_body
from carnet.portal.views.common import (
    UPLOAD,
    Acting,
    acting_page,
    new_router,
    rid,
    text,
)
from carnet.portal.web import (
    FormErrors,
    Shell,
    formatter,
    redirect,
    render,
    settings_of,
    vault_of,
)

router = new_router()
READ, WRITE = "messages.read", "messages.write"
ATTACHABLE = 50  # the most recent documents offered in the reply form


@dataclass(frozen=True)
class Side:
    """One side of the portal's messaging, with the same pages (SRV-1): the holder's, on the space
    acted on (`space`), or a professional's (`space` None: the decision point finds the space)."""

    base: str  # the inbox's path; a conversation is at `{base}/{id}`
    ctx: Context
    space: Holder | None
    shell: Shell

    @property
    def pro(self) -> bool:
        return self.space is None


def context(request: Request, db: Session, principal: Principal) -> Context:
    return Context(db, vault_of(request), settings_of(request), principal, rid(request))


def holder_side(action: str) -> Any:
    """The rule of the holder's messaging pages (`acting_page(action)`), handing them a `Side`."""
    rule = acting_page(action)

    def _holder_side(act: Acting = rule) -> Side:
        return Side("/messages", context(act.request, act.db, act.principal), act.space, act.shell)

    return wrapping(rule, _holder_side)


def inbox_page(
    request: Request,
    side: Side,
    *,
    errors: FormErrors | None = None,
    posted: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The conversations of the side, most recent first (audited per space); on the holder side,
    the form that writes first to a pharmacy that dispensed to the holder (SRV-1: the only
    professionals the holder side may write to first, `messaging.parties.pharmacies`)."""
    fmt = formatter(request)
    found = reading.list_conversations(side.ctx, space=side.space)
    pharmacies = (
        [
            (pro.rpps, f"{pro.name} (RPPS {pro.rpps})")
            for pro in parties.pharmacies(side.ctx, side.space)
        ]
        if side.space is not None
        else []
    )
    return render(
        request,
        "messages.html",
        {
            "conversations": found,
            "base": side.base,
            "pro": side.pro,
            "pharmacies": pharmacies,
            "posted": posted or {},
        },
        title=fmt.gettext(N_("Messaging")),
        shell=side.shell,
        errors=errors,
        status=status,
    )


def start_page(request: Request, side: Side, form: FormData) -> Response:
    """SRV-1: the holder side writes first to a pharmacy, through `conversations.start` (the
    decision point checks the pharmacy dispensed to the holder); a refusal is shown on the inbox,
    audited by the service, nothing else written."""
    fmt = formatter(request)
    posted = {
        "to": text(form, "to", 40).strip(),
        "subject": text(form, "subject", 400),
        "body": text(form, "body", 40_000),
    }
    if side.space is None:  # the holder side's route only
        raise NotFound("No such page.")
    new = NewConversation(
        subject=posted["subject"],
        message=NewMessage(body=posted["body"]),
        to=[posted["to"]] if posted["to"] else [],
    )
    try:
        conversation, _first = conversations.start(side.ctx, side.space, new)
    except CarnetError as exc:
        errors = FormErrors()  # the refusal stays audited: nothing to roll back
        field = {"to": "start-to", "subject": "start-subject", "body": "start-body"}
        errors.add(field.get(exc.field or "", "start-to"), messages.describe(exc, fmt))
        return inbox_page(request, side, errors=errors, posted=posted, status=exc.status_code)
    sessions.set_flash(side.ctx.session, request.state.portal_session, "message-sent")
    return redirect(f"{side.base}/{conversation.id}")


def conversation_page(
    request: Request,
    side: Side,
    conversation_id: uuid.UUID,
    *,
    errors: FormErrors | None = None,
    body: str = "",
    status: int = 200,
) -> Response:
    """A conversation (reading moves the side's read receipt, SRV-1, and is audited, ACC-8) with
    the reply form; the holder side may attach one of the space's documents, a professional may
    end the conversation."""
    fmt = formatter(request)
    view = reading.read(side.ctx, conversation_id, space=side.space)
    offered = side.space is not None and view.status != "ended"
    return render(
        request,
        "conversation.html",
        {
            "conversation": view,
            "body": body,
            "base": side.base,
            "pro": side.pro,
            "max_attachment": side.ctx.settings.message_attachment_max_bytes,
            "documents": _attachable(side.ctx, side.space) if side.space and offered else [],
        },
        title=fmt.gettext(N_("Conversation")),
        shell=side.shell,
        errors=errors,
        status=status,
    )


def _attachable(ctx: Context, space: Holder) -> list[tuple[str, str]]:
    """The space's documents the acting person reads (the decision point's SQL face, one audited
    search), most recent first, offered as attachments (SRV-1); the service decides again."""
    query = documents.SearchQuery(sort="-date", count=ATTACHABLE)
    _total, docs = documents.search(
        ctx.session, ctx.settings, ctx.principal, space, query, request_id=ctx.request_id
    )
    return [(str(doc.id), documents.title_of(ctx.session, ctx.vault, doc)) for doc in docs]


def reply_page(
    request: Request, side: Side, conversation_id: uuid.UUID, form: FormData
) -> Response:
    """The text and at most one file from the device, or (holder side) one of the space's
    documents; a refusal (ended conversation, type, size) is shown on the page, audited by the
    service, nothing else written."""
    fmt = formatter(request)
    body = text(form, "body", 40_000)
    attachments = posted_file(form, side.ctx.settings)
    chosen = _document_id(text(form, "document_id", 40)) if side.space is not None else []
    try:
        conversations.reply(
            side.ctx,
            conversation_id,
            NewMessage(body=body, attachments=attachments, document_ids=chosen),
            space=side.space,
        )
    except CarnetError as exc:
        if exc.status_code == 404:
            raise
        errors = FormErrors()
        field = {"file": "file", "document_ids": "document_id"}.get(exc.field or "", "body")
        errors.add(field, messages.describe(exc, fmt))
        return conversation_page(
            request, side, conversation_id, errors=errors, body=body, status=exc.status_code
        )
    sessions.set_flash(side.ctx.session, request.state.portal_session, "message-sent")
    return redirect(f"{side.base}/{conversation_id}")


def posted_file(form: FormData, settings: Settings) -> list[NewAttachment]:
    """At most one file from the device, read up to one byte past the SRV-1 limit (the service
    refuses it then), its name stripped of any path."""
    file = form.get("file")
    if not (isinstance(file, UploadFile) and file.filename):
        return []
    content = file.file.read(settings.message_attachment_max_bytes + 1)
    name = PurePath(file.filename.replace("\\", "/")).name[:200]
    return [NewAttachment(content, name, file.content_type or None)]


def attachment_response(
    side: Side, conversation_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    """An attachment's bytes, sent once the read is recorded (ACC-8: committed before they leave)."""
    found, name, content = attachment_content(
        side.ctx, conversation_id, attachment_id, space=side.space
    )
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


def side_routes(router: APIRouter, name: str, side: Callable[[str], Any], base: str) -> None:
    """Declare the pages both sides share on `router`, under `base`, named `portal_{name}…`:
    the inbox, a conversation, replying, an attachment's bytes. `side(action)` is the routes'
    access rule, handing them the `Side` acting (`action` for `resolve_space`)."""
    conversation_path = base + "/{conversation_id}"

    @router.get(base, name=f"portal_{name}messages")
    def inbox(request: Request, reader: Side = side(READ)) -> Response:
        return inbox_page(request, reader)

    @router.get(conversation_path, name=f"portal_{name}conversation")
    def conversation(
        request: Request, conversation_id: uuid.UUID, reader: Side = side(READ)
    ) -> Response:
        return conversation_page(request, reader, conversation_id)

    @router.post(f"{conversation_path}/reply", name=f"portal_{name}conversation_reply")
    @large_body
    def reply(
        request: Request,
        conversation_id: uuid.UUID,
        form: FormData = Depends(form_data),
        writer: Side = side(WRITE),
    ) -> Response:
        return reply_page(request, writer, conversation_id, form)

    @router.get(
        f"{conversation_path}/attachments/{{attachment_id}}",
        name=f"portal_{name}message_attachment",
    )
    def attachment(
        conversation_id: uuid.UUID, attachment_id: uuid.UUID, reader: Side = side(READ)
    ) -> Response:
        return attachment_response(reader, conversation_id, attachment_id)


side_routes(router, "", holder_side, "/messages")


@router.post("/messages/new", name="portal_message_start")
def start(
    request: Request, form: FormData = Depends(form_data), writer: Side = holder_side(WRITE)
) -> Response:
    return start_page(request, writer, form)


@router.post(
    "/messages/{conversation_id}/attachments/{attachment_id}/save",
    name="portal_message_attachment_save",
)
def save_attachment(
    request: Request,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    act: Acting = acting_page(UPLOAD),
) -> Response:
    ctx = context(request, act.db, act.principal)
    save_to_documents(ctx, conversation_id, attachment_id, space=act.space)
    sessions.set_flash(act.db, act.live, "attachment-saved")
    return redirect(f"/messages/{conversation_id}")


@router.post("/messages/{conversation_id}/delete", name="portal_conversation_delete")
def delete(
    request: Request,
    conversation_id: uuid.UUID,
    act: Acting = acting_page(WRITE),
) -> Response:
    ctx = context(request, act.db, act.principal)
    mailbox.delete_for_me(ctx, conversation_id, space=act.space)
    sessions.set_flash(act.db, act.live, "conversation-deleted")
    return redirect("/messages")
