"""`carnet import-reimbursements FILE`: the insurer's reimbursement feed (rules SRV-4, REP-2, ACC-8).

The format is documented in `docs/formats/reimbursements.md`. Same shape as the roster importer
(`accounts.roster`), the same file reader (`carnet.feeds.FileSource`):

* The file is streamed (CSV with a header through the C `csv` reader, or NDJSON line by line); only
  the current batch (default 5,000 lines) is held in memory. One transaction per batch.
* Per batch: one query for the holders named, one for the line keys already stored, one for the
  data keys; rows written with one multi-row statement (`carnet.bulk`: executemany on SQLite, COPY
  on PostgreSQL); one audit entry per holder (`append_batch`, action `reimbursements.import`, the
  count only — never an amount, ACC-8). A batch holds SQLite's one write lock while it is
  written, and the server's writes (deposits, the reads' audit entries) wait for it meanwhile:
  batches stay small enough for that wait to stay under a second. Bigger batches would merge a
  holder's lines into fewer audit entries, but a national feed names a different person on
  nearly every line, so they would not save entries, only lengthen the wait.
* Each line is sealed with one AES-GCM operation under its holder's data key (`vault.BulkSealer`:
  keys unwrapped once per run, checked again in every batch so an erased key is never used).
  Field checks are remembered by value for the run (`Validator`): a feed repeats its days, acts,
  amounts and holders on many lines.
* Idempotent: each line has a keyed hash (`line_key`) of nir, care date, act, professional, amount
  charged and payment date; a line already stored (by an earlier run, an earlier batch, or earlier in
  the same batch) is counted "unchanged". A crash mid-run is repaired by running the file again.
* REP-2: a line flagged `confidential=1` (an act a minor keeps secret) is never stored, and never
  reaches the rejects file: it is only counted, as "secret, not stored".
* Bad lines never stop the run: each problem is a line of `FILE.rejects.csv` (line, field, reason —
  never a NIR, a name, an act or an amount). A file that cannot be read at all raises InvalidInput
  (the CLI exits 1).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts import service as account_service
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode
from carnet.audit.service import PendingEntry, append_batch
from carnet.auth.principal import SYSTEM
from carnet.bulk import BulkTable, new_ids
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.feeds import FileSource, Layout, Reject, RejectsWriter
from carnet.reimbursements.models import KEY_NAME, PURPOSE, Reimbursement
from carnet.vault.service import BulkSealer, Vault

COLUMNS = (
    "nir",
    "care_date",
    "act_code",
    "act_label",
    "professional_rpps",
    "amount_charged",
    "amount_reimbursed",
    "payment_date",
    "confidential",
)
DEFAULT_BATCH_SIZE = 5000
MAX_BATCH_SIZE = 50_000
MAX_LINE_BYTES = 64 * 1024
MAX_LABEL = 200
ACTION_IMPORT = "reimbursements.import"
_IN_CHUNK = 5000

_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AMOUNT_RE = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,2})?")
_ACT_RE = re.compile(r"[A-Z0-9][A-Z0-9.+\-]{0,19}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TABLE = cast(Table, Reimbursement.__table__)


@dataclass(frozen=True, slots=True)
class FeedLine:
    """A validated reimbursement line (amounts as Decimal, euros, 2 decimals; `charged` and
    `reimbursed` are the same amounts written with 2 decimals, when the validator has them)."""

    line: int
    nir: str
    care_date: dt.date
    act_code: str
    act_label: str
    professional_rpps: str | None
    amount_charged: Decimal
    amount_reimbursed: Decimal
    payment_date: dt.date
    charged: str = ""
    reimbursed: str = ""

    def key_input(self) -> str:
        """What `line_key` hashes: the fields that identify one act paid once."""
        charged = self.charged or f"{self.amount_charged:.2f}"
        return (
            f"{self.nir}|{self.care_date.isoformat()}|{self.act_code}|"
            f"{self.professional_rpps or ''}|{charged}|{self.payment_date.isoformat()}"
        )

    def sealed_payload(self) -> bytes:
        """The sealed JSON document, byte for byte what `json.dumps` writes for these keys in this
        order (compact, UTF-8), assembled by hand: the act code, the RPPS and the amounts are
        validated to need no escaping; the label goes through `json.dumps`."""
        rpps = f'"{self.professional_rpps}"' if self.professional_rpps is not None else "null"
        charged = self.charged or f"{self.amount_charged:.2f}"
        reimbursed = self.reimbursed or f"{self.amount_reimbursed:.2f}"
        label = json.dumps(self.act_label, ensure_ascii=False)
        return (
            f'{{"act_code":"{self.act_code}","act_label":{label},"professional_rpps":{rpps},'
            f'"amount_charged":"{charged}","amount_reimbursed":"{reimbursed}"}}'
        ).encode()


class Secret:
    """REP-2: the line is an act a minor keeps secret; it is counted and dropped, nothing else."""


SECRET = Secret()


# -- validation (pure) -----------------------------------------------------------------------------

_MEMO_LIMIT = 100_000  # values remembered per field before that memo starts again
_Checked = tuple[Any, str | None]  # (the parsed value, None) or (None, the reason)


def _check_nir(value: str) -> _Checked:
    nir = rules.normalize_nir(value)
    if not nir:
        return None, "missing"
    problem = rules.nir_problem(nir)
    return (nir, None) if problem is None else (None, problem)


def _check_act(value: str) -> _Checked:
    act = value.upper()
    if not act:
        return None, "missing"
    if not _ACT_RE.fullmatch(act):
        return None, "not an act code (letters, digits, . + -; at most 20)"
    return act, None


def _check_label(value: str) -> _Checked:
    if len(value) > MAX_LABEL:
        return None, f"longer than {MAX_LABEL} characters"
    if _CONTROL_RE.search(value):
        return None, "contains control characters"
    return value, None


def _check_rpps(value: str) -> _Checked:
    problem = rules.rpps_problem(value)
    return (value, None) if problem is None else (None, problem)


def _check_amount(value: str) -> _Checked:
    """((Decimal, the amount written with 2 decimals), None) or the reason."""
    if not value:
        return None, "missing"
    if not _AMOUNT_RE.fullmatch(value):
        if "," in value:
            return None, "amounts are written with a dot, not a comma (e.g. 25.00)"
        if value.startswith("-"):
            return None, "negative amount"
        return None, "not an amount in euros with at most 2 decimals (e.g. 25.00)"
    amount = Decimal(value)
    return (amount, f"{amount:.2f}"), None


class Validator:
    """The checks of one run, each field's verdict remembered by value: a feed names the same
    holders, days, acts, labels, professionals and amounts on many lines, so most fields are
    checked once per run rather than once per line. Same checks, reasons and order either way."""

    def __init__(self, today: dt.date) -> None:
        self.today = today
        self._memos: dict[str, dict[str, _Checked]] = {}

    def _memo(self, field: str, value: str, check: Callable[[str], _Checked]) -> _Checked:
        memo = self._memos.get(field)
        if memo is None:
            memo = self._memos[field] = {}
        found = memo.get(value)
        if found is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            found = memo[value] = check(value)
        return found

    def _check_day(self, value: str) -> _Checked:
        if not value:
            return None, "missing"
        if not _DAY_RE.fullmatch(value):
            return None, "not a date written YYYY-MM-DD"
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return None, "impossible date (no such day in the calendar)"
        if day > self.today:
            return None, "in the future"
        return day, None

    def check(
        self, line: int, values: Mapping[str, str | None]
    ) -> FeedLine | Secret | list[Reject]:
        """Check one feed line; every problem is returned. Reasons never quote the values.

        REP-2 first: a line flagged confidential is `SECRET` whatever else it holds — it is not
        stored, and not listed as a reject either.
        """
        get = values.get
        text = {name: (raw.strip() if (raw := get(name)) else "") for name in COLUMNS}
        confidential = text["confidential"].lower()
        if confidential in ("1", "true"):
            return SECRET
        if confidential not in ("", "0", "false"):
            return [Reject(line, "confidential", "expected 1 (secret act of a minor), 0 or empty")]
        memo = self._memo
        found: list[tuple[str, str]] = []
        nir, why = memo("nir", text["nir"], _check_nir)
        if why is not None:
            found.append(("nir", why))
        care, why = memo("day", text["care_date"], self._check_day)
        if why is not None:
            found.append(("care_date", why))
        payment, why = memo("day", text["payment_date"], self._check_day)
        if why is not None:
            found.append(("payment_date", why))
        if care is not None and payment is not None and payment < care:
            found.append(("payment_date", "before the care date"))
        act, why = memo("act", text["act_code"], _check_act)
        if why is not None:
            found.append(("act_code", why))
        label, why = memo("label", text["act_label"], _check_label)
        if why is not None:
            found.append(("act_label", why))
        rpps: str | None = None
        if text["professional_rpps"]:
            rpps, why = memo("rpps", text["professional_rpps"], _check_rpps)
            if why is not None:
                found.append(("professional_rpps", why))
        charged, why = memo("amount", text["amount_charged"], _check_amount)
        if why is not None:
            found.append(("amount_charged", why))
        reimbursed, why = memo("amount", text["amount_reimbursed"], _check_amount)
        if why is not None:
            found.append(("amount_reimbursed", why))
        if charged is not None and reimbursed is not None and reimbursed[0] > charged[0]:
            found.append(("amount_reimbursed", "more than the amount charged"))
        if found:
            return [Reject(line, name, reason) for name, reason in found]
        return FeedLine(
            line, nir, care, act, label, rpps, charged[0], reimbursed[0], payment,
            charged[1], reimbursed[1],
        )  # fmt: skip


def validate_line(
    line: int, values: Mapping[str, str | None], today: dt.date
) -> FeedLine | Secret | list[Reject]:
    """Check one feed line alone (`Validator.check`; a run keeps one `Validator`)."""
    return Validator(today).check(line, values)


# -- reading the file --------------------------------------------------------------------------


def _ndjson_value(value: Any) -> str | None:
    """NDJSON values: strings, numbers (kept as written: parsed with parse_float=str) and, for
    `confidential`, booleans."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    raise TypeError


