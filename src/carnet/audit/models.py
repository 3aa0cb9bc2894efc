"""Audit entries, chain heads and signed checkpoints.

One hash chain per space (`chain = "space:<holder id>"`) plus one for actions outside any space
(`"system"`), so appends for different holders never wait for each other.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class AuditEntry(Base):
    """Who did what, when, how and why, with ids and codes only (rule ACC-8).

    `detail` is free text that may describe care (an emergency reason): it is sealed under the
    holder's data key by the caller, so only its ciphertext is chained and it dies with the key.

    `hash` chains the entry's place (id, chain, seq, at) and `content_hash`, the hash of what it
    says (`rules.CONTENT_FIELDS`, salted). When a space is purged (LC-8) its entries keep only
    place, hashes and time: the content columns become NULL (typed `str` here because no live
    space ever reads such a row). Entries written before content hashes have `content_hash` NULL
    and verify the old way (`rules.legacy_entry_hash`).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("uq_audit_entries_chain_seq", "chain", "seq", unique=True),
        Index("ix_audit_entries_holder_at", "holder_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    chain: Mapped[str] = mapped_column(String(48))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=True)
    actor_id: Mapped[str] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(48), nullable=True)
    target_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    holder_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    mode: Mapped[str] = mapped_column(String(20), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last entry of each chain; its row lock orders appends to one space on PostgreSQL.

    `redacted`: the space was purged (LC-8); entries appended later (a read that was in flight)
    are stored without their content.

    `seq` is reserved by the append (`audit.service._lock_heads`); `hash` is set by the database
    when the entry of that seq is inserted (trigger `audit_head_follows`, migration 0018).
    """

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(48), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    checkpointed_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    redacted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditCheckpoint(Base):
    """A signed Merkle root over the chain heads that moved since the previous checkpoint.

    Checkpoints are chained too, so removing one is detected; truncating a chain behind a
    checkpoint is detected because the checkpoint names an entry that no longer exists.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    leaves: Mapped[str] = mapped_column(Text)
    root: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))
