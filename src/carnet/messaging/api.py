"""Messaging API: `/api/v1/me/conversations…` for the holder side, `/api/v1/pro/conversations…` for
professionals, with the same shapes (rule SRV-1).

The holder side acts on its own space or on the one named by `X-Carnet-Space` that it manages
(representatives and caregivers write as such, `accounts.family.resolve_space`). Every decision is
taken by the messaging services (`conversations`, `drafts`, `reading`…) through the decision point; refusals are audited and that entry is
committed before the error leaves (ACC-8), and nothing else of the refused request is kept.
Attachments from the device are multipart uploads on a draft, refused with 413 past the limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carnet.access.routes import Acting, Caller, SpaceHeader, acting_on, authenticated, calling
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.documents.api.uploads import receive_upload
from carnet.documents.sniff import SERVED_TYPES
from carnet.errors import InvalidInput, NotFound
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import (
    content_disposition,
    file_responses,
    get_database,
    keeping_audit,
    multipart_file_body,
    request_id,
)
from carnet.http import error_responses as _errors
from carnet.messaging import conversations, drafts, mailbox, parties, reading
from carnet.messaging.attachments import attachment_content, save_attachment
from carnet.messaging.context import (
    Context,
    ConversationView,
    MessageView,
    NewAttachment,
    NewConversation,
    NewMessage,
    PartyView,
)
from carnet.messaging.schemas import (
    AttachmentOut,
    ConversationIn,
    ConversationOut,
    DraftChange,
    MessageIn,
    MessageOut,
    PartyOut,
    PharmacyOut,
    SavedDocumentOut,
)

router = APIRouter(prefix="/api/v1", tags=["messaging"])

READ, WRITE = "messages.read", "messages.write"  # resolve_space actions; caregivers may (REP-4)
HOLDER_UPLOADING = authenticated(PrincipalKind.HOLDER, own_transactions=True)
PRO_UPLOADING = authenticated(PrincipalKind.PROFESSIONAL, own_transactions=True)
PRO_CALLER = calling(PrincipalKind.PROFESSIONAL)

_ATTACH_BODY = multipart_file_body("PDF, JPEG, PNG, TIFF, RTF or plain text; sniffed.")


def _ctx(request: Request, session: Session, principal: Principal) -> Context:
    return Context(session, _vault(request), _settings(request), principal, request_id(request))


def _context(caller: Caller) -> Context:
    return Context(
        caller.session, caller.vault, caller.settings, caller.principal, caller.request_id
    )


def _of(caller: Caller) -> tuple[Context, Holder | None]:
    """The services' context of a request, and the space it acts on (holder side) or None."""
    return _context(caller), caller.holder if isinstance(caller, Acting) else None


def _space(
    request: Request, session: Session, principal: Principal, header: str | None, action: str
) -> Holder:
    holder, _relation = family.resolve_space(
        session, principal, header, action, settings=_settings(request)
    )
    return holder


def _party(view: PartyView) -> PartyOut:
    return PartyOut(
        party=view.party,
        role=view.role,
        name=view.name,
        rpps=view.rpps,
        profession=view.profession,
        read_at=view.read_at,
    )


def _message_out(view: MessageView) -> MessageOut:
    return MessageOut(
        id=view.id,
        conversation_id=view.conversation_id,
        author_party=view.author_party,
        author=view.author_name,
        author_signs_as=view.author_relation,
        author_rpps=view.author_rpps,
        mine=view.mine,
        status=view.status,
        body=view.body,
        created_at=view.created_at,
        sent_at=view.sent_at,
        attachments=[
            AttachmentOut(id=a.id, name=a.name, mime_type=a.mime_type, size=a.size, source=a.source)
            for a in view.attachments
        ],
        read_by=[_party(p) for p in view.read_by],
    )


def conversation_out(view: ConversationView) -> ConversationOut:
    return ConversationOut(
        id=view.id,
        patient_id=view.holder_id,
        patient=view.holder_name,
        subject=view.subject,
        status=view.status,
        started_by=view.started_by_party,
        created_at=view.created_at,
        last_message_at=view.last_message_at,
        ended_at=view.ended_at,
        participants=[_party(p) for p in view.participants],
        unread=view.unread,
        messages=[_message_out(m) for m in view.messages],
    )


