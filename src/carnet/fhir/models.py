"""Binaries posted on their own (`POST /fhir/Binary`) before the DocumentReference that claims them.

The bytes are sealed in the blob store under the named patient's key (purpose "staged-binary"), like
any other content of that space; the row says whose they are and who may claim them. A claim copies
the bytes into the new document and deletes the staged blob once the deposit commits. Binaries not
claimed within 24 hours are for `carnet fsck` to clean (`created_at`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id

STAGED_PURPOSE = "staged-binary"
# A staged Binary must be claimed by a DocumentReference within this delay.
STAGED_LIFETIME = dt.timedelta(hours=24)


class StagedBinary(Base):
    """Content waiting for its DocumentReference (MHD: Binary created before the reference)."""

    __tablename__ = "fhir_staged_binaries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    # Only the principal who posted it may claim it.
    created_by_kind: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
