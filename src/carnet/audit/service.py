"""Appending to and verifying the audit log (rule ACC-8).

`record()` is called by services inside the transaction of the action it records, so the entry and
the action commit or vanish together. Appends lock only their own space's chain head.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, text, update
from sqlalchemy import insert as insert_
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from carnet import clock
from carnet.audit import anchors, group, rules
from carnet.audit.models import AuditChainHead, AuditCheckpoint, AuditEntry
from carnet.audit.rules import GENESIS, Mode
from carnet.audit.signing import Signer
from carnet.auth.principal import SYSTEM, Principal
from carnet.db import Database

log = logging.getLogger(__name__)

# Scheme 1 (before content hashes): every field hashed at once. Kept to verify old entries.
_LEGACY_FIELDS = (
    "id",
    "chain",
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "holder_id",
    "mode",
    "reason",
    "detail",
    "request_id",
)
_COLUMNS = (*rules.FRAME_FIELDS, *rules.CONTENT_FIELDS, "content_hash", "prev_hash", "hash")


def _encode(name: str, value: Any) -> Any:
    if name == "at":
        return value.isoformat(timespec="microseconds")
    if name == "detail":
        return value.hex() if value is not None else None
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _pick(entry: AuditEntry | _Draft, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _encode(name, getattr(entry, name)) for name in names}


def _legacy_fields(entry: AuditEntry) -> dict[str, Any]:
    return _pick(entry, _LEGACY_FIELDS)


def seal(entry: AuditEntry | _Draft) -> None:
    """Give an entry (its fields and `prev_hash` set) a salt, its content hash and its hash."""
    if entry.salt is None:
        entry.salt = secrets.token_hex(16)
    entry.content_hash = rules.content_hash(_pick(entry, rules.CONTENT_FIELDS))
    entry.hash = rules.entry_hash(
        entry.prev_hash, _pick(entry, rules.FRAME_FIELDS), entry.content_hash
    )


def _redact(entry: AuditEntry | _Draft) -> None:
    """Drop what the entry says; keep its place, time and hashes (LC-8)."""
    for name in rules.CONTENT_FIELDS:
        setattr(entry, name, None)


def is_redacted(entry: AuditEntry) -> bool:
    return entry.action is None


def hash_problem(entry: AuditEntry) -> str | None:
    """Why the entry does not match its own hashes, or None (links are checked by the caller)."""
    if entry.content_hash is None:  # scheme 1
        if is_redacted(entry):
            return None  # nothing left to recompute; its place is held by the next link
        if rules.legacy_entry_hash(entry.prev_hash, _legacy_fields(entry)) != entry.hash:
            return "content does not match its hash (edited or reordered)"
        return None
    if not is_redacted(entry) and (
        rules.content_hash(_pick(entry, rules.CONTENT_FIELDS)) != entry.content_hash
    ):
        return "content does not match its content hash (edited)"
    frame = _pick(entry, rules.FRAME_FIELDS)
    if rules.entry_hash(entry.prev_hash, frame, entry.content_hash) != entry.hash:
        return "does not match its hash (edited or reordered)"
    return None


def _lock_heads(session: Session, reserve: dict[str, int]) -> dict[str, tuple[int, str, bool]]:
    """Create the chain heads if needed, lock them and reserve `reserve[chain]` seqs on each, in
    one statement (the driver sends its rows in batches), reading them back: (seq before, hash,
    redacted) by chain.

    An upsert (`ON CONFLICT DO UPDATE … RETURNING`, PostgreSQL and SQLite ≥ 3.35): on PostgreSQL
    it takes the row lock `SELECT … FOR UPDATE` took, in the order of the chains (sorted here); on
    SQLite the transaction holds the write lock. The head's hash is moved by the database when the
    entry of the reserved seq is inserted (trigger `audit_head_follows`, migration 0018), so an
    append costs two statements and a head never names a hash its chain lacks.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # imported here: loading that dialect costs an SQLite run's start
        from sqlalchemy.dialects import postgresql
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(_HEADS)
    statement = upsert.on_conflict_do_update(
        index_elements=["chain"], set_={"seq": _HEADS.c.seq + upsert.excluded.seq}
    ).returning(_HEADS.c.chain, _HEADS.c.seq, _HEADS.c.hash, _HEADS.c.redacted)
    # One parameter set per chain, in chain order: one compiled statement for any number of
    # chains, sent in batches of rows by the driver (a multi-row VALUES built here was compiled
    # anew for each batch size: most of a 5,000-chain batch's time, issue 14).
    rows = session.execute(
        statement,
        [
            {"chain": c, "seq": reserve[c], "hash": GENESIS, "checkpointed_seq": 0}
            for c in sorted(reserve)
        ],
    ).all()
    return {row.chain: (row.seq - reserve[row.chain], row.hash, bool(row.redacted)) for row in rows}


