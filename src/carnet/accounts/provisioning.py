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
* On SQLite the provisioning connection gets a 64 MB page cache: every account adds entries to a
  dozen indexes keyed by random values, and the default 2 MB cache would read most of their pages
  back from the OS at each insert.

Invalid rows never stop the run: each problem becomes a line of `FILE.rejects.csv` (line number,
field, reason — never a NIR or a name).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from sqlalchemy import Table, Uuid, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle, notices, rules
from carnet.accounts.models import (
    Holder,
    PostalLetter,
    ProvisionalCode,
    Representation,
)
from carnet.audit import anchors as audit_anchors
from carnet.audit import rules as audit_rules
from carnet.audit.models import AuditChainHead, AuditEntry
from carnet.audit.rules import GENESIS, Mode
from carnet.audit.service import PendingEntry, append_batch
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.feeds import Reject, RejectsWriter, rejects_path
from carnet.notifications import rules as mail_rules
from carnet.notifications.models import PENDING, OutboxMessage
from carnet.vault.service import Vault

# -- the format ---------------------------------------------------------------------------------

COLUMNS = (
    "nir",
    "birth_name",
    "first_names",
    "birth_date",
    "sex",
    "birth_place_insee",
    "email",
    "phone",
    "postal_address",
    "representative_nir",
    "second_representative_nir",
    "deceased_on",
)
# NDJSON objects must carry these keys; the other ones may be left out (null, absent or "").
REQUIRED_FIELDS = ("nir", "birth_name", "first_names", "birth_date", "sex")
DEFAULT_BATCH_SIZE = 5000
MAX_BATCH_SIZE = 50_000
NOTICE_KIND = "account.notice"
NOTICE_SUBJECT = "Votre espace santé Carnet"  # the subject `notices.send_notice` uses
ACTION_PROVISION = "account.provision"
ACTION_CONTACT_UPDATE = "account.contact-update"
ACTION_ROSTER_UPDATE = "account.roster-update"
CONTACT_FIELDS = ("email", "phone", "postal_address")
TRAIT_FIELDS = ("birth_name", "first_names", "birth_date", "sex", "birth_place_insee")
_LINE_FIELD = ""  # the rejects file's `field` when the whole line is at fault
_IN_CHUNK = 5000  # bound parameters per IN (...) query
SQLITE_CACHE_KB = 64 * 1024
MAX_LINE_BYTES = (
    1 << 20
)  # an NDJSON line longer than this is a reject, not a memory spike  # page cache of the provisioning connection on SQLite
_REP_FIELDS = ("representative_nir", "second_representative_nir")


@dataclass(frozen=True, slots=True)
class RosterRow:
    """A validated, normalized roster row (rule ID-1: the NIR and the five traits)."""

    line: int
    nir: str
    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: str
    birth_place_insee: str
    email: str | None
    phone: str | None
    postal_address: str | None
    representative_nir: str | None
    second_representative_nir: str | None
    deceased_on: dt.date | None
    digest: str

    def to_json(self) -> str:
        return json.dumps(
            [
                self.line,
                self.nir,
                self.birth_name,
                self.first_names,
                self.birth_date.isoformat(),
                self.sex,
                self.birth_place_insee,
                self.email,
                self.phone,
                self.postal_address,
                self.representative_nir,
                self.second_representative_nir,
                self.deceased_on.isoformat() if self.deceased_on else None,
                self.digest,
            ],
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> RosterRow:
        v = json.loads(text)
        return cls(
            v[0], v[1], v[2], v[3], dt.date.fromisoformat(v[4]), v[5], v[6], v[7], v[8], v[9],
            v[10], v[11], dt.date.fromisoformat(v[12]) if v[12] else None, v[13],
        )  # fmt: skip

    @property
    def representatives(self) -> tuple[str, ...]:
        if self.representative_nir is None:
            return ()
        if self.second_representative_nir is None:
            return (self.representative_nir,)
        return (self.representative_nir, self.second_representative_nir)


# -- row validation (pure functions) ------------------------------------------------------------

_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INSEE_RE = re.compile(r"(?:[0-9]{5}|2[AB][0-9]{3})")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 .()\-]{3,29}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
MAX_ADDRESS = 500


def _day(value: str, name: str, line: int, problems: list[Reject]) -> dt.date | None:
    if not _DAY_RE.fullmatch(value):
        problems.append(Reject(line, name, "not a date written YYYY-MM-DD"))
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(Reject(line, name, "impossible date (no such day in the calendar)"))
        return None


def row_digest(values: Sequence[str]) -> str:
    """What `Holder.roster_digest` stores: blake2b-128 over the normalized fields of a row, so
    that running the same roster again recognises unchanged people without comparing columns."""
    return hashlib.blake2b("\x1f".join(values).encode("utf-8"), digest_size=16).hexdigest()


def _nir(raw: str) -> tuple[str, str | None]:
    """The normalized NIR and why it is not valid (rule ID-1), or None.

    The common case — 15 clean characters that pass `rules`' own pattern and key — skips
    `rules.normalize_nir`'s substitution; anything else goes through `rules.nir_problem`.
    """
    if len(raw) == 15 and raw.isalnum():
        nir = raw.upper()
        if rules._NIR_RE.match(nir) and rules.nir_key(nir[:13]) == int(nir[13:]):
            return nir, None
    else:
        nir = rules.normalize_nir(raw)
    return nir, rules.nir_problem(nir)


