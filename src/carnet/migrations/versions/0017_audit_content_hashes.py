"""audit content hashes and redaction (issue 12, items 6 and 7; rules ACC-8, LC-8)

Entries written from now on chain a salted hash of their content (scheme 2), so a purged space's
entries can drop their content and still verify. Existing entries are left exactly as they are and
keep verifying the old way (`content_hash` NULL, scheme 1): recomputing them would rewrite the
hashes the signed checkpoints cover. The content columns become nullable (a redacted entry); the
chain head says whether its space was purged.

Revision ID: 0017
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0013'
branch_labels = None
depends_on = None

_CONTENT = (('actor_kind', 20), ('actor_id', 64), ('action', 48), ('mode', 20))


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('salt', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        for name, length in _CONTENT:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=True)
    with op.batch_alter_table('audit_chain_heads', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('redacted', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # Only possible while no entry was redacted (NOT NULL again).
    with op.batch_alter_table('audit_chain_heads', schema=None) as batch_op:
        batch_op.drop_column('redacted')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        for name, length in _CONTENT:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=False)
        batch_op.drop_column('content_hash')
        batch_op.drop_column('salt')
