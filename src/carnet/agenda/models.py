"""Appointments, their reminders and the holder's agenda settings (SRV-2, LC-8).

What an appointment says (title, location, professional, notes) is JSON sealed under the holder's
data key, bound to the row and the purpose "agenda"; in clear are only the instants (ordering,
date search, reminders), the time zone, and who entered it (`author_kind`: holder,
representative, caregiver, professional or app; `author_id` the principal's id). Reminders carry
no content at all: their e-mail only says that there is an appointment, and when.

The iCalendar feed is a secret URL: only the SHA-256 of its token is kept.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id

PENDING = "pending"
SENT = "sent"
SKIPPED = "skipped"  # the appointment had passed, or was gone, when the reminder came due


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_holder_start", "holder_id", "start_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE")
    )  # indexed by ix_appointments_holder_start (holder_id first)
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # holder, representative, caregiver, professional, app (SRV-2: who may enter appointments)
    author_kind: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class Reminder(Base):
    """One reminder e-mail of an appointment, due `offset_minutes` before its start."""

    __tablename__ = "appointment_reminders"
    __table_args__ = (Index("ix_appointment_reminders_status_due", "status", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    offset_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AgendaSettings(Base):
    """The holder's agenda switches: the prevention calendar (SRV-2) and the iCalendar feed."""

    __tablename__ = "agenda_settings"

    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
    )
    prevention: Mapped[bool] = mapped_column(Boolean, default=True)
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    feed_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