LAYOUT = Layout(
    what="reimbursement feed",
    code="reimbursements-unreadable",
    columns=COLUMNS,
    ndjson_value=_ndjson_value,
    type_reason="must be a JSON string or number",
    numbers_as_text=True,
)


def open_feed(path: Path) -> FileSource:
    """Open a feed for streaming; InvalidInput (exit 1) when the file itself is unusable."""
    return FileSource(path, LAYOUT, MAX_LINE_BYTES)


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: int = 0  # data lines read
    imported: int = 0
    unchanged: int = 0
    secret: int = 0  # REP-2: secret acts of minors, not stored
    rejected: int = 0  # lines with at least one problem
    rejects_file: Path | None = None
    seconds: float = 0.0
    audit_entries: int = 0  # ACC-8: one per holder and batch
    audit_seconds: float = 0.0  # of `seconds`, spent writing them

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"Reimbursements: {self.imported} imported, {self.unchanged} unchanged, "
            f"{self.secret} secret, not stored (REP-2), {self.rejected} rejected."
        )


ProgressCallback = Callable[[int, int], None]
_WRITERS: dict[str, BulkTable] = {}


def _writer(dialect: Dialect) -> BulkTable:
    """The rows' bulk writer for this dialect (built once): `created_at` is the batch's."""
    writer = _WRITERS.get(dialect.name)
    if writer is None:
        writer = _WRITERS[dialect.name] = BulkTable(
            _TABLE,
            dialect,
            varying=("id", "holder_id", "line_key", "care_date", "payment_date", "sealed"),
            fixed=("created_at",),
        )
    return writer


