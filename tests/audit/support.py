"""Helpers of the audit tests: appending a test entry, a small committed log, raw tampering."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from carnet.audit import rules
from carnet.audit.models import AuditEntry
from carnet.audit.service import append
from carnet.db import Database


def add(
    session: Session, holder_id: uuid.UUID | None, action: str = "document.read", **kw: object
) -> AuditEntry:
    """Append one entry by a random professional (override any field with keywords)."""
    values: dict[str, object] = {"actor_kind": "professional", "actor_id": str(uuid.uuid4())}
    values.update(kw)
    return append(session, action=action, holder_id=holder_id, **values)  # type: ignore[arg-type]


@dataclass
class Log:
    """A committed log: holder A with 5 entries, holder B with 3, the system chain with 2."""

    a: uuid.UUID
    b: uuid.UUID

    @property
    def chain_a(self) -> str:
        return rules.chain_for(self.a)

    @property
    def chain_b(self) -> str:
        return rules.chain_for(self.b)


def populate(database: Database) -> Log:
    a, b = uuid.uuid4(), uuid.uuid4()
    with database.transaction() as s:
        for n in range(5):
            add(s, a, target_type="document", target_id=f"doc-{n}")
        for _ in range(3):
            add(s, b, action="document.deposit")
        for _ in range(2):
            add(s, None, action="operator.login", actor_kind="operator")
    return Log(a, b)


def without_anchors(database: Database) -> None:
    """Forget the anchor store of `database` (as if lost), to test what stands without it."""
    database.extensions.pop("audit.anchors", None)


def tamper(database: Database, sql: str, **params: object) -> int:
    """What an attacker with write access to the database does: raw SQL, committed."""
    with database.transaction() as s:
        result = s.execute(text(sql), params)
        return int(getattr(result, "rowcount", 0) or 0)