_HEADS = cast(Table, AuditChainHead.__table__)


def _moved(session: Session, heads: dict[str, tuple[int, str]]) -> None:
    """The heads' new (seq, hash), moved by the entries' insert (trigger), told to the anchors."""
    anchors.touch(session, heads, [(c, seq, hash_) for c, (seq, hash_) in sorted(heads.items())])


def append(
    session: Session,
    *,
    actor_kind: str,
    actor_id: str,
    action: str,
    holder_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    mode: Mode | str = Mode.NORMAL,
    reason: str | None = None,
    detail: bytes | None = None,
    request_id: str | None = None,
) -> AuditEntry | None:
    """Append one entry to the holder's chain (or the system chain) in the caller's transaction.

    The chain head stays locked until the commit. A transaction touching several spaces appends
    in chain order (or uses `append_batch`); if two transactions still cross, PostgreSQL aborts
    one and `Database.run` runs it again.

    In a read-mostly session (a GET request) or a batched one (`group.batch`) the entry is held
    until the commit instead, and None is returned: see `carnet.audit.group`.
    """
    if group.defer(
        session,
        PendingEntry(
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            holder_id=holder_id,
            target_type=target_type,
            target_id=target_id,
            mode=str(Mode(mode)),
            reason=reason,
            detail=detail,
            request_id=request_id,
        ),
    ):
        return None
    chain = rules.chain_for(holder_id)
    seq, prev_hash, redacted = _lock_heads(session, {chain: 1})[chain]
    entry = AuditEntry(
        id=uuid.uuid4(),
        chain=chain,
        seq=seq + 1,
        at=clock.now(),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        holder_id=holder_id,
        mode=str(Mode(mode)),
        reason=reason,
        detail=detail,
        request_id=request_id,
        prev_hash=prev_hash,
        hash="",
    )
    seal(entry)
    if redacted:  # the space was purged while this action was in flight (LC-8)
        _redact(entry)
    session.add(entry)
    session.flush()
    _moved(session, {chain: (entry.seq, entry.hash)})
    return entry


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    holder_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    mode: Mode | str = Mode.NORMAL,
    reason: str | None = None,
    detail: bytes | None = None,
    request_id: str | None = None,
) -> AuditEntry | None:
    """Append an entry for an action by `principal` (ids and codes only, never health content)."""
    return append(
        session,
        actor_kind=principal.kind.value,
        actor_id=str(principal.id),
        action=action,
        holder_id=holder_id,
        target_type=target_type,
        target_id=target_id,
        mode=mode,
        reason=reason,
        detail=detail,
        request_id=request_id,
    )


@dataclass(frozen=True)
class PendingEntry:
    """One entry of a batch append (bulk jobs such as roster provisioning)."""

    actor_kind: str
    actor_id: str
    action: str
    holder_id: uuid.UUID | None
    target_type: str | None = None
    target_id: str | None = None
    mode: str = Mode.NORMAL.value
    reason: str | None = None
    detail: bytes | None = None
    request_id: str | None = None


def append_batch(session: Session, items: list[PendingEntry]) -> int:
    """Append many entries with two statements: heads created, locked, reserved and read in one
    upsert, entries inserted with one executemany (which moves the heads, migration 0018). Same chains, same hashes
    as `append` one by one."""
    if not items:
        return 0
    by_chain: dict[str, list[PendingEntry]] = {}
    for item in items:
        by_chain.setdefault(rules.chain_for(item.holder_id), []).append(item)
    chains = sorted(by_chain)
    locked = _lock_heads(session, {chain: len(by_chain[chain]) for chain in chains})
    heads = {chain: (seq, hash_) for chain, (seq, hash_, _r) in locked.items()}
    redacted = {chain for chain, (_s, _h, gone) in locked.items() if gone}
    at = clock.now()
    entries: list[dict[str, Any]] = []
    for chain in chains:
        seq, prev = heads[chain]
        for item in by_chain[chain]:
            seq += 1
            # A plain draft, not a mapped AuditEntry: building and reading an ORM object cost more
            # than the hashing itself (issue 14: a feed's or a migration's entries by thousands).
            draft = _Draft(
                id=uuid.uuid4(), chain=chain, seq=seq, at=at, actor_kind=item.actor_kind,
                actor_id=item.actor_id, action=item.action, target_type=item.target_type,
                target_id=item.target_id, holder_id=item.holder_id, mode=str(Mode(item.mode)),
                reason=item.reason, detail=item.detail, request_id=item.request_id,
                prev_hash=prev,
            )  # fmt: skip
            seal(draft)
            if chain in redacted:
                _redact(draft)
            prev = draft.hash
            entries.append({name: getattr(draft, name) for name in _COLUMNS})
        heads[chain] = (seq, prev)
    # With RETURNING the driver sends multi-row statements (up to 1,000 rows each) rather than
    # one statement per row: on PostgreSQL the heads' statement trigger (migration 0018) then runs
    # once per thousand entries, not once per entry (2 ms each on a fresh table, issue 14).
    session.execute(insert_(_ENTRIES).returning(_ENTRIES.c.id), entries).all()
    _moved(session, heads)
    return len(entries)


