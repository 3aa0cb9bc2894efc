"""Building the "download all my data" ZIP (issue 7 item 6; SRV-5, ACC-8): the job "export.build"
takes each pending request of `export.service`, writes one folder per space the holder may export
(their own, then each space they manage), stores the ZIP encrypted under the holder's key and tells
them by e-mail, without any content.

Every piece of a folder is read through the service that owns it, as the holder who asked (each
read audited there); a source they may not read is simply absent. No rule is decided here.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access import history as access_history
from carnet.accounts import service as account_service
from carnet.accounts import wishes
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.agenda import service as agenda
from carnet.audit import group as audit_group
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import Database, new_id
from carnet.documents import fhir as documents_fhir
from carnet.documents import service as documents
from carnet.documents import sniff
from carnet.documents.models import Document
from carnet.documents.present import EXTENSIONS
from carnet.errors import CarnetError, Forbidden
from carnet.export import everything, timeline
from carnet.export.models import FAILED, PENDING, PURPOSE, READY, ExportRequest
from carnet.export.service import expire, export_ttl, holder_principal, summary_pdf
from carnet.fhir import resources
from carnet.fhir.service import fhir_base
from carnet.messaging.attachments import every_attachment
from carnet.messaging.context import Context
from carnet.notifications.service import enqueue
from carnet.profile import measurements as measures
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile
from carnet.vault.service import Vault

BUILD_BATCH = 10
SPOOL_BYTES = 16 * 1024 * 1024  # ZIPs (and Bundles) larger than this are built on disk
COPY_BYTES = 256 * 1024
# Media types that are compressed already: stored in the ZIP as they are.
COMPRESSED_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp",
                              "application/zip", "application/gzip", "video/mp4",
                              "audio/mpeg"})  # fmt: skip
# Deflate level: the members that deflate at all (JSON, CSV, text PDFs) deflate well at 1, in a
# third of the default level's time.
LEVEL = 1
SAMPLE_BYTES = 16 * 1024
INCOMPRESSIBLE = 0.9  # a sample that deflates to more than this share of its size is stored
READY_KIND = "export.ready"
READY_SUBJECT = "Votre export Carnet est prêt"

Json = dict[str, Any]


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-").lower() or "x"


def document_file_name(doc: Document, name: str) -> str:
    """A document's file in the archive: its id, its name as a slug, and the extension of its
    stored type (issue 16: without one, the holder's computer did not know how to open it)."""
    extension = EXTENSIONS.get(sniff.normalize_declared(doc.mime_type) or "", "")
    stem = name
    if extension and name.lower().endswith(extension):
        stem = name[: -len(extension)]
    return f"{doc.id}-{_slug(stem)}{extension}"


def safe_file_name(name: str, limit: int = 80) -> str:
    """A name chosen by someone else (an attachment's), made safe for any file system and any
    unzip tool: no folder part, no `..`, ASCII letters, digits and dashes, its extension kept."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    safe = _slug(stem)[:limit].strip("-") or "x"
    extension = _slug(extension)[:10].strip("-") if extension else ""
    return f"{safe}.{extension}" if extension and extension != "x" else safe


def space_folder(holder: Holder, relation: str) -> str:
    if relation == "self":
        return "mon-espace"
    return f"{_slug(holder.first_names)}-{_slug(holder.birth_name)}-{str(holder.id)[:8]}"


def _entry(base_url: str, resource: Json) -> Json:
    return {
        "fullUrl": f"{base_url.rstrip('/')}/fhir/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
    }


@dataclass
class SpaceExport:
    """What one space contributes to the ZIP (for tests and the build summary)."""

    folder: str
    documents: int = 0
    profile_entries: int = 0
    reimbursements: int = 0
    history_entries: int = 0
    messages: int = 0
    attachments: int = 0
    appointments: int = 0


def _write_history(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    archive: zipfile.ZipFile,
    name: str,
) -> int:
    """ACC-8: the access history as CSV, written into the ZIP as it is read (`every_entry`: one
    decision, one audit entry when someone other than the holder reads it, then the entries by
    chunks). A refusal comes before the file."""
    found = access_history.every_entry(session, settings, principal, holder)
    count = 0
    with archive.open(name, "w", force_zip64=True) as member:
        out = io.TextIOWrapper(member, encoding="utf-8", newline="")
        writer = csv.writer(out)
        writer.writerow(["date", "action", "mode", "acteur", "rpps", "cible", "id_cible", "motif",
                         "signale"])  # fmt: skip
        for e in found:
            writer.writerow([e.at.isoformat(), e.action, e.mode, e.actor_display,
                             e.actor_rpps or "", e.target_type or "", e.target_id or "",
                             e.reason or "", "oui" if e.reported else "non"])  # fmt: skip
            count += 1
        out.flush()
        out.detach()
    return count


def document_compression(content: bytes, media_type: str | None) -> int:
    """Deflate a document only when it gains something: most health documents (scanned or
    generated PDFs, JPEG, PNG) are already compressed, and deflating them again costs more time
    than the whole rest of their export while saving nothing. Judged on the type when it says so,
    else on a sample from the middle of the file."""
    if media_type in COMPRESSED_TYPES:
        return zipfile.ZIP_STORED
    middle = max(0, len(content) // 2 - SAMPLE_BYTES // 2)
    sample = content[middle : middle + SAMPLE_BYTES]
    if not sample or len(zlib.compress(sample, 1)) > len(sample) * INCOMPRESSIBLE:
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _json(value: Json) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


class _BundleEntries:
    """The FHIR Bundle's document entries (each a DocumentReference and its Binary, the content
    base64-encoded), written out one document at a time to a spool that goes to disk past
    `SPOOL_BYTES`: the export never holds more than one document in memory, whatever their number.
    The Bundle is assembled at the end (the ZIP takes one member at a time, and the documents'
    own files are written meanwhile)."""

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool = spool
        self.count = 0
        self.binary_bytes = 0
        self.compressible_bytes = 0

    def add(self, entry: Json) -> None:
        if self.count:
            self.spool.write(b", ")
        self.spool.write(_json(entry))
        self.count += 1

    def add_binary(self, base_url: str, doc: Document, content: bytes) -> None:
        """The document's Binary entry (`documents.fhir.binary`), its base64 written straight
        into the spool: that alphabet needs no JSON escaping, and the JSON encoder would scan and
        copy every byte of it again."""
        resource = documents_fhir.binary(doc, b"")
        if resource.get("data") != "" or list(resource)[-1] != "data":
            self.add(_entry(base_url, documents_fhir.binary(doc, content)))  # another form
            return
        text = _json(_entry(base_url, resource))  # ends with `"data": ""}}`
        if self.count:
            self.spool.write(b", ")
        self.spool.write(text[: -len(b'"}}')])
        self.spool.write(base64.b64encode(content))
        self.spool.write(b'"}}')
        self.count += 1

    def compression(self) -> int:
        """The Bundle is mostly its Binary entries: deflated when the documents were, else
        stored (base64 of compressed bytes deflates slowly and saves only its last quarter)."""
        if self.binary_bytes and self.compressible_bytes * 2 < self.binary_bytes:
            return zipfile.ZIP_STORED
        return zipfile.ZIP_DEFLATED


def _write_documents(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    archive: zipfile.ZipFile,
    folder: str,
    entries: _BundleEntries,
    now: dt.datetime,
) -> int:
    """The space's readable documents, streamed: read page by page (`timeline.readable_documents`,
    one audited search each), each content read through `documents.read_content` (decision point,
    one audit entry, held for the export's commit), written to `documents/` and to the Bundle,
    then dropped before the next one."""
    written = 0
    try:
        for listed in timeline.readable_documents(session, settings, principal, holder):
            doc, stream = documents.read_content(session, vault, settings, principal, listed.id)
            content = b"".join(stream)
            title = documents.title_of(session, vault, doc)
            entries.add(
                _entry(
                    settings.base_url,
                    documents_fhir.document_reference(
                        doc, title, holder, base=fhir_base(settings), now=now
                    ),
                )
            )
            entries.add_binary(settings.base_url, doc, content)
            name = documents.original_name_of(session, vault, doc) or _slug(title)
            compression = document_compression(content, doc.mime_type)
            archive.writestr(
                f"{folder}/documents/{document_file_name(doc, name)}",
                content,
                compress_type=compression,
            )
            entries.binary_bytes += len(content)
            if compression == zipfile.ZIP_DEFLATED:
                entries.compressible_bytes += len(content)
            written += 1
    except Forbidden:
        pass
    return written


def _write_bundle(
    archive: zipfile.ZipFile, name: str, now: dt.datetime, entries: _BundleEntries
) -> None:
    """`fhir-bundle.json`, streamed into the ZIP from its spool: the same JSON `json.dumps` would
    give of the whole Bundle."""
    head: Json = {
        "resourceType": "Bundle",
        "id": str(new_id()),
        "meta": {"lastUpdated": resources.instant(now)},
        "type": "collection",
        "timestamp": resources.instant(now),
    }
    archive.compression = entries.compression()  # the member takes the archive's settings
    try:
        out = archive.open(name, "w", force_zip64=True)
    finally:
        archive.compression = zipfile.ZIP_DEFLATED
    with out:
        out.write(json.dumps(head, ensure_ascii=False)[:-1].encode("utf-8"))
        out.write(b', "entry": [')
        entries.spool.seek(0)
        while chunk := entries.spool.read(COPY_BYTES):
            out.write(chunk)
        out.write(b"]}")


# The resources counted in the build's summary.
COUNTED = {"ExplanationOfBenefit": "reimbursements", "Communication": "messages",
           "Appointment": "appointments"}  # fmt: skip


def export_space(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    relation: family.Relation,
    archive: zipfile.ZipFile,
) -> SpaceExport:
    """Write one space's folder: FHIR Bundle, original files, message attachments, profile,
    targets, wishes and agenda switches (JSON), access history (CSV), summary PDF. Each source the
    principal may not read is simply absent.

    Memory stays flat in the number of documents (and of other resources): the Bundle's entries
    go to a spool as they are read, the Patient first, then each document with its content (one
    at a time, `_write_documents`), then the other resources of `$everything`, in its order."""
    folder = space_folder(holder, relation)
    stats = SpaceExport(folder)
    now = clock.now()
    collected = everything.Everything()
    others = everything.resources(
        session, vault, settings, principal, holder, collected, include_documents=False
    )
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        entries = _BundleEntries(spool)
        entries.add(_entry(settings.base_url, next(others)))  # the Patient
        stats.documents = _write_documents(
            session, vault, settings, principal, holder, archive, folder, entries, now
        )
        for resource in others:
            entries.add(_entry(settings.base_url, resource))
            counted = COUNTED.get(resource["resourceType"])
            if counted is not None:
                setattr(stats, counted, getattr(stats, counted) + 1)
        _write_others(session, vault, settings, principal, holder, relation, archive, folder,
                      collected, stats)  # fmt: skip
        _write_bundle(archive, f"{folder}/fhir-bundle.json", now, entries)
    return stats


def _write_others(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    relation: family.Relation,
    archive: zipfile.ZipFile,
    folder: str,
    collected: everything.Everything,
    stats: SpaceExport,
) -> None:
    """Everything but the documents and the Bundle: attachments, JSON files, CSV, summary PDF."""
    stats.attachments = _write_attachments(
        session, vault, settings, principal, collected, archive, folder
    )
    stats.profile_entries = sum(len(items) for items in collected.profile.values())
    if collected.profile:
        plain: dict[str, Any] = {
            section: [
                {"id": str(e.id), "date": e.effective_date.isoformat() if e.effective_date
                 else None, "content": e.content} for e in items
            ]
            for section, items in collected.profile.items()
        }  # fmt: skip
        if profile_rules.MEASUREMENT in collected.profile:
            plain["measurement_targets"] = _targets(session, vault, settings, principal, holder)
        archive.writestr(f"{folder}/profil.json", json.dumps(plain, ensure_ascii=False, indent=2))
    switches = _agenda_settings(session, vault, settings, principal, holder)
    if switches is not None:
        archive.writestr(
            f"{folder}/agenda.json", json.dumps(switches, ensure_ascii=False, indent=2)
        )
    opened = wishes.list_wishes(session, vault, holder, principal, relation)
    archive.writestr(
        f"{folder}/contacts-et-volontes.json",
        json.dumps([{"kind": w.kind, "content": w.content} for w in opened],
                   ensure_ascii=False, indent=2),
    )  # fmt: skip
    with suppress(Forbidden):
        stats.history_entries = _write_history(
            session, settings, principal, holder, archive, f"{folder}/historique-des-acces.csv"
        )
    try:
        pdf = summary_pdf(session, vault, settings, principal, holder, relation)
        archive.writestr(f"{folder}/synthese.pdf", pdf)
    except Forbidden:
        pass


def _write_attachments(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    collected: everything.Everything,
    archive: zipfile.ZipFile,
    folder: str,
) -> int:
    """SRV-1: the bytes of each attachment of the exported Communications, decided as the
    attachment endpoint decides them (`every_attachment`: decision point, one audit entry for
    the space), as `messages/<id>-<safe name>`, one at a time."""
    if collected.messages is None:
        return 0
    ctx = Context(session, vault, settings, principal)
    written = 0
    for row, name, content in every_attachment(
        ctx, [ref.attachment_id for ref in collected.messages.attachments],
        space=collected.messages.space,
    ):  # fmt: skip
        archive.writestr(f"{folder}/messages/{row.id}-{safe_file_name(name)}", content)
        written += 1
    return written


def _targets(
    session: Session, vault: Vault, settings: Settings, principal: Principal, holder: Holder
) -> list[Json]:
    """Issue 7: the measurement targets (part of the measurements, ACC-7), read by their service."""
    ctx = profile.context(session, vault, settings, principal, holder)
    try:
        found = measures.list_targets(ctx)
    except Forbidden:
        return []
    return [
        {"kind": t.kind, "unit": t.unit, "low": t.low, "high": t.high, "note": t.note,
         "updated_at": t.updated_at.isoformat()} for t in found
    ]  # fmt: skip


def _agenda_settings(
    session: Session, vault: Vault, settings: Settings, principal: Principal, holder: Holder
) -> Json | None:
    """SRV-2: the prevention calendar switch and whether a calendar link is active (never its
    secret, which Carnet does not keep), read through the agenda service."""
    try:
        found = agenda.read_settings(agenda.context(session, vault, settings, principal, holder))
    except Forbidden:
        return None
    return {
        "prevention_calendar": found.prevention,
        "calendar_feed_active": found.feed_active,
        "calendar_feed_created_at": found.feed_created_at.isoformat()
        if found.feed_created_at
        else None,
    }


def spaces_of(
    session: Session, settings: Settings, principal: Principal
) -> list[tuple[Holder, family.Relation]]:
    """The holder's own space, then every space they manage (SRV-5), each re-resolved through
    `family.resolve_space` so that the relation is the one the read endpoints would see."""
    found: list[tuple[Holder, family.Relation]] = [
        family.resolve_space(session, principal, None, "export", settings=settings)
    ]
    for managed, _relation in family.managed_spaces(session, principal.id, settings=settings):
        try:
            found.append(
                family.resolve_space(
                    session, principal, str(managed.id), "export", settings=settings
                )
            )
        except CarnetError:
            continue
    return found


def write_archive(
    session: Session, vault: Vault, settings: Settings, principal: Principal, target: IO[bytes]
) -> list[SpaceExport]:
    stats: list[SpaceExport] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=LEVEL) as archive:
        for holder, relation in spaces_of(session, settings, principal):
            stats.append(
                export_space(session, vault, settings, principal, holder, relation, archive)
            )
        archive.writestr(
            "LISEZMOI.txt",
            "Export Carnet (SRV-5). Un dossier par espace : fhir-bundle.json (FHIR R4, Bundle de "
            "type collection : identité, documents, profil, remboursements, contacts, messages, "
            "rendez-vous), documents/ (fichiers d'origine), messages/ (pièces jointes des "
            "messages), profil.json (avec les objectifs de mesures), agenda.json (réglages de "
            "l'agenda), contacts-et-volontes.json, historique-des-acces.csv, synthese.pdf.\n",
        )
    return stats


def _chunks(handle: IO[bytes], size: int = COPY_BYTES) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(size):
        yield chunk


def build(session: Session, vault: Vault, settings: Settings, row: ExportRequest) -> None:
    """Build one pending export in the caller's transaction; e-mail the holder (no content).

    Every read is audited (ACC-8): each document with its own entry, the other kinds (the
    reimbursement lines, the messages, their attachments, the access history when someone other
    than the holder reads it) with one entry for the whole space each. The entries are held and appended together when the export commits
    (`audit.group.batch`), in the transaction that makes it ready, rather than with two
    statements per document."""
    audit_group.batch(session)
    principal = holder_principal(row.holder_id)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        write_archive(session, vault, settings, principal, spool)
        stored = vault.put_blob(session, row.holder_id, row.id, PURPOSE, _chunks(spool))
    now = clock.now()
    row.blob_id = stored.blob_id
    row.status = READY
    row.ready_at = now
    row.expires_at = now + export_ttl(settings)
    holder = account_service.holder(session, row.holder_id)
    if holder is not None and holder.email:
        enqueue(
            session,
            kind=READY_KIND,
            recipient=holder.email,
            subject=READY_SUBJECT,
            body_text=(
                "L'export de vos données que vous avez demandé est prêt. Il peut être téléchargé "
                f"depuis votre espace Carnet pendant {settings.export_ttl_days} jours.\n"
                f"Votre espace : {settings.base_url}."
            ),
            holder_id=row.holder_id,
        )


def build_pending(database: Database, settings: Settings, *, limit: int = BUILD_BATCH) -> str:
    """The job's work: build pending exports (each in its own transaction; a failure marks that
    one failed), then expire old ones (their blob deleted once the change commits)."""
    vault = Vault.from_settings(settings)
    with database.transaction() as session:
        ids = list(
            session.scalars(
                select(ExportRequest.id)
                .where(ExportRequest.status == PENDING)
                .order_by(ExportRequest.created_at)
                .limit(limit)
            )
        )
    built = failed = 0
    for export_id in ids:
        try:
            with database.transaction() as session:
                row = session.get(ExportRequest, export_id)
                if row is None or row.status != PENDING:
                    continue
                build(session, vault, settings, row)
            built += 1
        except Exception:  # one broken export must not stop the others
            failed += 1
            with database.transaction() as session:
                row = session.get(ExportRequest, export_id)
                if row is not None and row.status == PENDING:
                    row.status = FAILED
    expired = expire(database, vault)
    return f"built {built}, failed {failed}, expired {expired}"
