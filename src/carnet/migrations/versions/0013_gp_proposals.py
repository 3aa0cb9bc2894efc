"""GP proposals: a physician's "I am the GP" awaits the holder's confirmation (ACC-4, ACC-6)

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.db


revision = '0013'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('care_relationships', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('gp_proposed_at', carnet.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('care_relationships', schema=None) as batch_op:
        batch_op.drop_column('gp_proposed_at')