@dataclass(slots=True)
class _Draft:
    """An entry being sealed by `append_batch`: the fields `seal` and `_redact` read and set."""

    id: uuid.UUID
    chain: str
    seq: int
    at: dt.datetime
    actor_kind: str | None
    actor_id: str | None
    action: str | None
    target_type: str | None
    target_id: str | None
    holder_id: uuid.UUID | None
    mode: str | None
    reason: str | None
    detail: bytes | None
    request_id: str | None
    prev_hash: str
    salt: str | None = None
    content_hash: str | None = None
    hash: str = ""


_ENTRIES = cast(Table, AuditEntry.__table__)


# -- checkpoints -----------------------------------------------------------------------------


def write_checkpoint(session: Session, signer: Signer) -> AuditCheckpoint | None:
    """Sign the heads that moved since the last checkpoint; None when nothing moved."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
    heads = session.scalars(
        select(AuditChainHead)
        .where(AuditChainHead.seq > AuditChainHead.checkpointed_seq)
        .order_by(AuditChainHead.chain)
    ).all()
    if not heads:
        return None
    leaves = [[h.chain, h.seq, h.hash] for h in heads]
    previous = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()
    prev_hash = checkpoint_hash(previous) if previous is not None else GENESIS
    checkpoint = AuditCheckpoint(
        at=clock.now(),
        leaves=json.dumps(leaves, separators=(",", ":")),
        root=rules.merkle_root(leaves),
        prev_hash=prev_hash,
        key_id=signer.key_id,
        signature="",
    )
    session.add(checkpoint)
    session.flush()
    checkpoint.signature = signer.sign(checkpoint_message(checkpoint))
    for head, leaf in zip(heads, leaves, strict=True):
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == head.chain)
            .values(checkpointed_seq=leaf[1])
        )
    session.flush()
    # Anchor what was signed too: heals a tail left unanchored by a crash, and anchors chains
    # written before anchors existed.
    anchors.touch(session, (h.chain for h in heads))
    return checkpoint


def compact_anchors(database: Database) -> int:
    """Fold old anchor files into the store's summary (run with the checkpoint)."""
    store = anchors.store_of(database)
    return store.compact(clock.now().date()) if store is not None else 0


# -- purge (LC-8) ----------------------------------------------------------------------------


def redact_chain(session: Session, holder_id: uuid.UUID) -> int:
    """LC-8: a purged space's chain keeps only what verification needs — place, time, content
    hash and chain hash — and nothing saying who acted, on what, how or why. Returns how many
    entries lost their content.

    The anchor store first records that the chain may be redacted (before the commit: a purge that
    rolls back leaves a permission unused, never a redaction `verify` cannot explain). The head is
    marked so entries appended later (a read in flight) are stored without content. An entry that
    no longer matches its hash keeps its content: a purge must not launder tampering. The system
    chain records the erasure (space id, time), as the tombstone does.
    """
    chain = rules.chain_for(holder_id)
    store = anchors.store_for(session)
    if store is not None:
        store.record_purged([chain])
    _lock_heads(session, {chain: 0})  # locks the head (created when absent), reserves nothing
    session.execute(
        update(AuditChainHead).where(AuditChainHead.chain == chain).values(redacted=True)
    )
    redacted = kept = 0
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.chain == chain, AuditEntry.action.is_not(None))
        .order_by(AuditEntry.seq)
    )
    for entry in entries:
        if hash_problem(entry) is not None:
            kept += 1
            continue
        _redact(entry)
        redacted += 1
    if kept:
        log.warning("purge: %d audit entries do not match their hash; kept for verify", kept)
    session.flush()
    # The erasure itself stays on record, outside the space: that it happened, when, not what
    # the space held (like the tombstone).
    append(
        session,
        actor_kind=SYSTEM.kind.value,
        actor_id=str(SYSTEM.id),
        action="account.purge",
        target_type="Space",
        target_id=str(holder_id),
        mode=Mode.SYSTEM,
        reason="erasure",
    )
    return redacted


