"""The holder's access controls: care team, blocks, administrators, emergency switches and grants."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class CareRelationship(Base):
    """A professional in (or blocked from) a holder's care team (rules ACC-1, ACC-3, ACC-4).

    status: "declared" (treating the holder, consent collected during care), "authorised" (by the
    holder), "blocked", or "none" (unblocked: ACC-3, unblocking does not restore past authorisation).
    is_gp is set only by the holder's confirmation of a physician's proposal (`gp_proposed_at`).
    """

    __tablename__ = "care_relationships"
    __table_args__ = (
        Index("uq_care_relationships_pair", "holder_id", "professional_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("holders.id", ondelete="CASCADE"))
    professional_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("professionals.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12))
    administrator: Mapped[bool] = mapped_column(Boolean, default=False)  # ACC-4
    is_gp: Mapped[bool] = mapped_column(Boolean, default=False)  # ACC-4: médecin traitant
    # ACC-4: this physician proposed to be the GP; nothing changes until the holder confirms.
    gp_proposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    declared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    # ACC-8: the holder is told at the first access of each professional.
    first_access_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EmergencySettings(Base):
    """The holder's three independent switches (ACC-6); absent row = all allowed (the defaults)."""

    __tablename__ = "emergency_settings"

    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
    )
    regulator: Mapped[bool] = mapped_column(Boolean, default=True)
    emergency: Mapped[bool] = mapped_column(Boolean, default=True)
    masked_in_emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class EmergencyGrant(Base):
    """A time-boxed break-the-glass (mode "emergency") or regulation access (ACC-5).

    The reason may describe the patient's condition: it is sealed under the holder's key.
    """

    __tablename__ = "emergency_grants"
    __table_args__ = (
        Index("ix_emergency_grants_lookup", "holder_id", "professional_id", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("holders.id", ondelete="CASCADE"))
    professional_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("professionals.id", ondelete="CASCADE")
    )
    mode: Mapped[str] = mapped_column(String(12))  # emergency | regulation
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AccessReport(Base):
    """A holder's report of a suspicious access (ACC-8), pointing at an audit entry."""

    __tablename__ = "access_reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    audit_entry_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    status: Mapped[str] = mapped_column(String(12), default="open")


class TimelineSettings(Base):
    """The visibility of the holder's health history (issue 7 item 4, ACC-7); absent row = the
    ACC-7 default, visible to professionals who reach the space. Not health data: one switch."""

    __tablename__ = "timeline_settings"

    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
    )
    visible_to_professionals: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    changed_by: Mapped[str] = mapped_column(String(64))  # Principal.ref