def validate_row(
    line: int, values: Mapping[str, str | None], today: dt.date
) -> RosterRow | list[Reject]:
    """Check and normalize one roster row; every problem found is returned (rule ID-1).

    `values` maps column names to the raw text (None or "" when empty). Reasons name the field and
    the rule broken but never quote the value: the rejects file must not carry personal data.
    """
    problems: list[Reject] = []
    get = values.get
    text = {name: (raw.strip() if (raw := get(name)) else "") for name in COLUMNS}

    raw_nir = text["nir"]
    nir = ""
    if not raw_nir:
        problems.append(Reject(line, "nir", "missing"))
    else:
        nir, problem = _nir(raw_nir)
        if problem:
            problems.append(Reject(line, "nir", problem))

    birth_name = text["birth_name"]
    first_names = text["first_names"]
    for name, value, limit in (("birth_name", birth_name, 100), ("first_names", first_names, 200)):
        if not value:
            problems.append(Reject(line, name, "missing"))
        elif len(value) > limit:
            problems.append(Reject(line, name, f"longer than {limit} characters"))
        elif _CONTROL_RE.search(value):
            problems.append(Reject(line, name, "contains control characters"))

    birth_date: dt.date | None = None
    raw_birth = text["birth_date"]
    if not raw_birth:
        problems.append(Reject(line, "birth_date", "missing"))
    else:
        birth_date = _day(raw_birth, "birth_date", line, problems)
        if birth_date is not None and birth_date > today:
            problems.append(Reject(line, "birth_date", "in the future"))
            birth_date = None

    sex = text["sex"].upper()
    if not sex:
        problems.append(Reject(line, "sex", "missing"))
    elif sex not in ("M", "F"):
        problems.append(Reject(line, "sex", "unknown sex code (expected M or F)"))

    insee = text["birth_place_insee"].upper()
    if insee and not _INSEE_RE.fullmatch(insee):
        problems.append(
            Reject(
                line,
                "birth_place_insee",
                "an INSEE code has 5 characters: digits, or 2A/2B then 3 digits",
            )
        )

    email = text["email"] or None
    if email is not None and not mail_rules.is_valid_email(email):
        problems.append(Reject(line, "email", "not a valid e-mail address"))

    phone = text["phone"] or None
    if phone is not None and not _PHONE_RE.fullmatch(phone):
        problems.append(
            Reject(line, "phone", "not a phone number (digits, spaces, + . - ( ), at most 30)")
        )

    address = text["postal_address"].replace("\r\n", "\n").replace("\r", "\n") or None
    if address is not None:
        if len(address) > MAX_ADDRESS:
            problems.append(Reject(line, "postal_address", f"longer than {MAX_ADDRESS} characters"))
        elif _ADDRESS_CONTROL_RE.search(address):
            problems.append(Reject(line, "postal_address", "contains control characters"))

    reps: list[str | None] = []
    for name in ("representative_nir", "second_representative_nir"):
        raw = text[name]
        if not raw:
            reps.append(None)
            continue
        rep, problem = _nir(raw)
        if problem:
            problems.append(Reject(line, name, problem))
        elif rep == nir:
            problems.append(Reject(line, name, "a person cannot be their own representative"))
        reps.append(rep)
    rep1, rep2 = reps
    if rep2 is not None and rep1 is None:
        problems.append(
            Reject(line, "second_representative_nir", "given without representative_nir")
        )
    elif rep2 is not None and rep2 == rep1:
        problems.append(
            Reject(line, "second_representative_nir", "the same person as representative_nir")
        )

    deceased_on: dt.date | None = None
    raw_deceased = text["deceased_on"]
    if raw_deceased:
        deceased_on = _day(raw_deceased, "deceased_on", line, problems)
        if deceased_on is not None:
            if deceased_on > today:
                problems.append(Reject(line, "deceased_on", "in the future"))
            elif birth_date is not None and deceased_on < birth_date:
                problems.append(Reject(line, "deceased_on", "before the birth date"))

    # LC-1: the notice must reach someone. A minor's goes to the representative (checked later).
    if deceased_on is None and rep1 is None and email is None and address is None:
        problems.append(
            Reject(
                line,
                "postal_address",
                "no e-mail and no postal address: the notice cannot be sent (LC-1)",
            )
        )

    if problems:
        return problems
    assert birth_date is not None
    digest = row_digest(
        (
            nir, birth_name, first_names, birth_date.isoformat(), sex, insee, email or "",
            phone or "", address or "", rep1 or "", rep2 or "",
            deceased_on.isoformat() if deceased_on else "",
        )
    )  # fmt: skip
    return RosterRow(
        line, nir, birth_name, first_names, birth_date, sex, insee, email, phone, address, rep1,
        rep2, deceased_on, digest,
    )  # fmt: skip


# -- reading the file ---------------------------------------------------------------------------

RawRow = tuple[int, dict[str, str | None]]


def _unreadable(path: Path, why: str) -> InvalidInput:
    return InvalidInput(f"Cannot read the roster {path}: {why}.", code="roster-unreadable")


