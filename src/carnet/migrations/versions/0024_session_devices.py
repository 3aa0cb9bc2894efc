"""auth, notifications: session devices, password recovery codes, notification preferences

`portal_sessions.device` keeps a coarse description of the browser a session was opened from
("Firefox, Linux"), read from its User-Agent once at the login, never the address.
`password_recoveries` keeps the one-time codes of a forgotten password (keyed hashes only,
single use, short-lived; cascading with the holder's space, LC-8). `notification_preferences`
keeps a space's choice of e-mails beyond new documents (messages, appointment reminders,
accesses to the space).

Revision ID: 0024_session_devices
Revises: 0023_federated_identities
Create Date: 2026-12-05 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet.db import UTCDateTime

revision = "0024_session_devices"
down_revision = "0023_federated_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.add_column(sa.Column("device", sa.String(80), nullable=True))
    op.create_table(
        "password_recoveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("principal_kind", sa.String(20), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "holder_id",
            sa.Uuid(),
            sa.ForeignKey("holders.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_password_recoveries_principal",
        "password_recoveries",
        ["principal_kind", "principal_id"],
    )
    op.create_index("ix_password_recoveries_holder_id", "password_recoveries", ["holder_id"])
    op.create_table(
        "notification_preferences",
        sa.Column(
            "holder_id",
            sa.Uuid(),
            sa.ForeignKey("holders.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("messages", sa.Boolean(), nullable=False),
        sa.Column("appointments", sa.Boolean(), nullable=False),
        sa.Column("accesses", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
    op.drop_index("ix_password_recoveries_holder_id", table_name="password_recoveries")
    op.drop_index("ix_password_recoveries_principal", table_name="password_recoveries")
    op.drop_table("password_recoveries")
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("device")
