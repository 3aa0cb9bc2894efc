"""auth: federated sign-in through OpenID Connect providers

`federated_identities` links a provider's subject to a Carnet account (holder or professional),
made at the first federated sign-in by identity traits or RPPS, never by e-mail; a holder's links
cascade with the space (LC-8). `federated_logins` keeps a sign-in under way at a provider (state
hash, browser binding, nonce, PKCE verifier), single use and short-lived.

Revision ID: 0023_federated_identities
Revises: 0022_passkeys
Create Date: 2026-12-05 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet.db import UTCDateTime

revision = "0023_federated_identities"
down_revision = "0022_passkeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federated_identities",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("principal_kind", sa.String(20), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "holder_id",
            sa.Uuid(),
            sa.ForeignKey("holders.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider", "subject", name="uq_federated_identities_subject"),
    )
    op.create_index(
        "ix_federated_identities_principal",
        "federated_identities",
        ["principal_kind", "principal_id"],
    )
    op.create_index("ix_federated_identities_holder_id", "federated_identities", ["holder_id"])
    op.create_table(
        "federated_logins",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("state_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_federated_logins_expires_at", "federated_logins", ["expires_at"])


def downgrade() -> None:
    op.drop_table("federated_logins")
    op.drop_index("ix_federated_identities_holder_id", table_name="federated_identities")
    op.drop_index("ix_federated_identities_principal", table_name="federated_identities")
    op.drop_table("federated_identities")
