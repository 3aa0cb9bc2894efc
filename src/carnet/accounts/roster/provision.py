"""Roster provisioning: the insurer's roster creates and updates holders' spaces in bulk.

Rules: ID-1 (a holder is identified by the NIR and five traits), LC-1 (every new eligible person
gets a `notified` space, a single-use provisional code and a notice with the opposition deadline),
LC-6 (a deceased person's space is closed), LC-7 (a minor's notice goes to the managing
representative), LC-8 (a purged person's tombstone stops the roster from recreating the space),
REP-1 (a minor's space is managed by a representative). The file format is documented in
`docs/formats/roster.md`.

How it stays fast and small whatever the file size:

* The file is streamed (CSV through the C `csv` reader, NDJSON line by line); nothing but the
  current batch (default 5,000 rows) is held in memory.
* Each batch is one transaction, committed at the edge. Everything is written with one multi-row
  statement per table (executemany on SQLite, COPY on PostgreSQL), ids are generated in Python and
  hashes computed in Python: there is no per-row query. The run is idempotent, so a crash mid-run is
  repaired by running the same file again (committed batches come back as "unchanged").
* Duplicate NIRs within the file are detected exactly, in file order, through a run-scoped scratch
  index on disk (a temporary SQLite file holding a keyed 16-byte hash of each accepted NIR and its
  line number — never the NIR itself). Memory stays constant; the disk cost is about 40 bytes per
  row and the file is deleted at the end of the run. The database alone could not tell "created by
  this run" from "created by an earlier run" without a run marker column, and an in-memory set of
  every NIR grows with the file.
* Minors whose representative is not known yet (neither in the database nor in the same batch:
  they may appear later in the file) are set aside in the same scratch file and retried once the
  whole file has been read; only then is a still-unknown representative a reject. They are a small
  fraction of the file and they wait on disk, not in memory. The scratch directory lives in the data
  directory, next to the database that holds the same data, and is deleted when the run ends (a run
  killed hard leaves a `.provision-*` directory behind, to delete).
* What a run creates gets time-ordered ids (`roster.ids`): the dozen index entries keyed by a new
  space's id are appended at the right edge of their indexes instead of landing on random pages,
  so the run does not slow down as the tables grow.
* Python's cyclic garbage collector does not run by itself during the run: each batch allocates
  some hundred thousand lists and strings, which set off full collections that walk every object
  of the process (the whole of SQLAlchemy included) — an eighth of the run's time, to find next to
  nothing (batches form no cycles, reference counting frees them). The young generations are
  collected after each batch instead, which bounds what little cyclic garbage the session leaves.
* On SQLite the provisioning connection gets a 64 MB page cache: the indexes keyed by the NIR and
  the birth date stay random, and the default 2 MB cache would read most of their pages back from
  the OS at each insert.

Invalid rows never stop the run: each problem becomes a line of `FILE.rejects.csv` (line number,
field, reason — never a NIR or a name).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections.abc import Iterator
from pathlib import Path

from carnet import clock
from carnet.accounts import rules
from carnet.accounts.roster.report import ProgressCallback, ProvisionReport
from carnet.accounts.roster.rows import RosterRow, validate_row
from carnet.accounts.roster.run import Run
from carnet.accounts.roster.scratch import Scratch
from carnet.accounts.roster.source import open_roster
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.feeds import FileSource, RejectsWriter
from carnet.vault.service import Vault

DEFAULT_BATCH_SIZE = 5000
MAX_BATCH_SIZE = 50_000


def provision(
    database: Database,
    vault: Vault,
    settings: Settings,
    path: Path,
    *,
    notice_date: dt.date | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> ProvisionReport:
    """Load a roster file (rules LC-1, LC-6, LC-7, LC-8, REP-1, ID-1); see `docs/formats/roster.md`.

    Commits one transaction per batch. Raises InvalidInput when the file itself is unusable
    (missing, a directory, empty, no usable header); bad rows go to `FILE.rejects.csv`.
    `progress(rows_read, bytes_read)` is called after each batch.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(
            f"The batch size must be between 1 and {MAX_BATCH_SIZE}.", field="batch_size"
        )
    today = clock.today(settings.timezone)
    notice_day = notice_date or today
    if rules.opposition_deadline(notice_day, settings.opposition_weeks) < today:
        raise InvalidInput(
            "With this notice date the opposition deadline would already be over (LC-1).",
            field="notice_date",
        )
    started = time.perf_counter()
    report = ProvisionReport()
    with _no_automatic_gc(), open_roster(path) as source:
        rejects = RejectsWriter(path)
        scratch: Scratch | None = None
        try:
            scratch = Scratch(settings.data_dir)
            run = Run(database, vault, settings, notice_day, today, report, rejects)

            def flush(rows: list[RosterRow]) -> None:
                gc.collect(1)
                assert scratch is not None
                fresh, dups = scratch.first_seen(rows)
                if dups:
                    rejects.write(dups)
                    report.rejected += len(dups)
                with database.transaction() as session:
                    later = run.apply(session, fresh, final=False)
                scratch.defer(later)
                if progress is not None:
                    progress(report.rows, source.position())

            for batch in _batches(source, rejects, report, today, batch_size):
                flush(batch)
            # Minors whose representative came later in the file: everyone is known by now.
            report.deferred = scratch.deferred_count
            for rows in scratch.deferred(batch_size):
                gc.collect(1)
                with database.transaction() as session:
                    run.apply(session, rows, final=True)
            if progress is not None:
                progress(report.rows, source.position())
        except BaseException:
            rejects.abort()
            raise
        finally:
            if scratch is not None:
                scratch.close()
        report.rejects_file = rejects.finish()
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _no_automatic_gc() -> Iterator[None]:
    """No automatic cyclic collection for the run (see the module docstring); restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _batches(
    source: FileSource,
    rejects: RejectsWriter,
    report: ProvisionReport,
    today: dt.date,
    batch_size: int,
) -> Iterator[list[RosterRow]]:
    """The valid rows of the file, a batch at a time (the last one may be shorter); unreadable
    lines and invalid rows go to the rejects file as they come (ID-1)."""
    batch: list[RosterRow] = []
    for item in source:
        report.rows += 1
        if isinstance(item, list):
            rejects.write(item)
            report.rejected += 1
            if item[0].reason == "not UTF-8":
                report.not_utf8 += 1
            continue
        line, values = item
        result = validate_row(line, values, today)
        if isinstance(result, list):
            rejects.write(result)
            report.rejected += 1
            continue
        batch.append(result)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
