"""reimbursements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reimbursements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('holder_id', sa.Uuid(), nullable=False),
    sa.Column('line_key', sa.String(length=64), nullable=False),
    sa.Column('care_date', sa.Date(), nullable=False),
    sa.Column('payment_date', sa.Date(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', carnet.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_reimbursements_holder_id_holders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reimbursements')),
    sa.UniqueConstraint('line_key', name=op.f('uq_reimbursements_line_key'))
    )
    with op.batch_alter_table('reimbursements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reimbursements_holder_id'), ['holder_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reimbursements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reimbursements_holder_id'))

    op.drop_table('reimbursements')
