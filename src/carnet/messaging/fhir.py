"""Messages as FHIR R4 `Communication` for professionals' software (rules SRV-1, ID-1…ID-3, ACC-8).

One sent message is one Communication: the patient as `subject`, the conversation's subject as
`topic.text`, the conversation id as an identifier, the previous message as `inResponseTo`, the text
and attachments (by URL, never inline) as `payload`. The reader's own drafts (the JSON API shows
them to their author only) are Communications with status `preparation` and no `sent`; nobody
else's draft is ever emitted. Reading, searching and creating all go through the messaging services,
so the decision point, the audit and the notices are the same as the JSON API's. The same
resources make the Communications of `$everything` and of the export (SRV-5,
`patient_communications`). Valid against the official R4 JSON schema (`tests/messaging/test_fhir.py`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from carnet.access import lookups
from carnet.access.rules import decide_message_send_fhir
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM
from carnet.auth.principal import PrincipalKind
from carnet.errors import Forbidden, InvalidInput, NotFound
from carnet.fhir import search
from carnet.fhir.parse import Problems
from carnet.fhir.resources import Json, instant
from carnet.messaging import conversations, reading
from carnet.messaging.context import (
    Context,
    ConversationView,
    MessageView,
    NewAttachment,
    NewConversation,
    NewMessage,
    PartyView,
)
from carnet.messaging.models import HOLDER, SENT

CONVERSATION_SYSTEM = "https://carnet.example/fhir/NamingSystem/conversation"
PARAMETERS = frozenset({"patient", "patient.identifier", "_format", "_id", *search.PAGING})


def _party_reference(view: PartyView, holder_id: uuid.UUID) -> Json:
    if view.party == HOLDER:
        return {"reference": f"Patient/{holder_id}", "display": view.name}
    return {
        "type": "Practitioner",
        "identifier": {"system": RPPS_SYSTEM, "value": view.rpps or ""},
        "display": view.name,
    }


def communication(
    conversation: ConversationView,
    message: MessageView,
    previous: uuid.UUID | None,
    api_base: str,
) -> Json:
    """One message as an R4 Communication: status completed once sent, preparation while it is
    its author's draft (SRV-1)."""
    if message.author_party == HOLDER:
        sender: Json = {"reference": f"Patient/{conversation.holder_id}"}
        if message.author_relation != "self":  # REP-4: signed as representative or caregiver
            sender = {"display": f"{message.author_name} ({message.author_relation})"}
        else:
            sender["display"] = message.author_name
    else:
        sender = {
            "type": "Practitioner",
            "identifier": {"system": RPPS_SYSTEM, "value": message.author_rpps or ""},
            "display": message.author_name,
        }
    recipients = [
        _party_reference(p, conversation.holder_id)
        for p in conversation.participants
        if not (
            p.party == message.author_party and (p.party == HOLDER or p.rpps == message.author_rpps)
        )
    ]
    payload: list[Json] = [{"contentString": message.body}] if message.body else []
    for item in message.attachments:
        payload.append(
            {
                "contentAttachment": {
                    "contentType": item.mime_type,
                    "size": item.size,
                    "title": item.name,
                    "url": f"{api_base}/conversations/{conversation.id}/attachments/{item.id}"
                    "/content",
                }
            }
        )
    resource: Json = {
        "resourceType": "Communication",
        "id": str(message.id),
        "identifier": [{"system": CONVERSATION_SYSTEM, "value": str(conversation.id)}],
        "status": "completed" if message.status == SENT else "preparation",
        "subject": {"reference": f"Patient/{conversation.holder_id}"},
        "topic": {"text": conversation.subject},
        "sender": sender,
    }
    if message.sent_at is not None:
        resource["sent"] = instant(message.sent_at)
    if recipients:
        resource["recipient"] = recipients
    if previous is not None:
        resource["inResponseTo"] = [{"reference": f"Communication/{previous}"}]
    if payload:
        resource["payload"] = payload
    return resource


def _api_base(ctx: Context) -> str:
    side = "me" if ctx.principal.kind is PrincipalKind.HOLDER else "pro"
    return f"{ctx.settings.base_url.rstrip('/')}/api/v1/{side}"


def _emitted(
    view: ConversationView,
) -> list[tuple[MessageView, uuid.UUID | None]]:
    """The messages of a conversation view, oldest first, each with the sent message it answers.
    The view holds only what the reader may see: sent messages and the reader's own drafts (a
    draft answers the last message sent before it)."""
    out: list[tuple[MessageView, uuid.UUID | None]] = []
    previous: uuid.UUID | None = None
    for message in view.messages:
        if message.status != SENT and not message.mine:
            continue  # pragma: no cover - the service never shows another's draft
        out.append((message, previous))
        if message.status == SENT:
            previous = message.id
    return out


