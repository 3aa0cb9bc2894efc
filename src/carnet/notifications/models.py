"""The outbox table: one row per e-mail, written in the transaction of the event it reports."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENDING, SENT, FAILED)


class OutboxMessage(Base):
    """An e-mail to send. It exists if and only if the event it reports was committed.

    `next_attempt_at` is when a pending message becomes due; while a message is `sending` it is the
    end of the sender's lease, after which another delivery run may claim it again (crash recovery).
    """

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    kind: Mapped[str] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    # No foreign key: the outbox must not couple to the accounts schema; purge deletes by this id.
    holder_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(12), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # An error class or SMTP code only: server replies can quote the address or the message.
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
