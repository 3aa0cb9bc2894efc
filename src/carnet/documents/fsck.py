"""`carnet fsck`: the blob store and the database agree (issue 4, storage; rule LC-8).

A deposit writes and fsyncs its encrypted blob before its metadata row commits, and a rolled-back
transaction deletes the blobs it wrote. A crash in between leaves what this module finds:

- **orphan blobs**: in the store, referenced by no row (repaired: deleted). Only blobs older than
  `GRACE` (file mtime) are judged, so that a deposit in flight is never raced;
- **leftovers**: `.part` files of writes that never finished (repaired: deleted, same grace);
- **missing blobs**: a row whose blob is gone (reported only: the content is lost);
- **key mismatches**: a blob whose header names another data key than its holder's, or that has
  no readable header (reported only: it cannot be decrypted).

Rows referencing blobs are found in every table with a `blob_id` column: `documents`, and
`staged_binaries` (the FHIR Binary staging area) or any later one when it exists. The scan works in
short transactions and lists the store *before* reading the rows, so a deposit that commits during
the scan is never taken for an orphan.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.db import Database
from carnet.errors import NotFound, VaultError
from carnet.vault import crypto
from carnet.vault.blobstore import BlobStore, LocalBlobStore
from carnet.vault.models import DataKey
from carnet.vault.service import Vault

# Unreferenced blobs and temporary files younger than this may belong to a deposit in flight.
GRACE = dt.timedelta(hours=1)
BATCH = 1000
BLOB_COLUMN = "blob_id"


class ProgressSink(Protocol):
    """Where the scan reports its progress (a Rich progress bar in the CLI)."""

    def phase(self, label: str, total: int | None) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class _Silent:
    def phase(self, label: str, total: int | None) -> None:
        return None

    def advance(self, steps: int = 1) -> None:
        return None


@dataclass(frozen=True)
class RowProblem:
    """A row whose blob is missing or cannot be opened with its holder's key."""

    table: str
    row_id: str
    blob_id: str
    reason: str  # missing-blob | key-mismatch | no-data-key | unreadable-header


@dataclass
class FsckReport:
    blobs: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows referencing blobs, per table
    orphans: list[str] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)
    recent_skipped: int = 0  # unreferenced blobs or leftovers younger than GRACE
    row_problems: list[RowProblem] = field(default_factory=list)
    orphans_deleted: int = 0
    leftovers_deleted: int = 0
    repaired: bool = False

    @property
    def missing(self) -> list[RowProblem]:
        return [p for p in self.row_problems if p.reason == "missing-blob"]

    @property
    def unreadable(self) -> list[RowProblem]:
        return [p for p in self.row_problems if p.reason != "missing-blob"]

    @property
    def remaining(self) -> int:
        """Problems still there: every row problem, and orphans or leftovers not deleted."""
        left = len(self.row_problems)
        if self.repaired:
            left += len(self.orphans) - self.orphans_deleted
            left += len(self.leftovers) - self.leftovers_deleted
        else:
            left += len(self.orphans) + len(self.leftovers)
        return left


@dataclass(frozen=True)
class _RefTable:
    table: sa.Table
    key: str | None  # single-column primary key, to name rows in the report
    has_holder: bool  # a `holder_id` column: the blob's header key id is checked


def reference_tables(database: Database) -> list[_RefTable]:
    """Every table with a `blob_id` column (documents first), reflected from the database itself,
    so tables added by other packages (e.g. `staged_binaries`) are covered when they exist."""
    inspector = sa.inspect(database.engine)
    found: list[_RefTable] = []
    for name in inspector.get_table_names():
        columns = {c["name"] for c in inspector.get_columns(name)}
        if BLOB_COLUMN not in columns:
            continue
        table = sa.Table(name, sa.MetaData(), autoload_with=database.engine)
        pk = list(inspector.get_pk_constraint(name).get("constrained_columns") or [])
        found.append(_RefTable(table, pk[0] if len(pk) == 1 else None, "holder_id" in columns))
    return sorted(found, key=lambda t: (t.table.name != "documents", t.table.name))


def _row_name(value: Any) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def _rows(
    database: Database, ref: _RefTable
) -> Iterator[list[tuple[str, str, uuid.UUID | None, bool]]]:
    """(row id, blob id, holder's data key id, has a data key) by batches, each batch read in its
    own short transaction (no lock is held while files are read)."""
    t = ref.table
    blob = t.c[BLOB_COLUMN]
    columns: list[Any] = [t.c[ref.key] if ref.key else sa.literal("-"), blob]
    statement = sa.select(*columns).where(blob.is_not(None))
    if ref.has_holder:
        keys = DataKey.__table__
        statement = (
            sa.select(*columns, keys.c.id)
            .outerjoin(keys, keys.c.holder_id == t.c["holder_id"])
            .where(blob.is_not(None))
        )
    if ref.key is None:
        with database.transaction() as session:
            rows = session.execute(statement).all()
        yield [_shape(row, ref.has_holder) for row in rows]
        return
    last: Any = None
    while True:
        page = statement.order_by(t.c[ref.key]).limit(BATCH)
        if last is not None:
            page = page.where(t.c[ref.key] > last)
        with database.transaction() as session:
            rows = session.execute(page).all()
        if not rows:
            return
        yield [_shape(row, ref.has_holder) for row in rows]
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def _shape(row: Any, has_holder: bool) -> tuple[str, str, uuid.UUID | None, bool]:
    key_id = row[2] if has_holder else None
    if key_id is not None and not isinstance(key_id, uuid.UUID):
        key_id = uuid.UUID(str(key_id))
    return _row_name(row[0]), str(row[1]), key_id, has_holder


