"""Export requests (SRV-5): one row per "download all my data" request of a holder.

The ZIP itself is stored encrypted in the vault blob store under the holder's data key, bound to
the request id and the purpose "export" (`PURPOSE`); the row keeps only its blob id, state and
dates. It is refused for download once `expires_at` has passed, and the expiry job deletes the blob.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id

PURPOSE = "export"  # the vault purpose of the ZIP blob

PENDING = "pending"
READY = "ready"
FAILED = "failed"
EXPIRED = "expired"
STATUSES = (PENDING, READY, FAILED, EXPIRED)


class ExportRequest(Base):
    __tablename__ = "export_requests"
    __table_args__ = (Index("ix_export_requests_status", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[str] = mapped_column(String(64))  # Principal.ref
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    ready_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
