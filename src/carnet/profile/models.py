"""Profile entries and their history, sealed under the holder's data key (ACC-7, ACC-8, LC-8).

One `ProfileEntry` row per item of a section (an illness, a vaccination, a weight…). The content
is JSON sealed under the holder's key, bound to the row and the purpose "profile"; in clear are only
the section, the effective date (ordering and date search) and, for measurements only, the LOINC
code of the measured kind (coded search). Treatment (CIP/ATC) and vaccine codes stay sealed: they
say what the holder suffers from, and a holder's few hundred entries are filtered in Python.

Every change appends a `ProfileEntryVersion` (its own sealed copy of the content, who changed it,
acting as whom), so the history of changes and who made them is kept; deletion is soft
(`deleted_at`) and recorded as a version too.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class ProfileEntry(Base):
    __tablename__ = "profile_entries"
    __table_args__ = (Index("ix_profile_entries_holder_section", "holder_id", "section"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE")
    )  # indexed by ix_profile_entries_holder_section (holder_id first)
    section: Mapped[str] = mapped_column(String(30))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # LOINC of a measurement's kind only (never a treatment or vaccine code): see the module doc.
    code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    effective_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(String(64))  # Principal.ref
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProfileEntryVersion(Base):
    """One change of an entry: the content after it (sealed), when, by whom, acting as whom."""

    __tablename__ = "profile_entry_versions"
    __table_args__ = (
        Index("uq_profile_entry_versions_entry_version", "entry_id", "version", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profile_entries.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    change: Mapped[str] = mapped_column(String(10))  # create, update, delete
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    changed_by: Mapped[str] = mapped_column(String(64))  # Principal.ref
    # self, representative, caregiver, professional, regulator, app (access.rules.Relation)
    changed_as: Mapped[str] = mapped_column(String(20))


class MeasurementTarget(Base):
    """The holder's target for one measurement kind (issue 7): at most one per kind.

    The kind is in clear, like a measurement's LOINC code on `ProfileEntry` (it keys the target);
    the bounds and the note are sealed under the holder's key, bound to the row and the purpose
    "profile". Targets belong to the measurements section: private to the holder's side (ACC-7).
    """

    __tablename__ = "measurement_targets"
    __table_args__ = (
        Index("uq_measurement_targets_holder_kind", "holder_id", "kind", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE")
    )  # indexed by uq_measurement_targets_holder_kind (holder_id first)
    kind: Mapped[str] = mapped_column(String(30))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(String(64))  # Principal.ref
