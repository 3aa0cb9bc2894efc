"""Conversations, their participants, messages and attachments (rule SRV-1).

Everything that says what a conversation is about is sealed under the holder's data key: the
subject (on the conversation), each body (on the message), each attachment's name (and its content,
a blob). Who talks to whom, states, dates and sizes stay in clear: the decision point, the lists,
read receipts and the mailbox quota need them in SQL. Every row carries the holder id, so a purge
(LC-8) finds them all (foreign-key cascade) and `carnet fsck` finds attachment blobs.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id

# Conversation.status
DRAFT = "draft"  # its first message is still a draft: only its author sees it
OPEN = "open"
ENDED = "ended"  # SRV-1: ended by a professional, replies are refused

# Participant.party
HOLDER = "holder"  # the holder's space: the holder, their representatives and caregivers
PROFESSIONAL = "professional"

# Participant.role
TO = "to"
CC = "cc"

# Message.status
SENT = "sent"


class Conversation(Base):
    """A conversation between one holder's space and one or more professionals (SRV-1)."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_holder_last", "holder_id", "last_message_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("holders.id", ondelete="CASCADE"))
    started_by_party: Mapped[str] = mapped_column(String(12))  # holder | professional
    started_by_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # principal id
    subject_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(8), default=OPEN)  # draft | open | ended
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_message_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class Participant(Base):
    """One party of a conversation: the holder's space, or a professional (to or cc).

    `read_at` is the party's read receipt (a message is read by a party when its `read_at` is at
    or after the message's `sent_at`); `deleted_at` hides from this party only what was there when
    they deleted the conversation (SRV-1: delete a conversation for oneself).
    """

    __tablename__ = "conversation_participants"
    __table_args__ = (
        Index("uq_participants_party", "conversation_id", "party", "professional_id", unique=True),
        Index("ix_participants_professional", "professional_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    party: Mapped[str] = mapped_column(String(12))  # holder | professional
    professional_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("professionals.id", ondelete="CASCADE"), nullable=True
    )
    role: Mapped[str] = mapped_column(String(4))  # to | cc (the starter is "to" too)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Message(Base):
    """One message; a draft until sent (SRV-1). `size` counts towards the mailbox quota."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "sent_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    author_party: Mapped[str] = mapped_column(String(12))  # holder | professional
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # principal id
    # How the holder side signed (SRV-1, REP-4): self, representative or caregiver.
    author_relation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(6))  # draft | sent
    body_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Attachment(Base):
    """A file attached to a message, from the device or copied from the holder's documents."""

    __tablename__ = "message_attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(10))  # device | document
    document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    name_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    mime_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
