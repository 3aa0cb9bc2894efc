"""The first audit entry of many new chains at once (ACC-8), for roster provisioning: written with
one statement per table (`carnet.bulk`), without reading chain heads (the chains are new).
Kept apart from `audit.service`, whose appends continue existing chains."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from carnet.audit import anchors, rules
from carnet.audit.models import AuditChainHead, AuditEntry
from carnet.audit.rules import GENESIS, Mode
from carnet.auth.principal import SYSTEM, Principal
from carnet.bulk import BulkTable, new_ids


class _Canonical:
    """`audit.rules.canonical(base + values)` for a few string values (ids, hex, state codes), by
    substitution into one template rendered with markers. Checked once against `canonical`;
    falls back to it on any difference."""

    def __init__(self, base: dict[str, Any], open_keys: tuple[str, ...]) -> None:
        self.base = base
        self.keys = open_keys
        marked = dict(base, **{key: f"@@{n}@@" for n, key in enumerate(open_keys)})
        text = rules.canonical(marked).decode("ascii")
        self._template: str | None = None
        if all(text.count(f'"@@{n}@@"') == 1 for n in range(len(open_keys))):
            template = text.replace("%", "%%")
            for n, key in enumerate(open_keys):
                template = template.replace(f'"@@{n}@@"', f'"%({key})s"')
            self._template = template
            sample = {key: uuid.uuid4().hex for key in open_keys}
            if self.encode(sample) != rules.canonical(dict(base, **sample)):
                self._template = None

    def encode(self, values: dict[str, str]) -> bytes:
        if self._template is None:
            return rules.canonical(dict(self.base, **values))
        return (self._template % values).encode("ascii")


_BULK_WRITERS: dict[str, tuple[BulkTable, BulkTable]] = {}


def _bulk_writers(dialect: Dialect) -> tuple[BulkTable, BulkTable]:
    """The entries' and heads' bulk writers for this dialect (built once)."""
    writers = _BULK_WRITERS.get(dialect.name)
    if writers is None:
        entries = BulkTable(
            AuditEntry.__table__,  # type: ignore[arg-type]
            dialect,
            varying=(
                "id", "chain", "target_id", "holder_id", "reason", "salt", "content_hash", "hash",
            ),
            fixed=(
                "seq", "at", "actor_kind", "actor_id", "action", "target_type", "mode", "detail",
                "request_id", "prev_hash",
            ),
        )  # fmt: skip
        heads = BulkTable(
            AuditChainHead.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("chain", "hash"),
            fixed=("seq", "checkpointed_seq", "redacted"),
        )
        writers = _BULK_WRITERS[dialect.name] = (entries, heads)
    return writers


def append_bulk(
    session: Session,
    first_entries: Sequence[tuple[str, str]],
    *,
    action: str,
    target_type: str,
    at: dt.datetime,
    actor: Principal = SYSTEM,
    mode: Mode = Mode.SYSTEM,
    entry_ids: Sequence[str] | None = None,
) -> int:
    """ACC-8 for spaces created in this transaction: the first entry of each one's chain, written
    with one statement per table (`carnet.bulk`), anchored at commit. `first_entries` are
    (holder id as canonical text, reason); the entry targets the space itself.

    Same entries, same hashes (scheme 2 of `audit.rules`) as `append_batch` would write, but
    without reading chain heads: the chains are new, so they start at `GENESIS` (seq 1). The
    canonical encodings are rendered once per call and checked against `rules.canonical`.
    `entry_ids` (canonical text, one per entry) lets a bulk job give time-ordered ids; random
    ones otherwise. Returns the number of entries written.
    """
    if not first_entries:
        return 0
    actor_kind, actor_id = actor.kind.value, str(actor.id)
    content = _Canonical(
        {
            "actor_kind": actor_kind, "actor_id": actor_id, "action": action,
            "target_type": target_type, "mode": mode.value, "detail": None, "request_id": None,
        },
        ("target_id", "holder_id", "reason", "salt"),
    )  # fmt: skip
    frame = _Canonical(
        rules.framed({"seq": 1, "at": at.isoformat(timespec="microseconds")}, ""),
        ("id", "chain", "content"),
    )
    entry_rows: list[list[Any]] = []
    head_rows: list[list[Any]] = []
    ids = new_ids(len(first_entries)) if entry_ids is None else entry_ids
    # The entries' salts from one read of the system's random source (`secrets` reads it too).
    salts = secrets.token_hex(16 * len(first_entries))
    for n, ((hid, reason), entry_id) in enumerate(zip(first_entries, ids, strict=True)):
        chain = "space:" + hid
        salt = salts[32 * n : 32 * n + 32]
        digest = rules.content_digest(
            content.encode({"target_id": hid, "holder_id": hid, "reason": reason, "salt": salt})
        )
        encoded = frame.encode({"id": entry_id, "chain": chain, "content": digest})
        chained = rules.chain_digest(GENESIS, encoded)
        entry_rows.append([entry_id, chain, hid, hid, reason, salt, digest, chained])
        head_rows.append([chain, chained])
    connection = session.connection()
    entries, heads = _bulk_writers(connection.dialect)
    entries.write(
        connection,
        entry_rows,
        (1, at, actor_kind, actor_id, action, target_type, mode.value, None, None, GENESIS),
    )
    anchored = [(row[0], 1, row[1]) for row in head_rows]
    heads.write(connection, head_rows, (1, 0, False))
    # The heads just written are anchored as they are, not read back at the commit.
    anchors.touch(session, (head[0] for head in anchored), anchored)
    return len(entry_rows)
