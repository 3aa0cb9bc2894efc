"""The export's ZIP built as a stream (issue 14; SRV-5, ACC-8): documents read and written one at a
time, the FHIR Bundle assembled from a spool, each document compressed only when it gains."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import zipfile

import pytest
from fpdf import FPDF
from PIL import Image
from sqlalchemy import func, select

from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import deposits
from carnet.export import archive as export_archive
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder


def noise_pdf() -> bytes:
    """A PDF that is mostly a photo-like image: its bytes do not deflate (like most scans)."""
    rng = random.Random(14)
    image = Image.frombytes("RGB", (160, 160), bytes(rng.getrandbits(8) for _ in range(160**2 * 3)))
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=100)
    return bytes(pdf.output())


def text_pdf(lines: int = 400) -> bytes:
    """A PDF of uncompressed text pages: it deflates well."""
    pdf = FPDF()
    pdf.set_compression(False)
    pdf.set_font("helvetica", size=8)
    pdf.add_page()
    for n in range(lines):
        pdf.cell(
            0, 4, f"Resultat d'examen {n} - valeurs de reference", new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())


@pytest.mark.parametrize(
    ("content", "media_type", "expected"),
    [
        (b"Compte rendu de consultation. " * 2000, "application/pdf", zipfile.ZIP_DEFLATED),
        (os.urandom(100_000), "application/pdf", zipfile.ZIP_STORED),
        (b"\xff\xd8\xff" + b"\0" * 50_000, "image/jpeg", zipfile.ZIP_STORED),  # by its type
        (b"", "application/pdf", zipfile.ZIP_STORED),
    ],
)
def test_a_document_is_deflated_only_when_it_gains(
    content: bytes, media_type: str, expected: int
) -> None:
    assert export_archive.document_compression(content, media_type) == expected


def test_documents_stream_into_the_zip_and_the_bundle(
    database: Database, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each document's Binary in the Bundle is exactly its file under documents/, even when the
    Bundle's spool goes to disk; the Patient comes first, each DocumentReference with its Binary;
    an incompressible document is stored, a text one deflated; one audited read per document."""
    monkeypatch.setattr(export_archive, "SPOOL_BYTES", 4096)  # the spool goes to disk at once
    contents = {"photo": noise_pdf(), "texte": text_pdf(), "court": pdf_bytes("Court")}
    with database.transaction() as session:
        holder = make_holder(session)
        me = Principal(PrincipalKind.HOLDER, holder.id)
        ids = {
            deposits.deposit(session, vault, settings, me, holder, deposits.NewDocument(
                content=content, title=title, declared_type="application/pdf", notify=False,
                original_name=f"{title}.pdf",
            )).id: title
            for title, content in contents.items()
        }  # fmt: skip
    target = io.BytesIO()
    with database.transaction() as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.holder_id == holder.id, AuditEntry.action == "document.download"))  # fmt: skip
        stats = export_archive.write_archive(session, vault, settings, me, target)
        after = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.holder_id == holder.id, AuditEntry.action == "document.download"))  # fmt: skip
    assert [s.documents for s in stats] == [3]
    assert (after or 0) - (before or 0) == 3  # ACC-8: one entry per document copied
    archive = zipfile.ZipFile(target)
    bundle = json.loads(archive.read("mon-espace/fhir-bundle.json"))
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[:7] == ["Patient"] + ["DocumentReference", "Binary"] * 3
    by_id = {
        info.filename.split("/")[2][:36]: info
        for info in archive.infolist()
        if info.filename.startswith("mon-espace/documents/")
    }
    assert set(by_id) == {str(i) for i in ids}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Binary":
            continue
        info = by_id[resource["id"]]
        assert base64.b64decode(resource["data"]) == archive.read(info)
        title = next(t for i, t in ids.items() if str(i) == resource["id"])
        assert archive.read(info) == contents[title]
        expected = zipfile.ZIP_STORED if title == "photo" else zipfile.ZIP_DEFLATED
        assert info.compress_type == expected, title
