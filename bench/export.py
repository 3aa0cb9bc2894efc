""" "Download all my data" (issue 7, SRV-5): time to build one holder's export ZIP.

`make bench SECTIONS=export`. A holder with CARNET_BENCH_EXPORT_DOCS documents (1,000 by default,
each a PDF of about CARNET_BENCH_EXPORT_DOC_KB KB, 50 by default), CARNET_BENCH_EXPORT_LINES
reimbursement lines (5,000 by default), CARNET_BENCH_EXPORT_CONVERSATIONS conversations with a GP
(100 by default; 4 messages each, one with a PDF attachment), CARNET_BENCH_EXPORT_APPOINTMENTS
appointments (200 by default), a few profile entries and contacts. Printed next to the raw
ceilings measured in the same run (`_raw`): zipping the same files from disk, and the same from the
vault's encrypted blobs. Then the build's peak memory at that size and at
CARNET_BENCH_EXPORT_MEMORY_DOCS documents (3× by default; 0 skips it): flat in the number of
documents, since they are streamed one at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import tracemalloc
import uuid
import zipfile
from typing import Any

from sqlalchemy import select

from bench.common import compare, world
from bench.documents import _pdf
from carnet.access.models import CareRelationship
from carnet.accounts import wishes
from carnet.accounts.models import Holder, Professional
from carnet.accounts.rules import make_nir, make_rpps
from carnet.agenda import service as agenda
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import new_id
from carnet.documents import deposits
from carnet.documents.models import Document
from carnet.documents.service import PURPOSE as DOCUMENT_PURPOSE
from carnet.export import archive as export_archive
from carnet.export import service as export_service
from carnet.export.models import ExportRequest
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewAttachment, NewConversation, NewMessage
from carnet.profile import service as profile
from carnet.reimbursements.models import PURPOSE, Reimbursement


def export() -> None:
    docs = int(os.environ.get("CARNET_BENCH_EXPORT_DOCS", 1000))
    lines = int(os.environ.get("CARNET_BENCH_EXPORT_LINES", 5000))
    size = int(os.environ.get("CARNET_BENCH_EXPORT_DOC_KB", 50)) * 1024
    talks = int(os.environ.get("CARNET_BENCH_EXPORT_CONVERSATIONS", 100))
    bookings = int(os.environ.get("CARNET_BENCH_EXPORT_APPOINTMENTS", 200))
    more = int(os.environ.get("CARNET_BENCH_EXPORT_MEMORY_DOCS", 3 * docs))
    content = _pdf(size)
    with world() as (settings, database, vault):
        with database.transaction() as session:
            holder = Holder(
                nir=make_nir(1, 1970, 1, "75", 1, 1), birth_name="BENCH", first_names="Bench",
                birth_date=dt.date(1970, 1, 1), sex="M", state="active", ins_qualified=True,
                email="bench@example.org",
            )  # fmt: skip
            session.add(holder)
            session.flush()
            holder_id = holder.id
        me = Principal(PrincipalKind.HOLDER, holder_id)
        setup = time.perf_counter()
        _deposit(database, vault, settings, me, range(docs), content)
        with database.transaction() as session:
            _lines(session, vault, holder_id, lines)
            holder = session.get(Holder, holder_id)
            assert holder is not None
            ctx = profile.context(session, vault, settings, me, holder)
            profile.create_entry(ctx, "vaccination", {"vaccine": "DTP", "date": "2024-03-02"})
            profile.create_entry(ctx, "treatment", {"label": "Ventoline", "atc": "R03AC02"})
            profile.create_entry(ctx, "measurement",
                                 {"kind": "weight", "value": 70, "date": "2024-01-01"})  # fmt: skip
            wishes.add_emergency_contact(session, vault, holder, {"name": "Bruno"}, me)
            _messages_and_appointments(session, vault, settings, holder, talks, bookings, content)
        prepared = time.perf_counter() - setup
        raw, raw_level_1, raw_decrypted = _raw(settings, database, vault, holder_id, content)
        built, stored = _build(database, settings, me)
        peak = _peak(database, settings, me) if more else 0
        print(f"raw zipfile of the same {docs:,} PDFs from disk (deflate, default level):  "
              f"{raw:7.2f} s ({docs * len(content) / 1e6:.0f} MB; at level 1, as the export: "
              f"{raw_level_1:.2f} s)")  # fmt: skip
        print(f"raw, the same from the vault's blobs (AES-GCM decryption, one key):  "
              f"{raw_decrypted:7.2f} s")  # fmt: skip
        print(
            f"setup (deposits, {lines:,} lines sealed, {talks} conversations):  {prepared:7.2f} s"
        )
        print(f"export build ({docs:,} documents, {lines:,} lines, {talks * 4} messages, "
              f"{bookings} appointments):  {built:7.2f} s "
              f"({docs / built:,.0f} documents/s, encrypted ZIP {stored / 1e6:.1f} MB)")  # fmt: skip
        if more:
            print(f"peak Python memory of the build (tracemalloc), {docs:,} documents:  "
                  f"{peak / 1e6:7.1f} MB")  # fmt: skip
        if more > docs:
            _deposit(database, vault, settings, me, range(docs, more), content)
            peak_more = _peak(database, settings, me)
            print(f"peak Python memory of the build (tracemalloc), {more:,} documents:  "
                  f"{peak_more / 1e6:7.1f} MB")  # fmt: skip
    compare(f"export build, {docs:,} documents + {lines:,} lines", built, raw, "s",
            target="≤ 3×", higher_is_better=False)  # fmt: skip


def _deposit(
    database: Any, vault: Any, settings: Any, me: Principal, numbers: range, content: bytes
) -> None:
    for start in range(numbers.start, numbers.stop, 100):
        with database.transaction() as session:
            holder = session.get(Holder, me.id)
            assert holder is not None
            for n in range(start, min(start + 100, numbers.stop)):
                deposits.deposit(session, vault, settings, me, holder, deposits.NewDocument(
                    content=content, title=f"Compte rendu {n}", declared_type="application/pdf",
                    category="AUTR_DOC", source="holder", notify=False,
                    original_name=f"cr-{n}.pdf",
                ))  # fmt: skip


def _lines(session: Any, vault: Any, holder_id: uuid.UUID, lines: int) -> None:
    for n in range(lines):
        row = Reimbursement(
            id=new_id(), holder_id=holder_id, line_key=uuid.uuid4().hex,
            care_date=dt.date(2024, 1, 1) + dt.timedelta(days=n % 700),
            payment_date=dt.date(2024, 1, 5) + dt.timedelta(days=n % 700), sealed=b"",
        )  # fmt: skip
        data = {"act_code": "G", "act_label": "Consultation", "professional_rpps": None,
                "amount_charged": "30.00", "amount_reimbursed": "21.00"}  # fmt: skip
        row.sealed = vault.seal_text(session, holder_id, row.id, PURPOSE, json.dumps(data))
        session.add(row)


def _raw(
    settings: Any, database: Any, vault: Any, holder_id: uuid.UUID, content: bytes
) -> tuple[float, float, float]:
    """Ceilings, each a ZIP written to disk and synced like the export's blob. The issue's: the
    same files read from disk, deflated at zipfile's default level, nothing else (also at level
    1, the export's). And the same from the vault's encrypted blobs (one data key, AES-GCM),
    still without database queries, decisions, audit entries, Bundle or the archive's
    encryption."""
    folder = settings.data_dir / "raw-files"
    folder.mkdir()
    with database.transaction() as session:
        found = [(d.id, d.blob_id) for d in session.scalars(
            select(Document).where(Document.holder_id == holder_id))]  # fmt: skip
    for doc_id, _blob in found:
        (folder / f"{doc_id}.pdf").write_bytes(content)
    raw = _zip_files(folder, [doc_id for doc_id, _blob in found], settings.data_dir / "raw.zip")
    level_1 = _zip_files(
        folder, [doc_id for doc_id, _blob in found], settings.data_dir / "raw1.zip", level=1
    )
    started = time.perf_counter()
    with database.transaction() as session, open(settings.data_dir / "raw2.zip", "wb") as target:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for doc_id, blob in found:
                plain = vault.read_blob_bytes(session, holder_id, doc_id, DOCUMENT_PURPOSE, blob)
                archive.writestr(f"documents/{doc_id}.pdf", plain)
        target.flush()
        os.fsync(target.fileno())
    return raw, level_1, time.perf_counter() - started


def _zip_files(folder: Any, ids: list[uuid.UUID], path: Any, level: int | None = None) -> float:
    started = time.perf_counter()
    with open(path, "wb") as target:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
            for doc_id in ids:
                archive.write(folder / f"{doc_id}.pdf", f"documents/{doc_id}.pdf")
        target.flush()
        os.fsync(target.fileno())
    return time.perf_counter() - started


def _build(database: Any, settings: Any, me: Principal) -> tuple[float, int]:
    """One export request built by the job; its time and the size of its encrypted ZIP."""
    with database.transaction() as session:
        row_id = export_service.request_export(session, me).id
    started = time.perf_counter()
    outcome = export_archive.build_pending(database, settings)
    built = time.perf_counter() - started
    with database.transaction() as session:
        request = session.get(ExportRequest, row_id)
        assert request is not None and request.status == "ready", outcome
        blob = request.blob_id
    stored = sum(p.stat().st_size for p in settings.effective_blob_dir.rglob(f"{blob}*"))
    return built, stored


def _peak(database: Any, settings: Any, me: Principal) -> int:
    """The build's peak of Python allocations (a second build: tracemalloc slows it down)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        _build(database, settings, me)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _messages_and_appointments(
    session: Any, vault: Any, settings: Any, holder: Holder, talks: int, bookings: int,
    content: bytes,
) -> None:  # fmt: skip
    """SRV-1 and SRV-2 data through their services (a GP of the care team writes and books)."""
    gp = Professional(rpps=make_rpps(10_000_002), profession_code="10", name="Dr Export")
    session.add(gp)
    session.flush()
    session.add(CareRelationship(holder_id=holder.id, professional_id=gp.id, status="authorised"))
    session.flush()
    as_gp = Context(session, vault, settings, Principal(PrincipalKind.PROFESSIONAL,
                                                                  gp.id))  # fmt: skip
    as_holder = Context(session, vault, settings, Principal(PrincipalKind.HOLDER,
                                                                      holder.id))  # fmt: skip
    for n in range(talks):
        first = NewMessage(
            body=f"Résultats {n}",
            attachments=[NewAttachment(content, f"resultats-{n}.pdf", "application/pdf")],
        )
        talk, _ = conversations.start(as_gp, holder, NewConversation(f"Suivi {n}", first))
        for text, ctx in (("Merci", as_holder), ("Bien reçu", as_gp), ("Bonne journée", as_holder)):
            conversations.reply(ctx, talk.id, NewMessage(body=text),
                            space=holder if ctx is as_holder else None)  # fmt: skip
    gp_agenda = agenda.context(session, vault, settings, as_gp.principal, holder)
    day = dt.date.today() + dt.timedelta(days=2)
    for n in range(bookings):
        start = dt.datetime.combine(day + dt.timedelta(days=n % 300), dt.time(9 + n % 8))
        agenda.create(gp_agenda, {"title": f"Consultation {n}", "start": start.isoformat(),
                                  "end": (start + dt.timedelta(minutes=30)).isoformat()})  # fmt: skip
