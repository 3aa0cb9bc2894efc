"""timeline settings (the health history's visibility, issue 7 item 4)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('timeline_settings',
    sa.Column('holder_id', sa.Uuid(), nullable=False),
    sa.Column('visible_to_professionals', sa.Boolean(), nullable=False),
    sa.Column('changed_at', carnet.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_timeline_settings_holder_id_holders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('holder_id', name=op.f('pk_timeline_settings'))
    )


def downgrade() -> None:
    op.drop_table('timeline_settings')
