"""Appending to and verifying the audit log (rule ACC-8).

`record()` is called by services inside the transaction of the action it records, so the entry and
the action commit or vanish together. Appends lock only their own space's chain head.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy import insert as insert_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet import clock
from carnet.audit import group, rules
from carnet.audit.models import AuditChainHead, AuditCheckpoint, AuditEntry
from carnet.audit.rules import GENESIS, Mode
from carnet.audit.signing import Signer
from carnet.auth.principal import Principal

_HASHED_FIELDS = (
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


def _fields(entry: AuditEntry) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _HASHED_FIELDS:
        value = getattr(entry, name)
        if name == "at":
            value = value.isoformat(timespec="microseconds")
        elif name == "detail":
            value = value.hex() if value is not None else None
        elif isinstance(value, uuid.UUID):
            value = str(value)
        values[name] = value
    return values


def _lock_head(session: Session, chain: str) -> AuditChainHead:
    """Create the chain head if needed, then lock it (row lock on PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AuditChainHead)
        .values(chain=chain, seq=0, hash=GENESIS, checkpointed_seq=0)
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    head = session.scalars(
        select(AuditChainHead)
        .where(AuditChainHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return head


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

    In a read-mostly session (a GET request) the entry is held until the commit instead, and None
    is returned: see `carnet.audit.group`.
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
    head = _lock_head(session, chain)
    entry = AuditEntry(
        id=uuid.uuid4(),
        chain=chain,
        seq=head.seq + 1,
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
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = rules.entry_hash(entry.prev_hash, _fields(entry))
    session.add(entry)
    head.seq = entry.seq
    head.hash = entry.hash
    session.flush()
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
    """Append many entries with a few statements: heads are created and locked in bulk, entries
    inserted with one executemany. Same chains, same hashes as `append` one by one."""
    if not items:
        return 0
    by_chain: dict[str, list[PendingEntry]] = {}
    for item in items:
        by_chain.setdefault(rules.chain_for(item.holder_id), []).append(item)
    chains = sorted(by_chain)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AuditChainHead).on_conflict_do_nothing(index_elements=["chain"]),
        [{"chain": c, "seq": 0, "hash": GENESIS, "checkpointed_seq": 0} for c in chains],
    )
    heads: dict[str, tuple[int, str]] = {}
    for start in range(0, len(chains), 1000):
        part = chains[start : start + 1000]
        rows = session.execute(
            select(AuditChainHead.chain, AuditChainHead.seq, AuditChainHead.hash)
            .where(AuditChainHead.chain.in_(part))
            .order_by(AuditChainHead.chain)
            .with_for_update()
        ).all()
        heads.update({row.chain: (row.seq, row.hash) for row in rows})
    at = clock.now()
    entries: list[dict[str, Any]] = []
    for chain in chains:
        seq, prev = heads[chain]
        for item in by_chain[chain]:
            seq += 1
            entry = AuditEntry(
                id=uuid.uuid4(),
                chain=chain,
                seq=seq,
                at=at,
                actor_kind=item.actor_kind,
                actor_id=item.actor_id,
                action=item.action,
                target_type=item.target_type,
                target_id=item.target_id,
                holder_id=item.holder_id,
                mode=str(Mode(item.mode)),
                reason=item.reason,
                detail=item.detail,
                request_id=item.request_id,
                prev_hash=prev,
                hash="",
            )
            entry.hash = rules.entry_hash(prev, _fields(entry))
            prev = entry.hash
            entries.append(
                {name: getattr(entry, name) for name in (*_HASHED_FIELDS, "prev_hash", "hash")}
            )
        heads[chain] = (seq, prev)
    session.execute(insert_(AuditEntry), entries)
    # ORM bulk update by primary key: one executemany for every head.
    session.execute(
        update(AuditChainHead),
        [{"chain": c, "seq": heads[c][0], "hash": heads[c][1]} for c in chains],
    )
    return len(entries)


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
    prev_hash = _checkpoint_hash(previous) if previous is not None else GENESIS
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
    checkpoint.signature = signer.sign(_checkpoint_message(checkpoint))
    for head, leaf in zip(heads, leaves, strict=True):
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == head.chain)
            .values(checkpointed_seq=leaf[1])
        )
    session.flush()
    return checkpoint


def _checkpoint_message(checkpoint: AuditCheckpoint) -> bytes:
    return rules.checkpoint_message(
        checkpoint.id,
        checkpoint.at.isoformat(timespec="microseconds"),
        checkpoint.root,
        checkpoint.prev_hash,
        checkpoint.key_id,
    )


def _checkpoint_hash(checkpoint: AuditCheckpoint) -> str:
    return rules.checkpoint_hash(_checkpoint_message(checkpoint), checkpoint.signature)