def _space(ctx: Context, holder: Holder) -> Holder | None:
    """The holder side reads through FHIR the spaces it manages (REP-1…REP-5); 404 otherwise."""
    if ctx.principal.kind is not PrincipalKind.HOLDER:
        return None
    found, _relation = family.resolve_space(
        ctx.session, ctx.principal, str(holder.id), "messages.read", settings=ctx.settings
    )
    return found


def read_communication(ctx: Context, message_id: uuid.UUID) -> Json:
    """`GET /fhir/Communication/{id}`: one message (sent, or the caller's own draft) of a
    conversation the caller may read."""
    conversation_id = reading.conversation_of_message(ctx.session, message_id)
    holder = account_service.holder(ctx.session, reading.holder_of(ctx.session, conversation_id))
    if holder is None:
        raise NotFound("No such message.")
    view = reading.read(ctx, conversation_id, space=_space(ctx, holder))
    for message, previous in _emitted(view):
        if message.id == message_id:
            return communication(view, message, previous, _api_base(ctx))
    raise NotFound("No such message.")


@dataclass(frozen=True)
class AttachmentRef:
    """Where an attachment of an emitted Communication is read (`attachment_content`)."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    attachment_id: uuid.UUID
    name: str


@dataclass
class PatientMessages:
    """A patient's messages as the reader sees them: Communications, oldest first within each
    conversation (conversations most recent first), and their attachments."""

    space: Holder | None  # the holder side's space (None for professionals)
    resources: list[Json] = field(default_factory=list)
    attachments: list[AttachmentRef] = field(default_factory=list)


def patient_communications(ctx: Context, holder: Holder) -> PatientMessages:
    """Every message of `holder`'s conversations the caller may read (holder side: the space's,
    REP-1…REP-5 through `family.resolve_space`; a professional: the conversations they take part
    in, SRV-1), the caller's own drafts included. One `message.list` audit entry (ACC-8); read
    receipts do not move. The search endpoint, `$everything` and the export (SRV-5) share it."""
    space = _space(ctx, holder)
    views = reading.every_conversation(
        ctx, space=space, patient=None if space is not None else holder
    )
    api_base = _api_base(ctx)
    found = PatientMessages(space)
    for view in views:
        for message, previous in _emitted(view):
            found.resources.append(communication(view, message, previous, api_base))
            found.attachments.extend(
                AttachmentRef(view.id, message.id, item.id, item.name)
                for item in message.attachments
            )
    return found


def search_communications(
    ctx: Context, params: list[tuple[str, str]], base: str, *, prefer: str | None = None
) -> Json:
    """`GET /fhir/Communication?patient=…`: the messages of that patient's conversations the caller
    takes part in (holder side: all of the space's), oldest first within each conversation; the
    caller's own drafts as `preparation`."""
    params, ignored = search.received(params, PARAMETERS, prefer)
    problems = Problems()
    for name in sorted({name for name, _ in params if name not in PARAMETERS}):
        problems.add(name, f"Unsupported search parameter {name!r}.", "not-supported")
    patient: search.PatientCriterion | None = None
    for name, value in params:
        if name == "patient":
            patient = search.patient_reference(name, value, problems)
        elif name == "patient.identifier":
            patient = search.patient_identifier(name, value, problems)
    if patient is None and not problems:
        problems.add(
            "patient", "A patient is required (patient or patient.identifier).", "required"
        )
    count, offset = search.paging(params, problems)
    common = search.common_filter(params, ctx.settings.timezone, problems)
    problems.raise_if_any()
    assert patient is not None
    holder: Holder | None = (
        account_service.holder(ctx.session, patient.holder_id)
        if patient.holder_id is not None
        else lookups.holder_by_nir(ctx.session, patient.nir or "")
    )
    if holder is None:
        raise NotFound("No such patient.")
    found = patient_communications(ctx, holder)
    entries = [(f"{base}/Communication/{r['id']}", r) for r in found.resources if common(r)]
    return search.page_of(f"{base}/Communication", params, entries, count, offset, ignored=ignored)


# -- create: sending a message from professionals' software ------------------------------------


def _reference_id(value: Any, kind: str, where: str) -> uuid.UUID:
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str):
        raise InvalidInput(f"Expected a reference {kind}/<id>.", field=where)
    tail = reference.rstrip("/").split("/")
    try:
        if len(tail) < 2 or tail[-2] != kind:
            raise ValueError(reference)
        return uuid.UUID(tail[-1])
    except ValueError:
        raise InvalidInput(f"Expected a reference {kind}/<id>.", field=where) from None


