"""documents: an index in the order a space's documents are listed

The holder's list, ITI-67 and the portal show a space's documents pinned first, newest first
(`documents.service._sorted`, sort "-date"): with this index both engines read the first page
straight from it instead of sorting every document of the space (issue 14). A second index holds
every column the read rule looks at (`access.filters.readable_documents`), so the page's total is
counted from the index alone, without visiting the documents' rows.

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


READABLE = [
    "holder_id", "status", "sensitivity", "masked", "author_kind", "author_id",
    "invisible_to_patient", "visible_to_patient_from", "invisible_to_representatives",
]  # fmt: skip


def upgrade() -> None:
    op.create_index(
        "ix_documents_holder_listing",
        "documents",
        ["holder_id", sa.text("pinned DESC"), sa.text("deposited_at DESC"), "id"],
    )
    op.create_index("ix_documents_holder_readable", "documents", READABLE)


def downgrade() -> None:
    op.drop_index("ix_documents_holder_readable", table_name="documents")
    op.drop_index("ix_documents_holder_listing", table_name="documents")
