"""postal letters: printed confirmation (LC-8)

A rendered letter keeps its sealed content until the operator confirms its batch was printed
(`printed_at`); the batch file is then deleted. Batch files are looked up by name.

Revision ID: 0016
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.db


revision = '0016'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('postal_letters', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('printed_at', carnet.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f('ix_postal_letters_batch_file'), ['batch_file'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('postal_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postal_letters_batch_file'))
        batch_op.drop_column('printed_at')
