"""`carnet fsck [--repair]`: the crashes a deposit can suffer leave nothing it does not find.

Simulated crashes: a blob written by the vault whose transaction never committed nor rolled back
(process killed), an unfinished `.part` write, and a row whose blob file disappeared.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, text

from carnet.config import Settings
from carnet.db import Database
from carnet.documents import fsck
from carnet.documents.models import Document
from carnet.vault.service import Vault
from tests.documents.samples import blob_path, deposit
from tests.factories import make_holder

Cli = Callable[..., tuple[int, str, str]]
HOUR = 3600
STAGED = "test_staged_binaries"  # shaped like the FHIR package's staging table


def age(path: Path, seconds: float) -> None:
    """Pretend the file was last written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def crashed_deposit(database: Database, vault: Vault, settings: Settings) -> Path:
    """A deposit killed after its blob was fsynced but before its commit: no row, and the
    rollback hook that would delete the blob never ran."""
    with database.transaction() as session:
        holder_id = make_holder(session).id
    session = database.sessionmaker()
    stored = vault.put_blob(session, holder_id, uuid.uuid4(), "document", [b"%PDF-1.7 lost"])
    session.info.pop("carnet.vault.new_blobs")  # what dies with the process
    session.close()
    return blob_path(settings, stored.blob_id)


def unfinished_write(settings: Settings) -> Path:
    tmp = settings.effective_blob_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / f"{uuid.uuid4().hex}.part"
    part.write_bytes(b"CNB1 half a blob")
    return part


def test_fsck_on_a_clean_store(
    run_cli: Cli, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder_id = make_holder(session).id
    deposit(database, vault, settings, holder_id)
    status, out, _err = run_cli("fsck")
    assert status == 0, out
    assert "Blobs in the store: 1; rows referencing blobs: 1 in documents" in out
    assert "Clean." in out


def test_fsck_finds_and_repairs_the_three_crash_cases(
    run_cli: Cli, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder_id = make_holder(session).id
    kept = deposit(database, vault, settings, holder_id)
    lost = deposit(database, vault, settings, holder_id)
    orphan = crashed_deposit(database, vault, settings)
    part = unfinished_write(settings)
    blob_path(settings, lost.blob_id).unlink()  # the row's blob is gone
    in_flight = crashed_deposit(database, vault, settings)  # a deposit still running, maybe
    for path in (orphan, part):
        age(path, 2 * HOUR)

    status, out, _err = run_cli("fsck")
    assert status == 1
    assert "Orphan blobs (no row refers to them): 1" in out
    assert "Unfinished writes (.part files): 1" in out
    assert "Rows whose blob is missing: 1 (not repairable)" in out
    assert f"documents/{lost.id} blob {lost.blob_id} (missing-blob)" in out
    assert "Skipped 1 unreferenced file(s) younger than 60 minutes" in out
    assert "3 problem(s) remain." in out and "--repair" in out
    assert orphan.exists() and part.exists()  # reporting changes nothing

    status, out, _err = run_cli("fsck", "--repair")
    assert status == 1  # the missing blob cannot be repaired
    assert "Orphan blobs (no row refers to them): 1, 1 deleted" in out
    assert "Unfinished writes (.part files): 1, 1 deleted" in out
    assert "1 problem(s) remain." in out
    assert not orphan.exists() and not part.exists()
    assert in_flight.exists()  # younger than the grace period: left alone
    assert blob_path(settings, kept.blob_id).exists()

    # The operator removes the broken row; the blob of the in-flight write is now old.
    with database.transaction() as session:
        session.execute(delete(Document).where(Document.id == lost.id))
    age(in_flight, 2 * HOUR)
    status, out, _err = run_cli("fsck", "--repair")
    assert status == 0 and "Clean after repair." in out
    assert not in_flight.exists()
    status, out, _err = run_cli("fsck")
    assert status == 0 and "Clean." in out
    assert blob_path(settings, kept.blob_id).exists()


def test_fsck_reports_a_blob_under_another_holders_key(
    run_cli: Cli, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        first, second = make_holder(session).id, make_holder(session).id
    mine = deposit(database, vault, settings, first)
    theirs = deposit(database, vault, settings, second)
    shutil.copyfile(blob_path(settings, mine.blob_id), blob_path(settings, theirs.blob_id))
    status, out, _err = run_cli("fsck", "--repair")
    assert status == 1
    assert "Rows whose blob does not open with the holder's key: 1 (not repairable)" in out
    assert f"documents/{theirs.id} blob {theirs.blob_id} (key-mismatch)" in out
    assert blob_path(settings, theirs.blob_id).exists()  # reported, never deleted


def test_fsck_counts_every_table_that_references_blobs(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """Other packages' tables with a `blob_id` column (the FHIR Binary staging area, later ones)
    reference blobs too: theirs are not orphans, and a row whose blob is missing is reported."""
    tables = [t.table.name for t in fsck.reference_tables(database)]
    assert tables[0] == "documents" and STAGED not in tables
    staged = crashed_deposit(database, vault, settings)
    age(staged, 2 * HOUR)
    with database.transaction() as session:
        session.execute(
            text(f"CREATE TABLE {STAGED} (id VARCHAR(36) PRIMARY KEY, blob_id VARCHAR(32))")
        )
        session.execute(
            text(f"INSERT INTO {STAGED} VALUES (:a, :b), (:c, :d)"),
            {"a": "b-1", "b": staged.name, "c": "b-2", "d": "0" * 32},
        )
    try:
        report = fsck.scan(database, vault)
        assert report.rows["documents"] == 0 and report.rows[STAGED] == 2
        assert report.orphans == []
        assert [(p.table, p.row_id, p.reason) for p in report.row_problems] == [
            (STAGED, "b-2", "missing-blob")
        ]
        fsck.repair(database, vault, report)
        assert staged.exists()
    finally:
        with database.transaction() as session:
            session.execute(text(f"DROP TABLE {STAGED}"))


def test_fsck_rechecks_orphans_before_deleting(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """A row that comes to reference a blob between the scan and the repair saves it."""
    orphan = crashed_deposit(database, vault, settings)
    age(orphan, 2 * HOUR)
    report = fsck.scan(database, vault)
    assert report.orphans == [orphan.name]
    with database.transaction() as session:
        holder_id = make_holder(session).id
    doc = deposit(database, vault, settings, holder_id)
    with database.transaction() as session:
        row = session.get(Document, doc.id)
        assert row is not None
        row.blob_id = orphan.name  # (contrived: any row referencing it counts)
    fsck.repair(database, vault, report)
    assert orphan.exists() and report.orphans_deleted == 0
