"""documents: the masterIdentifier's system, when it is not the URI system

A deposit's `masterIdentifier.system` was dropped: a producer identifying its documents as
`http://my-lab-system|123` got `{"value": "123"}` back, and could not find them again by system and
value (PDSm flux 03, conditional PATCH). The system is kept when it is not `urn:ietf:rfc:3986` (the
MHD URI system, implied by a URI value as before).

Revision ID: 0026_master_identifier_system
Revises: 0025_suspension_objections
Create Date: 2026-12-05 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_master_identifier_system"
down_revision = "0025_suspension_objections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "documents", sa.Column("master_identifier_system", sa.String(255), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("master_identifier_system")
