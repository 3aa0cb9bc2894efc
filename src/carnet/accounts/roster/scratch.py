"""The run's scratch index: duplicates within the file and minors set aside (see
`accounts.roster.provision` for why it lives on disk)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from carnet.accounts.roster.rows import RosterRow
from carnet.feeds import Reject

_IN_CHUNK = 5000  # bound parameters per IN (...) query


class Scratch:
    """A temporary SQLite file of this run: keyed hashes of the NIRs seen so far, with their line,
    and the rows set aside until the end. Bounded memory whatever the file size (see the module
    docstring); deleted when the run ends."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._dir = tempfile.TemporaryDirectory(prefix=".provision-", dir=directory)
        self._key = secrets.token_bytes(32)
        self._db = sqlite3.connect(
            Path(self._dir.name) / "scratch.db", isolation_level=None, check_same_thread=False
        )
        for pragma in (
            "PRAGMA journal_mode=MEMORY",
            "PRAGMA synchronous=OFF",
            "PRAGMA cache_size=-32768",  # 32 MB
            "PRAGMA temp_store=FILE",
        ):
            self._db.execute(pragma)
        self._db.execute("CREATE TABLE seen (h BLOB PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self._db.execute("CREATE TABLE deferred (line INTEGER PRIMARY KEY, row TEXT)")
        self.deferred_count = 0

    def _hash(self, nir: str) -> bytes:
        return hashlib.blake2b(nir.encode(), key=self._key, digest_size=16).digest()

    def first_seen(self, rows: list[RosterRow]) -> tuple[list[RosterRow], list[Reject]]:
        """Keep the rows whose NIR was not seen earlier in the file; the others are duplicates."""
        local: dict[bytes, int] = {}
        keep: list[RosterRow] = []
        keys: list[bytes] = []
        dups: list[Reject] = []
        for row in rows:
            key = self._hash(row.nir)
            first = local.get(key)
            if first is not None:
                dups.append(Reject(row.line, "nir", f"duplicate NIR: already on line {first}"))
                continue
            local[key] = row.line
            keep.append(row)
            keys.append(key)
        db = self._db
        db.execute("BEGIN")
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO seen (h, line) VALUES (?, ?)",
            zip(keys, (r.line for r in keep), strict=True),
        )
        if db.total_changes - before == len(keys):
            db.execute("COMMIT")
            return keep, dups
        # Rare: some NIRs were seen in an earlier batch. Find which, then record the others.
        db.execute("ROLLBACK")
        earlier: dict[bytes, int] = {}
        for start in range(0, len(keys), _IN_CHUNK):
            part = keys[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(part))
            earlier.update(db.execute(f"SELECT h, line FROM seen WHERE h IN ({marks})", part))  # noqa: S608
        fresh: list[RosterRow] = []
        fresh_keys: list[bytes] = []
        for row, key in zip(keep, keys, strict=True):
            if key in earlier:
                dups.append(
                    Reject(row.line, "nir", f"duplicate NIR: already on line {earlier[key]}")
                )
            else:
                fresh.append(row)
                fresh_keys.append(key)
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO seen (h, line) VALUES (?, ?)",
            zip(fresh_keys, (r.line for r in fresh), strict=True),
        )
        db.execute("COMMIT")
        dups.sort(key=lambda r: r.line)
        return fresh, dups

    def defer(self, rows: list[RosterRow]) -> None:
        if rows:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO deferred (line, row) VALUES (?, ?)",
                ((r.line, r.to_json()) for r in rows),
            )
            self._db.execute("COMMIT")
            self.deferred_count += len(rows)

    def deferred(self, batch_size: int) -> Iterator[list[RosterRow]]:
        """The rows set aside, in file order, a batch at a time."""
        last = 0
        while True:
            found = self._db.execute(
                "SELECT line, row FROM deferred WHERE line > ? ORDER BY line LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not found:
                return
            last = found[-1][0]
            yield [RosterRow.from_json(text) for _line, text in found]

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