class RosterSource:
    """A roster file opened for streaming: CSV with a header, or NDJSON (one object per line).

    Opening checks the file itself (exists, is a file, has a usable header); anything wrong there
    raises InvalidInput, which the CLI turns into exit status 1. Problems of single lines are
    yielded as lists of `Reject` and never stop the iteration.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path.is_dir():
                raise _unreadable(path, "it is a directory")
            self._raw: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise _unreadable(path, exc.strerror or type(exc).__name__) from None
        try:
            self.size = os.fstat(self._raw.fileno()).st_size
            self.format = self._detect_format()
            self._rows = self._csv_rows() if self.format == "csv" else self._ndjson_rows()
        except BaseException:
            self._raw.close()
            raise

    def _detect_format(self) -> str:
        suffix = self.path.suffix.lower()
        if suffix in (".ndjson", ".jsonl"):
            return "ndjson"
        if suffix == ".csv":
            return "csv"
        head = self._raw.read(4096)
        self._raw.seek(0)
        return "ndjson" if head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{" else "csv"

    def position(self) -> int:
        """Bytes read so far (for the progress bar)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[RawRow | list[Reject]]:
        return self._rows

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> RosterSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # CSV: decoded as UTF-8 (a BOM is skipped) with `surrogateescape`, so that a line that is not
    # UTF-8 (a Latin-1 export, say) becomes a reject of that line instead of stopping the run.
    def _csv_rows(self) -> Iterator[RawRow | list[Reject]]:
        text = io.TextIOWrapper(
            self._raw, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise _unreadable(
                self.path, "the file is empty (a CSV roster starts with a header line)"
            ) from None
        except csv.Error as exc:
            raise _unreadable(self.path, f"the header line is not valid CSV ({exc})") from None
        if not _is_utf8(header):
            raise _unreadable(self.path, "the header line is not UTF-8 text")
        names = [h.strip().lower() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise _unreadable(
                self.path,
                f"the header lacks the column(s) {', '.join(missing)} "
                f"(expected: {','.join(COLUMNS)})",
            )
        doubled = sorted({n for n in names if names.count(n) > 1 and n in COLUMNS})
        if doubled:
            raise _unreadable(self.path, f"the header names {', '.join(doubled)} twice")
        index = [(c, names.index(c)) for c in COLUMNS]
        width = len(names)
        return self._csv_body(reader, index, width, names)

    @staticmethod
    def _csv_body(
        reader: Any, index: list[tuple[str, int]], width: int, names: list[str]
    ) -> Iterator[RawRow | list[Reject]]:
        previous = reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # its messages never quote the data
                line, previous = previous + 1, reader.line_num
                yield [
                    Reject(
                        line,
                        _LINE_FIELD,
                        f"unreadable CSV, lines {line}-{previous} ({exc}; an unbalanced quote?)",
                    )
                ]
                continue
            line, previous = previous + 1, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if not _is_utf8(fields):
                yield [Reject(line, _LINE_FIELD, "not UTF-8")]
                continue
            if len(fields) != width:
                reason = f"the line has {len(fields)} fields, the header {width}"
                if previous > line:
                    reason += f" (the record spans lines {line}-{previous}: an unbalanced quote?)"
                elif len(fields) < width:
                    reason += " (truncated line?)"
                name = names[len(fields)] if len(fields) < width else _LINE_FIELD
                yield [Reject(line, name, reason)]
                continue
            yield line, {name: fields[i] for name, i in index}

    def _ndjson_rows(self) -> Iterator[RawRow | list[Reject]]:
        if self.size == 0:
            raise _unreadable(self.path, "the file is empty")
        return self._ndjson_body()

    def _ndjson_body(self) -> Iterator[RawRow | list[Reject]]:
        number = 0
        while True:
            raw = self._raw.readline(MAX_LINE_BYTES)
            if not raw:
                return
            number += 1
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (more := self._raw.readline(MAX_LINE_BYTES)) and not more.endswith(b"\n"):
                    pass  # skip the rest of an overlong line without holding it
                yield [Reject(number, _LINE_FIELD, f"longer than {MAX_LINE_BYTES} bytes")]
                continue
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield [Reject(number, _LINE_FIELD, "not UTF-8")]
                continue
            try:
                data = json.loads(text)
            except ValueError:
                yield [Reject(number, _LINE_FIELD, "not valid JSON (truncated line?)")]
                continue
            if not isinstance(data, dict):
                yield [Reject(number, _LINE_FIELD, "not a JSON object")]
                continue
            values: dict[str, str | None] = {}
            problems: list[Reject] = []
            for name in COLUMNS:
                value = data.get(name)
                if value is None:
                    if name in REQUIRED_FIELDS and name not in data:
                        problems.append(Reject(number, name, "missing"))
                    values[name] = None
                elif isinstance(value, str):
                    values[name] = value
                else:
                    problems.append(Reject(number, name, "must be a JSON string"))
            if problems:
                yield problems
                continue
            yield number, values


def _is_utf8(fields: list[str]) -> bool:
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_roster(path: Path) -> RosterSource:
    """Open a roster for streaming; InvalidInput (exit 1) when the file itself is unusable."""
    return RosterSource(path)


# -- the run's scratch index (duplicates, deferred minors) --------------------------------------


class _Scratch:
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


# -- bulk writing -------------------------------------------------------------------------------


class _BulkTable:
    """A multi-row insert into one table, values converted exactly as SQLAlchemy would bind them
    (the column types' own bind processors), sent with executemany (SQLite) or COPY (PostgreSQL).

    `varying` columns come in each row; `fixed` columns have one value for the whole call, converted
    once (on SQLite, written into the statement as literals). Ids (`Uuid` columns) come as canonical
    strings from `_new_ids`: SQLite stores them as 32 hex digits — what SQLAlchemy's `Uuid` binds —
    and PostgreSQL's COPY parses the canonical text. No ORM objects, no per-row statement.
    """

    def __init__(
        self, table: Table, dialect: Dialect, varying: Sequence[str], fixed: Sequence[str]
    ) -> None:
        self.name = table.name
        self.varying = tuple(varying)
        self.fixed = tuple(fixed)
        columns = self.varying + self.fixed
        missing = {c.name for c in table.columns} - set(columns)
        if missing:
            raise AssertionError(f"{table.name}: no value for {sorted(missing)}")
        self.postgres = dialect.name == "postgresql"

        def processor(name: str) -> Callable[[Any], Any] | None:
            column = table.columns[name]
            return column.type.dialect_impl(dialect).bind_processor(dialect)

        self._ids = [
            i for i, c in enumerate(self.varying) if isinstance(table.columns[c].type, Uuid)
        ]
        self._varying_processors = [
            (i, p)
            for i, p in enumerate(processor(c) for c in self.varying)
            if p is not None and i not in self._ids
        ]
        self._fixed_processors = [processor(c) for c in self.fixed]
        self._names = ", ".join(f'"{c}"' for c in columns)
        self._marks = ", ".join("?" * len(self.varying))

    def write(
        self, connection: Connection, rows: list[list[Any]], fixed: Sequence[Any] = ()
    ) -> None:
        if not rows:
            return
        constants = [
            p(v) if p is not None and v is not None else v
            for p, v in zip(self._fixed_processors, fixed, strict=True)
        ]
        for index, proc in self._varying_processors:
            memo: dict[Any, Any] = {}
            for row in rows:
                value = row[index]
                if value is not None:
                    converted = memo.get(value)
                    if converted is None:
                        converted = memo[value] = proc(value)
                    row[index] = converted
        raw = connection.connection.driver_connection
        assert raw is not None
        if self.postgres:
            with (
                raw.cursor() as cursor,
                cursor.copy(f'COPY "{self.name}" ({self._names}) FROM STDIN') as copy,
            ):
                for row in rows:
                    copy.write_row((*row, *constants))
            return
        for index in self._ids:
            for row in rows:
                value = row[index]
                if value is not None:
                    row[index] = value.replace("-", "")
        literals = ", ".join(_sqlite_literal(v) for v in constants)
        values = f"{self._marks}, {literals}" if literals else self._marks
        sql = f'INSERT INTO "{self.name}" ({self._names}) VALUES ({values})'  # noqa: S608
        cursor = raw.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()


def _sqlite_literal(value: Any) -> str:
    """A constant of a bulk insert as SQLite literal (only the types the bind processors yield)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    raise TypeError(f"no SQLite literal for {type(value).__name__}")


_UUID_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
_UUID_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))


def _new_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs in canonical text form, as `str(uuid.uuid4())` gives, made
    in bulk from `os.urandom` — the same source `uuid.uuid4` reads."""
    if count <= 0:
        return []
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_UUID_VERSION)
    raw[8::16] = raw[8::16].translate(_UUID_VARIANT)
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


# -- the run ------------------------------------------------------------------------------------


@dataclass
class ProvisionReport:
    """What a provisioning run did (the CLI prints it as the summary)."""

    rows: int = 0  # data lines read (blank lines aside)
    created: int = 0  # new spaces, including `closed_deceased`
    closed_deceased: int = 0  # of `created`: recorded closed because deceased (LC-6)
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # lines with at least one problem
    skipped_erased: int = 0  # tombstoned people, not recreated (LC-8)
    emails: int = 0
    letters: int = 0
    deferred: int = 0  # minors retried at the end because their representative came later
    not_utf8: int = 0
    rejects_file: Path | None = None
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        text = (
            f"Roster: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        extras = []
        if self.closed_deceased:
            extras.append(f"{self.closed_deceased} of the created recorded closed (deceased)")
        if self.skipped_erased:
            extras.append(f"{self.skipped_erased} skipped (space erased, not recreated)")
        if extras:
            text += " (" + "; ".join(extras) + ")"
        return text + "."


@dataclass(frozen=True, slots=True)
class _Person:
    """Who a notice can be addressed to: a roster row of this batch or a holder in the database."""

    id: str  # canonical text, as `_new_ids` makes them
    first_names: str
    birth_name: str
    email: str | None
    postal_address: str | None
    deceased: bool


ProgressCallback = Callable[[int, int], None]


class _Run:
    """One provisioning run: keys, constants and the per-table writers, and the batch logic."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        settings: Settings,
        notice_day: dt.date,
        today: dt.date,
        report: ProvisionReport,
        rejects: RejectsWriter,
    ) -> None:
        self.database = database
        self.vault = vault
        self.settings = settings
        self.notice_day = notice_day
        self.today = today
        self.report = report
        self.rejects = rejects
        self.deadline = rules.opposition_deadline(notice_day, settings.opposition_weeks)
        with database.transaction() as session:
            self.code_key = vault.system_key(session, lifecycle.CODE_KEY)
            self.tomb_key = vault.system_key(session, lifecycle.TOMBSTONE_KEY)
            vault.system_key(session, notices.LETTER_KEY)  # created now, outside the batches
        dialect = database.engine.dialect
        self.holders = _BulkTable(
            Holder.__table__,  # type: ignore[arg-type]
            dialect,
            varying=(
                "id", "nir", "birth_name", "first_names", "birth_date", "sex", "birth_place_insee",
                "email", "phone", "postal_address", "deceased_on", "state", "notified_on",
                "opposition_deadline", "closed_on", "close_reason", "purge_due_on", "roster_digest",
            ),
            fixed=(
                "ins_qualified", "state_changed_at", "created_at", "activated_at", "suspended_on",
                "dmp_migration_opposed", "username", "password_hash", "code_failures",
                "code_locked_until",
            ),
        )  # fmt: skip
        self.codes = _BulkTable(
            ProvisionalCode.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "holder_id", "code_hash"),
            fixed=("purpose", "issued_at", "expires_at", "used_at", "revoked_at"),
        )
        self.representations = _BulkTable(
            Representation.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "minor_id", "representative_id", "representative_nir", "role"),
            fixed=("status", "created_at", "expires_at", "responded_at"),
        )
        self.outbox = _BulkTable(
            OutboxMessage.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "recipient", "body_text", "holder_id"),
            fixed=(
                "created_at", "kind", "subject", "status", "attempts", "next_attempt_at",
                "sent_at", "last_error",
            ),
        )  # fmt: skip
        self.letters = _BulkTable(
            PostalLetter.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "holder_id", "sealed"),
            fixed=("kind", "created_at", "rendered_at", "batch_file", "printed_at"),
        )
        self.audit_entries = _BulkTable(
            AuditEntry.__table__,  # type: ignore[arg-type]
            dialect,
            varying=(
                "id", "chain", "target_id", "holder_id", "reason", "salt", "content_hash", "hash",
            ),
            fixed=(
                "seq", "at", "actor_kind", "actor_id", "action", "target_type", "mode", "detail",
                "request_id", "prev_hash",
            ),
        )  # fmt: skip
        self.audit_heads = _BulkTable(
            AuditChainHead.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("chain", "hash"),
            fixed=("seq", "checkpointed_seq", "redacted"),
        )
        self._notice = _NoticeTemplate(settings.base_url, self.deadline)
        self.postgres = dialect.name == "postgresql"

    # -- hashes ---------------------------------------------------------------------------------

    def tombstone_hash(self, nir: str) -> str:
        """Same value as `lifecycle.tombstone_hash` (HMAC-SHA256 under the tombstone key)."""
        return hmac.digest(self.tomb_key, f"ins|{nir}".encode(), "sha256").hex()

    def code_hash(self, nir: str, code: str) -> str:
        """Same value as `vault.keyed_hash(session, lifecycle.CODE_KEY, code_hash_input(...))`."""
        return hmac.digest(self.code_key, rules.code_hash_input(nir, code).encode(), "sha256").hex()

    # -- one batch --------------------------------------------------------------------------------

    def apply(self, session: Session, rows: list[RosterRow], *, final: bool) -> list[RosterRow]:
        """Write one batch of first-seen rows; returns the rows to retry at the end (minors whose
        representative is not known yet). With `final`, those become rejects instead."""
        connection = session.connection()
        if not self.postgres:
            # Random-key index pages stay in memory between batches instead of being read back
            # from the OS for each insert (SQLite's default cache is 2 MB); bounded, per connection.
            connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
        existing = self._existing(connection, [r.nir for r in rows])
        new_rows: list[RosterRow] = []
        changed: list[tuple[RosterRow, str]] = []
        for row in rows:
            found = existing.get(row.nir)
            if found is None:
                new_rows.append(row)
            elif found[1] == row.digest:
                self.report.unchanged += 1
            else:
                changed.append((row, found[0]))

        # LC-8: a purged person's tombstone keeps the roster from recreating the space.
        if new_rows:
            hashes = [self.tombstone_hash(r.nir) for r in new_rows]
            dead = self._tombstoned(connection, hashes)
            if dead:
                kept = [r for r, h in zip(new_rows, hashes, strict=True) if h not in dead]
                self.report.skipped_erased += len(new_rows) - len(kept)
                new_rows = kept
        new_ids = dict(zip((r.nir for r in new_rows), _new_ids(len(new_rows)), strict=True))

        # REP-1, LC-7: representatives must be known — in the database or in this batch.
        with_reps = [r for r in (*new_rows, *(c[0] for c in changed)) if r.representative_nir]
        people: dict[str, _Person] = {}
        if with_reps:
            wanted = {nir for row in with_reps for nir in row.representatives}
            for row in rows:
                if row.nir in wanted:
                    holder_id = new_ids.get(row.nir) or existing.get(row.nir, (None, None))[0]
                    if holder_id is not None:
                        people[row.nir] = _person(holder_id, row)
            people.update(_people(session, wanted - people.keys()))
        pending = set(new_ids)  # new people that this batch creates
        waiting: set[str] = set()  # rows whose representatives are not known (yet)
        rejected_rows: set[str] = set()
        for row in with_reps:
            for name, nir in zip(_REP_FIELDS, row.representatives, strict=False):
                person = people.get(nir)
                if person is not None and person.deceased:
                    self._reject(
                        Reject(row.line, name, "the representative is recorded as deceased")
                    )
                    rejected_rows.add(row.nir)
                    pending.discard(row.nir)
                    break

        def missing(nir: str) -> bool:
            return nir not in people or (nir in new_ids and nir not in pending)

        # A representative created in this batch must itself be created (not waiting, rejected).
        moved = True
        while moved:
            moved = False
            for row in with_reps:
                if row.nir in rejected_rows or row.nir in waiting:
                    continue
                if any(missing(nir) for nir in row.representatives):
                    waiting.add(row.nir)
                    pending.discard(row.nir)
                    moved = True
        retry: list[RosterRow] = []
        for row in with_reps:
            if row.nir not in waiting:
                continue
            if not final:
                retry.append(row)
                continue
            name = next(
                (
                    f
                    for f, nir in zip(_REP_FIELDS, row.representatives, strict=False)
                    if missing(nir)
                ),
                "representative_nir",
            )
            self._reject(
                Reject(
                    row.line,
                    name,
                    "the representative is not in the roster (nor in this file, nor already known)",
                )
            )
        for row in new_rows:
            if row.nir in pending and row.deceased_on is None and row.representative_nir:
                _name, email, address = self._addressee(row, people)
                if not email and not address:
                    self._reject(
                        Reject(
                            row.line,
                            "postal_address",
                            "no e-mail and no postal address, neither the person's nor the "
                            "representative's: the notice cannot be sent (LC-1, LC-7)",
                        )
                    )
                    pending.discard(row.nir)
        creating = [r for r in new_rows if r.nir in pending]
        updating = [
            (r, i) for r, i in changed if r.nir not in waiting and r.nir not in rejected_rows
        ]
        self._create(session, connection, creating, new_ids, people)
        if updating:
            self._update(session, connection, updating, people)
        return retry

    # -- look-ups, one statement per batch --------------------------------------------------------

    def _existing(
        self, connection: Connection, nirs: list[str]
    ) -> dict[str, tuple[str, str | None]]:
        """Holders already known, by NIR: (id as canonical text, roster digest)."""
        return {
            nir: (holder_id, digest)
            for holder_id, nir, digest in self._select_in(
                connection, "holders", ("id", "nir", "roster_digest"), "nir", nirs
            )
        }

    def _tombstoned(self, connection: Connection, hashes: list[str]) -> set[str]:
        return {
            row[0]
            for row in self._select_in(connection, "tombstones", ("nir_hash",), "nir_hash", hashes)
        }

    def _select_in(
        self,
        connection: Connection,
        table: str,
        columns: tuple[str, ...],
        key: str,
        values: list[str],
    ) -> Iterator[tuple[Any, ...]]:
        """`SELECT columns FROM table WHERE key IN values` straight through the driver (rendering
        5,000 bound parameters through SQLAlchemy costs more than the query). An `id` column is
        returned as canonical UUID text on both engines."""
        raw = connection.connection.driver_connection
        assert raw is not None
        if self.postgres:
            names = ", ".join(f"{c}::text" if c == "id" else c for c in columns)
            with raw.cursor() as cursor:
                cursor.execute(
                    f"SELECT {names} FROM {table} WHERE {key} = ANY(%s)",  # noqa: S608
                    (values,),
                )
                yield from cursor.fetchall()
            return
        position = columns.index("id") if "id" in columns else -1
        cursor = raw.cursor()
        try:
            for start in range(0, len(values), _IN_CHUNK):
                part = values[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(part))
                cursor.execute(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN ({marks})",  # noqa: S608
                    part,
                )
                for row in cursor.fetchall():
                    if position >= 0:
                        h = row[position]
                        row = (
                            *row[:position],
                            f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
                            *row[position + 1 :],
                        )
                    yield row
        finally:
            cursor.close()

    def _addressee(
        self, row: RosterRow, people: dict[str, _Person]
    ) -> tuple[str, str | None, str | None]:
        """Who receives the notice — (name, e-mail, postal address) — as `notices.send_notice`
        decides: a minor's goes to the managing representative (LC-7), at the child's address
        when the representative has none; anyone else's to themselves, or to their representative
        (a guardian, REP-5) when the roster gives them no contact at all."""
        own = (f"{row.first_names} {row.birth_name}", row.email, row.postal_address)
        if row.representative_nir is None:
            return own
        minor = rules.is_minor(row.birth_date, self.notice_day, self.settings.majority_age)
        if not minor and (row.email or row.postal_address):
            return own
        rep = people[row.representative_nir]
        return (
            f"{rep.first_names} {rep.birth_name}",
            rep.email,
            rep.postal_address or row.postal_address,
        )

    def _reject(self, problem: Reject) -> None:
        self.rejects.write([problem])
        self.report.rejected += 1

    # -- new people (LC-1, LC-6, LC-7, REP-1) -----------------------------------------------------

    def _create(
        self,
        session: Session,
        connection: Connection,
        rows: list[RosterRow],
        ids: dict[str, str],
        people: dict[str, _Person],
    ) -> None:
        if not rows:
            return
        now = clock.now()
        closed_purge = rules.archive_purge_day(self.today, self.settings.archive_years)
        holder_rows: list[list[Any]] = []
        code_rows: list[list[Any]] = []
        rep_rows: list[list[Any]] = []
        mail_rows: list[list[Any]] = []
        letter_rows: list[list[Any]] = []
        audit_rows: list[tuple[str, str]] = []
        live = sum(1 for r in rows if r.deceased_on is None)
        code_iter = iter(_new_codes(live))
        id_iter = iter(_new_ids(2 * live + sum(len(r.representatives) for r in rows)))
        for row in rows:
            holder_id = ids[row.nir]
            if row.deceased_on is None:
                state, notified, deadline = rules.NOTIFIED, self.notice_day, self.deadline
                closed_on: dt.date | None = None
                close_reason: str | None = None
                purge_due: dt.date | None = None
            else:
                # LC-6: a death known to the insurer closes the space; no code, no notice.
                state, notified, deadline = rules.CLOSED, None, None
                closed_on, close_reason, purge_due = self.today, "deceased", closed_purge
                self.report.closed_deceased += 1
            holder_rows.append(
                [
                    holder_id, row.nir, row.birth_name, row.first_names, row.birth_date, row.sex,
                    row.birth_place_insee, row.email, row.phone, row.postal_address,
                    row.deceased_on, state, notified, deadline, closed_on, close_reason, purge_due,
                    row.digest,
                ]
            )  # fmt: skip
            audit_rows.append((holder_id, state))
            for role, nir in zip(("managing", "second"), row.representatives, strict=False):
                rep_rows.append([next(id_iter), holder_id, people[nir].id, nir, role])
            if row.deceased_on is not None:
                continue
            code = next(code_iter)
            code_rows.append([next(id_iter), holder_id, self.code_hash(row.nir, code)])
            name, email, address = self._addressee(row, people)
            body = self._notice.render(row.first_names, row.birth_name, code)
            if email:
                mail_rows.append([next(id_iter), email, body, holder_id])
            else:
                letter_id = next(id_iter)
                content = {"name": name, "address": address or "", "body": body}
                sealed = self.vault.seal_system(
                    session,
                    notices.LETTER_KEY,
                    json.dumps(content, ensure_ascii=False).encode(),
                    notices.letter_aad(letter_id),
                )
                letter_rows.append([letter_id, holder_id, sealed])
        self.holders.write(
            connection,
            holder_rows,
            (True, now, now, None, None, False, None, None, 0, None),
        )
        self.codes.write(
            connection,
            code_rows,
            ("notice", now, now + dt.timedelta(days=self.settings.code_ttl_days), None, None),
        )
        self.representations.write(connection, rep_rows, ("accepted", now, None, now))
        self.outbox.write(
            connection,
            mail_rows,
            (now, NOTICE_KIND, NOTICE_SUBJECT, PENDING, 0, now, None, None),
        )
        self.letters.write(connection, letter_rows, (NOTICE_KIND, now, None, None, None))
        self._audit_new_spaces(session, connection, audit_rows, now)
        self.report.created += len(rows)
        self.report.emails += len(mail_rows)
        self.report.letters += len(letter_rows)

    def _audit_new_spaces(
        self,
        session: Session,
        connection: Connection,
        items: list[tuple[str, str]],
        at: dt.datetime,
    ) -> None:
        """ACC-8: the first entry of each new space's chain, written in bulk, anchored at commit.

        Same entries, same hashes as `audit.service.append_batch` would write (checked against
        `audit.rules.canonical` once per batch), but without reading chain heads: the spaces were
        created in this transaction, so their chains start at the genesis hash.
        """
        if not items:
            return
        actor_id = str(SYSTEM.id)
        mode = Mode.SYSTEM.value
        at_text = at.isoformat(timespec="microseconds")
        template = _AuditTemplate(at_text, "system", actor_id, ACTION_PROVISION, "Space", mode)
        entry_rows: list[list[Any]] = []
        head_rows: list[list[Any]] = []
        for (hid, reason), entry_id in zip(items, _new_ids(len(items)), strict=True):
            chain = "space:" + hid
            salt, content, digest = template.hash(entry_id, chain, hid, reason)
            entry_rows.append([entry_id, chain, hid, hid, reason, salt, content, digest])
            head_rows.append([chain, digest])
        self.audit_entries.write(
            connection,
            entry_rows,
            (1, at, "system", actor_id, ACTION_PROVISION, "Space", mode, None, None, GENESIS),
        )
        self.audit_heads.write(connection, head_rows, (1, 0, False))
        audit_anchors.touch(session, (row[0] for row in head_rows))

    # -- people already known: contact data and traits (ACC-8 audited) ---------------------------

    def _update(
        self,
        session: Session,
        connection: Connection,
        rows: list[tuple[RosterRow, str]],
        people: dict[str, _Person],
    ) -> None:
        by_id = {uuid.UUID(holder_id): row for row, holder_id in rows}
        holders = session.scalars(select(Holder).where(Holder.id.in_(list(by_id)))).all()
        links: set[tuple[uuid.UUID, str]] = set()
        minors = [h.id for h in holders if by_id[h.id].representatives]
        if minors:
            links = {
                (m, n)
                for m, n in session.execute(
                    select(Representation.minor_id, Representation.representative_nir).where(
                        Representation.minor_id.in_(minors)
                    )
                )
            }
        entries: list[PendingEntry] = []
        new_links: list[list[Any]] = []
        now = clock.now()
        for holder in holders:
            row = by_id[holder.id]
            changed_contact = [n for n in CONTACT_FIELDS if getattr(holder, n) != getattr(row, n)]
            changed_traits = [n for n in TRAIT_FIELDS if getattr(holder, n) != getattr(row, n)]
            for name in (*changed_contact, *changed_traits):
                setattr(holder, name, getattr(row, name))
            changed_reps = []
            for role, nir in zip(("managing", "second"), row.representatives, strict=False):
                if (holder.id, nir) not in links:
                    new_links.append([str(uuid.uuid4()), str(holder.id), people[nir].id, nir, role])
                    changed_reps.append(
                        "representative_nir" if role == "managing" else "second_representative_nir"
                    )
            newly_deceased = row.deceased_on is not None and holder.deceased_on is None
            holder.roster_digest = row.digest
            if newly_deceased:
                assert row.deceased_on is not None
                # LC-6: on the holder's death the space is closed (audited by the transition).
                lifecycle.mark_deceased(session, self.settings, holder, SYSTEM, row.deceased_on)
            elif row.deceased_on != holder.deceased_on:
                holder.deceased_on = row.deceased_on
                changed_traits.append("deceased_on")
            names = changed_contact + changed_traits + changed_reps
            if not names and not newly_deceased:
                self.report.unchanged += 1  # same data, only the digest was missing or stale
                continue
            self.report.updated += 1
            if names:
                action = (
                    ACTION_CONTACT_UPDATE
                    if not (changed_traits or changed_reps)
                    else ACTION_ROSTER_UPDATE
                )
                entries.append(
                    PendingEntry(
                        actor_kind=SYSTEM.kind.value,
                        actor_id=str(SYSTEM.id),
                        action=action,
                        holder_id=holder.id,
                        target_type="Space",
                        target_id=str(holder.id),
                        mode=Mode.SYSTEM.value,
                        reason=",".join(names)[:64],
                    )
                )
        session.flush()
        self.representations.write(connection, new_links, ("accepted", now, None, now))
        append_batch(session, entries)


def _person(holder_id: str, row: RosterRow) -> _Person:
    return _Person(
        holder_id, row.first_names, row.birth_name, row.email, row.postal_address,
        row.deceased_on is not None,
    )  # fmt: skip


def _people(session: Session, nirs: set[str]) -> dict[str, _Person]:
    found: dict[str, _Person] = {}
    wanted = sorted(nirs)
    for start in range(0, len(wanted), _IN_CHUNK):
        part = wanted[start : start + _IN_CHUNK]
        for row in session.execute(
            select(
                Holder.id, Holder.nir, Holder.first_names, Holder.birth_name, Holder.email,
                Holder.postal_address, Holder.deceased_on, Holder.state,
            ).where(Holder.nir.in_(part))
        ):  # fmt: skip
            found[row.nir] = _Person(
                str(row.id), row.first_names, row.birth_name, row.email, row.postal_address,
                row.deceased_on is not None,
            )  # fmt: skip
    return found


# -- codes, notices and audit hashes in bulk ------------------------------------------------------

_CODE_TABLE = bytes(ord(rules.CODE_ALPHABET[b % len(rules.CODE_ALPHABET)]) for b in range(256))
# Bytes from 250 up are dropped: 250 = 10 x 25, so every letter of the alphabet stays equally likely.
_CODE_LIMIT = 256 - 256 % len(rules.CODE_ALPHABET)
_CODE_DROP = bytes(range(_CODE_LIMIT, 256))


def _new_codes(count: int) -> list[str]:
    """`count` provisional codes (LC-1): 12 characters of `rules.CODE_ALPHABET` each, drawn from
    `secrets.token_bytes` without modulo bias (rejection of the bytes >= 250)."""
    need = count * rules.CODE_LENGTH
    letters = b""
    while len(letters) < need:
        letters += secrets.token_bytes(need - len(letters) + need // 32 + 16).translate(
            _CODE_TABLE, _CODE_DROP
        )
    text = letters[:need].decode("ascii")
    return [text[i : i + rules.CODE_LENGTH] for i in range(0, need, rules.CODE_LENGTH)]


class _NoticeTemplate:
    """`notices.notice_text` rendered once with markers, then filled in per person: the text keeps a
    single source while a million notices cost a string substitution each. A self-check against
    `notice_text` itself falls back to calling it per person if the text ever stops fitting."""

    _FIRST = "\x02first\x02"
    _LAST = "\x02last\x02"
    _CODE = "\x03" * rules.CODE_LENGTH

    def __init__(self, base_url: str, deadline: dt.date) -> None:
        self.base_url = base_url
        self.deadline = deadline
        sample = Holder(first_names=self._FIRST, birth_name=self._LAST)
        text = notices.notice_text(sample, self._CODE, NOTICE_KIND, deadline, base_url)
        code = rules.format_code(self._CODE)
        self._template: str | None = None
        if all(text.count(m) == 1 for m in (self._FIRST, self._LAST, code)):
            self._template = (
                text.replace("%", "%%")
                .replace(self._FIRST, "%(f)s")
                .replace(self._LAST, "%(l)s")
                .replace(code, "%(c)s")
            )
            check = self.render("Zoé", "L'Hôte", "ACDEFGHJKMNP")
            expected = notices.notice_text(
                Holder(first_names="Zoé", birth_name="L'Hôte"),
                "ACDEFGHJKMNP",
                NOTICE_KIND,
                deadline,
                base_url,
            )
            if check != expected:
                self._template = None

    def render(self, first_names: str, birth_name: str, code: str) -> str:
        if self._template is None:
            holder = Holder(first_names=first_names, birth_name=birth_name)
            return notices.notice_text(holder, code, NOTICE_KIND, self.deadline, self.base_url)
        # `rules.format_code` for 12 characters (the self-check above compares the two).
        formatted = f"{code[:4]}-{code[4:8]}-{code[8:]}"
        return self._template % {"f": first_names, "l": birth_name, "c": formatted}


class _Canonical:
    """`audit.rules.canonical(base + values)` for a few string values (ids, hex, state codes), by
    substitution into one template rendered with markers. Checked once against `canonical`;
    falls back to it on any difference."""

    def __init__(self, base: dict[str, Any], open_keys: tuple[str, ...]) -> None:
        self.base = base
        self.keys = open_keys
        marked = dict(base, **{key: f"@@{n}@@" for n, key in enumerate(open_keys)})
        text = audit_rules.canonical(marked).decode("ascii")
        self._template: str | None = None
        if all(text.count(f'"@@{n}@@"') == 1 for n in range(len(open_keys))):
            template = text.replace("%", "%%")
            for n, key in enumerate(open_keys):
                template = template.replace(f'"@@{n}@@"', f'"%({key})s"')
            self._template = template
            sample = {key: uuid.uuid4().hex for key in open_keys}
            if self.encode(sample) != audit_rules.canonical(dict(base, **sample)):
                self._template = None

    def encode(self, values: dict[str, str]) -> bytes:
        if self._template is None:
            return audit_rules.canonical(dict(self.base, **values))
        return (self._template % values).encode("ascii")


class _AuditTemplate:
    """The first entry of a new space's chain (scheme 2 of `audit.rules`): its content and its
    frame rendered once each, with the per-space values left open."""

    def __init__(
        self, at: str, actor_kind: str, actor_id: str, action: str, target_type: str, mode: str
    ) -> None:
        self._content = _Canonical(
            {
                "actor_kind": actor_kind, "actor_id": actor_id, "action": action,
                "target_type": target_type, "mode": mode, "detail": None, "request_id": None,
            },
            ("target_id", "holder_id", "reason", "salt"),
        )  # fmt: skip
        self._frame = _Canonical(
            audit_rules.framed({"seq": 1, "at": at}, ""), ("id", "chain", "content")
        )

    def hash(self, entry_id: str, chain: str, holder_id: str, reason: str) -> tuple[str, str, str]:
        """(salt, content hash, chain hash) of the entry, as `audit.service.seal` computes them
        after `GENESIS`."""
        salt = secrets.token_hex(16)
        content = audit_rules.content_digest(
            self._content.encode(
                {"target_id": holder_id, "holder_id": holder_id, "reason": reason, "salt": salt}
            )
        )
        frame = self._frame.encode({"id": entry_id, "chain": chain, "content": content})
        return salt, content, audit_rules.chain_digest(GENESIS, frame)


# -- the entry point ------------------------------------------------------------------------------


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
    with open_roster(path) as source:
        rejects = RejectsWriter(path)
        scratch: _Scratch | None = None
        try:
            scratch = _Scratch(settings.data_dir)
            run = _Run(database, vault, settings, notice_day, today, report, rejects)
            batch: list[RosterRow] = []

            def flush(rows: list[RosterRow]) -> None:
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
                    flush(batch)
                    batch = []
            if batch:
                flush(batch)
            # Minors whose representative came later in the file: everyone is known by now.
            report.deferred = scratch.deferred_count
            for rows in scratch.deferred(batch_size):
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


__all__ = [
    "COLUMNS",
    "ProvisionReport",
    "Reject",
    "RosterRow",
    "RosterSource",
    "open_roster",
    "provision",
    "rejects_path",
    "row_digest",
    "validate_row",
]