# -- verification ----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    entries: int = 0
    chains: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    """Every entry ordered by (chain, seq), read in keyset-paginated batches."""
    last: tuple[str, int] | None = None
    while True:
        query = select(AuditEntry).order_by(AuditEntry.chain, AuditEntry.seq).limit(batch)
        if last is not None:
            query = query.where(
                (AuditEntry.chain > last[0])
                | ((AuditEntry.chain == last[0]) & (AuditEntry.seq > last[1]))
            )
        rows = session.scalars(query).all()
        if not rows:
            return
        yield from rows
        last = (rows[-1].chain, rows[-1].seq)
        session.expunge_all()


def verify(session: Session, signer: Signer, *, stop_at_first: bool = True) -> VerifyReport:
    """Walk every chain and checkpoint; report the first broken entry (edited, deleted,
    inserted or reordered) or checkpoint."""
    report = VerifyReport()
    heads: dict[str, tuple[int, str]] = {}
    checkpointed: list[tuple[str, int]] = []
    for h in session.scalars(select(AuditChainHead)):
        heads[h.chain] = (h.seq, h.hash)
        if h.checkpointed_seq:
            checkpointed.append((h.chain, h.checkpointed_seq))
    known: dict[tuple[str, int], str] = {}
    needed = _checkpoint_leaves(session)
    current_chain: str | None = None
    expected_seq, expected_prev = 1, GENESIS

    def problem(message: str) -> bool:
        report.problems.append(message)
        return stop_at_first

    def close_chain(chain: str | None, last_seq: int, last_hash: str) -> bool:
        if chain is None:
            return False
        head = heads.pop(chain, None)
        if head is None:
            return problem(f"chain {chain}: no chain head (entries inserted outside the log)")
        if head != (last_seq, last_hash):
            return problem(
                f"chain {chain}: ends at entry #{last_seq} but its head says #{head[0]} "
                "(entries deleted or appended outside the log)"
            )
        return False

    last_hash = GENESIS
    for entry in _entries(session):
        report.entries += 1
        if entry.chain != current_chain:
            if close_chain(current_chain, expected_seq - 1, last_hash):
                return report
            current_chain, expected_seq, expected_prev = entry.chain, 1, GENESIS
            report.chains += 1
        where = f"chain {entry.chain} entry #{entry.seq} (id {entry.id})"
        if entry.seq != expected_seq:
            kind = "missing before it (deleted)" if entry.seq > expected_seq else "duplicated"
            if problem(f"{where}: expected #{expected_seq}, entries {kind}"):
                return report
        if entry.prev_hash != expected_prev:
            if problem(
                f"{where}: does not follow the previous entry (deleted, inserted or reordered)"
            ):
                return report
        if rules.entry_hash(entry.prev_hash, _fields(entry)) != entry.hash:
            if problem(f"{where}: content does not match its hash (edited or reordered)"):
                return report
        if (entry.chain, entry.seq) in needed:
            known[(entry.chain, entry.seq)] = entry.hash
        expected_seq, expected_prev, last_hash = entry.seq + 1, entry.hash, entry.hash
    if close_chain(current_chain, expected_seq - 1, last_hash):
        return report
    for chain in sorted(heads):
        if heads[chain][0] > 0 and problem(f"chain {chain}: its head names entries that are gone"):
            return report
    _verify_checkpoints(session, signer, known, report, problem)
    if report.problems and stop_at_first:
        return report
    for chain, seq in sorted(checkpointed):
        # A head says a checkpoint covered it: that checkpoint must still exist (the latest one
        # has no successor pointing back at it).
        if (chain, seq) not in needed and problem(
            f"chain {chain}: the checkpoint covering entry #{seq} is missing (deleted)"
        ):
            break
    return report


def _checkpoint_leaves(session: Session) -> set[tuple[str, int]]:
    needed: set[tuple[str, int]] = set()
    for leaves in session.scalars(select(AuditCheckpoint.leaves)):
        needed.update((chain, seq) for chain, seq, _hash in json.loads(leaves))
    return needed


def _verify_checkpoints(
    session: Session,
    signer: Signer,
    known: dict[tuple[str, int], str],
    report: VerifyReport,
    problem: Any,
) -> None:
    prev_hash = GENESIS
    for checkpoint in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
        report.checkpoints += 1
        where = f"checkpoint #{checkpoint.id}"
        if checkpoint.prev_hash != prev_hash:
            if problem(f"{where}: does not follow the previous checkpoint (one was removed)"):
                return
        if checkpoint.key_id != signer.key_id:
            if problem(f"{where}: signed by unknown key {checkpoint.key_id}"):
                return
        elif not signer.verify(_checkpoint_message(checkpoint), checkpoint.signature):
            if problem(f"{where}: bad signature"):
                return
        leaves = json.loads(checkpoint.leaves)
        if rules.merkle_root(leaves) != checkpoint.root:
            if problem(f"{where}: its list of chain heads was altered"):
                return
        for chain, seq, hash_ in leaves:
            if known.get((chain, seq)) != hash_:
                if problem(
                    f"{where}: chain {chain} entry #{seq} is missing or changed since it was signed"
                ):
                    return
        prev_hash = _checkpoint_hash(checkpoint)


def count_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0
