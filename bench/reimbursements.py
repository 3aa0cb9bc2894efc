"""Reimbursement feed ingest (issues 7 and 14): lines/s of `import-reimbursements` beside the raw
baseline of the same run.

`make bench SECTIONS=reimbursements`. CARNET_BENCH_REIMB_ROWS lines (1,000,000 by default, the
issue's figure; set it lower for a quick run) over CARNET_BENCH_REIMB_HOLDERS holders (20,000 by
default); 1 line in 50 is a secret act of a minor (REP-2, dropped), 1 in 200 is malformed (a
reject). Then the same on PostgreSQL when a server answers (CARNET_BENCH_POSTGRES_URL).

The raw baseline (what `compare` sets Carnet against) is the simplest code doing the feed's
essential I/O: read the same CSV file with `csv.reader`, skip the secret lines, find the holder in
a dict, seal each line with one AES-GCM under that holder's own key (Carnet must encrypt each line
under its holder's key: erasure depends on it, so a baseline without it would measure another
program), and write rows of the same shape, same indexes and same foreign key as `reimbursements`,
one transaction per Carnet batch — on SQLite with Carnet's pragmas (WAL, synchronous=FULL,
secure_delete; sqlite3's default rollback journal would make the baseline slower than it is), on
PostgreSQL with COPY. The figure without encryption and issue 14's first figure (random rows, 5,000
per commit, default journal) are printed beside it.

What the baseline leaves out, and Carnet does: validating each field, the keyed hash and the lookup
of stored lines (idempotence), the holders' lookup by NIR and state (SRV-4), the data keys' lookup
(and creation on a first import), and one audit entry per holder and batch (ACC-8). The audit
entries' time is printed apart: it is most of a first run when a batch holds few lines per holder.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert

from bench.common import compare, postgres_url, world
from carnet import clock
from carnet.accounts.models import Holder
from carnet.accounts.rules import make_nir, make_rpps
from carnet.audit.bulk import append_bulk
from carnet.db import Database
from carnet.reimbursements.importer import (
    COLUMNS,
    DEFAULT_BATCH_SIZE,
    ImportReport,
    import_feed,
)

DEFAULT_ROWS = 1_000_000
DEFAULT_HOLDERS = 20_000


def _nir(n: int) -> str:
    order, rest = 1 + n % 999, n // 999
    return make_nir(1, 1970, 1, f"{1 + rest // 999:02d}", 1 + rest % 999, order)


def generate(path: Path, rows: int, holders: int) -> None:
    nirs = [_nir(n) for n in range(holders)]
    rpps = [make_rpps(10_000_000 + n) for n in range(500)]
    start = dt.date(2024, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            # (holder, care day) differs on every line up to holders x 600 lines: no line repeats,
            # so the first run really inserts every valid line.
            care = start + dt.timedelta(days=(n // holders + n) % 600)
            charged = 25 + n % 75
            writer.writerow(
                (
                    nirs[n % holders], care.isoformat(), "G" if n % 3 else "YYYY010",
                    "Consultation" if n % 3 else "Radiographie", rpps[n % 500] if n % 4 else "",
                    f"{charged}.{n % 100:02d}" if n % 200 else "12,50", f"{charged * 0.7:.2f}",
                    (care + dt.timedelta(days=1 + n % 9)).isoformat(), "1" if n % 50 == 7 else "0",
                )
            )  # fmt: skip


def _raw_ceiling(rows: int) -> float:
    """Plain sqlite3 executemany of rows shaped like `reimbursements` (indexes included): the
    figure issue 14 started from (no file read, no encryption, sqlite3's default journal)."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-raw-") as tmp:
        db = sqlite3.connect(Path(tmp) / "raw.db")
        db.execute(
            "CREATE TABLE r (id BLOB PRIMARY KEY, holder_id BLOB, line_key TEXT UNIQUE, "
            "care_date TEXT, payment_date TEXT, sealed BLOB, created_at TEXT)"
        )
        db.execute("CREATE INDEX ix_r_holder ON r (holder_id)")
        holders = [uuid.uuid4().hex for _ in range(1000)]
        started = time.perf_counter()
        batch = []
        for n in range(rows):
            batch.append(
                (uuid.uuid4().hex, holders[n % 1000], os.urandom(32).hex(), "2026-01-10",
                 "2026-01-15", os.urandom(160), "2026-01-15 00:00:00")
            )  # fmt: skip
            if len(batch) == 5000:
                db.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                db.commit()
                batch = []
        if batch:
            db.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            db.commit()
        elapsed = time.perf_counter() - started
        db.close()
    return rows / elapsed


_RAW_TABLES = (
    "CREATE TABLE raw_holders (id {uuid} PRIMARY KEY)",
    "CREATE TABLE raw_lines (id {uuid} PRIMARY KEY, "
    "holder_id {uuid} NOT NULL REFERENCES raw_holders (id) ON DELETE CASCADE, "
    "line_key VARCHAR(64) NOT NULL UNIQUE, care_date DATE NOT NULL, payment_date DATE NOT NULL, "
    "sealed {blob} NOT NULL, created_at {stamp} NOT NULL)",
    "CREATE INDEX ix_raw_lines_holder ON raw_lines (holder_id)",
)


def _raw_rows(feed: Path, holders: int, seal: bool) -> Iterator[list[tuple[Any, ...]]]:
    """The feed's lines as rows of `raw_lines`, `batch` at a time: the CSV read with `csv.reader`,
    secret lines skipped, the holder found by NIR in a dict, a random id and line key, the act,
    label, RPPS and amounts sealed with one AES-GCM under the holder's own key when `seal`."""
    keys = {_nir(n): (uuid.UUID(int=n + 1).hex, AESGCM(bytes(32))) for n in range(holders)}
    now = dt.datetime.now(dt.UTC).isoformat()
    batch: list[tuple[Any, ...]] = []
    with feed.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for fields in reader:
            if fields[8] == "1":
                continue
            holder, cipher = keys[fields[0]]
            plain = "|".join(fields[2:7]).encode()
            if seal:
                nonce = os.urandom(12)
                sealed = nonce + cipher.encrypt(nonce, plain, holder.encode())
            else:
                sealed = plain
            batch.append(
                (uuid.uuid4().hex, holder, os.urandom(32).hex(), fields[1], fields[7], sealed, now)
            )
            if len(batch) == DEFAULT_BATCH_SIZE:
                yield batch
                batch = []
    if batch:
        yield batch


def _raw_sqlite(feed: Path, lines: int, holders: int, seal: bool) -> float:
    """Lines/s of the simplest code doing the feed's essential I/O on SQLite (see the module)."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-raw-") as tmp:
        db = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                       "secure_delete=ON"):  # fmt: skip
            db.execute(f"PRAGMA {pragma}")  # Carnet's (carnet.db)
        for statement in _RAW_TABLES:
            db.execute(statement.format(uuid="CHAR(32)", blob="BLOB", stamp="DATETIME"))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO raw_holders VALUES (?)",
            [(uuid.UUID(int=n + 1).hex,) for n in range(holders)],
        )
        db.execute("COMMIT")
        started = time.perf_counter()
        for batch in _raw_rows(feed, holders, seal):
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO raw_lines VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
    return lines / elapsed


def _raw_postgres(database: Database, feed: Path, lines: int, holders: int) -> float:
    """The same on PostgreSQL, the rows sent with COPY (in the bench's throw-away schema)."""
    with database.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for statement in _RAW_TABLES:
                cursor.execute(statement.format(uuid="UUID", blob="BYTEA", stamp="TIMESTAMPTZ"))
            with cursor.copy("COPY raw_holders (id) FROM STDIN") as copy:
                for n in range(holders):
                    copy.write_row((uuid.UUID(int=n + 1).hex,))
        raw.commit()
        started = time.perf_counter()
        for batch in _raw_rows(feed, holders, seal=True):
            with raw.cursor() as cursor, cursor.copy("COPY raw_lines FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
            raw.commit()
        elapsed = time.perf_counter() - started
    return lines / elapsed


def _holders(database: Database, holders: int) -> None:
    """Open spaces, each with its audit chain started as roster provisioning starts it: the feed's
    entries continue existing chains, as in production (on PostgreSQL that costs more than
    starting them)."""
    with database.transaction() as session:
        ids = session.scalars(
            insert(Holder).returning(Holder.id),
            [
                {"nir": _nir(n), "birth_name": "BENCH", "first_names": "Bench",
                 "birth_date": dt.date(1970, 1, 1), "sex": "M", "state": "active"}
                for n in range(holders)
            ],
        ).all()  # fmt: skip
        append_bulk(
            session, [(str(i), "roster") for i in ids], action="account.provision",
            target_type="Space", at=clock.now(),
        )  # fmt: skip


def _show(where: str, report: ImportReport, again: ImportReport, raw: float) -> None:
    print(
        f"{where} import-reimbursements, first run:   {report.rate:9,.0f} lines/s "
        f"({report.imported:,} imported, {report.secret:,} secret, {report.rejected:,} rejected; "
        f"of its {report.seconds:.1f} s, {report.audit_seconds:.1f} s writing "
        f"{report.audit_entries:,} audit entries, ACC-8)"
    )
    print(
        f"{where} import-reimbursements, same file again: {again.rate:9,.0f} lines/s "
        f"({again.unchanged:,} unchanged)"
    )
    compare(f"reimbursement feed, first run, {where}", report.rate, raw, "lines/s",
            target="≥ 70 %")  # fmt: skip
    rest = report.rows / max(report.seconds - report.audit_seconds, 1e-9)
    print(
        f"  (without the audit entries' {report.audit_seconds:.1f} s: {rest:,.0f} lines/s, "
        f"{rest / raw * 100:.0f} % of raw)"
    )


def reimbursements() -> None:
    rows = int(os.environ.get("CARNET_BENCH_REIMB_ROWS", DEFAULT_ROWS))
    holders = int(os.environ.get("CARNET_BENCH_REIMB_HOLDERS", DEFAULT_HOLDERS))
    ceiling = _raw_ceiling(rows)
    print(f"raw sqlite3 executemany (same row shape, issue 14's figure): {ceiling:9,.0f} rows/s")
    with tempfile.TemporaryDirectory(prefix="carnet-bench-feed-") as tmp:
        feed = Path(tmp) / "feed.csv"
        generate(feed, rows, holders)
        plain = _raw_sqlite(feed, rows, holders, seal=False)
        sealed = _raw_sqlite(feed, rows, holders, seal=True)
        print(
            f"raw SQLite, CSV read + executemany, Carnet's pragmas: {plain:9,.0f} lines/s; "
            f"with one AES-GCM per line: {sealed:9,.0f} lines/s"
        )
        with world() as (settings, database, vault):
            _holders(database, holders)
            report = import_feed(database, vault, settings, feed)
            again = import_feed(database, vault, settings, feed)
        _show("SQLite", report, again, sealed)
        pg = postgres_url()
        if pg is None:
            print("PostgreSQL: no server answers; skipped")
            return
        from bench.sections import _pg_schema

        url, cleanup = _pg_schema(pg)
        try:
            with world(url) as (settings, database, vault):
                raw = _raw_postgres(database, feed, rows, holders)
                print(
                    f"raw PostgreSQL, CSV read + one AES-GCM per line + COPY: {raw:9,.0f} lines/s"
                )
                _holders(database, holders)
                report = import_feed(database, vault, settings, feed)
                again = import_feed(database, vault, settings, feed)
            _show("PostgreSQL", report, again, raw)
        finally:
            cleanup()
