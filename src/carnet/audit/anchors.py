"""Chain heads anchored outside the database, so truncation is caught at any moment (rule ACC-8).

Hash chains and checkpoints alone let whoever can write to the database delete a chain's newest
entries and rewind its head row: nothing inside the database remembers those entries until the
next signed checkpoint. So every commit that moves chain heads appends the new heads to a store
outside the database (`DATA_DIR/audit-anchors`, one file per UTC day, one record per commit,
authenticated with a MAC under a key derived from the audit signing key, never stored in the
database), fsynced before the committing code goes on: a request answers only after its entries
are committed and anchored. `audit.verify` reads the store first, then the database: each chain
must still reach its highest anchored entry, with the anchored hash.

Ordering: a record is written after its commit, so it names committed entries only (a rolled-back
or retried transaction anchors nothing, and cannot make `verify` cry wolf). A crash between the
commit and the record leaves an "unanchored tail": a note, not tampering; the next checkpoint
anchors every head it signs. The heads to anchor are read back inside the transaction just before
it commits, so a savepoint rolled back after an append anchors nothing it undid.

Several threads and processes (`carnet serve --workers N`) append to the same day's file: each
record is one `write()` on a descriptor opened with O_APPEND, which local file systems do not
interleave, and starts with a newline, so a record torn by a crash spoils no other. The store is
as strong as its append-only-ness: make the folder append-only (`chattr +a`, or storage that
refuses rewrites) and back it up apart from the database. Several nodes need one shared
append-only store (see docs/architecture.md). `compact` folds day files older than yesterday into
one authenticated summary, so the store grows with the number of chains, not of commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from carnet import clock
from carnet.audit import group  # noqa: F401  (its before_commit appends; ours must run after it)
from carnet.audit.models import AuditChainHead
from carnet.audit.rules import canonical
from carnet.audit.signing import Signer, load_signer
from carnet.config import Settings
from carnet.db import DATABASE, Database

log = logging.getLogger(__name__)

_EXTENSION = "audit.anchors"
_TOUCHED = "carnet.audit.anchors.touched"
_PENDING = "carnet.audit.anchors.pending"
_KNOWN = "carnet.audit.anchors.known"
SUMMARY = "summary.json"

Head = tuple[str, int, str]


@dataclass
class AnchorView:
    """What the store vouches for: per chain, the highest committed (seq, hash); purged chains."""

    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    purged: set[str] = field(default_factory=set)
    records: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def take(self, record: dict[str, Any], where: str) -> None:
        self.records += 1
        self.purged.update(record.get("purged", ()))
        heads = record.get("heads", ())
        items = heads.items() if isinstance(heads, dict) else ((h[0], h[1:]) for h in heads)
        for chain, (seq, hash_) in items:
            known = self.heads.get(chain)
            if known is None or seq > known[0]:
                self.heads[chain] = (seq, hash_)
            elif seq == known[0] and hash_ != known[1]:
                self.problems.append(
                    f"anchor store {where}: chain {chain} entry #{seq} was anchored with two "
                    "different hashes (history rewritten)"
                )


@dataclass
class AnchorStore:
    directory: Path
    signer: Signer

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- writing ---------------------------------------------------------------------------------

    def record_heads(self, heads: Sequence[Head]) -> None:
        """Anchor committed chain heads (called after the commit)."""
        if heads:
            self._append({"heads": [[c, s, h] for c, s, h in heads]})

    def record_purged(self, chains: Sequence[str]) -> None:
        """Allow these chains' entries to lose their content (LC-8). Written before the purge
        commits: if the purge rolls back, the record permits a redaction that never happened."""
        if chains:
            self._append({"purged": sorted(chains)})

    def _sealed(self, record: dict[str, Any]) -> bytes:
        record = dict(record, at=clock.now().isoformat(timespec="microseconds"))
        return canonical(dict(record, mac=self.signer.mac(canonical(record))))

    def _append(self, record: dict[str, Any]) -> None:
        line = b"\n" + self._sealed(record)
        path = self.directory / f"{clock.now().date().isoformat()}.log"
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = os.write(fd, line)
            if written != len(line):  # only on a full disk: say so rather than half-anchor
                raise OSError(f"short write to the audit anchor store ({written}/{len(line)})")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.directory)

    # -- reading ---------------------------------------------------------------------------------

    def read(self, only: Callable[[Path], bool] | None = None) -> AnchorView:
        """Everything the store vouches for; forged records are problems, torn ones notes."""
        view = AnchorView()
        summary = self.directory / SUMMARY
        if summary.exists():
            self._read_lines(view, summary, [summary.read_bytes()])
        for path in sorted(self.directory.glob("*.log")):
            if only is None or only(path):
                self._read_lines(view, path, path.read_bytes().split(b"\n"))
        return view

    def _read_lines(self, view: AnchorView, path: Path, lines: list[bytes]) -> None:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                record = json.loads(raw)
                tag = record.pop("mac")
            except (ValueError, KeyError, TypeError, AttributeError):
                view.notes.append(f"anchor store {where}: unreadable record (torn by a crash?)")
                continue
            if not isinstance(tag, str) or not self.signer.mac_ok(canonical(record), tag):
                view.problems.append(
                    f"anchor store {where}: not authenticated by this Carnet's key "
                    "(forged or altered)"
                )
                continue
            view.take(record, where)

    # -- compaction ------------------------------------------------------------------------------

    def compact(self, today: dt.date) -> int:
        """Fold day files older than yesterday (no writer uses them any more) into the summary;
        returns how many were folded. Files holding a forged record stay for `verify` to name."""
        cutoff = (today - dt.timedelta(days=1)).isoformat()
        with self._locked():
            old = [p for p in sorted(self.directory.glob("*.log")) if p.stem < cutoff]
            if not old:
                return 0
            view = self.read(only=lambda p: p in old)
            if view.problems:
                log.warning("audit anchors: %d forged record(s); not compacted", len(view.problems))
                return 0
            heads = {c: [s, h] for c, (s, h) in sorted(view.heads.items())}
            body = self._sealed({"summary": cutoff, "heads": heads, "purged": sorted(view.purged)})
            temporary = self.directory / (SUMMARY + ".tmp")
            temporary.write_bytes(body)
            with temporary.open("rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            temporary.replace(self.directory / SUMMARY)
            _fsync_dir(self.directory)
            for path in old:
                path.unlink()
            return len(old)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.directory / ".compact.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- wiring ----------------------------------------------------------------------------------


def install(
    database: Database, settings: Settings, warn: Callable[[str], None] | None = None
) -> AnchorStore:
    """Anchor every commit of `database` that moves chain heads (the app, the CLI, the tests)."""
    store = AnchorStore(
        settings.effective_audit_anchor_dir,
        load_signer(settings.effective_audit_signing_key_file, warn),
    )
    database.extensions[_EXTENSION] = store
    return store


def store_of(database: Database) -> AnchorStore | None:
    found = database.extensions.get(_EXTENSION)
    return found if isinstance(found, AnchorStore) else None


def store_for(session: Session) -> AnchorStore | None:
    database = session.info.get(DATABASE)
    return store_of(database) if isinstance(database, Database) else None


def touch(session: Session, chains: Iterable[str], heads: Iterable[Head] | None = None) -> None:
    """These chains' heads moved (or must be anchored): anchor them once the session commits.

    `heads`, when the caller has just written them, spares reading them back at the commit; only
    outside a savepoint, whose rollback could undo them (then they are read back as before)."""
    touched = session.info.setdefault(_TOUCHED, set())
    known: dict[str, Head] = session.info.setdefault(_KNOWN, {})
    chains = list(chains)
    touched.update(chains)
    if heads is not None and not session.in_nested_transaction():
        known.update((head[0], head) for head in heads)
    else:
        for chain in chains:
            known.pop(chain, None)


@event.listens_for(Session, "before_commit")
def _capture(session: Session) -> None:
    """Read back the touched heads as this transaction will commit them (savepoint-proof)."""
    touched: set[str] | None = session.info.pop(_TOUCHED, None)
    known: dict[str, Head] = session.info.pop(_KNOWN, None) or {}
    if not touched or store_for(session) is None:
        return
    heads: list[Head] = [known[chain] for chain in sorted(touched) if chain in known]
    ordered = sorted(chain for chain in touched if chain not in known)
    for start in range(0, len(ordered), 1000):
        rows = session.execute(
            select(AuditChainHead.chain, AuditChainHead.seq, AuditChainHead.hash).where(
                AuditChainHead.chain.in_(ordered[start : start + 1000]), AuditChainHead.seq > 0
            )
        )
        heads.extend((row.chain, row.seq, row.hash) for row in rows)
    session.info[_PENDING] = heads


@event.listens_for(Session, "after_commit")
def _anchor(session: Session) -> None:
    heads: list[Head] | None = session.info.pop(_PENDING, None)
    store = store_for(session)
    if not heads or store is None:
        return
    try:
        store.record_heads(heads)
    except OSError as exc:
        # The action is committed: failing the request now would not undo it. `verify` reports
        # the tail as unanchored and the next checkpoint anchors it.
        log.error(
            "audit anchors not written (%s): %d chain head(s) unanchored until the next checkpoint",
            type(exc).__name__,
            len(heads),
        )


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended (committed and anchored, or rolled back). A savepoint's
    end forgets nothing: the heads are read back at commit time anyway."""
    if transaction.parent is None:
        session.info.pop(_TOUCHED, None)
        session.info.pop(_KNOWN, None)
        session.info.pop(_PENDING, None)
