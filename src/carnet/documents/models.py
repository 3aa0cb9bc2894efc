"""Documents and folders, and binaries staged for a deposit (FHIR `Binary`). Contents live
encrypted in the blob store; titles are sealed.

Codes (type, category, sensitivity, flags) stay in clear because searches and the access rules
filter on them in SQL; everything that says what a document is about in words is sealed.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class Document(Base):
    """One version of a document in a holder's space (rules DOC-1…DOC-7)."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_holder_date", "holder_id", "status", "care_date"),
        Index("uq_documents_holder_master", "holder_id", "master_identifier", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("holders.id", ondelete="CASCADE"))
    # Globally unique id of this version (MHD masterIdentifier, XDS uniqueId): makes deposits and
    # migrations idempotent.
    master_identifier: Mapped[str] = mapped_column(String(128))
    # The masterIdentifier's system when it is not the URI system (kept to be returned as sent).
    master_identifier_system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(20))  # professional | holder | dmp-migration
    author_kind: Mapped[str] = mapped_column(String(20))  # professional | holder
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    author_rpps: Mapped[str | None] = mapped_column(String(11), nullable=True)
    type_code: Mapped[str | None] = mapped_column(String(16), nullable=True)  # LOINC
    category: Mapped[str] = mapped_column(String(10), index=True)
    sensitivity: Mapped[str] = mapped_column(String(24))
    format_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    title_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    care_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    period_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deposited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # MHD context facilityType, practiceSetting, event and related as compact JSON: codes and
    # references only, free text is refused at deposit (migration 0020).
    context_codes: Mapped[str | None] = mapped_column(Text, nullable=True)

    mime_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(40))
    blob_id: Mapped[str] = mapped_column(String(32))
    original_name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    status: Mapped[str] = mapped_column(String(20), default="current")
    # current | superseded | entered-in-error   (DOC-6: versions are kept, never lost)
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)

    # DOC-2 confidentiality flags.
    masked: Mapped[bool] = mapped_column(Boolean, default=False)  # masked to professionals (DOC-3)
    invisible_to_patient: Mapped[bool] = mapped_column(Boolean, default=False)  # DOC-4
    invisible_to_representatives: Mapped[bool] = mapped_column(Boolean, default=False)  # REP-2
    # DOC-4: when an invisible-to-patient document becomes visible (deposit + 1 month, or release).
    visible_to_patient_from: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, nullable=True, index=True
    )
    awaiting_notice_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    visible_notice_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    not_deletable: Mapped[bool] = mapped_column(Boolean, default=False)
    folder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("folders.id", ondelete="SET NULL"), nullable=True
    )
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)


# The order a space's documents are listed in (`service._sorted`, "-date"): the first page is read
# from the index, not sorted from every document of the space (issue 14).
Index(
    "ix_documents_holder_listing",
    Document.holder_id,
    Document.pinned.desc(),
    Document.deposited_at.desc(),
    Document.id,
)
# Every column the read rule looks at (`access.filters.readable_documents`): a list's total is
# counted from this index alone, without visiting each document's row (issue 14).
Index(
    "ix_documents_holder_readable",
    Document.holder_id,
    Document.status,
    Document.sensitivity,
    Document.masked,
    Document.author_kind,
    Document.author_id,
    Document.invisible_to_patient,
    Document.visible_to_patient_from,
    Document.invisible_to_representatives,
)


class Folder(Base):
    """A holder's folder (DOC-6); its name is sealed."""

    __tablename__ = "folders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    name_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class DocumentPreference(Base):
    """The holder's default confidentiality for future documents (DOC-5)."""

    __tablename__ = "document_preferences"

    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
    )
    mask_new_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_new_documents: Mapped[bool] = mapped_column(Boolean, default=True)


STAGED_PURPOSE = "staged-binary"
# A staged Binary must be claimed by a DocumentReference within this delay.
STAGED_LIFETIME = dt.timedelta(hours=24)


class StagedBinary(Base):
    """Content waiting for its DocumentReference (MHD: Binary created before the reference,
    `POST /fhir/Binary`).

    The bytes are sealed in the blob store under the named patient's key (purpose
    "staged-binary"), like any other content of that space; the row says whose they are and who
    may claim them. A claim copies the bytes into the new document and deletes the staged blob
    once the deposit commits. Binaries not claimed within 24 hours are for `carnet fsck` to clean
    (`created_at`). The table keeps its name from when the FHIR package held it."""

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
