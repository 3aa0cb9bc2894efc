"""DMP migration: importing IHE XDM media into holders' spaces (issue 4, item 6).

`import_media` reads every medium first (`xdm`: layout, METADATA.XML), then imports each document
in its own transaction through `documents.deposits.deposit` (source "dmp-migration": ID-3 and the
DOC-1 content checks apply, the decision point is bypassed for this operator import). A document
that fails any check is not stored — no row, and the blob written by a failed deposit is removed
on rollback — and never stops the others.

Rules: LC-3 (holders who opposed the migration, or whose space is not open, are skipped), ID-1
(the INS of patientId), ID-3 (qualified identity only), DOC-1 (LOINC type, size and SHA-1 checked),
DOC-2 (confidentiality flags). Idempotent: the uniqueId is the master identifier, so a second run
counts the document as already imported.

The report holds ids, codes and reasons only: never a NIR, a name or a title.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.deposits import NewDocument, deposit
from carnet.documents.models import Document
from carnet.documents.xdm.codes import safe_code
from carnet.documents.xdm.medium import (
    FileProblem,
    Limits,
    Medium,
    MediumError,
    open_medium,
    path_problem,
    resolve,
)
from carnet.documents.xdm.metadata import Entry, MetadataProblem, Submission, parse_metadata
from carnet.documents.xdm.planning import REJECTED, SKIPPED, Plan, Verdict, plan
from carnet.errors import CarnetError, Conflict, DatabaseUnavailable, InvalidInput
from carnet.vault.service import Vault

log = logging.getLogger(__name__)

SOURCE = "dmp-migration"

# Outcomes of a report row. The first four are per document and counted in the summary; the
# others describe a medium, a submission set or a stray member.
IMPORTED = "imported"
ALREADY_IMPORTED = "already-imported"
REFUSED = "refused"  # a path, a subset or a member that could not be read safely
NOTE = "note"  # informative: repaired metadata, unreferenced file, replacement not applied

REPORT_COLUMNS = ("medium", "subset", "entry", "outcome", "reason")
OPPOSED_REASON = "the holder opposed the DMP migration (LC-3)"


@dataclass(frozen=True)
class ReportRow:
    medium: str
    subset: str
    entry: str
    outcome: str
    reason: str


@dataclass
class Summary:
    imported: int = 0
    already_imported: int = 0
    skipped: int = 0
    rejected: int = 0
    unreadable_media: int = 0
    rows: list[ReportRow] = field(default_factory=list)

    def add(self, row: ReportRow) -> None:
        self.rows.append(row)
        if row.outcome == IMPORTED:
            self.imported += 1
        elif row.outcome == ALREADY_IMPORTED:
            self.already_imported += 1
        elif row.outcome == SKIPPED:
            self.skipped += 1
        elif row.outcome == REJECTED:
            self.rejected += 1

    @property
    def problems(self) -> int:
        """Rows about media, submission sets or members that could not be read."""
        return sum(1 for row in self.rows if row.outcome == REFUSED)

    @property
    def exit_status(self) -> int:
        """0 when every path was an XDM medium (even with rejected documents), 1 otherwise."""
        return 1 if self.unreadable_media else 0


@dataclass(frozen=True)
class Options:
    accept_test_identities: bool = False  # note §4.1: test/demo INS only outside production
    limits: Limits | None = None  # default: derived from settings.max_upload_bytes


@dataclass
class _Subset:
    name: str
    metadata_path: str
    submission: Submission

    @property
    def folder(self) -> str:
        return self.metadata_path.rpartition("/")[0]


@dataclass
class _Scanned:
    label: str
    medium: Medium
    subsets: list[_Subset]


class _Verdict(Exception):
    """Raised inside a document's transaction: the document is not imported, for this reason."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def holder_verdict(holder: Holder) -> tuple[str, str] | None:
    """Why no document may be migrated into this space now, or None (LC-3, LC-5, LC-6, ID-3)."""
    if holder.dmp_migration_opposed or holder.state == account_rules.OPPOSED:
        return SKIPPED, OPPOSED_REASON
    if holder.state == account_rules.NOTIFIED:
        return SKIPPED, "space not open yet: the opposition period runs (LC-3)"
    if holder.state in (
        account_rules.CLOSED,
        account_rules.PURGE_PENDING,
        account_rules.PURGED,
    ):
        return SKIPPED, f"space {holder.state} (LC-5)"
    if holder.state == account_rules.SUSPENDED:
        return SKIPPED, "space suspended (LC-6)"
    if holder.state not in account_rules.LIVE_STATES:
        return SKIPPED, f"space in state {safe_code(holder.state)}"
    if not holder.ins_qualified:
        return REJECTED, "the holder's INS is not qualified (ID-3)"
    return None


