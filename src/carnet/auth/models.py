"""Sign-in material: API bearer tokens, server-side portal sessions and e-mailed login
challenges, random, stored only as hashes, expiring, revocable; passkeys (public keys only) and
their ceremonies' challenges; and the failure and rate counters of `auth.throttle` and
`auth.rates`.

A portal session's cookie value is never stored: only its SHA-256 (`token_hash`), so a copy of the
table opens no session. A holder's rows cascade with the holder row, so purging a space (rule LC-8)
leaves no sign-in material behind; the acting space falls back to none when that space is purged.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
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


class PortalSession(Base):
    """One browser session of a principal (holders now; other kinds may use it later)."""

    __tablename__ = "portal_sessions"
    __table_args__ = (Index("ix_portal_sessions_principal", "principal_kind", "principal_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Set for holders: the session goes with the space when it is purged (LC-8).
    holder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The profile the holder acts on (their own space, or one they manage: REP-1, REP-4, REP-5).
    acting_space_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="SET NULL"), nullable=True
    )
    # Synchronizer token of every form of this session (CSRF), rotated at each login.
    csrf_token: Mapped[str] = mapped_column(String(64))
    # A message key shown once on the next page ("document-added"…): never data.
    flash: Mapped[str | None] = mapped_column(String(60), nullable=True)
    # One-time form nonces already used (uploads): a double submission adds nothing twice.
    used_nonces: Mapped[str] = mapped_column(String(700), default="")
    # A coarse description of the browser it was opened from ("Firefox, Linux": `auth.rules.
    # device_of`), for the holder's list of sessions; never the address. None: not known.
    device: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginChallenge(Base):
    """Second step of a login: a 6-digit code e-mailed to the holder, stored as a keyed hash."""

    __tablename__ = "login_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    otp_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: not sent yet
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PasswordRecovery(Base):
    """A forgotten password's one-time code (`auth.recovery`), sent by e-mail or by letter: only
    its keyed hash is kept, bound to this row; single use, short-lived, a few tries."""

    __tablename__ = "password_recoveries"
    __table_args__ = (Index("ix_password_recoveries_principal", "principal_kind", "principal_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Set for holders: the code goes with the space when it is purged (LC-8).
    holder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), nullable=True, index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))  # "email" or "letter"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Throttle(Base):
    """Failure counters of `auth.throttle` (per client, global, per username and client) and of
    renewals per person, shared by every app server. Keys hold keyed hashes, never an address,
    a username or a NIR in clear."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Passkey(Base):
    """A WebAuthn credential of a holder or a professional (`auth.passkeys`): only its public key
    and counter are kept; the private key never leaves the person's authenticator."""

    __tablename__ = "passkeys"
    __table_args__ = (Index("ix_passkeys_principal", "principal_kind", "principal_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # base64url of the authenticator's credential id (at most 1023 bytes, WebAuthn level 3).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as registered
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)  # unsigned 32-bit counter
    transports: Mapped[str] = mapped_column(String(100), default="")  # space-separated hints
    # The person (PK-2: a professional's passkey is kept under "professional").
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Set for holders: the passkey goes with the space when it is purged (LC-8).
    holder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(60))  # given by the person ("Téléphone")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PasskeyChallenge(Base):
    """One passkey ceremony under way (PK-3): its random challenge, bound to the browser by the
    SHA-256 of a cookie, used once, short-lived."""

    __tablename__ = "passkey_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  # register, second-factor, sign-in
    challenge: Mapped[str] = mapped_column(String(100))  # base64url, sent to the browser anyway
    # Who registers (register), or who passed the password (second-factor); none for sign-in.
    principal_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    principal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    holder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # register: the portal session that asked; second-factor: the login whose password passed.
    portal_session_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("portal_sessions.id", ondelete="CASCADE"), nullable=True
    )
    login_challenge_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("login_challenges.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(60), default="")  # register: the name given
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FederatedIdentity(Base):
    """A person known to an OpenID provider, linked to a Carnet account at their first federated
    sign-in (`auth.federation`): later sign-ins follow the link. The provider's `sub` is its own
    identifier of the person for Carnet, no health data. A holder's links go with the space (LC-8)."""

    __tablename__ = "federated_identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_federated_identities_subject"),
        Index("ix_federated_identities_principal", "principal_kind", "principal_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    holder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class FederatedLogin(Base):
    """A sign-in sent to an OpenID provider and not back yet: its `state` (as a hash), the
    browser it was started from (hash of a random cookie), the `nonce` and PKCE verifier the
    answer must match. Single use, short-lived."""

    __tablename__ = "federated_logins"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
