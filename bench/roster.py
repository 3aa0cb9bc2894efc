"""Roster provisioning at scale (issues 3, 14): accounts/s and peak memory, next to the raw insert
rate of one row per account measured in the same run.

`make bench SECTIONS=roster`. 1,000,000 rows by default (CARNET_BENCH_ROSTER_ROWS overrides);
PostgreSQL, when one answers, gets CARNET_BENCH_ROSTER_PG_ROWS rows (200,000 by default) to keep
the run short. Provisioning runs in a child process so that its peak RSS is its own.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import compare, postgres_url, world
from carnet.accounts.roster.rows import COLUMNS
from carnet.accounts.rules import make_nir

DEFAULT_ROWS = 1_000_000
DEFAULT_PG_ROWS = 200_000


def _nir(n: int, sex: int, year: int, month: int) -> str:
    # 999 orders x 999 communes per department: unique for up to ~95 million people.
    order, rest = 1 + n % 999, n // 999
    commune, department = 1 + rest % 999, 1 + rest // 999
    return make_nir(sex, year, month, f"{department:02d}", commune, order)


def _person(n: int) -> tuple[str, int, int, int]:
    """(nir, year, month, sex) of person n. Every fifth person is a minor."""
    minor = n % 5 == 4
    year = 2010 + n % 13 if minor else 1940 + n % 65
    month, sex = 1 + n % 12, 1 + n % 2
    return _nir(n, sex, year, month), year, month, sex


def generate(path: Path, count: int) -> dict[str, int]:
    """A synthetic roster: valid NIR keys, 20 % minors (their declaring parent usually just
    before them, sometimes just after, and 1 in 50 a few batches later), half of them with a
    second representative, 5 % of adults without e-mail (a letter is printed for them)."""
    stats = {"rows": 0, "minors": 0, "later": 0, "no_email": 0}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(count):
            nir, year, month, sex = _person(n)
            rep = rep2 = ""
            email = f"p{n}@example.org"
            if n % 5 == 4:
                stats["minors"] += 1
                email = ""
                if (n // 5) % 50 == 0 and n + 6001 < count:
                    rep = _person(n + 6001)[0]  # several batches later: set aside, retried
                    stats["later"] += 1
                elif (n // 5) % 10 == 1 and n + 1 < count:
                    rep = _person(n + 1)[0]  # just after, same batch
                else:
                    rep = _person(n - 1)[0]
                if n % 2 == 0:
                    rep2 = _person(n - 2)[0]
            elif n % 20 == 0:
                email = ""
                stats["no_email"] += 1
            writer.writerow(
                (
                    nir,
                    f"NOM{n:07d}",
                    "Marie Claire" if sex == 2 else "Jean Pierre",
                    f"{year}-{month:02d}-{1 + n % 28:02d}",
                    "M" if sex == 1 else "F",
                    "75111",
                    email,
                    "06 12 34 56 78",
                    f"{n % 200} rue de la République, 75011 Paris",
                    rep,
                    rep2,
                    "",
                )
            )
            stats["rows"] += 1
    return stats


# -- the child process: provisioning and letters, measured on their own -------------------------


def _child(data_dir: str, url: str, roster: str, letters: bool) -> None:
    from carnet.accounts.roster.provision import provision
    from carnet.config import Settings
    from carnet.db import Database
    from carnet.vault.service import Vault

    settings = Settings(data_dir=Path(data_dir), database_url=url, jobs_interval_seconds=0)
    database = Database(url, pool_size=2)
    vault = Vault.from_settings(settings)
    report = provision(database, vault, settings, Path(roster))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "rows": report.rows,
        "created": report.created,
        "rejected": report.rejected,
        "deferred": report.deferred,
        "emails": report.emails,
        "letters": report.letters,
        "seconds": report.seconds,
        "peak_mb": peak,
    }
    if letters:
        # Imported only now: the letters module pulls the jobs runner (and FastAPI) in, which
        # provisioning itself does not need.
        from carnet.accounts import letters as letters_service

        started = time.perf_counter()
        rendered = letters_service.render_all(database, vault, settings)
        result["letters_rendered"] = rendered.letters
        result["letter_files"] = len(rendered.files)
        result["letters_seconds"] = time.perf_counter() - started
        result["peak_mb_with_letters"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    database.dispose()
    print(json.dumps(result))


def _run_child(data_dir: Path, url: str, roster: Path, letters: bool) -> dict[str, float]:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{root / 'src'}")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.roster",
            str(data_dir),
            url,
            str(roster),
            "1" if letters else "0",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the raw baselines: one row per account, nothing else ----------------------------------------


def _raw_rows(start: int, stop: int, ids: list[str]) -> list[tuple[object, ...]]:
    """Holder-wide rows (28 columns) with time-ordered ids, as the roster writes them."""
    return [
        (
            ids[n - start].replace("-", ""), _nir(n, 1, 1970, 1), "NOM",
            f"1970-01-{1 + n % 28:02d}", "M", "75111", f"p{n}@example.org", "06 12 34 56 78",
            "1 rue X, 75011 Paris", None, None, None, "notified", "2026-01-01 00:00:00.000000",
            "2026-01-01 00:00:00.000000", "2026-01-01", "2026-02-12", None, None, None, None, None,
            0, None, None, 0, None, "0123456789abcdef0123456789abcdef",
        )
        for n in range(start, stop)
    ]  # fmt: skip


_RAW_INDEXES = (("c1", True), ("c3", False), ("c12", False), ("c16", False), ("c21", False),
                ("c23", True))  # fmt: skip  # the holders table's: nir, birth date, state, ...


def _raw_sqlite(directory: Path, count: int, with_holder_indexes: bool) -> float:
    """sqlite3 executemany of `count` holder-wide rows, 5,000 per transaction, WAL and
    synchronous=FULL like Carnet: into a bare table, or into one with the holders table's indexes."""
    from carnet.accounts.roster.ids import ordered_ids

    path = directory / f"ceiling-{uuid.uuid4().hex}.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    columns = [f"c{i}" for i in range(28)]
    connection.execute(f"CREATE TABLE t (id CHAR(32) PRIMARY KEY, {', '.join(columns[1:])})")
    if with_holder_indexes:
        for name, unique in _RAW_INDEXES:
            connection.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX ix_{name} ON t ({name})")
    sql = f"INSERT INTO t VALUES ({', '.join('?' * 28)})"
    elapsed = 0.0
    for start in range(0, count, 5000):
        stop = min(count, start + 5000)
        rows = _raw_rows(start, stop, ordered_ids(stop - start))
        began = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(sql, rows)
        connection.execute("COMMIT")
        elapsed += time.perf_counter() - began
    connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return count / elapsed


