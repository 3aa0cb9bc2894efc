"""Verifying the audit log (rule ACC-8): `carnet audit verify`.

One walk over every chain in (chain, seq) order, then the signed checkpoints. It names the first
entry edited, deleted, inserted or reordered, a chain cut off or rewound before the last entry the
anchor store saw committed (`audit.anchors`), content removed from a space that was never purged,
and a checkpoint removed, re-signed or altered. The anchor store is read before the database:
whatever it names was committed before anything below is read, so an append that commits while
verify runs can never look like a truncation.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.audit import anchors, rules
from carnet.audit.models import AuditChainHead, AuditCheckpoint, AuditEntry
from carnet.audit.rules import GENESIS
from carnet.audit.service import checkpoint_hash, checkpoint_message, hash_problem, is_redacted
from carnet.audit.signing import Signer


@dataclass
class VerifyReport:
    entries: int = 0
    chains: int = 0
    checkpoints: int = 0
    anchored: int = 0
    problems: list[str] = field(default_factory=list)
    # Not tampering, but worth an operator's eye (an unanchored tail after a crash, say).
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


class _Stop(Exception):
    """The first problem was found and the caller wants no more."""


def verify(session: Session, signer: Signer, *, stop_at_first: bool = True) -> VerifyReport:
    """Walk every chain and checkpoint; report the first broken entry (edited, deleted,
    inserted or reordered) or checkpoint, and any chain that ends before the last entry the
    anchor store saw committed (truncated, even with its head row rewound)."""
    walk = _Walk(session, signer, stop_at_first)
    with contextlib.suppress(_Stop):
        walk.run()
    return walk.report


class _Walk:
    """The state of one verification, in named steps (each small enough to read)."""

    def __init__(self, session: Session, signer: Signer, stop_at_first: bool) -> None:
        self.session, self.signer, self.stop_at_first = session, signer, stop_at_first
        self.report = VerifyReport()
        self.anchored: dict[str, tuple[int, str]] = {}
        self.purged: set[str] = set()
        self.has_store = False
        self.at_anchor: dict[str, str] = {}
        self.unanchored: list[str] = []
        self.heads: dict[str, tuple[int, str]] = {}
        self.checkpointed: list[tuple[str, int]] = []
        self.known: dict[tuple[str, int], str] = {}
        self.needed: set[tuple[str, int]] = set()

    def problem(self, message: str) -> None:
        self.report.problems.append(message)
        if self.stop_at_first:
            raise _Stop

    def run(self) -> None:
        self.read_anchor_store()
        self.read_heads()
        self.walk_chains()
        self.leftover_heads_and_anchors()
        self.note_unanchored()
        self.verify_checkpoints()
        self.checkpoints_still_there()

    def read_anchor_store(self) -> None:
        store = anchors.store_for(self.session)
        view = store.read() if store is not None else None
        if view is None:
            self.report.notes.append(
                "no anchor store: the newest entries of a chain could be cut off until a checkpoint"
            )
            return
        self.has_store = True
        self.anchored, self.purged = dict(view.heads), view.purged
        self.report.anchored = len(self.anchored)
        self.report.notes.extend(view.notes)
        for message in view.problems:
            self.problem(message)

    def read_heads(self) -> None:
        for h in self.session.scalars(select(AuditChainHead)):
            self.heads[h.chain] = (h.seq, h.hash)
            if h.checkpointed_seq:
                self.checkpointed.append((h.chain, h.checkpointed_seq))
        self.needed = _checkpoint_leaves(self.session)

    def walk_chains(self) -> None:
        chain: str | None = None
        expected_seq, expected_prev = 1, GENESIS
        for entry in _entries(self.session):
            self.report.entries += 1
            if entry.chain != chain:
                self.close_chain(chain, expected_seq - 1, expected_prev)
                chain, expected_seq, expected_prev = entry.chain, 1, GENESIS
                self.report.chains += 1
            self.check_entry(entry, expected_seq, expected_prev)
            expected_seq, expected_prev = entry.seq + 1, entry.hash
        self.close_chain(chain, expected_seq - 1, expected_prev)

    def check_entry(self, entry: AuditEntry, expected_seq: int, expected_prev: str) -> None:
        where = f"chain {entry.chain} entry #{entry.seq} (id {entry.id})"
        if entry.seq != expected_seq:
            kind = "missing before it (deleted)" if entry.seq > expected_seq else "duplicated"
            self.problem(f"{where}: expected #{expected_seq}, entries {kind}")
        if entry.prev_hash != expected_prev:
            self.problem(
                f"{where}: does not follow the previous entry (deleted, inserted or reordered)"
            )
        wrong = hash_problem(entry)
        if wrong is not None:
            self.problem(f"{where}: {wrong}")
        if is_redacted(entry) and entry.chain not in self.purged:
            self.problem(f"{where}: its content was removed, but its space was never purged")
        if (entry.chain, entry.seq) in self.needed:
            self.known[(entry.chain, entry.seq)] = entry.hash
        if self.anchored.get(entry.chain, (0, ""))[0] == entry.seq:
            self.at_anchor[entry.chain] = entry.hash

    def close_chain(self, chain: str | None, last_seq: int, last_hash: str) -> None:
        if chain is None:
            return
        head = self.heads.pop(chain, None)
        if head is None:
            self.problem(f"chain {chain}: no chain head (entries inserted outside the log)")
        elif head != (last_seq, last_hash):
            self.problem(
                f"chain {chain}: ends at entry #{last_seq} but its head says #{head[0]} "
                "(entries deleted or appended outside the log)"
            )
        else:
            self.check_anchor(chain, last_seq)

    def check_anchor(self, chain: str, last_seq: int) -> None:
        if not self.has_store:
            return
        anchor = self.anchored.pop(chain, None)
        if anchor is None:
            self.unanchored.append(chain)
            return
        seq, hash_ = anchor
        if last_seq < seq:
            gone = f"#{seq}" if last_seq + 1 == seq else f"#{last_seq + 1} to #{seq}"
            self.problem(
                f"chain {chain}: ends at entry #{last_seq} but entry #{seq} was committed "
                f"(anchor store): {gone} deleted (truncated)"
            )
        elif self.at_anchor.get(chain) != hash_:
            self.problem(
                f"chain {chain} entry #{seq}: not the entry committed then (anchor store): "
                "the chain was rewritten"
            )
        elif last_seq > seq:
            self.unanchored.append(chain)

    def leftover_heads_and_anchors(self) -> None:
        for chain in sorted(self.heads):
            if self.heads[chain][0] > 0:
                self.problem(f"chain {chain}: its head names entries that are gone")
        for chain, (seq, _hash) in sorted(self.anchored.items()):
            self.problem(
                f"chain {chain}: entry #{seq} was committed (anchor store) but the chain is gone "
                "(deleted)"
            )

    def note_unanchored(self) -> None:
        if self.unanchored:
            self.report.notes.append(
                f"{len(self.unanchored)} chain(s) end with entries not anchored yet (committed "
                "while verify ran, or a crash between a commit and its anchor; the next "
                f"checkpoint anchors them), e.g. {', '.join(sorted(self.unanchored)[:3])}"
            )

    def verify_checkpoints(self) -> None:
        prev_hash = GENESIS
        for checkpoint in self.session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.id)
        ):
            self.report.checkpoints += 1
            self.check_checkpoint(checkpoint, prev_hash)
            prev_hash = checkpoint_hash(checkpoint)

    def check_checkpoint(self, checkpoint: AuditCheckpoint, prev_hash: str) -> None:
        where = f"checkpoint #{checkpoint.id}"
        if checkpoint.prev_hash != prev_hash:
            self.problem(f"{where}: does not follow the previous checkpoint (one was removed)")
        if checkpoint.key_id != self.signer.key_id:
            self.problem(f"{where}: signed by unknown key {checkpoint.key_id}")
        elif not self.signer.verify(checkpoint_message(checkpoint), checkpoint.signature):
            self.problem(f"{where}: bad signature")
        leaves = json.loads(checkpoint.leaves)
        if rules.merkle_root(leaves) != checkpoint.root:
            self.problem(f"{where}: its list of chain heads was altered")
        for chain, seq, hash_ in leaves:
            if self.known.get((chain, seq)) != hash_:
                self.problem(
                    f"{where}: chain {chain} entry #{seq} is missing or changed since it was signed"
                )

    def checkpoints_still_there(self) -> None:
        for chain, seq in sorted(self.checkpointed):
            # A head says a checkpoint covered it: that checkpoint must still exist (the latest
            # one has no successor pointing back at it).
            if (chain, seq) not in self.needed:
                self.problem(
                    f"chain {chain}: the checkpoint covering entry #{seq} is missing (deleted)"
                )


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


def _checkpoint_leaves(session: Session) -> set[tuple[str, int]]:
    needed: set[tuple[str, int]] = set()
    for leaves in session.scalars(select(AuditCheckpoint.leaves)):
        needed.update((chain, seq) for chain, seq, _hash in json.loads(leaves))
    return needed