def _one_message(ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID,
                 space: Holder | None) -> MessageOut:  # fmt: skip
    return _message_out(reading.written_message(ctx, conversation_id, message_id, space=space))


# -- shared bodies of the two front doors ----------------------------------------------------------


def _list(ctx: Context, space: Holder | None, patient: Holder | None) -> list[ConversationOut]:
    return [
        conversation_out(v) for v in reading.list_conversations(ctx, space=space, patient=patient)
    ]


def _start(
    ctx: Context, holder: Holder, body: ConversationIn, space: Holder | None
) -> ConversationOut:
    conversation, _message = conversations.start(
        ctx, holder,
        NewConversation(
            subject=body.subject, to=body.to, cc=body.cc,
            message=NewMessage(body=body.body, document_ids=body.document_ids,
                                       draft=body.draft),
        ),
    )  # fmt: skip
    ctx.session.flush()
    return _read_back(ctx, conversation.id, space)


def _read_back(ctx: Context, conversation_id: uuid.UUID, space: Holder | None) -> ConversationOut:
    return conversation_out(reading.written_conversation(ctx, conversation_id, space=space))


def _reply(ctx: Context, space: Holder | None, conversation_id: uuid.UUID,
           body: MessageIn) -> MessageOut:  # fmt: skip
    message = conversations.reply(
        ctx, conversation_id,
        NewMessage(body=body.body, document_ids=body.document_ids, draft=body.draft),
        space=space,
    )  # fmt: skip
    ctx.session.flush()
    return _one_message(ctx, conversation_id, message.id, space)


def _edit(ctx: Context, space: Holder | None, conversation_id: uuid.UUID,
          message_id: uuid.UUID, body: DraftChange) -> MessageOut:  # fmt: skip
    drafts.edit_draft(
        ctx, conversation_id, message_id, body=body.body, subject=body.subject,
        add=NewMessage(body="", document_ids=body.document_ids), space=space,
    )  # fmt: skip
    ctx.session.flush()
    return _one_message(ctx, conversation_id, message_id, space)


def _send(ctx: Context, space: Holder | None, conversation_id: uuid.UUID,
          message_id: uuid.UUID) -> MessageOut:  # fmt: skip
    drafts.send_draft(ctx, conversation_id, message_id, space=space)
    ctx.session.flush()
    return _one_message(ctx, conversation_id, message_id, space)


def _download(ctx: Context, space: Holder | None, conversation_id: uuid.UUID,
              attachment_id: uuid.UUID) -> Response:  # fmt: skip
    attachment, name, content = attachment_content(ctx, conversation_id, attachment_id, space=space)
    return Response(
        content,
        media_type=attachment.mime_type,
        headers={"Content-Disposition": content_disposition("attachment", name)},
    )


async def _attach(request: Request, principal: Principal, conversation_id: uuid.UUID,
                  message_id: uuid.UUID, header: str | None) -> MessageOut:  # fmt: skip
    """Check first (nobody uploads megabytes into a draft that is not theirs), then receive the
    file with the SRV-1 size limit, then store it in one transaction."""
    settings = _settings(request)
    database = get_database(request)

    def _space_of(session: Session) -> Holder | None:
        if principal.kind is PrincipalKind.HOLDER:
            return _space(request, session, principal, header, WRITE)
        return None

    def _may_attach() -> None:
        with database.transaction() as session:
            ctx = _ctx(request, session, principal)
            with keeping_audit():
                drafts.check_own_draft(ctx, conversation_id, message_id, space=_space_of(session))

    await run_in_threadpool(_may_attach)
    upload = await receive_upload(request, settings.message_attachment_max_bytes)

    def _store() -> MessageOut:
        with database.transaction() as session:
            ctx = _ctx(request, session, principal)
            space = _space_of(session)
            with keeping_audit():
                new = NewAttachment(bytes(upload.content), upload.file_name, upload.declared_type)
                drafts.add_attachment(ctx, conversation_id, message_id, new, space=space)
                session.flush()
                return _one_message(ctx, conversation_id, message_id, space)

    return await run_in_threadpool(_store)


@dataclass(frozen=True)
class _Side:
    """One front door of the conversation routes: the holder side (`/me`, its space or the one
    named by `X-Carnet-Space`) or professionals (`/pro`, who refuse that header)."""

    name: str
    rule: Callable[[str], Any]  # the route's one access rule for a resolve_space action
    auth: Any  # the rule of the upload route, which opens its own units of work
    header: Callable[..., str | None]
    delete_summary: str
    reply_summary: str