def _subject(session: Session, value: Any) -> Holder:
    """ID-1: the patient by Patient/<id> or by INS-NIR identifier."""
    identifier = value.get("identifier") if isinstance(value, dict) else None
    if isinstance(identifier, dict):
        if identifier.get("system") != INS_NIR_SYSTEM or not isinstance(
            identifier.get("value"), str
        ):
            raise InvalidInput(
                f"Communication.subject.identifier must be INS-NIR ({INS_NIR_SYSTEM}).",
                field="Communication.subject",
            )
        return lookups.holder_by_nir(session, identifier["value"])
    holder = account_service.holder(
        session, _reference_id(value, "Patient", "Communication.subject")
    )
    if holder is None:
        raise NotFound("No patient has this id in Carnet.")
    return holder


def _payload(ctx: Context, resource: Json) -> NewMessage:
    items = resource.get("payload")
    if not isinstance(items, list) or not items:
        raise InvalidInput("Communication.payload is required.", field="Communication.payload")
    texts: list[str] = []
    files: list[NewAttachment] = []
    for index, item in enumerate(items):
        where = f"Communication.payload[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput("A payload is an object.", field=where)
        if isinstance(item.get("contentString"), str):
            texts.append(item["contentString"])
        elif isinstance(item.get("contentAttachment"), dict):
            attachment = item["contentAttachment"]
            try:
                content = base64.b64decode(str(attachment.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("contentAttachment.data is not base64.", field=where) from None
            files.append(
                NewAttachment(
                    content, str(attachment.get("title") or ""), attachment.get("contentType")
                )
            )
        else:
            raise InvalidInput(
                "Only contentString and contentAttachment are accepted.", field=where
            )
    return NewMessage(body="\n\n".join(texts), attachments=files)


def create_communication(ctx: Context, resource: Any) -> Json:
    """`POST /fhir/Communication`: send a message. With `inResponseTo` a reply in that message's
    conversation; otherwise a new conversation with `subject` (the patient, ID-3), `topic.text`
    and practitioners (RPPS) in `recipient`. Drafts are written in the JSON API: what is
    created here is sent."""
    if not decide_message_send_fhir(ctx.principal.kind):
        raise Forbidden("Only professionals send messages through FHIR.")
    if not isinstance(resource, dict) or resource.get("resourceType") != "Communication":
        raise InvalidInput("Expected a Communication resource.", field="Communication")
    if resource.get("status") not in ("completed", "in-progress"):
        raise InvalidInput(
            "Communication.status is completed (a message is sent).", field="Communication.status"
        )
    new = _payload(ctx, resource)
    replied = resource.get("inResponseTo")
    if replied:
        if not isinstance(replied, list):
            raise InvalidInput("inResponseTo is a list.", field="Communication.inResponseTo")
        previous = _reference_id(replied[0], "Communication", "Communication.inResponseTo[0]")
        conversation_id = reading.conversation_of_message(ctx.session, previous)
        message = conversations.reply(ctx, conversation_id, new)
    else:
        holder = _subject(ctx.session, resource.get("subject"))
        topic = resource.get("topic")
        subject = topic.get("text") if isinstance(topic, dict) else None
        if not isinstance(subject, str):
            raise InvalidInput("Communication.topic.text (the subject) is required.",
                               field="Communication.topic")  # fmt: skip
        cc: list[str] = []
        for index, recipient in enumerate(resource.get("recipient") or []):
            identifier = recipient.get("identifier") if isinstance(recipient, dict) else None
            if isinstance(identifier, dict) and identifier.get("system") == RPPS_SYSTEM:
                cc.append(str(identifier.get("value", "")))
            elif not (
                isinstance(recipient, dict)
                and str(recipient.get("reference", "")).endswith(f"Patient/{holder.id}")
            ):
                raise InvalidInput(
                    "A recipient is the patient or a Practitioner by RPPS identifier.",
                    field=f"Communication.recipient[{index}]",
                )
        conversation, message = conversations.start(
            ctx, holder, NewConversation(subject=subject, message=new, cc=cc)
        )
        conversation_id = conversation.id
    ctx.session.flush()
    view = reading.written_conversation(ctx, conversation_id, space=None)
    for sent, before in _emitted(view):
        if sent.id == message.id:
            return communication(view, sent, before, _api_base(ctx))
    raise NotFound("No such message.")  # pragma: no cover - just written
