"""accounts: objections to a suspension (LC-6), undeliverable postal notices (REP-3, LC-1)

`suspension_objections` holds the holder's objection to a suspension, made within 6 weeks, and
the operator's decision (uphold or lift); the notes are sealed under the holder's key. A postal
letter without any address is recorded as undeliverable (`postal_letters.undeliverable_at`)
instead of being printed, until an operator marks it handled.

Revision ID: 0025_suspension_objections
Revises: 0024_session_devices
Create Date: 2026-12-05 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet.db import UTCDateTime

revision = "0025_suspension_objections"
down_revision = "0024_session_devices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suspension_objections",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "holder_id",
            sa.Uuid(),
            sa.ForeignKey("holders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("suspended_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("sealed_note", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("sealed_decision_note", sa.LargeBinary(), nullable=True),
    )
    op.create_index(
        "uq_suspension_objections_once",
        "suspension_objections",
        ["holder_id", "suspended_on"],
        unique=True,
    )
    op.create_index(
        "ix_suspension_objections_pending", "suspension_objections", ["decided_at", "created_at"]
    )
    with op.batch_alter_table("postal_letters") as batch:
        batch.add_column(sa.Column("undeliverable_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("handled_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_postal_letters_undeliverable_at", "postal_letters", ["undeliverable_at"])


def downgrade() -> None:
    op.drop_index("ix_postal_letters_undeliverable_at", table_name="postal_letters")
    with op.batch_alter_table("postal_letters") as batch:
        batch.drop_column("handled_at")
        batch.drop_column("undeliverable_at")
    op.drop_index("ix_suspension_objections_pending", table_name="suspension_objections")
    op.drop_index("uq_suspension_objections_once", table_name="suspension_objections")
    op.drop_table("suspension_objections")
