"""`carnet import-reimbursements FILE`: the insurer's reimbursement feed (rules SRV-4, REP-2, ACC-8).

The format is documented in `docs/formats/reimbursements.md`. Same shape as the roster importer
(`accounts.roster`), the same file reader (`carnet.feeds.FileSource`):

* The file is streamed (CSV with a header through the C `csv` reader, or NDJSON line by line); only
  the current batch (default 5,000 lines) is held in memory. One transaction per batch.
* Per batch: one query for the holders named, one for the line keys already stored, one for the
  data keys; rows written with one SQLAlchemy Core executemany; one audit entry per holder
  (`append_batch`, action `reimbursements.import`, the count only — never an amount, ACC-8).
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
import hashlib
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

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts import service as account_service
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode
from carnet.audit.service import PendingEntry, append_batch
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.feeds import FileSource, Layout, Reject, RejectsWriter
from carnet.reimbursements.models import KEY_NAME, PURPOSE, Reimbursement
from carnet.vault.service import Vault

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
    """A validated reimbursement line (amounts as Decimal, euros, 2 decimals)."""

    line: int
    nir: str
    care_date: dt.date
    act_code: str
    act_label: str
    professional_rpps: str | None
    amount_charged: Decimal
    amount_reimbursed: Decimal
    payment_date: dt.date

    def key_input(self) -> str:
        """What `line_key` hashes: the fields that identify one act paid once."""
        return (
            f"{self.nir}|{self.care_date.isoformat()}|{self.act_code}|"
            f"{self.professional_rpps or ''}|{self.amount_charged:.2f}|"
            f"{self.payment_date.isoformat()}"
        )

    def sealed_payload(self) -> bytes:
        return json.dumps(
            {
                "act_code": self.act_code,
                "act_label": self.act_label,
                "professional_rpps": self.professional_rpps,
                "amount_charged": f"{self.amount_charged:.2f}",
                "amount_reimbursed": f"{self.amount_reimbursed:.2f}",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")


class Secret:
    """REP-2: the line is an act a minor keeps secret; it is counted and dropped, nothing else."""


SECRET = Secret()


# -- validation (pure) -----------------------------------------------------------------------------


def _day(
    value: str, name: str, line: int, today: dt.date, problems: list[Reject]
) -> dt.date | None:
    if not value:
        problems.append(Reject(line, name, "missing"))
        return None
    if not _DAY_RE.fullmatch(value):
        problems.append(Reject(line, name, "not a date written YYYY-MM-DD"))
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        problems.append(Reject(line, name, "impossible date (no such day in the calendar)"))
        return None
    if day > today:
        problems.append(Reject(line, name, "in the future"))
        return None
    return day


def _amount(value: str, name: str, line: int, problems: list[Reject]) -> Decimal | None:
    if not value:
        problems.append(Reject(line, name, "missing"))
        return None
    if not _AMOUNT_RE.fullmatch(value):
        if "," in value:
            reason = "amounts are written with a dot, not a comma (e.g. 25.00)"
        elif value.startswith("-"):
            reason = "negative amount"
        else:
            reason = "not an amount in euros with at most 2 decimals (e.g. 25.00)"
        problems.append(Reject(line, name, reason))
        return None
    return Decimal(value)


def validate_line(
    line: int, values: Mapping[str, str | None], today: dt.date
) -> FeedLine | Secret | list[Reject]:
    """Check one feed line; every problem is returned. Reasons never quote the values.

    REP-2 first: a line flagged confidential is `SECRET` whatever else it holds — it is not stored,
    and not listed as a reject either.
    """
    get = values.get
    text = {name: (raw.strip() if (raw := get(name)) else "") for name in COLUMNS}
    problems: list[Reject] = []
    confidential = text["confidential"].lower()
    if confidential in ("1", "true"):
        return SECRET
    if confidential not in ("", "0", "false"):
        return [Reject(line, "confidential", "expected 1 (secret act of a minor), 0 or empty")]

    nir = rules.normalize_nir(text["nir"]) if text["nir"] else ""
    if not nir:
        problems.append(Reject(line, "nir", "missing"))
    elif (problem := rules.nir_problem(nir)) is not None:
        problems.append(Reject(line, "nir", problem))

    care = _day(text["care_date"], "care_date", line, today, problems)
    payment = _day(text["payment_date"], "payment_date", line, today, problems)
    if care is not None and payment is not None and payment < care:
        problems.append(Reject(line, "payment_date", "before the care date"))

    act = text["act_code"].upper()
    if not act:
        problems.append(Reject(line, "act_code", "missing"))
    elif not _ACT_RE.fullmatch(act):
        problems.append(
            Reject(line, "act_code", "not an act code (letters, digits, . + -; at most 20)")
        )

    label = text["act_label"]
    if len(label) > MAX_LABEL:
        problems.append(Reject(line, "act_label", f"longer than {MAX_LABEL} characters"))
    elif _CONTROL_RE.search(label):
        problems.append(Reject(line, "act_label", "contains control characters"))

    rpps = text["professional_rpps"] or None
    if rpps is not None and (problem := rules.rpps_problem(rpps)) is not None:
        problems.append(Reject(line, "professional_rpps", problem))

    charged = _amount(text["amount_charged"], "amount_charged", line, problems)
    reimbursed = _amount(text["amount_reimbursed"], "amount_reimbursed", line, problems)
    if charged is not None and reimbursed is not None and reimbursed > charged:
        problems.append(Reject(line, "amount_reimbursed", "more than the amount charged"))

    if problems:
        return problems
    assert care is not None and payment is not None and charged is not None
    assert reimbursed is not None
    return FeedLine(line, nir, care, act, label, rpps, charged, reimbursed, payment)


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

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"Reimbursements: {self.imported} imported, {self.unchanged} unchanged, "
            f"{self.secret} secret, not stored (REP-2), {self.rejected} rejected."
        )


ProgressCallback = Callable[[int, int], None]


class _Run:
    def __init__(self, database: Database, vault: Vault, report: ImportReport,
                 rejects: RejectsWriter) -> None:  # fmt: skip
        self.vault = vault
        self.report = report
        self.rejects = rejects
        with database.transaction() as session:
            self.line_key = vault.system_key(session, KEY_NAME)

    def apply(self, session: Session, lines: list[FeedLine]) -> None:
        report = self.report
        holders: dict[str, tuple[uuid.UUID, str]] = {}
        nirs = sorted({item.nir for item in lines})
        for start in range(0, len(nirs), _IN_CHUNK):
            holders.update(
                account_service.holders_by_nirs(session, nirs[start : start + _IN_CHUNK])
            )
        problems: list[Reject] = []
        keyed: list[tuple[FeedLine, uuid.UUID, str]] = []
        for item in lines:
            found = holders.get(item.nir)
            if found is None:
                problems.append(Reject(item.line, "nir", "unknown holder"))
            elif found[1] not in LIVE_STATES:
                problems.append(
                    Reject(item.line, "nir", f"the holder's space is {found[1]}, not open (SRV-4)")
                )
            else:
                digest = hmac.digest(self.line_key, item.key_input().encode(), hashlib.sha256)
                keyed.append((item, found[0], digest.hex()))
        if problems:
            self.rejects.write(problems)
            report.rejected += len(problems)
        stored: set[str] = set()
        keys = [k for _i, _h, k in keyed]
        for start in range(0, len(keys), _IN_CHUNK):
            part = keys[start : start + _IN_CHUNK]
            stored.update(
                session.scalars(
                    select(Reimbursement.line_key).where(Reimbursement.line_key.in_(part))
                )
            )
        fresh: list[tuple[FeedLine, uuid.UUID, str]] = []
        for item, holder_id, key in keyed:
            if key in stored:
                report.unchanged += 1
                continue
            stored.add(key)  # the same line twice in one batch: the second is unchanged
            fresh.append((item, holder_id, key))
        if not fresh:
            return
        keys_by_holder = self.vault.data_keys(session, {h for _i, h, _k in fresh})
        now = clock.now()
        rows: list[dict[str, Any]] = []
        per_holder: dict[uuid.UUID, int] = {}
        for item, holder_id, key in fresh:
            record_id = uuid.uuid4()
            sealed = Vault.seal_with(
                keys_by_holder[holder_id], holder_id, record_id, PURPOSE, item.sealed_payload()
            )
            rows.append(
                {
                    "id": record_id,
                    "holder_id": holder_id,
                    "line_key": key,
                    "care_date": item.care_date,
                    "payment_date": item.payment_date,
                    "sealed": sealed,
                    "created_at": now,
                }
            )
            per_holder[holder_id] = per_holder.get(holder_id, 0) + 1
        session.execute(insert(_TABLE), rows)  # Core executemany (no ORM objects)
        # ACC-8: one entry per holder and batch, the count only (never an act or an amount).
        append_batch(
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
        report.imported += len(rows)


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
    today = clock.today(settings.timezone)
    started = time.perf_counter()
    report = ImportReport()
    with open_feed(path) as source:
        rejects = RejectsWriter(path)
        try:
            run = _Run(database, vault, report, rejects)
            batch: list[FeedLine] = []

            def flush() -> None:
                with database.transaction() as session:
                    run.apply(session, batch)
                batch.clear()
                if progress is not None:
                    progress(report.rows, source.position())

            for item in source:
                report.rows += 1
                if isinstance(item, list):
                    rejects.write(item)
                    report.rejected += 1
                    continue
                line, values = item
                result = validate_line(line, values, today)
                if isinstance(result, Secret):
                    report.secret += 1  # REP-2: dropped here, never stored nor written anywhere
                elif isinstance(result, list):
                    rejects.write(result)
                    report.rejected += 1
                else:
                    batch.append(result)
                    if len(batch) >= batch_size:
                        flush()
            if batch:
                flush()
            elif progress is not None:
                progress(report.rows, source.position())
        finally:
            report.rejects_file = rejects.finish()
    report.seconds = time.perf_counter() - started
    return report


__all__ = [
    "COLUMNS",
    "SECRET",
    "FeedLine",
    "ImportReport",
    "import_feed",
    "open_feed",
    "validate_line",
]
