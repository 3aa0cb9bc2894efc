"""Reimbursement feed ingest (issue 7, item 3): lines/s next to a raw SQLite executemany ceiling.

`make bench SECTIONS=reimbursements`. CARNET_BENCH_REIMB_ROWS lines (1,000,000 by default, the
issue's figure; set it lower for a quick run) over CARNET_BENCH_REIMB_HOLDERS holders (20,000 by
default); 1 line in 50 is a secret act of a minor (REP-2, dropped), 1 in 200 is malformed (a
reject). The raw ceiling is measured first, in the same run, on the same number of rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from bench.common import world
from carnet.accounts.models import Holder
from carnet.accounts.rules import make_nir, make_rpps
from carnet.reimbursements.importer import COLUMNS, import_feed

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
    """Plain sqlite3 executemany of rows shaped like `reimbursements` (indexes included)."""
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


def reimbursements() -> None:
    rows = int(os.environ.get("CARNET_BENCH_REIMB_ROWS", DEFAULT_ROWS))
    holders = int(os.environ.get("CARNET_BENCH_REIMB_HOLDERS", DEFAULT_HOLDERS))
    ceiling = _raw_ceiling(rows)
    with world() as (settings, database, vault):
        with database.transaction() as session:
            session.execute(
                insert(Holder),
                [
                    {"nir": _nir(n), "birth_name": "BENCH", "first_names": "Bench",
                     "birth_date": dt.date(1970, 1, 1), "sex": "M", "state": "active"}
                    for n in range(holders)
                ],
            )  # fmt: skip
        feed = settings.data_dir / "feed.csv"
        generate(feed, rows, holders)
        report = import_feed(database, vault, settings, feed)
        again = import_feed(database, vault, settings, feed)
    print(
        f"raw sqlite3 executemany (same row shape):  {ceiling:9.0f} rows/s ({rows:,} rows)"
    )
    print(
        f"import-reimbursements, first run:         {report.rate:9.0f} lines/s "
        f"({report.imported:,} imported, {report.secret:,} secret, {report.rejected:,} rejected)"
    )
    print(
        f"import-reimbursements, same file again:   {again.rate:9.0f} lines/s "
        f"({again.unchanged:,} unchanged)"
    )
