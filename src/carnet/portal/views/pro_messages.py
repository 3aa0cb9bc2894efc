"""Messagerie, professional side: the professional's conversations, reading one (its read receipt
moves), replying with a file, ending it (SRV-1); writing first is a form of the patient's page
(`professional.write_to_patient`).

Everything goes through the messaging services, which asks the decision point
(`access.rules.decide_message_*`), seals, audits and notifies; the portal decides nothing.
"""

from __future__ import annotations

import uuid

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal
from carnet.errors import CarnetError
from carnet.http import db_session
from carnet.messaging import conversations, reading
from carnet.messaging.attachments import attachment_content
from carnet.messaging.context import Context, NewMessage
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.routing import large_body
from carnet.portal.views.common import new_router, rid, text
from carnet.portal.views.messages import attachment_response, posted_file
from carnet.portal.views.professional import pro_session, pro_shell
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of, vault_of

router = new_router()
INBOX = "/pro/messages"


def context(request: Request, db: Session, principal: Principal) -> Context:
    return Context(db, vault_of(request), settings_of(request), principal, rid(request))


@router.get(INBOX, name="portal_pro_messages")
def inbox(
    request: Request,
    principal: Principal = pro_session,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """The professional's conversations, every patient, most recent first (audited per space)."""
    fmt = formatter(request)
    found = reading.list_conversations(context(request, db, principal))
    return render(
        request,
        "pro_messages.html",
        {"conversations": found},
        title=fmt.gettext(N_("Messaging")),
        shell=pro_shell(),
    )


def _conversation_page(
    request: Request,
    db: Session,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    errors: FormErrors | None = None,
    body: str = "",
    status: int = 200,
) -> Response:
    fmt = formatter(request)
    view = reading.read(context(request, db, principal), conversation_id)
    return render(
        request,
        "pro_conversation.html",
        {
            "conversation": view,
            "body": body,
            "max_attachment": settings_of(request).message_attachment_max_bytes,
        },
        title=fmt.gettext(N_("Conversation")),
        shell=pro_shell(),
        errors=errors,
        status=status,
    )


@router.get(f"{INBOX}/{{conversation_id}}", name="portal_pro_conversation")
def conversation(
    request: Request,
    conversation_id: uuid.UUID,
    principal: Principal = pro_session,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """Reading moves the professional's read receipt (SRV-1) and is audited (ACC-8)."""
    return _conversation_page(request, db, principal, conversation_id)


@router.post(f"{INBOX}/{{conversation_id}}/reply", name="portal_pro_conversation_reply")
@large_body
def reply(
    request: Request,
    conversation_id: uuid.UUID,
    form: FormData = Depends(form_data),
    principal: Principal = pro_session,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """The text and at most one file; a refusal (ended conversation, type, size) is shown on the
    page, audited by the service, nothing else written."""
    fmt = formatter(request)
    settings = settings_of(request)
    body = text(form, "body", 40_000)
    attachments = posted_file(form, settings)
    try:
        conversations.reply(
            context(request, db, principal),
            conversation_id,
            NewMessage(body=body, attachments=attachments),
        )
    except CarnetError as exc:
        if exc.status_code == 404:
            raise
        errors = FormErrors()
        errors.add("file" if exc.field == "file" else "body", messages.describe(exc, fmt))
        return _conversation_page(
            request,
            db,
            principal,
            conversation_id,
            errors=errors,
            body=body,
            status=exc.status_code,
        )
    sessions.set_flash(db, request.state.portal_session, "message-sent")
    return redirect(f"{INBOX}/{conversation_id}")


@router.post(f"{INBOX}/{{conversation_id}}/end", name="portal_pro_conversation_end")
def end(
    request: Request,
    conversation_id: uuid.UUID,
    form: FormData = Depends(form_data),
    principal: Principal = pro_session,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """SRV-1: ending is final (the patient can no longer reply), so the box must be ticked."""
    fmt = formatter(request)
    if text(form, "confirm", 5) != "1":
        errors = FormErrors()
        errors.add("confirm", fmt.gettext(N_("Tick the box to confirm that you end it.")))
        return _conversation_page(
            request, db, principal, conversation_id, errors=errors, status=400
        )
    try:
        conversations.end(context(request, db, principal), conversation_id)
    except CarnetError as exc:
        if exc.status_code == 404:
            raise
        errors = FormErrors()
        errors.add("confirm", messages.describe(exc, fmt))
        return _conversation_page(
            request, db, principal, conversation_id, errors=errors, status=exc.status_code
        )
    sessions.set_flash(db, request.state.portal_session, "conversation-ended")
    return redirect(f"{INBOX}/{conversation_id}")


@router.get(
    f"{INBOX}/{{conversation_id}}/attachments/{{attachment_id}}",
    name="portal_pro_message_attachment",
)
def attachment(
    request: Request,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    principal: Principal = pro_session,
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    found, name, content = attachment_content(
        context(request, db, principal), conversation_id, attachment_id
    )
    return attachment_response(db, found, name, content)
