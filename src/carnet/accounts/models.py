"""Holders and their spaces, the people acting on them, and what identifies them.

A holder row is the space: its state machine (rules LC-1…LC-8) lives in `accounts.rules`, its
transitions in `accounts.service`. Personal traits live here in clear (they are needed to find a
person); health data never does. Purge deletes the row and leaves only a `Tombstone` (LC-8).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
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


class Holder(Base):
    """A person and their health space; identified by the INS (rule ID-1)."""

    __tablename__ = "holders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    nir: Mapped[str] = mapped_column(String(15), unique=True)
    # rule ID-3: deposits and messages need an identity checked against the insurer's register.
    ins_qualified: Mapped[bool] = mapped_column(Boolean, default=True)
    birth_name: Mapped[str] = mapped_column(String(100))
    first_names: Mapped[str] = mapped_column(String(200))
    # Indexed for the daily majority job (REP-3).
    birth_date: Mapped[dt.date] = mapped_column(Date, index=True)
    sex: Mapped[str] = mapped_column(String(1))
    birth_place_insee: Mapped[str] = mapped_column(String(5), default="")
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(30), nullable=True)
    postal_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    deceased_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)

    state: Mapped[str] = mapped_column(String(20), default="notified", index=True)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    notified_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # LC-1: notice date + 6 weeks; the jobs run opens the space once it has passed (LC-3).
    opposition_deadline: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspended_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # LC-5: archive kept 10 years after closing, or purged at the next jobs run on request.
    purge_due_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    # LC-3: the holder may oppose the migration of an old DMP record too.
    dmp_migration_opposed: Mapped[bool] = mapped_column(Boolean, default=False)

    username: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Unused since wrong codes count per client, never per person (LC-2, `auth.throttle`): a lock
    # per person let strangers lock anyone out. Kept so that no migration rebuilds this table.
    code_failures: Mapped[int] = mapped_column(Integer, default=0)
    code_locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Digest of the last roster row applied, so re-running a roster recognises unchanged people.
    roster_digest: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ProvisionalCode(Base):
    """A single-use, expiring code sent with the notice; stored only as a keyed hash (LC-1, LC-4)."""

    __tablename__ = "provisional_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    # "notice" (LC-1), or "renewal": asked for by a closed or opposed person wanting a space back
    # (LC-2, LC-5); only a renewal code reopens such a space, at activation.
    purpose: Mapped[str] = mapped_column(String(12), default="notice")
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when a newer code replaces this one, or the space leaves the states where codes apply.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Representation(Base):
    """A legal representative of a minor or protected adult (rules REP-1, REP-5, LC-7).

    From the roster the link is `accepted` at once (the insurer knows the parents); an invitation
    of the second representative by the managing one is `pending` until accepted, refused or expired.
    `representative_nir` keeps the roster's reference until that person's space exists.
    """

    __tablename__ = "representations"
    __table_args__ = (
        Index("ix_representations_representative", "representative_id", "status"),
        Index("uq_representations_minor_nir", "minor_id", "representative_nir", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    minor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    representative_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), nullable=True
    )
    representative_nir: Mapped[str] = mapped_column(String(15))
    role: Mapped[str] = mapped_column(String(10))  # managing | second | guardian
    status: Mapped[str] = mapped_column(
        String(10)
    )  # pending | accepted | refused | expired | ended
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Caregiving(Base):
    """A caregiver helping a holder (rule REP-4: at most 3 per holder, 5 per caregiver)."""

    __tablename__ = "caregivings"
    __table_args__ = (Index("ix_caregivings_caregiver", "caregiver_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    caregiver_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(
        String(10)
    )  # pending | accepted | refused | revoked | expired
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NotificationPreference(Base):
    """Which e-mails a space's people want beyond new documents (those are DOC-7's
    `DocumentPreference`): new messages, appointment reminders, accesses to the space. No row:
    every one on. Security notices (login codes, password changes, emergency accesses, ACC-6)
    are not switchable and have no column here."""

    __tablename__ = "notification_preferences"

    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
    )
    messages: Mapped[bool] = mapped_column(Boolean, default=True)
    appointments: Mapped[bool] = mapped_column(Boolean, default=True)
    accesses: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class HolderWish(Base):
    """Contacts and wishes (emergency contacts, trusted person, organ donation, advance directives).

    The content is sealed under the holder's data key; only its kind is in clear.
    """

    __tablename__ = "holder_wishes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(String(64))


class Tombstone(Base):
    """What remains of a purged space (LC-8): a keyed hash of the INS, dates and a reason code."""

    __tablename__ = "tombstones"

    nir_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    purged_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(40))


class PostalLetter(Base):
    """A notice to print and post (no e-mail known, rule LC-1). Its content, which carries the
    provisional code, is sealed under a system key until the operator confirms its batch printed
    (`printed_at`), then wiped: until then a purge can withdraw a letter from its batch and have
    the others rendered again (LC-8)."""

    __tablename__ = "postal_letters"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    rendered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    batch_file: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    printed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # No postal address known for the addressee: nothing is sealed or printed, the operator is
    # told (`carnet letters undeliverable`) and marks it handled once the person is reached.
    undeliverable_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, nullable=True, index=True
    )
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OppositionProof(Base):
    """The proof of an opposition (LC-2), downloadable without login through its random id."""

    __tablename__ = "opposition_proofs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    opposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class SuspensionObjection(Base):
    """LC-6: the holder (or a minor's representative) objects to a suspension within 6 weeks;
    an operator upholds the suspension or lifts it. One objection per suspension (the day it
    began). The person's note and the operator's are free text, sealed under the holder's key."""

    __tablename__ = "suspension_objections"
    __table_args__ = (
        Index("uq_suspension_objections_once", "holder_id", "suspended_on", unique=True),
        Index("ix_suspension_objections_pending", "decided_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("holders.id", ondelete="CASCADE"))
    suspended_on: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)  # the last day an objection was possible
    reason: Mapped[str] = mapped_column(String(30))  # a code from `rules.OBJECTION_REASONS`
    sealed_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(10), nullable=True)  # uphold | lift
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sealed_decision_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class Professional(Base):
    """A registered health professional: RPPS number and TRE_G15 profession (rule ID-2)."""

    __tablename__ = "professionals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    profession_code: Mapped[str] = mapped_column(String(4))
    specialty: Mapped[str | None] = mapped_column(String(100), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # The emergency-call regulating physician (SAMU, centre 15) reads in regulation mode (ACC-5).
    is_regulator: Mapped[bool] = mapped_column(Boolean, default=False)
    # ACC-3: "occupational" or "fire-brigade" physicians need the holder's express authorisation.
    practice: Mapped[str | None] = mapped_column(String(20), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class Operator(Base):
    """The insurer's staff member running the platform."""

    __tablename__ = "operators"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
