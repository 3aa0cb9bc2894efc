"""app_codes: the OpenID Connect nonce and the time the approver signed in

An app asking `openid` gets an id_token (issue 15): it must echo the authorization request's
`nonce` and may carry `auth_time`, the time the approving person signed in to the portal. Both are
kept with the code until it is exchanged. A nonce already used by the same app is refused, so the
nonce column is indexed.

Revision ID: 0021_app_code_nonce
Revises: 0020_documents_context_codes
Create Date: 2026-12-05 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet.db import UTCDateTime

revision = "0021_app_code_nonce"
down_revision = "0020_documents_context_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_codes") as batch:
        batch.add_column(sa.Column("nonce", sa.String(255), nullable=True))
        batch.add_column(sa.Column("auth_time", UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_app_codes_nonce", ["nonce"])


def downgrade() -> None:
    with op.batch_alter_table("app_codes") as batch:
        batch.drop_index("ix_app_codes_nonce")
        batch.drop_column("auth_time")
        batch.drop_column("nonce")
