"""DMP migration: importing IHE XDM media into holders' spaces (issue 4, item 6).

`import_media` reads every medium first (`xdm`: layout, METADATA.XML), then imports the documents
in batches (issue 14): one short transaction finds the spaces, checks them and the identifiers and
makes the data keys; writer threads then read each file, check it as `documents.deposits.deposit`
does for source "dmp-migration" (ID-3 and DOC-1; the decision point is bypassed for this operator
import), and store its encrypted blob durably, outside any write transaction; finally one
transaction writes the batch's rows and their audit entries (`append_batch`), after checking the
spaces and identifiers again. A document that fails any check is not stored — no row, its blob
deleted — and never stops the others: when writing a batch fails, its documents are written one
by one to find the one at fault.

Rules: LC-3 (holders who opposed the migration, or whose space is not open, are skipped), ID-1
(the INS of patientId), ID-3 (qualified identity only), DOC-1 (LOINC type, size and SHA-1 checked),
DOC-2 (confidentiality flags). Idempotent: the uniqueId is the master identifier, so a second run
counts the document as already imported.

The report holds ids, codes and reasons only: never a NIR, a name or a title.
"""

from __future__ import annotations

import csv
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.service import actor_for
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.audit.rules import Mode
from carnet.audit.service import PendingEntry, append_batch, record
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import rules as doc_rules
from carnet.documents import sniff
from carnet.documents.deposits import NewDocument, check_content, classify
from carnet.documents.models import Document
from carnet.documents.service import PURPOSE, actor_mode, preferences
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
from carnet.errors import CarnetError, DatabaseUnavailable
from carnet.vault.service import StoredBlob, Vault

log = logging.getLogger(__name__)

_DOCUMENTS = cast(Table, Document.__table__)

SOURCE = "dmp-migration"

# Outcomes of a report row. The first four are per document and counted in the summary; the
# others describe a medium, a submission set or a stray member.
IMPORTED = "imported"
ALREADY_IMPORTED = "already-imported"
REFUSED = "refused"  # a path, a subset or a member that could not be read safely
NOTE = "note"  # informative: repaired metadata, unreferenced file, replacement not applied

REPORT_COLUMNS = ("medium", "subset", "entry", "outcome", "reason")
OPPOSED_REASON = "the holder opposed the DMP migration (LC-3)"
UNKNOWN_HOLDER = "unknown holder: no Carnet space for this INS"
HASH_MISMATCH = "hash mismatch: the file's SHA-1 differs from the metadata"

# Documents are imported in batches: one transaction for their rows and audit entries, their
# blobs written beforehand by a few threads (issue 14). A batch closes at this many documents or
# at this many bytes declared (what is held in memory while it is read).
BATCH_DOCUMENTS = 200
BATCH_BYTES = 64 * 1024 * 1024
WRITERS = 8


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


_Result = tuple[str, str, tuple[uuid.UUID, str] | None]  # outcome, reason, (holder, master)


@dataclass
class _Pending:
    """A subset being imported: its entries' results, reported once all are decided."""

    scanned: _Scanned
    subset: _Subset
    results: list[_Result | None]


@dataclass
class _Item:
    """One entry on its way into the batch: planned, then read, checked, stored, written."""

    pending: _Pending
    index: int
    planned: Plan
    holder_id: uuid.UUID | None = None  # found when its batch starts
    doc_id: uuid.UUID = field(default_factory=uuid.uuid4)
    real: str | None = None  # the member of the medium
    data_key: tuple[uuid.UUID, bytes] | None = None  # the space's (`Vault.data_keys`)
    mask_default: bool | None = None  # the space's preference (DOC-5)
    classified: tuple[str | None, str, str] | None = None
    mime: str | None = None
    stored: StoredBlob | None = None
    result: _Result | None = None

    @property
    def key(self) -> tuple[uuid.UUID, str]:
        assert self.holder_id is not None
        return self.holder_id, self.planned.master_identifier

    @property
    def space(self) -> uuid.UUID:
        assert self.holder_id is not None
        return self.holder_id

    def decide(self, outcome: str, reason: str, *, imported: bool = False) -> None:
        """The entry's outcome; `imported`: the document is in the space (now or before)."""
        self.result = (outcome, reason, self.key if imported else None)
        self.pending.results[self.index] = self.result


@dataclass
class _Flight:
    """A batch whose files the writer threads are storing."""

    items: list[_Item]
    live: list[_Item]  # those not decided before their files were read
    writers: list[Future[None]]