def checkpoint_message(checkpoint: AuditCheckpoint) -> bytes:
    return rules.checkpoint_message(
        checkpoint.id,
        checkpoint.at.isoformat(timespec="microseconds"),
        checkpoint.root,
        checkpoint.prev_hash,
        checkpoint.key_id,
    )


def checkpoint_hash(checkpoint: AuditCheckpoint) -> str:
    return rules.checkpoint_hash(checkpoint_message(checkpoint), checkpoint.signature)


def count_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def last_entry_at(
    session: Session, holder_id: uuid.UUID, actor_kinds: Sequence[str], actor_ids: Sequence[str]
) -> dict[str, dt.datetime]:
    """ACC-8: when each of these actors last left an entry in this space (actor id → time)."""
    if not actor_ids:
        return {}
    rows = session.execute(
        select(AuditEntry.actor_id, func.max(AuditEntry.at))
        .where(
            AuditEntry.holder_id == holder_id,
            AuditEntry.actor_kind.in_(actor_kinds),
            AuditEntry.actor_id.in_(actor_ids),
        )
        .group_by(AuditEntry.actor_id)
    ).all()
    return {actor_id: at for actor_id, at in rows}


@dataclass(frozen=True)
class SpaceEntryFilter:
    """Which of a space's entries a history page shows (ACC-8). `actor_ids` empty: no entry (an
    actor nobody is); entries naming one of `hidden_ids` under one of `hidden_types` are left out
    (the reader may not see that document: DOC-4, REP-2)."""

    actor_kinds: Sequence[str] | None = None
    actor_ids: Sequence[str] | None = None
    mode: str | None = None
    since: dt.datetime | None = None
    before: dt.datetime | None = None
    hidden_types: Sequence[str] = ()
    hidden_ids: Sequence[str] = ()


def entries_for_space(
    session: Session, holder_id: uuid.UUID, wanted: SpaceEntryFilter, *, page: int, per_page: int
) -> tuple[int, list[AuditEntry]]:
    """ACC-8: how many of the space's entries `wanted` keeps, and those of `page` (from 1),
    newest first."""
    where = _space_conditions(holder_id, wanted)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.scalars(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.seq.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return total, list(rows)


def space_entries_after(
    session: Session,
    holder_id: uuid.UUID,
    wanted: SpaceEntryFilter,
    after: AuditEntry | None,
    *,
    limit: int,
) -> list[AuditEntry]:
    """ACC-8: the next `limit` of the space's entries `wanted` keeps, newest first (as
    `entries_for_space`, ties broken by id), after the entry `after`: a whole history read by
    chunks, each from the last entry seen, with no count and no OFFSET scan."""
    where = _space_conditions(holder_id, wanted)
    if after is not None:
        where.append(
            or_(
                AuditEntry.at < after.at,
                and_(
                    AuditEntry.at == after.at,
                    or_(
                        AuditEntry.seq < after.seq,
                        and_(AuditEntry.seq == after.seq, AuditEntry.id < after.id),
                    ),
                ),
            )
        )
    return list(
        session.scalars(
            select(AuditEntry)
            .where(*where)
            .order_by(AuditEntry.at.desc(), AuditEntry.seq.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    )


def entry_in_space(
    session: Session, holder_id: uuid.UUID, entry_id: uuid.UUID
) -> AuditEntry | None:
    """One entry of this space's chain; None when it is not one (ACC-8: reports name an entry)."""
    entry = session.get(AuditEntry, entry_id)
    return entry if entry is not None and entry.holder_id == holder_id else None


def _space_conditions(holder_id: uuid.UUID, wanted: SpaceEntryFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [AuditEntry.holder_id == holder_id]
    if wanted.actor_kinds is not None:
        where.append(AuditEntry.actor_kind.in_(wanted.actor_kinds))
    if wanted.actor_ids is not None:
        where.append(AuditEntry.actor_id.in_(wanted.actor_ids))
    if wanted.mode:
        where.append(AuditEntry.mode == wanted.mode)
    if wanted.since is not None:
        where.append(AuditEntry.at >= wanted.since)
    if wanted.before is not None:
        where.append(AuditEntry.at < wanted.before)
    if wanted.hidden_ids:
        where.append(
            or_(
                AuditEntry.target_type.is_(None),
                AuditEntry.target_type.not_in(wanted.hidden_types),
                AuditEntry.target_id.is_(None),
                AuditEntry.target_id.not_in(wanted.hidden_ids),
            )
        )
    return where
