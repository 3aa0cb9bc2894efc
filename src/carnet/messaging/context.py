"""What a messaging call carries in and gets back (SRV-1, ID-3): the request's context, a new
conversation or message, and the views of conversations, messages, parties and attachments.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.messaging.models import HOLDER, PROFESSIONAL
from carnet.vault.service import Vault

SUBJECT = "message-subject"


BODY = "message-body"


ATTACHMENT = "message-attachment"


ATTACHMENT_NAME = "message-attachment-name"


TARGET = "Communication"


NOT_FOUND = "No such conversation."


@dataclass
class Context:
    """Who acts, with what; one per request."""

    session: Session
    vault: Vault
    settings: Settings
    principal: Principal
    request_id: str | None = None

    @property
    def party(self) -> str:
        return HOLDER if self.principal.kind is PrincipalKind.HOLDER else PROFESSIONAL


@dataclass
class NewAttachment:
    """A file from the device: its real type is sniffed (DOC-1 types)."""

    content: bytes
    name: str | None = None
    declared_type: str | None = None


@dataclass
class NewMessage:
    body: str
    attachments: list[NewAttachment] = field(default_factory=list)
    document_ids: list[uuid.UUID] = field(default_factory=list)  # the holder's documents
    draft: bool = False


@dataclass
class NewConversation:
    subject: str
    message: NewMessage
    to: list[str] = field(default_factory=list)  # RPPS numbers of professionals
    cc: list[str] = field(default_factory=list)


@dataclass
class PartyView:
    party: str
    role: str
    name: str
    professional_id: uuid.UUID | None
    rpps: str | None
    profession: str | None
    read_at: dt.datetime | None


@dataclass
class AttachmentView:
    id: uuid.UUID
    name: str
    mime_type: str
    size: int
    source: str


@dataclass
class MessageView:
    id: uuid.UUID
    conversation_id: uuid.UUID
    author_party: str
    author_name: str
    author_relation: str
    author_rpps: str | None
    mine: bool
    status: str
    body: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attachments: list[AttachmentView]
    read_by: list[PartyView]


@dataclass
class ConversationView:
    id: uuid.UUID
    holder_id: uuid.UUID
    holder_name: str
    subject: str
    status: str
    started_by_party: str
    created_at: dt.datetime
    last_message_at: dt.datetime
    ended_at: dt.datetime | None
    participants: list[PartyView]
    unread: int
    messages: list[MessageView] = field(default_factory=list)
