"""documents: an index in the order a space's documents are listed

The holder's list, ITI-67 and the portal show a space's documents pinned first, newest first
(`documents.service._sorted`, sort "-date"): with this index both engines read the first page
straight from it instead of sorting every document of the space (issue 14).

Revision ID: 0019_documents_listing
Revises: 0018
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_documents_listing"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_documents_holder_listing",
        "documents",
        ["holder_id", sa.text("pinned DESC"), sa.text("deposited_at DESC"), "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_documents_holder_listing", table_name="documents")