def _space_header(space: SpaceHeader = None) -> str | None:
    """The holder side honours `X-Carnet-Space` (resolved by `accounts.family.resolve_space`)."""
    return space


def _no_header() -> str | None:
    """Professionals act on no managed space: the header is refused at the door."""
    return None


def _conversation_routes(side: _Side) -> None:
    """Declare the conversation routes both sides share, with the same bodies (SRV-1): read,
    delete for oneself, reply, edit and send a draft, attach a file, download an attachment."""
    base = f"/{side.name}/conversations/{{conversation_id}}"

    @router.get(
        base,
        name=f"{side.name}_read",
        response_model=ConversationOut,
        summary="Read a conversation (moves your read receipt; audited)",
        responses=_errors(404),
    )
    def read(
        conversation_id: uuid.UUID,
        caller: Caller = side.rule(READ),
    ) -> ConversationOut:
        ctx, holder = _of(caller)
        with keeping_audit():
            return conversation_out(reading.read(ctx, conversation_id, space=holder))

    @router.delete(
        base,
        name=f"{side.name}_delete",
        status_code=204,
        response_class=Response,
        summary=side.delete_summary,
        responses=_errors(404),
    )
    def delete(
        conversation_id: uuid.UUID,
        caller: Caller = side.rule(WRITE),
    ) -> Response:
        ctx, holder = _of(caller)
        with keeping_audit():
            mailbox.delete_for_me(ctx, conversation_id, space=holder)
        return Response(status_code=204)

    @router.post(
        f"{base}/messages",
        name=f"{side.name}_reply",
        status_code=201,
        response_model=MessageOut,
        summary=side.reply_summary,
        responses=_errors(400, 403, 404, 409, 413),
    )
    def reply(
        conversation_id: uuid.UUID,
        body: MessageIn,
        caller: Caller = side.rule(WRITE),
    ) -> MessageOut:
        with keeping_audit():
            return _reply(*_of(caller), conversation_id, body)

    @router.patch(
        f"{base}/messages/{{message_id}}",
        name=f"{side.name}_edit",
        response_model=MessageOut,
        summary="Edit one of your drafts; document_ids are attached",
        responses=_errors(400, 404, 409, 413),
    )
    def edit(
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        body: DraftChange,
        caller: Caller = side.rule(WRITE),
    ) -> MessageOut:
        with keeping_audit():
            return _edit(*_of(caller), conversation_id, message_id, body)

    @router.post(
        f"{base}/messages/{{message_id}}/send",
        name=f"{side.name}_send",
        response_model=MessageOut,
        summary="Send one of your drafts",
        responses=_errors(400, 403, 404, 409),
    )
    def send(
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        caller: Caller = side.rule(WRITE),
    ) -> MessageOut:
        with keeping_audit():
            return _send(*_of(caller), conversation_id, message_id)

    @router.post(
        f"{base}/messages/{{message_id}}/attachments",
        name=f"{side.name}_attach",
        status_code=201,
        response_model=MessageOut,
        summary="Attach a file from the device to one of your drafts",
        openapi_extra=_ATTACH_BODY,
        responses=_errors(400, 404, 409, 413, 415),
    )
    async def attach(
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        request: Request,
        header: str | None = Depends(side.header),
        principal: Principal = side.auth,
    ) -> MessageOut:
        return await _attach(request, principal, conversation_id, message_id, header)

    @router.get(
        f"{base}/attachments/{{attachment_id}}/content",
        name=f"{side.name}_attachment",
        response_class=Response,
        summary="Download an attachment (audited)",
        responses={**file_responses(SERVED_TYPES, "The attachment's bytes."), **_errors(404)},
    )
    def attachment(
        conversation_id: uuid.UUID,
        attachment_id: uuid.UUID,
        caller: Caller = side.rule(READ),
    ) -> Response:
        with keeping_audit():
            return _download(*_of(caller), conversation_id, attachment_id)


# -- the holder side ----------------------------------------------------------------------------


