"""passkeys: WebAuthn credentials of holders and professionals, and their ceremonies' challenges

A passkey keeps the credential's public key, counter and transports, its owner (principal kind and
id, the holder's row for cascade on purge, LC-8), a name the person gave it and when it was made
and last used. A ceremony's challenge is bound to the browser by the SHA-256 of a cookie, used
once and short-lived (PK-3, `carnet.auth.passkey_rules`). A login challenge's e-mailed code may
be absent: for an account with a passkey, the code is sent only when the person asks for it.

Revision ID: 0022_passkeys
Revises: 0021_app_code_nonce
Create Date: 2026-12-05 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.db

revision = "0022_passkeys"
down_revision = "0021_app_code_nonce"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(length=100), nullable=False),
        sa.Column("principal_kind", sa.String(length=20), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("holder_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["holders.id"],
            name=op.f("fk_passkeys_holder_id_holders"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )  # fmt: skip
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passkeys_holder_id"), ["holder_id"], unique=False)
        batch_op.create_index(
            "ix_passkeys_principal", ["principal_kind", "principal_id"], unique=False
        )
    op.create_table(
        "passkey_challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("challenge", sa.String(length=100), nullable=False),
        sa.Column("principal_kind", sa.String(length=20), nullable=True),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("holder_id", sa.Uuid(), nullable=True),
        sa.Column("portal_session_id", sa.Uuid(), nullable=True),
        sa.Column("login_challenge_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["holders.id"],
            name=op.f("fk_passkey_challenges_holder_id_holders"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["portal_session_id"], ["portal_sessions.id"],
            name=op.f("fk_passkey_challenges_portal_session_id_portal_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["login_challenge_id"], ["login_challenges.id"],
            name=op.f("fk_passkey_challenges_login_challenge_id_login_challenges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey_challenges")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_passkey_challenges_token_hash")),
    )  # fmt: skip
    with op.batch_alter_table("passkey_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_passkey_challenges_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_passkey_challenges_holder_id"), ["holder_id"], unique=False
        )


    # A login whose account has a passkey sends its e-mailed code only when asked.
    with op.batch_alter_table("login_challenges") as batch_op:
        batch_op.alter_column("otp_hash", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM login_challenges WHERE otp_hash IS NULL")
    with op.batch_alter_table("login_challenges") as batch_op:
        batch_op.alter_column("otp_hash", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("passkey_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passkey_challenges_holder_id"))
        batch_op.drop_index(batch_op.f("ix_passkey_challenges_expires_at"))
    op.drop_table("passkey_challenges")
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.drop_index("ix_passkeys_principal")
        batch_op.drop_index(batch_op.f("ix_passkeys_holder_id"))
    op.drop_table("passkeys")