def _count(database: Database, ref: _RefTable) -> int:
    with database.transaction() as session:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(ref.table)
                .where(ref.table.c[BLOB_COLUMN].is_not(None))
            )
            or 0
        )


def _header_problem(store: BlobStore, blob_id: str, key_id: uuid.UUID | None) -> str | None:
    try:
        with store.open(blob_id) as handle:
            header = handle.read(crypto.BLOB_HEADER_BYTES)
    except NotFound:
        return "missing-blob"
    if key_id is None:
        return "no-data-key"  # shredded (LC-8) or never created: the content cannot be decrypted
    try:
        found = crypto.blob_key_id(header)
    except VaultError:
        return "unreadable-header"
    return None if found == key_id else "key-mismatch"


def _age_seconds(store: BlobStore, blob_id: str, now: float) -> float | None:
    """Seconds since the blob file was last written, or None when it is gone or unknowable."""
    try:
        with store.open(blob_id) as handle:
            fileno = getattr(handle, "fileno", None)
            if fileno is None:
                return None
            return now - os.fstat(fileno()).st_mtime
    except (NotFound, OSError):
        return None


def scan(
    database: Database,
    vault: Vault,
    *,
    grace: dt.timedelta = GRACE,
    progress: ProgressSink | None = None,
) -> FsckReport:
    """Find orphans, leftovers, missing blobs and key mismatches; change nothing."""
    sink = progress or _Silent()
    store = vault.blobs
    report = FsckReport()
    now = time.time()  # file times are wall-clock times, whatever `carnet.clock` says

    sink.phase("Listing blobs", None)
    stored = set(store.ids())  # listed before the rows are read: see the module docstring
    report.blobs = len(stored)
    if isinstance(store, LocalBlobStore):
        for path in store.leftovers():
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue  # finished (renamed) or cleaned meanwhile
            if age >= grace.total_seconds():
                report.leftovers.append(path)
            else:
                report.recent_skipped += 1

    tables = reference_tables(database)
    referenced: set[str] = set()
    for ref in tables:
        total = _count(database, ref)
        report.rows[ref.table.name] = total
        sink.phase(f"Checking {ref.table.name}", total)
        for batch in _rows(database, ref):
            for row_id, blob_id, key_id, has_holder in batch:
                referenced.add(blob_id)
                if has_holder:
                    reason = _header_problem(store, blob_id, key_id)
                else:
                    reason = None if _exists(store, blob_id) else "missing-blob"
                if reason is not None:
                    report.row_problems.append(RowProblem(ref.table.name, row_id, blob_id, reason))
            sink.advance(len(batch))
    report.row_problems = _still_problems(database, tables, store, report.row_problems)

    candidates = sorted(stored - referenced)
    sink.phase("Checking unreferenced blobs", len(candidates))
    for blob_id in candidates:
        blob_age = _age_seconds(store, blob_id, now)
        if blob_age is None:
            pass  # deleted meanwhile (a document deletion that committed)
        elif blob_age >= grace.total_seconds():
            report.orphans.append(blob_id)
        else:
            report.recent_skipped += 1
        sink.advance()
    return report


def _exists(store: BlobStore, blob_id: str) -> bool:
    try:
        with store.open(blob_id):
            return True
    except NotFound:
        return False


def _still_problems(
    database: Database, tables: list[_RefTable], store: BlobStore, problems: list[RowProblem]
) -> list[RowProblem]:
    """Drop problems of rows deleted during the scan (their blob went with them)."""
    if not problems:
        return problems
    alive = _referenced(database, tables, [p.blob_id for p in problems])
    return [p for p in problems if p.blob_id in alive]


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _referenced(database: Database, tables: list[_RefTable], blob_ids: list[str]) -> set[str]:
    """Which of `blob_ids` some row references right now."""
    found: set[str] = set()
    for chunk in _chunks(blob_ids):
        with database.transaction() as session:
            for ref in tables:
                column = ref.table.c[BLOB_COLUMN]
                found.update(
                    str(v) for v in session.scalars(sa.select(column).where(column.in_(chunk)))
                )
    return found


def repair(database: Database, vault: Vault, report: FsckReport) -> FsckReport:
    """Delete the orphans (checked once more against the rows) and the leftovers of `report`;
    rows with missing or unreadable blobs are left for an operator. Records one audit entry."""
    tables = reference_tables(database)
    still_referenced = _referenced(database, tables, report.orphans)
    # A row that came to reference one of them since the scan makes it no orphan after all.
    report.orphans = [blob_id for blob_id in report.orphans if blob_id not in still_referenced]
    for blob_id in report.orphans:
        vault.blobs.delete(blob_id)  # False when already gone: nothing left to repair either way
        report.orphans_deleted += 1
    for path in report.leftovers:
        path.unlink(missing_ok=True)
        report.leftovers_deleted += 1
    report.repaired = True
    with database.transaction() as session:
        record(
            session,
            SYSTEM,
            "storage.fsck-repair",
            target_type="BlobStore",
            reason=(
                f"orphans={report.orphans_deleted},leftovers={report.leftovers_deleted},"
                f"unrepaired_rows={len(report.row_problems)}"
            ),
        )
    return report