class Migration:
    """One run of `carnet import-dmp` over several media."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        settings: Settings,
        options: Options | None = None,
    ) -> None:
        self.database = database
        self.vault = vault
        self.settings = settings
        self.options = options or Options()
        self.limits = self.options.limits or Limits.for_settings(settings.max_upload_bytes)
        self.summary = Summary()
        self._holders: dict[str, uuid.UUID | None] = {}  # NIR → holder id, or None when unknown

    # -- reading the media ------------------------------------------------------------------

    def scan(self, paths: Iterable[Path]) -> list[_Scanned]:
        """Open every path and parse every METADATA.XML; what cannot be read is reported."""
        scanned: list[_Scanned] = []
        for path in paths:
            label = str(path)
            try:
                medium = open_medium(path, self.limits)
            except MediumError as exc:
                self.summary.unreadable_media += 1
                self._row(label, "", "", REFUSED, str(exc))
                continue
            for refusal in medium.refused:
                self._row(label, "", refusal.ref, REFUSED, refusal.reason)
            subsets: list[_Subset] = []
            for name, metadata_path in medium.subsets():
                subset_label = safe_code(name, 64)
                try:
                    data = medium.read(metadata_path, self.limits.max_metadata_bytes)
                    submission = parse_metadata(data)
                except (FileProblem, MetadataProblem) as exc:
                    self._row(label, subset_label, "", REFUSED, str(exc))
                    continue
                for note in submission.notes:
                    self._row(label, subset_label, "", NOTE, note)
                if not submission.entries:
                    self._row(label, subset_label, "", NOTE, "no DocumentEntry in METADATA.XML")
                subsets.append(_Subset(name, metadata_path, submission))
            scanned.append(_Scanned(label, medium, subsets))
        return scanned

    @staticmethod
    def count(scanned: Sequence[_Scanned]) -> int:
        return sum(len(s.submission.entries) for m in scanned for s in m.subsets)

    # -- importing -----------------------------------------------------------------------------

    def run(
        self, scanned: Sequence[_Scanned], advance: Callable[[], None] | None = None
    ) -> Summary:
        try:
            for medium in scanned:
                for subset in medium.subsets:
                    self._subset(medium, subset, advance)
        finally:
            for medium in scanned:
                medium.medium.close()
        return self.summary

    def _subset(
        self, scanned: _Scanned, subset: _Subset, advance: Callable[[], None] | None
    ) -> None:
        label, name = scanned.label, safe_code(subset.name, 64)
        stored: dict[str, tuple[uuid.UUID, str]] = {}  # entry id → (holder id, master identifier)
        for entry in subset.submission.entries:
            outcome, reason, where = self._document(scanned, subset, entry)
            if where is not None:
                stored[entry.entry_id] = where
            self._row(label, name, _entry_ref(entry), outcome, reason)
            if advance is not None:
                advance()
        self._replacements(scanned, subset, stored)
        self._orphans(scanned, subset)

    def _document(
        self, scanned: _Scanned, subset: _Subset, entry: Entry
    ) -> tuple[str, str, tuple[uuid.UUID, str] | None]:
        planned = plan(
            entry,
            subset.submission,
            accept_test_identities=self.options.accept_test_identities,
        )
        if isinstance(planned, Verdict):
            return planned.outcome, planned.reason, None
        holder_id = self._holder_id(planned.nir)
        if holder_id is None:
            return REJECTED, "unknown holder: no Carnet space for this INS", None
        where = (holder_id, planned.master_identifier)
        try:
            with self.database.transaction() as session:
                reason = self._deposit(session, scanned.medium, subset, holder_id, planned)
            return IMPORTED, reason, where
        except _Verdict as verdict:
            return (
                verdict.outcome,
                verdict.reason,
                (where if verdict.outcome == ALREADY_IMPORTED else None),
            )
        except Conflict as exc:
            if exc.code == "duplicate-document":
                return ALREADY_IMPORTED, "", where
            return REJECTED, f"{exc.code}: {exc.message}", None
        except InvalidInput as exc:
            return REJECTED, f"{exc.code}: {exc.message}", None
        except IntegrityError:
            if self._exists(holder_id, planned.master_identifier):
                return ALREADY_IMPORTED, "imported concurrently by another run", where
            log.exception("DMP migration: integrity error")
            return REJECTED, "database integrity error", None
        except (OperationalError, DatabaseUnavailable):
            raise  # the database is gone: stop the run rather than reject everything
        except CarnetError as exc:
            return REJECTED, f"{exc.code}: {exc.message}", None
        except Exception as exc:  # bad input must never crash the run (issue 4, "Bad input")
            log.exception("DMP migration: unexpected error on one document")
            return REJECTED, f"unexpected error ({type(exc).__name__})", None

    def _deposit(
        self,
        session: Session,
        medium: Medium,
        subset: _Subset,
        holder_id: uuid.UUID,
        planned: Plan,
    ) -> str:
        """Inside the document's transaction: re-check the space, read and verify the file,
        deposit. Raises _Verdict for every refusal (nothing is written before the deposit)."""
        holder = account_service.holder(session, holder_id)
        if holder is None:
            raise _Verdict(REJECTED, "unknown holder: no Carnet space for this INS")
        refused = holder_verdict(holder)
        if refused is not None:
            raise _Verdict(*refused)
        exists = session.scalars(
            select(Document.id).where(
                Document.holder_id == holder.id,
                Document.master_identifier == planned.master_identifier,
            )
        ).first()
        if exists is not None:
            raise _Verdict(ALREADY_IMPORTED, "")
        try:
            real = resolve(medium, subset.folder, planned.uri)
            if real is None:
                raise _Verdict(REJECTED, "file missing from the medium")
            content = medium.read(real, self.limits.max_member_bytes)
        except FileProblem as exc:
            raise _Verdict(REJECTED, str(exc)) from None
        # DOC-1: size and SHA-1 as declared (checked here for a precise reason; deposit checks
        # them again on the bytes it stores).
        if planned.expected_size is not None and planned.expected_size != len(content):
            raise _Verdict(
                REJECTED,
                f"size mismatch: declared {planned.expected_size} bytes, file has {len(content)}",
            )
        sha1 = hashlib.sha1(content).hexdigest()  # noqa: S324 - XDS defines SHA-1
        if planned.expected_sha1 is not None and planned.expected_sha1 != sha1:
            raise _Verdict(REJECTED, "hash mismatch: the file's SHA-1 differs from the metadata")
        if len(content) > self.settings.max_upload_bytes:
            raise _Verdict(
                REJECTED, f"file larger than the {self.settings.max_upload_bytes} bytes limit"
            )
        doc = deposit(
            session,
            self.vault,
            self.settings,
            SYSTEM,
            holder,
            NewDocument(
                content=content,
                title=planned.title,
                declared_type=planned.mime_type,
                type_code=planned.type_code,
                care_date=planned.care_date,
                period_start=planned.period_start,
                period_end=planned.period_end,
                created_at=planned.created_at,
                master_identifier=planned.master_identifier,
                expected_sha1=sha1,
                expected_size=len(content),
                # DOC-2: flags from TRE_A07; without MASQUE_PS the holder's default applies (DOC-5).
                masked=True if planned.masked else None,
                invisible_to_patient=planned.invisible_to_patient,
                invisible_to_representatives=planned.invisible_to_representatives,
                format_code=planned.format_code,
                language=planned.language,
                source=SOURCE,
                author_rpps=planned.author_rpps,
                notify=False,
            ),
        )
        if planned.superseded:
            doc.status = "superseded"  # availabilityStatus Deprecated in the source record
        notes = list(planned.notes)
        if planned.class_code:
            notes.insert(0, f"classCode {safe_code(planned.class_code)}")
        return "; ".join(notes)

    def _replacements(
        self, scanned: _Scanned, subset: _Subset, stored: dict[str, tuple[uuid.UUID, str]]
    ) -> None:
        """RPLC / XFRM_RPLC inside one submission set (note §6.2 item 15): the replaced document
        becomes superseded, the new one points to it (DOC-6: versions are kept)."""
        for association in subset.submission.associations:
            if association.kind not in ("RPLC", "XFRM_RPLC"):
                continue
            new, old = stored.get(association.source), stored.get(association.target)
            ref = safe_code(association.source, 64)
            if new is None:
                continue  # the replacing document was not imported: nothing to link
            if old is None or old[0] != new[0]:
                self._row(
                    scanned.label,
                    safe_code(subset.name, 64),
                    ref,
                    NOTE,
                    "replaces a document not imported from this submission set; not linked",
                )
                continue
            with self.database.transaction() as session:
                docs = {
                    doc.master_identifier: doc
                    for doc in session.scalars(
                        select(Document).where(
                            Document.holder_id == new[0],
                            Document.master_identifier.in_([new[1], old[1]]),
                        )
                    )
                }
                new_doc, old_doc = docs.get(new[1]), docs.get(old[1])
                if new_doc is None or old_doc is None or new_doc.replaces_id == old_doc.id:
                    continue
                old_doc.status = "superseded"
                old_doc.updated_at = clock.now()
                new_doc.replaces_id = old_doc.id
                new_doc.version = max(new_doc.version, old_doc.version + 1)
                record(
                    session,
                    SYSTEM,
                    "document.replace",
                    holder_id=old_doc.holder_id,
                    target_type="DocumentReference",
                    target_id=str(new_doc.id),
                    mode=Mode.SYSTEM,
                    reason=SOURCE,
                )

    def _orphans(self, scanned: _Scanned, subset: _Subset) -> None:
        """Files of the subset folder that no entry points to (note §6.1 item 5)."""
        referenced = {subset.metadata_path}
        for entry in subset.submission.entries:
            if entry.uri and path_problem(entry.uri) is None:
                try:
                    real = resolve(scanned.medium, subset.folder, entry.uri)
                except FileProblem:
                    continue
                if real is not None:
                    referenced.add(real)
        number = 0
        for path in scanned.medium.files_under(subset.folder):
            if path not in referenced:
                number += 1
                self._row(
                    scanned.label,
                    safe_code(subset.name, 64),
                    f"file:{number}",
                    NOTE,
                    "file not referenced by any entry; not imported",
                )

    # -- helpers ----------------------------------------------------------------------------

    def _holder_id(self, nir: str) -> uuid.UUID | None:
        if nir not in self._holders:
            with self.database.transaction() as session:
                holder = lifecycle.find_holder(session, nir)
                self._holders[nir] = holder.id if holder is not None else None
        return self._holders[nir]

    def _exists(self, holder_id: uuid.UUID, master: str) -> bool:
        with self.database.transaction() as session:
            return (
                session.scalars(
                    select(Document.id).where(
                        Document.holder_id == holder_id, Document.master_identifier == master
                    )
                ).first()
                is not None
            )

    def _row(self, medium: str, subset: str, entry: str, outcome: str, reason: str) -> None:
        self.summary.add(ReportRow(medium, subset, entry, outcome, reason))


def _entry_ref(entry: Entry) -> str:
    return safe_code(entry.entry_id, 80) or "(no id)"


def import_media(
    database: Database,
    vault: Vault,
    settings: Settings,
    paths: Sequence[Path],
    options: Options | None = None,
    *,
    on_total: Callable[[int], None] | None = None,
    on_advance: Callable[[], None] | None = None,
) -> Summary:
    """Import the documents of every XDM medium in `paths`; the summary carries the report."""
    migration = Migration(database, vault, settings, options)
    scanned = migration.scan(paths)
    if on_total is not None:
        on_total(Migration.count(scanned))
    return migration.run(scanned, on_advance)


def _cell(value: str) -> str:
    """No spreadsheet formula injection from values that come from the medium."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_report(path: Path, rows: Iterable[ReportRow]) -> None:
    """The CSV report: medium, subset, entry, outcome, reason (no NIR, name or title)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for row in rows:
            writer.writerow(
                [_cell(row.medium), _cell(row.subset), _cell(row.entry), row.outcome, row.reason]
            )