def _notes(planned: Plan) -> str:
    notes = list(planned.notes)
    if planned.class_code:
        notes.insert(0, f"classCode {safe_code(planned.class_code)}")
    return "; ".join(notes)


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
        self._open: list[_Pending] = []  # subsets not reported yet, in medium order
        self._batch: list[_Item] = []
        self._batch_keys: set[tuple[str, str]] = set()  # (NIR, master identifier)
        self._batch_bytes = 0
        self._advance: Callable[[], None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: _Flight | None = None

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
        self._advance = advance
        try:
            with ThreadPoolExecutor(WRITERS, thread_name_prefix="dmp-writer") as pool:
                self._pool = pool
                try:
                    for medium in scanned:
                        for subset in medium.subsets:
                            self._stage_subset(medium, subset)
                    self._flush()
                    self._complete(self._in_flight)
                    self._finish_ready()
                finally:
                    self._abandon(self._in_flight)
        finally:
            self._pool = None
            for medium in scanned:
                medium.medium.close()
        return self.summary

    def _stage_subset(self, scanned: _Scanned, subset: _Subset) -> None:
        """Plan every entry of the subset; those that may be imported join the batch."""
        pending = _Pending(scanned, subset, [None] * len(subset.submission.entries))
        self._open.append(pending)
        for index, entry in enumerate(subset.submission.entries):
            planned = plan(
                entry,
                subset.submission,
                accept_test_identities=self.options.accept_test_identities,
            )
            if isinstance(planned, Verdict):
                pending.results[index] = (planned.outcome, planned.reason, None)
                continue
            item = _Item(pending, index, planned)
            if (planned.nir, planned.master_identifier) in self._batch_keys:
                self._flush()  # the same document twice: the second sees the first committed
            self._batch.append(item)
            self._batch_keys.add((planned.nir, planned.master_identifier))
            self._batch_bytes += planned.expected_size or 0
            if len(self._batch) >= BATCH_DOCUMENTS or self._batch_bytes >= BATCH_BYTES:
                self._flush()
        self._finish_ready()

    def _finish_ready(self) -> None:
        """Report the subsets whose every entry is decided, in medium order; then link their
        replacements (their documents are committed) and list their unreferenced files."""
        while self._open and all(result is not None for result in self._open[0].results):
            pending = self._open.pop(0)
            label, name = pending.scanned.label, safe_code(pending.subset.name, 64)
            stored: dict[str, tuple[uuid.UUID, str]] = {}
            for entry, result in zip(
                pending.subset.submission.entries, pending.results, strict=True
            ):
                assert result is not None
                outcome, reason, where = result
                if where is not None:
                    stored[entry.entry_id] = where
                self._row(label, name, _entry_ref(entry), outcome, reason)
                if self._advance is not None:
                    self._advance()
            self._replacements(pending.scanned, pending.subset, stored)
            self._orphans(pending.scanned, pending.subset)

    def _flush(self) -> None:
        """Send the batch on its way, then finish the one before it, whose files were being
        stored meanwhile (two batches in flight at most: one storing, one writing its rows)."""
        items, self._batch, self._batch_keys, self._batch_bytes = self._batch, [], set(), 0
        current = self._start(items) if items else None
        previous, self._in_flight = self._in_flight, current
        self._complete(previous)
        self._finish_ready()

    def _start(self, items: list[_Item]) -> _Flight:
        """Holders and identifiers checked, data keys made, in one short transaction; then each
        file located here and handed to the writer threads: read, checked (DOC-1), encrypted and
        written durably outside any write transaction."""
        with self.database.transaction() as session:
            live, _holders = self._screen(session, self._find_holders(session, items))
            keys = self.vault.data_keys(session, {item.space for item in live})
        for item in live:
            item.data_key = keys[item.space]
        located = [item for item in live if self._locate(item)]
        # Consecutive items share a space: each thread takes a run of them, so it reads few keys.
        count = min(WRITERS, len(located))
        shares = [
            located[n * len(located) // count : (n + 1) * len(located) // count]
            for n in range(count)
        ]
        assert self._pool is not None
        writers = [self._pool.submit(self._writer, share) for share in shares]
        return _Flight(items, live, writers)

    def _complete(self, flight: _Flight | None) -> None:
        """Once its files are stored: every row and audit entry of the batch in one transaction.
        A document refused at any step is decided alone; its blob, if written, is deleted."""
        if flight is None:
            return
        self._in_flight = None if self._in_flight is flight else self._in_flight
        try:
            for writer in flight.writers:
                writer.result()  # a database failure in a writer stops the run
            ready = [i for i in flight.live if i.stored is not None and i.result is None]
            try:
                self._insert(ready)
            except (OperationalError, DatabaseUnavailable):
                raise
            except Exception:  # one document spoiled the batch: each alone, to find it
                for item in ready:
                    self._insert_alone(item)
        finally:
            self._abandon(flight)

    def _abandon(self, flight: _Flight | None) -> None:
        """The blobs of a batch's documents that were not imported (refused, or interrupted)."""
        if flight is None:
            return
        for writer in flight.writers:
            writer.exception()  # wait: a writer may be storing one
        for item in flight.items:
            if item.result is None or item.result[0] != IMPORTED:
                self._drop_blob(item)

    def _screen(
        self, session: Session, items: Sequence[_Item]
    ) -> tuple[list[_Item], dict[uuid.UUID, Holder]]:
        """Items whose space takes documents now (LC-3, LC-5, LC-6, ID-3) and whose identifier
        is not taken there; the others are decided. Two statements for the whole batch."""
        holder_ids = {item.space for item in items}
        holders = account_service.holders_by_ids(session, holder_ids)
        rows = session.execute(
            select(Document.holder_id, Document.master_identifier).where(
                Document.holder_id.in_(holder_ids),
                Document.master_identifier.in_({item.planned.master_identifier for item in items}),
            )
        )
        taken = {(holder_id, master) for holder_id, master in rows}
        live: list[_Item] = []
        for item in items:
            holder = holders.get(item.space)
            refused = (REJECTED, UNKNOWN_HOLDER) if holder is None else holder_verdict(holder)
            if refused is not None:
                item.decide(*refused)
            elif item.key in taken:
                item.decide(ALREADY_IMPORTED, "", imported=True)
            else:
                live.append(item)
        return live, holders

    def _locate(self, item: _Item) -> bool:
        """The medium member of the entry (note §6.1 item 4); False when the item is decided."""
        try:
            item.real = resolve(
                item.pending.scanned.medium, item.pending.subset.folder, item.planned.uri
            )
        except FileProblem as exc:
            item.decide(REJECTED, str(exc))
            return False
        if item.real is None:
            item.decide(REJECTED, "file missing from the medium")
            return False
        return True

    def _read(self, item: _Item) -> bytes | None:
        """The file's bytes, of the size declared (DOC-1); None when the item is decided."""
        planned = item.planned
        try:
            content = item.pending.scanned.medium.read(
                item.real or "", self.limits.max_member_bytes
            )
        except FileProblem as exc:
            item.decide(REJECTED, str(exc))
            return None
        if planned.expected_size is not None and planned.expected_size != len(content):
            item.decide(
                REJECTED,
                f"size mismatch: declared {planned.expected_size} bytes, file has {len(content)}",
            )
            return None
        if len(content) > self.settings.max_upload_bytes:
            item.decide(
                REJECTED, f"file larger than the {self.settings.max_upload_bytes} bytes limit"
            )
            return None
        return content

    def _writer(self, share: Sequence[_Item]) -> None:
        """One writer thread's share of a batch: its own session, read-only (the data keys
        exist), so each space's key is unwrapped once per batch and thread; it commits, keeping
        the blobs it wrote (their rows are written by `_complete`, or they are deleted)."""
        with self.database.read_mostly() as session:
            for item in share:
                self._content(session, item)

    def _content(self, session: Session, item: _Item) -> None:
        """DOC-1 on the bytes (type sniffed and parsed, title), then the encrypted blob; the
        SHA-1 declared is compared with the one the vault computed while storing (hashed once)."""
        planned = item.planned
        try:
            content = self._read(item)
            if content is None:
                return
            new = NewDocument(
                content=content,
                title=planned.title,
                declared_type=planned.mime_type,
                type_code=planned.type_code,
                source=SOURCE,
            )
            check_content(self.settings, new, professional=True)
            item.classified = classify(new, professional=False)
            item.mime = sniff.sniff(content[: sniff.HEAD_BYTES]) or "application/octet-stream"
            item.stored = self.vault.put_blob(session, item.space, item.doc_id, PURPOSE, [content])
            if planned.expected_sha1 is not None and planned.expected_sha1 != item.stored.sha1:
                item.decide(REJECTED, HASH_MISMATCH)
        except (OperationalError, DatabaseUnavailable):
            raise
        except CarnetError as exc:
            item.decide(REJECTED, f"{exc.code}: {exc.message}")
        except Exception as exc:  # bad input must never crash the run (issue 4, "Bad input")
            log.exception("DMP migration: unexpected error on one document")
            item.decide(REJECTED, f"unexpected error ({type(exc).__name__})")

    def _insert(self, items: Sequence[_Item]) -> None:
        """One transaction: the holders and identifiers checked again (a space may have closed,
        another run may have imported meanwhile), the rows, and their audit entries appended
        together (ACC-8, `append_batch`). Items are decided only once it committed."""
        if not items:
            return
        with self.database.transaction() as session:
            live, holders = self._screen(session, items)
            modes = {
                holder.id: actor_mode(actor_for(session, self.settings, SYSTEM, holder))
                for holder in holders.values()
            }
            masks = {hid: preferences(session, hid).mask_new_documents for hid in holders}
            for item in live:  # DOC-5: the holder's default, read once per space
                item.mask_default = masks[item.space]
            rows: list[dict[str, Any]] = []
            entries: list[PendingEntry] = []
            for item in live:
                holder = holders[item.space]
                rows.append(self._document_row(session, holder, item))
                entries.append(
                    PendingEntry(
                        actor_kind=SYSTEM.kind.value,
                        actor_id=str(SYSTEM.id),
                        action="document.deposit",
                        holder_id=holder.id,
                        target_type="DocumentReference",
                        target_id=str(item.doc_id),
                        mode=modes[holder.id],
                        reason=SOURCE,
                    )
                )
            if rows:  # Core: the rows are complete, no ORM object is needed
                session.connection().execute(insert(_DOCUMENTS), rows)
            append_batch(session, entries)
        for item in live:  # committed
            item.decide(IMPORTED, _notes(item.planned), imported=True)

    def _insert_alone(self, item: _Item) -> None:
        """The document in a transaction of its own, after its batch failed; why it fails."""
        try:
            self._insert([item])
        except (OperationalError, DatabaseUnavailable):
            raise
        except IntegrityError:
            if self._exists(item.space, item.planned.master_identifier):
                item.decide(ALREADY_IMPORTED, "imported concurrently by another run", imported=True)
            else:
                log.exception("DMP migration: integrity error")
                item.decide(REJECTED, "database integrity error")
        except CarnetError as exc:
            item.decide(REJECTED, f"{exc.code}: {exc.message}")
        except Exception as exc:  # bad input must never crash the run (issue 4, "Bad input")
            log.exception("DMP migration: unexpected error on one document")
            item.decide(REJECTED, f"unexpected error ({type(exc).__name__})")

    def _document_row(self, session: Session, holder: Holder, item: _Item) -> dict[str, Any]:
        """The row `deposits.deposit` would write for this migrated document (source
        "dmp-migration", no author principal, no notice), with its blob already stored."""
        planned, stored, classified = item.planned, item.stored, item.classified
        assert stored is not None and classified is not None and item.data_key is not None
        type_code, category, sensitivity = classified
        now = clock.now()
        # DOC-2: MASQUE_PS; otherwise the holder's default (DOC-5).
        masked = True if planned.masked else bool(item.mask_default)
        return dict(
            id=item.doc_id,
            holder_id=holder.id,
            master_identifier=planned.master_identifier,
            source=SOURCE,
            author_kind=SYSTEM.kind.value,
            author_id=None,
            author_rpps=planned.author_rpps,
            type_code=type_code,
            category=category,
            sensitivity=sensitivity,
            format_code=planned.format_code,
            title_sealed=Vault.seal_with(
                item.data_key, holder.id, item.doc_id, "document-title", planned.title.encode()
            ),
            original_name_sealed=None,
            care_date=planned.care_date,
            period_start=planned.period_start,
            period_end=planned.period_end,
            created_at=planned.created_at,
            deposited_at=now,
            updated_at=now,
            language=planned.language,
            mime_type=item.mime,
            size=stored.size,
            sha256=stored.sha256,
            sha1=stored.sha1,
            blob_id=stored.blob_id,
            # availabilityStatus Deprecated in the source record.
            status="superseded" if planned.superseded else "current",
            replaces_id=None,
            version=1,
            masked=masked,
            invisible_to_patient=planned.invisible_to_patient,
            invisible_to_representatives=planned.invisible_to_representatives,
            visible_to_patient_from=(
                doc_rules.one_month_after(now) if planned.invisible_to_patient else None  # DOC-4
            ),
            not_deletable=False,
            folder_id=None,
        )

    def _drop_blob(self, item: _Item) -> None:
        if item.stored is not None:
            self.vault.delete_blob(item.stored.blob_id)
            item.stored = None

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

    def _find_holders(self, session: Session, items: Sequence[_Item]) -> list[_Item]:
        """Each item's space, by the NIR of its patientId (ID-1; one statement for the NIRs not
        seen before in this run); items of an unknown NIR are decided."""
        unseen = {item.planned.nir for item in items} - self._holders.keys()
        if unseen:
            found = account_service.holders_by_nirs(session, unseen)  # ID-1: NIRs as stored
            self._holders.update({nir: found[nir][0] if nir in found else None for nir in unseen})
        known: list[_Item] = []
        for item in items:
            item.holder_id = self._holders[item.planned.nir]
            if item.holder_id is None:
                item.decide(REJECTED, UNKNOWN_HOLDER)
            else:
                known.append(item)
        return known

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
