"""The app catalogue (SRV-3) and what holders granted to apps (ACC-9).

Apps are OAuth2 clients listed by the operator. A consent is one holder's grant of some scopes to
one app for one space (their own or one they manage); authorization codes and tokens hang off it,
so disconnecting (revoking the consent) ends every token at once. Codes and tokens are stored as
SHA-256 hashes only (256 random bits each). Rows go with the space when it is purged (LC-8,
foreign-key cascade).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class App(Base):
    """A catalogue entry: an OAuth2 client (public with PKCE, or confidential with a secret)."""

    __tablename__ = "apps"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    publisher: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))  # apps.rules.STATUSES
    version: Mapped[str] = mapped_column(String(30))
    redirect_uris: Mapped[str] = mapped_column(Text)  # one per line
    scopes: Mapped[str] = mapped_column(Text)  # the listing: space-separated SMART scopes
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class AppConsent(Base):
    """A holder's consent to an app for a space (ACC-9), with the version and listing consented to.

    `revoked_at` is set when the holder disconnects, or when a fresh consent replaces it.
    """

    __tablename__ = "app_consents"
    __table_args__ = (Index("ix_app_consents_space_app", "holder_id", "app_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), index=True
    )
    holder_id: Mapped[uuid.UUID] = mapped_column(  # the space
        Uuid, ForeignKey("holders.id", ondelete="CASCADE")
    )
    granted_by: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[str] = mapped_column(Text)
    app_version: Mapped[str] = mapped_column(String(30))
    listing: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # SRV-3
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AppAuthorizationCode(Base):
    """A single-use authorization code (10 minutes), bound to the PKCE challenge (RFC 7636)."""

    __tablename__ = "app_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    consent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("app_consents.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)  # OpenID
    auth_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AppToken(Base):
    """An access token and its refresh token; a refresh rotates them (the old pair is revoked)."""

    __tablename__ = "app_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    consent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("app_consents.id", ondelete="CASCADE"), index=True
    )
    code_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    scopes: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "rotated" (a refresh replaced it), "revoked" (RFC 7009), "disconnected", "replayed"…
    revoked_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