def _stored_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of these line keys are already stored: straight through the driver (rendering 5,000
    bound parameters through SQLAlchemy costs more than the query), `= ANY(array)` on PostgreSQL,
    `IN` by 5,000 on SQLite."""
    stored: set[str] = set()
    if not keys:
        return stored
    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute("SELECT line_key FROM reimbursements WHERE line_key = ANY(%s)", (keys,))
            stored.update(row[0] for row in cursor.fetchall())
            return stored
        for start in range(0, len(keys), _IN_CHUNK):
            part = keys[start : start + _IN_CHUNK]
            cursor.execute(
                f"SELECT line_key FROM reimbursements WHERE line_key IN ({','.join('?' * len(part))})",  # noqa: S608
                part,
            )
            stored.update(row[0] for row in cursor.fetchall())
    finally:
        cursor.close()
    return stored


class _Run:
    def __init__(self, database: Database, vault: Vault, report: ImportReport,
                 rejects: RejectsWriter) -> None:  # fmt: skip
        self.sealer = BulkSealer(vault)
        self.report = report
        self.rejects = rejects
        with database.transaction() as session:
            # HMAC-SHA256 under the system key (`vault.keyed_hash`), its key schedule done once.
            self.line_key = hmac.new(vault.system_key(session, KEY_NAME), digestmod="sha256")

    def _line_key(self, item: FeedLine) -> str:
        digest = self.line_key.copy()
        digest.update(item.key_input().encode())
        return digest.hexdigest()

    def _known(self, session: Session, lines: list[FeedLine]) -> list[tuple[FeedLine, uuid.UUID]]:
        """The lines whose holder exists and is open (SRV-4); the others are rejects."""
        holders: dict[str, tuple[uuid.UUID, str]] = {}
        nirs = sorted({item.nir for item in lines})
        for start in range(0, len(nirs), _IN_CHUNK):
            holders.update(
                account_service.holders_by_nirs(session, nirs[start : start + _IN_CHUNK])
            )
        problems: list[Reject] = []
        known: list[tuple[FeedLine, uuid.UUID]] = []
        for item in lines:
            found = holders.get(item.nir)
            if found is None:
                problems.append(Reject(item.line, "nir", "unknown holder"))
            elif found[1] not in LIVE_STATES:
                problems.append(
                    Reject(item.line, "nir", f"the holder's space is {found[1]}, not open (SRV-4)")
                )
            else:
                known.append((item, found[0]))
        if problems:
            self.rejects.write(problems)
            self.report.rejected += len(problems)
        return known

    def apply(self, session: Session, lines: list[FeedLine]) -> None:
        report = self.report
        keyed = [
            (item, holder_id, self._line_key(item))
            for item, holder_id in self._known(session, lines)
        ]
        stored = _stored_keys(session, [key for _i, _h, key in keyed])
        fresh: list[tuple[FeedLine, uuid.UUID, str]] = []
        for entry in keyed:
            key = entry[2]
            if key in stored:
                report.unchanged += 1
                continue
            stored.add(key)  # the same line twice in one batch: the second is unchanged
            fresh.append(entry)
        if not fresh:
            return
        per_holder: dict[uuid.UUID, int] = {}
        for _item, holder_id, _key in fresh:
            per_holder[holder_id] = per_holder.get(holder_id, 0) + 1
        sealer = self.sealer
        sealer.refresh(session, per_holder)
        texts: dict[uuid.UUID, str] = {}  # holder ids as canonical text, once per batch
        rows: list[list[Any]] = []
        for (item, holder_id, key), record_id in zip(fresh, new_ids(len(fresh)), strict=True):
            holder = texts.get(holder_id)
            if holder is None:
                holder = texts[holder_id] = str(holder_id)
            sealed = sealer.seal(holder_id, record_id, PURPOSE, item.sealed_payload())
            rows.append([record_id, holder, key, item.care_date, item.payment_date, sealed])
        connection = session.connection()
        _writer(connection.dialect).write(connection, rows, (clock.now(),))
        started = time.perf_counter()
        # ACC-8: one entry per holder and batch, the count only (never an act or an amount).
        report.audit_entries += append_batch(
            session,
            [
                PendingEntry(
                    actor_kind=SYSTEM.kind.value,
                    actor_id=str(SYSTEM.id),
                    action=ACTION_IMPORT,
                    holder_id=holder_id,
                    target_type="ExplanationOfBenefit",
                    target_id=str(count),
                    mode=Mode.SYSTEM.value,
                    reason="insurer-feed",
                )
                for holder_id, count in sorted(per_holder.items())
            ],
        )
        report.audit_seconds += time.perf_counter() - started
        report.imported += len(rows)

    def close(self) -> None:
        self.sealer.close()


def import_feed(
    database: Database,
    vault: Vault,
    settings: Settings,
    path: Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import a reimbursement feed (SRV-4, REP-2, ACC-8); see `docs/formats/reimbursements.md`.

    Commits one transaction per batch. Raises InvalidInput when the file itself is unusable; bad
    lines go to `FILE.rejects.csv`. `progress(lines_read, bytes_read)` is called after each batch.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(
            f"The batch size must be between 1 and {MAX_BATCH_SIZE}.", field="batch_size"
        )
    validator = Validator(clock.today(settings.timezone))
    started = time.perf_counter()
    report = ImportReport()
    with open_feed(path) as source:
        rejects = RejectsWriter(path)
        run: _Run | None = None
        try:
            run = _Run(database, vault, report, rejects)
            batch: list[FeedLine] = []

            def flush() -> None:
                assert run is not None
                with database.transaction() as session:
                    run.apply(session, batch)
                batch.clear()
                if progress is not None:
                    progress(report.rows, source.position())

            check = validator.check
            for item in source:
                report.rows += 1
                if isinstance(item, list):
                    rejects.write(item)
                    report.rejected += 1
                    continue
                result = check(*item)
                if isinstance(result, FeedLine):
                    batch.append(result)
                    if len(batch) >= batch_size:
                        flush()
                elif isinstance(result, Secret):
                    report.secret += 1  # REP-2: dropped here, never stored nor written anywhere
                else:
                    rejects.write(result)
                    report.rejected += 1
            if batch:
                flush()
            elif progress is not None:
                progress(report.rows, source.position())
        finally:
            if run is not None:
                run.close()
            report.rejects_file = rejects.finish()
    report.seconds = time.perf_counter() - started
    return report


__all__ = [
    "COLUMNS",
    "SECRET",
    "FeedLine",
    "ImportReport",
    "Validator",
    "import_feed",
    "open_feed",
    "validate_line",
]