@router.get(
    "/me/conversations",
    response_model=list[ConversationOut],
    summary="The space's conversations, most recent first (SRV-1)",
    responses=_errors(404),
)
def me_list(acting: Acting = acting_on(READ)) -> list[ConversationOut]:
    ctx, holder = _of(acting)
    with keeping_audit():
        return _list(ctx, holder, None)


@router.post(
    "/me/conversations",
    status_code=201,
    response_model=ConversationOut,
    summary="Write first to a pharmacy that dispensed to you (SRV-1)",
    responses=_errors(400, 403, 404, 409, 413),
)
def me_start(body: ConversationIn, acting: Acting = acting_on(WRITE)) -> ConversationOut:
    """Holders write first only to pharmacies (profession 21) that dispensed to them: a document
    they deposited in the space, or a reimbursement line naming them. Others write first."""
    if body.patient_id is not None and body.patient_id != acting.holder.id:
        raise InvalidInput("patient_id is for professionals; leave it out.", field="patient_id")
    with keeping_audit():
        return _start(_context(acting), acting.holder, body, acting.holder)


@router.get(
    "/me/messaging/pharmacies",
    response_model=list[PharmacyOut],
    summary="The pharmacies you may write to first (SRV-1)",
    responses=_errors(404),
)
def me_pharmacies(acting: Acting = acting_on(READ)) -> list[PharmacyOut]:
    found = parties.pharmacies(_context(acting), acting.holder)
    return [PharmacyOut(rpps=p.rpps, name=p.name) for p in found]


_conversation_routes(
    _Side("me", acting_on, HOLDER_UPLOADING, _space_header, "Delete a conversation for your side only (SRV-1)",
          "Reply (or save a draft reply); refused with 409 once a professional ended it")
)  # fmt: skip


@router.post(
    "/me/conversations/{conversation_id}/attachments/{attachment_id}/save",
    status_code=201,
    response_model=SavedDocumentOut,
    summary="Save an attachment into the space's documents (SRV-1)",
    responses=_errors(400, 404, 409, 413),
)
def me_save_attachment(
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    acting: Acting = acting_on("documents.upload"),
) -> SavedDocumentOut:
    with keeping_audit():
        doc = save_attachment(_context(acting), conversation_id, attachment_id, space=acting.holder)
    return SavedDocumentOut(document_id=doc.id)


# -- professionals -------------------------------------------------------------------------------


@router.get(
    "/pro/conversations",
    response_model=list[ConversationOut],
    summary="Your conversations with patients, most recent first (SRV-1)",
    responses=_errors(404),
)
def pro_list(
    patient: Annotated[uuid.UUID | None, Query(description="Only this patient's.")] = None,
    caller: Caller = PRO_CALLER,
) -> list[ConversationOut]:
    holder = account_service.holder(caller.session, patient) if patient is not None else None
    if patient is not None and holder is None:
        raise NotFound("No such patient.")
    with keeping_audit():
        return _list(_context(caller), None, holder)


@router.post(
    "/pro/conversations",
    status_code=201,
    response_model=ConversationOut,
    summary="Write to a patient (ID-3: qualified identity; SRV-1: a space you may access)",
    responses=_errors(400, 403, 404, 409, 413),
)
def pro_start(body: ConversationIn, caller: Caller = PRO_CALLER) -> ConversationOut:
    """Other professionals of the patient's care team may be put in to or cc (by RPPS)."""
    if body.patient_id is None:
        raise InvalidInput("patient_id is required.", field="patient_id")
    holder = account_service.holder(caller.session, body.patient_id)
    if holder is None:
        raise NotFound("No such patient.")
    with keeping_audit():
        return _start(_context(caller), holder, body, None)


_conversation_routes(
    _Side("pro", lambda _action: PRO_CALLER, PRO_UPLOADING, _no_header, "Delete a conversation for yourself only (SRV-1)",
          "Write in a conversation (or save a draft)")
)  # fmt: skip


@router.post(
    "/pro/conversations/{conversation_id}/end",
    response_model=ConversationOut,
    summary="End a conversation: replies are refused from then on (SRV-1)",
    responses=_errors(403, 404, 409),
)
def pro_end(conversation_id: uuid.UUID, caller: Caller = PRO_CALLER) -> ConversationOut:
    ctx = _context(caller)
    with keeping_audit():
        conversations.end(ctx, conversation_id)
        ctx.session.flush()
        return _read_back(ctx, conversation_id, None)