def _raw_postgres(url: str, count: int) -> float:
    """COPY of `count` holder-wide rows, 5,000 per transaction, into a table with the holders
    table's indexes (a logged table, in a throw-away schema)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from carnet.accounts.roster.ids import ordered_ids

    parsed = make_url(url)
    schema = f"carnet_raw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        host=parsed.host, port=parsed.port, dbname=parsed.database, user=parsed.username,
        password=parsed.password,
    ) as connection:  # fmt: skip
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(
            f'CREATE TABLE "{schema}".t (id uuid PRIMARY KEY, '
            + ", ".join(f"c{i} text" if i not in (22, 25) else f"c{i} int" for i in range(1, 28))
            + ")"
        )
        for name, unique in _RAW_INDEXES:
            connection.execute(
                f'CREATE {"UNIQUE " if unique else ""}INDEX ON "{schema}".t ({name})'
            )
        connection.commit()
        elapsed = 0.0
        try:
            for start in range(0, count, 5000):
                stop = min(count, start + 5000)
                ids = ordered_ids(stop - start)
                rows = [(ids[n], *row[1:]) for n, row in enumerate(_raw_rows(start, stop, ids))]
                began = time.perf_counter()
                with (
                    connection.cursor() as cursor,
                    cursor.copy(f'COPY "{schema}".t FROM STDIN') as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
                connection.commit()
                elapsed += time.perf_counter() - began
        finally:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
            connection.commit()
    return count / elapsed


def roster() -> None:
    """Provision a synthetic roster into a fresh SQLite database (and PostgreSQL): accounts/s and
    peak memory of the provisioning process against the raw insert rate of one row per account
    (same run), letters rendering time."""
    count = int(os.environ.get("CARNET_BENCH_ROSTER_ROWS", DEFAULT_ROWS))
    pg_count = int(os.environ.get("CARNET_BENCH_ROSTER_PG_ROWS", min(count, DEFAULT_PG_ROWS)))
    with tempfile.TemporaryDirectory(prefix="carnet-roster-") as tmp:
        roster_path = Path(tmp) / "roster.csv"
        started = time.perf_counter()
        stats = generate(roster_path, count)
        size_mb = roster_path.stat().st_size / 1e6
        print(
            f"synthetic roster: {stats['rows']:,} rows ({size_mb:.0f} MB), {stats['minors']:,} minors "
            f"({stats['later']:,} with the parent batches later), {stats['no_email']:,} adults without "
            f"e-mail; generated in {time.perf_counter() - started:.1f} s (not counted)"
        )
        with world() as (settings, _database, _vault):
            result = _run_child(
                settings.data_dir, settings.effective_database_url, roster_path, True
            )
        rate = result["created"] / result["seconds"]
        print(
            f"SQLite provision: {result['created']:,.0f} created in {result['seconds']:.1f} s, "
            f"{result['rejected']:.0f} rejected, {result['deferred']:,.0f} set aside then created; "
            f"{result['emails']:,.0f} e-mails, {result['letters']:,.0f} letters"
        )
        bare = _raw_sqlite(Path(tmp), count, with_holder_indexes=False)
        indexed = _raw_sqlite(Path(tmp), count, with_holder_indexes=True)
        print(
            f"  raw executemany of one holder-wide row per account, bare table: {bare:,.0f} rows/s"
        )
        compare(
            f"SQLite roster provisioning, {count:,} people (raw: executemany of one holder-wide row "
            "per account into a table with the holders' indexes)",
            rate,
            indexed,
            "accounts/s",
            target=">= 20,000 accounts/s and >= 50 %",
        )
        print(
            f"  peak RSS of the SQLite provisioning process: {result['peak_mb']:.0f} MB "
            "(target < 300 MB)"
        )
        print(
            f"SQLite letters rendering: {result['letters_rendered']:,.0f} letters into "
            f"{result['letter_files']:.0f} PDF file(s) in {result['letters_seconds']:.1f} s "
            f"({result['letters_rendered'] / max(result['letters_seconds'], 1e-9):,.0f} letters/s; "
            f"peak RSS with rendering {result['peak_mb_with_letters']:.0f} MB)"
        )
        pg = postgres_url()
        if pg is None:
            print("PostgreSQL: no server answers; skipped")
            return
        from bench.sections import _pg_schema

        pg_path = Path(tmp) / "roster-pg.csv"
        generate(pg_path, pg_count)
        url, cleanup = _pg_schema(pg)
        try:
            with world(url) as (settings, _database, _vault):
                result = _run_child(settings.data_dir, url, pg_path, False)
        finally:
            cleanup()
        raw_pg = _raw_postgres(pg, pg_count)
        compare(
            f"PostgreSQL roster provisioning, {pg_count:,} people (raw: COPY of one holder-wide row "
            "per account into a table with the holders' indexes)",
            result["created"] / result["seconds"],
            raw_pg,
            "accounts/s",
            target=">= 20,000 accounts/s",
        )
        print(f"  peak RSS of the PostgreSQL provisioning process: {result['peak_mb']:.0f} MB")


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1")
