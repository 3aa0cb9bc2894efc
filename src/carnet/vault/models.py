"""Stored key material: one wrapped data key per holder, never the key in clear."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class DataKey(Base):
    """A holder's data key, wrapped by a master key. Deleting it shreds the holder's data (LC-8)."""

    __tablename__ = "data_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), unique=True
    )
    master_key_id: Mapped[str] = mapped_column(String(16), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    rewrapped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VaultMeta(Base):
    """Which master key this database expects, so a wrong key is refused at start-up."""

    __tablename__ = "vault_meta"

    id: Mapped[int] = mapped_column(primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(16))
    check_value: Mapped[bytes] = mapped_column(LargeBinary)


class SystemKey(Base):
    """A service-wide secret wrapped by the master key, e.g. the key of the keyed hashes that
    protect provisional codes and tombstones. Re-wrapped by `carnet keys rotate` like data keys."""

    __tablename__ = "system_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(16))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
