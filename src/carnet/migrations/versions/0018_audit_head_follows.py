"""audit: the chain head follows its last entry (ACC-8)

A trigger sets `audit_chain_heads.hash` from the entry whose seq the head has reserved, as the
entry is inserted: an audited action costs two statements (reserve and read the head; insert
the entry) instead of three, and the head cannot name a hash its chain does not hold.
On PostgreSQL one trigger per statement (a Bundle's or a batch's entries move their heads in one
UPDATE); SQLite has row triggers only.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-05 11:00:00.000000
"""

from __future__ import annotations

from alembic import op

UP: dict[str, tuple[str, ...]] = {
    "sqlite": (
        """
        CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_entries
        BEGIN
            UPDATE audit_chain_heads SET hash = NEW.hash
            WHERE chain = NEW.chain AND seq = NEW.seq;
        END
        """,
    ),
    "postgresql": (
        """
        CREATE FUNCTION audit_head_follows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE audit_chain_heads AS head SET hash = added.hash
            FROM added_entries AS added
            WHERE head.chain = added.chain AND head.seq = added.seq;
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_entries
        REFERENCING NEW TABLE AS added_entries
        FOR EACH STATEMENT EXECUTE FUNCTION audit_head_follows()
        """,
    ),
}
DOWN: dict[str, tuple[str, ...]] = {
    "sqlite": ("DROP TRIGGER IF EXISTS audit_head_follows",),
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_head_follows ON audit_entries",
        "DROP FUNCTION IF EXISTS audit_head_follows()",
    ),
}

revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in UP[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWN[op.get_bind().dialect.name]:
        op.execute(statement)
