"""API bearer tokens: random, stored only as hashes, expiring, revocable."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # SHA-256 of the token: tokens carry 256 random bits, so a fast hash is enough and a stolen
    # table gives nothing usable.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
