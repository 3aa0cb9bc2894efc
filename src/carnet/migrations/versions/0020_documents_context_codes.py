"""documents: the MHD context's codes and references, kept to be returned

An ITI-65 deposit's `context.facilityType`, `practiceSetting`, `event` and `related` were accepted
and then dropped (issue 15). They are kept as compact JSON in `context_codes` and rendered back as
sent. The column is not sealed: only codings (system, version, code, display) and references
(reference, type, identifier) are accepted; free text that could carry health narrative
(a CodeableConcept's `text`, a Reference's `display`) is refused at deposit with an
OperationOutcome, so what is kept is codes from code systems and identifiers, like `type_code`
and `format_code` already kept in clear.

Revision ID: 0020_documents_context_codes
Revises: 0019_documents_listing
Create Date: 2026-12-05 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_documents_context_codes"
down_revision = "0019_documents_listing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("context_codes", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("documents", "context_codes")
