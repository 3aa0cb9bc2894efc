"""DMP migration of IHE XDM media into holders' spaces (issue 4 item 6).

Rules: LC-3 (opposed holders skipped), ID-1 (INS of patientId), ID-3 (qualified INS only),
DOC-1 (LOINC type, SHA-1 and size verified, content stored byte for byte), DOC-2 (flags).
Every fault is reported with a reason and leaves no row and no blob behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from carnet.accounts.rules import make_nir
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import migration, service
from carnet.documents.models import Document
from carnet.documents.xdm.codes import HL7_CONFIDENTIALITY_OID, INS_TEST_OID, RIM, RPPS_OID
from carnet.documents.xdm.medium import Limits
from carnet.documents.xdm.values import parse_dtm
from carnet.vault.service import Vault
from tests.documents.xdm_factory import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTATIVES,
    LCM,
    MASKED,
    FakeDocument,
    FakeMedium,
    FakeSubset,
    lie_about_size,
    medium_for,
    patient_cx,
)
from tests.factories import make_holder


@pytest.fixture
def holders(database: Database):  # type: ignore[no-untyped-def]
    """Make holders in their own committed transaction; returns a maker giving (id, NIR)."""

    def _make(count: int = 1, **overrides: Any) -> list[tuple[uuid.UUID, str]]:
        with database.transaction() as session:
            made = [make_holder(session, **overrides) for _ in range(count)]
            return [(h.id, h.nir) for h in made]

    return _make


def run(
    database: Database, vault: Vault, settings: Settings, *paths: Path, **options: Any
) -> migration.Summary:
    return migration.import_media(
        database, vault, settings, list(paths), migration.Options(**options)
    )


def documents(database: Database) -> dict[str, Document]:
    with database.transaction() as session:
        rows = session.scalars(select(Document)).all()
        session.expunge_all()
    return {doc.master_identifier: doc for doc in rows}


def master(doc: FakeDocument) -> str:
    return f"urn:oid:{doc.unique_id}"


def rows_by_entry(summary: migration.Summary) -> dict[str, migration.ReportRow]:
    return {row.entry: row for row in summary.rows if row.entry}


def assert_no_orphan_blob(database: Database, vault: Vault) -> None:
    """Nothing half-imported: every blob file belongs to a row, every row has its blob."""
    blob_ids = {doc.blob_id for doc in documents(database).values()}
    assert set(vault.blobs.ids()) == blob_ids


# -- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("packaging", ["zip", "folder"])
def test_doc1_round_trip_multi_holder_medium(
    database: Database,
    vault: Vault,
    settings: Settings,
    holders: Any,
    tmp_path: Path,
    packaging: str,
) -> None:
    people = holders(3)
    fake = medium_for([nir for _id, nir in people], documents=5, subsets_per_holder=2)
    fake.subsets[1].style = "ns2"  # prefixes differ between producers: bound by URI
    fake.subsets[2].style = "default"
    first = fake.subsets[0].documents[0]
    first.confidentiality = [("N", HL7_CONFIDENTIALITY_OID), MASKED, INVISIBLE_PATIENT]
    second = fake.subsets[0].documents[1]
    second.confidentiality = [INVISIBLE_REPRESENTATIVES]
    second.hash_upper = True  # either case is accepted
    path = (
        fake.write_zip(tmp_path / "export.zip")
        if packaging == "zip"
        else fake.write_folder(tmp_path / "export")
    )

    summary = run(database, vault, settings, path)

    assert (summary.imported, summary.rejected, summary.skipped) == (15, 0, 0)
    assert summary.exit_status == 0
    stored = documents(database)
    holder_of = {nir: holder_id for holder_id, nir in people}
    kinds = set()
    with database.transaction() as session:
        for subset, fake_doc in fake.documents():
            doc = stored[master(fake_doc)]
            assert doc.holder_id == holder_of[subset.nir]
            assert doc.source == "dmp-migration"
            assert doc.type_code == fake_doc.loinc
            assert doc.status == "current"
            assert doc.mime_type == fake_doc.mime_type
            assert doc.format_code == fake_doc.format_code[0]
            assert doc.language == "fr-FR"
            assert doc.created_at == fake_doc.created_at
            assert doc.period_start == parse_dtm(fake_doc.service_start)
            assert doc.period_end == parse_dtm(fake_doc.service_stop)
            assert doc.care_date == doc.period_start.date()  # type: ignore[union-attr]
            assert doc.author_rpps == fake_doc.rpps  # ID-2: the 8-prefix is not part of it
            assert (doc.sha1, doc.size) == (fake_doc.sha1, len(fake_doc.content))
            assert service.title_of(session, vault, doc) == fake_doc.title
            content = vault.read_blob_bytes(
                session, doc.holder_id, doc.id, service.PURPOSE, doc.blob_id, doc.sha256
            )
            assert content == fake_doc.content
            kinds.add(fake_doc.kind)
    assert kinds == {"cda", "pdf"}
    # DOC-2: TRE_A07 codes become flags.
    flagged = stored[master(first)]
    assert (flagged.masked, flagged.invisible_to_patient, flagged.invisible_to_representatives) == (
        True,
        True,
        False,
    )
    assert flagged.visible_to_patient_from is not None  # DOC-4 applies from the import
    other = stored[master(second)]
    assert (other.masked, other.invisible_to_patient, other.invisible_to_representatives) == (
        False,
        False,
        True,
    )
    assert_no_orphan_blob(database, vault)


def test_idempotent_second_run_imports_nothing_new(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    people = holders(2)
    path = medium_for([nir for _id, nir in people], documents=3).write_zip(tmp_path / "m.zip")
    first = run(database, vault, settings, path)
    assert first.imported == 6
    blobs_before = set(vault.blobs.ids())

    again = run(database, vault, settings, path)

    assert (again.imported, again.already_imported, again.rejected) == (0, 6, 0)
    assert len(documents(database)) == 6
    assert set(vault.blobs.ids()) == blobs_before


# -- holders (LC-3, ID-3) ------------------------------------------------------------------------


def test_lc3_opposed_holders_and_closed_spaces_are_skipped(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_ok, ok_nir),) = holders(1)
    ((_o1, opposed_flag),) = holders(1, dmp_migration_opposed=True)
    ((_o2, opposed_state),) = holders(1, state="opposed")
    ((_c, closed),) = holders(1, state="closed", closed_on=dt.date(2025, 1, 1))
    ((_n, notified),) = holders(1, state="notified")
    fake = medium_for([ok_nir, opposed_flag, opposed_state, closed, notified], documents=1)
    summary = run(database, vault, settings, fake.write_zip(tmp_path / "m.zip"))

    assert (summary.imported, summary.skipped, summary.rejected) == (1, 4, 0)
    reasons = {row.entry: row.reason for row in summary.rows if row.outcome == "skipped"}
    by_nir = {s.nir: s.documents[0].entry_id for s in fake.subsets}
    assert "LC-3" in reasons[by_nir[opposed_flag]] and "opposed" in reasons[by_nir[opposed_flag]]
    assert "opposed" in reasons[by_nir[opposed_state]]
    assert "closed" in reasons[by_nir[closed]]
    assert "not open" in reasons[by_nir[notified]]
    assert len(documents(database)) == 1


def test_id3_unqualified_identity_and_unknown_holder_are_rejected(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_u, unqualified),) = holders(1, ins_qualified=False)
    stranger = make_nir(2, 1961, 7, "69", 123, 456)  # valid NIR, no space in Carnet
    fake = medium_for([unqualified, stranger], documents=1)
    summary = run(database, vault, settings, fake.write_zip(tmp_path / "m.zip"))

    rows = rows_by_entry(summary)
    assert rows[fake.subsets[0].documents[0].entry_id].outcome == "rejected"
    assert "ID-3" in rows[fake.subsets[0].documents[0].entry_id].reason
    assert "unknown holder" in rows[fake.subsets[1].documents[0].entry_id].reason
    assert documents(database) == {}


def test_test_authority_ins_needs_the_flag(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_h, nir),) = holders(1)
    fake = medium_for([nir], documents=2, authority=INS_TEST_OID)
    path = fake.write_zip(tmp_path / "m.zip")

    refused = run(database, vault, settings, path)
    assert refused.rejected == 2
    assert all("test INS" in row.reason for row in refused.rows if row.outcome == "rejected")

    accepted = run(database, vault, settings, path, accept_test_identities=True)
    assert accepted.imported == 2


# -- faults ---------------------------------------------------------------------------------


def test_every_fault_is_reported_and_nothing_is_half_imported(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_h, nir),) = holders(1)
    good = FakeDocument(title="Bon document")
    faults = {
        "hash": FakeDocument(title="Hash faux", declared_hash="0" * 40),
        "size": FakeDocument(title="Taille fausse", declared_size="12"),
        "loinc": FakeDocument(title="Type inconnu", loinc="99999-9"),
        "not-loinc": FakeDocument(
            title="KOS", loinc="IMG-KOS", type_scheme="1.2.250.1.213.1.1.4.12"
        ),
        "missing": FakeDocument(title="Fichier absent", write_file=False),
        "traversal": FakeDocument(title="Evasion", uri="../../../etc/passwd"),
        "absolute": FakeDocument(title="Absolu", uri="/etc/passwd"),
        "drive": FakeDocument(title="Lecteur", uri="C:\\Windows\\win.ini"),
        "secret": FakeDocument(title="Secret", confidentiality=[("CONNEXION_SECRETE", "")]),
        "sniffed": FakeDocument(title="Type déclaré faux", kind="cda"),
        "bad-date": FakeDocument(title="Date", creation="2025-03-14"),
        "other-patient": FakeDocument(
            title="Autre patient", patient=patient_cx(make_nir(1, 1970, 2, "13", 55, 66))
        ),
    }
    subset = FakeSubset("SUBSET01", nir, [good, *faults.values()])
    broken = FakeSubset("SUBSET02", nir, [FakeDocument(title="Jamais lu")])
    broken.metadata = b'<?xml version="1.0"?><lcm:SubmitObjectsRequest xmlns:lcm="x"><oops>'
    healthy = FakeSubset("SUBSET03", nir, [FakeDocument(title="Autre lot", kind="pdf")])
    fake = FakeMedium(
        [subset, broken, healthy],
        extra_members=[
            ("../evil.txt", b"x"),
            ("/abs.txt", b"x"),
            ("C:/win.txt", b"x"),
            ("IHE_XDM/SUBSET01/..\\..\\..\\evil2.txt", b"x"),
        ],
    )
    fake.fill()
    # The declared type says PDF, the content is a CDA (DOC-1: the real type is sniffed).
    faults["sniffed"].kind = "pdf"
    path = fake.write_zip(tmp_path / "faults.zip")

    summary = run(database, vault, settings, path)

    rows = rows_by_entry(summary)
    expected = {
        "hash": "hash mismatch",
        "size": "size mismatch",
        "loinc": "unknown LOINC type 99999-9",
        "not-loinc": "not LOINC",
        "missing": "file missing",
        "traversal": "unsafe URI (parent segment",
        "absolute": "unsafe URI (absolute path)",
        "drive": "unsafe URI (drive letter)",
        "secret": "CONNEXION_SECRETE has no Carnet equivalent",
        "sniffed": "declared as application/pdf",
        "bad-date": "not a DTM",
        "other-patient": "differs from its submission set",
    }
    for key, reason in expected.items():
        row = rows[faults[key].entry_id]
        assert row.outcome == "rejected", key
        assert reason in row.reason, (key, row.reason)
    assert rows[good.entry_id].outcome == "imported"
    assert rows[healthy.documents[0].entry_id].outcome == "imported"  # the next subset goes on
    refused = [row for row in summary.rows if row.outcome == "refused"]
    assert any(r.subset == "SUBSET02" and "malformed XML" in r.reason for r in refused)
    unsafe_members = [r for r in refused if r.entry.startswith("member:")]
    assert len(unsafe_members) == 4
    assert all("unsafe member name" in r.reason for r in unsafe_members)
    assert summary.exit_status == 0  # the medium was read
    assert set(documents(database)) == {master(good), master(healthy.documents[0])}
    assert_no_orphan_blob(database, vault)


def test_zip_bombs_and_lying_headers_are_refused(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_h, nir),) = holders(1)
    bomb = FakeDocument(title="Bombe", kind="pdf")
    liar = FakeDocument(title="Menteur", kind="pdf")
    good = FakeDocument(title="Sain", kind="pdf")
    fake = FakeMedium([FakeSubset("SUBSET01", nir, [bomb, liar, good])])
    fake.fill()
    # 3 MB of zeros deflate to a few KB: a ratio far above the cap.
    bomb.content_override = b"%PDF-1.4\n" + bytes(3 * 1024 * 1024)
    # A highly compressible member whose headers claim 1 KB.
    liar.content_override = b"%PDF-1.4\n" + bytes(900 * 1024)
    path = fake.write_zip(tmp_path / "bomb.zip")
    lie_about_size(path, f"IHE_XDM/SUBSET01/{liar.file_name}", 1024)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(f"IHE_XDM/SUBSET01/{liar.file_name}").file_size == 1024

    summary = run(database, vault, settings, path)

    rows = rows_by_entry(summary)
    assert rows[bomb.entry_id].outcome == "rejected"
    assert "compression ratio" in rows[bomb.entry_id].reason
    assert rows[liar.entry_id].outcome == "rejected"
    assert "corrupt ZIP member" in rows[liar.entry_id].reason
    assert rows[good.entry_id].outcome == "imported"
    assert any("compression ratio" in r.reason for r in summary.rows if r.outcome == "refused")
    assert set(documents(database)) == {master(good)}
    assert_no_orphan_blob(database, vault)


def test_member_above_the_size_cap_is_refused(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_h, nir),) = holders(1)
    fake = medium_for([nir], documents=2)
    path = fake.write_zip(tmp_path / "m.zip")
    smallest = min(len(d.content) for _s, d in fake.documents())
    limits = Limits(max_member_bytes=smallest, max_metadata_bytes=1024 * 1024)
    summary = run(database, vault, settings, path, limits=limits)
    outcomes = sorted(row.outcome for row in summary.rows if row.entry.startswith("urn:uuid:"))
    assert outcomes == ["imported", "rejected"]
    assert any("size cap" in row.reason for row in summary.rows)


def test_a_failure_inside_a_batch_leaves_no_row_and_no_blob(
    database: Database,
    vault: Vault,
    settings: Settings,
    holders: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A document failing when its row is written spoils its batch: the others of the batch are
    imported one by one, the failing one is rejected and its blob (already written) deleted."""
    ((_h, nir),) = holders(1)
    fake = medium_for([nir], documents=3)
    path = fake.write_zip(tmp_path / "m.zip")
    doomed = master(fake.subsets[0].documents[1])
    real_row = migration.Migration._document_row
    calls = {"n": 0}

    def flaky(self: migration.Migration, session: Any, holder: Any, item: Any) -> Any:
        calls["n"] += 1
        if item.planned.master_identifier == doomed:  # after its blob was written
            raise RuntimeError("disk on fire")
        return real_row(self, session, holder, item)

    monkeypatch.setattr(migration.Migration, "_document_row", flaky)
    summary = run(database, vault, settings, path)

    assert (summary.imported, summary.rejected) == (2, 1)
    assert rows_by_entry(summary)[fake.subsets[0].documents[1].entry_id].reason == (
        "unexpected error (RuntimeError)"
    )
    assert calls["n"] > 3  # the batch was tried whole, then document by document
    assert_no_orphan_blob(database, vault)
    # The failed one is imported by a later run (nothing half-done blocks it).
    monkeypatch.setattr(migration.Migration, "_document_row", real_row)
    again = run(database, vault, settings, path)
    assert (again.imported, again.already_imported) == (1, 2)


def test_batches_split_subsets_and_keep_the_report_in_medium_order(
    database: Database,
    vault: Vault,
    settings: Settings,
    holders: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of 2 over subsets of 3: every document is imported once, rows follow the medium;
    the same uniqueId twice for one holder is imported once (the second is already imported);
    a replacement whose documents fall in two batches is still linked."""
    monkeypatch.setattr(migration, "BATCH_DOCUMENTS", 2)
    people = holders(2)
    fake = medium_for([nir for _id, nir in people], documents=3)
    first = fake.subsets[0]
    first.associations.append(("RPLC", first.documents[2].entry_id, first.documents[0].entry_id))
    twin = FakeDocument(title="Doublon", unique_id=fake.subsets[1].documents[0].unique_id)
    fake.subsets[1].documents.append(twin)
    path = fake.write_zip(tmp_path / "m.zip")

    summary = run(database, vault, settings, path)

    entries = [row.entry for row in summary.rows if row.entry.startswith("urn:uuid:")]
    assert entries == [doc.entry_id for _subset, doc in fake.documents()]
    assert (summary.imported, summary.already_imported, summary.rejected) == (6, 1, 0)
    assert rows_by_entry(summary)[twin.entry_id].outcome == "already-imported"
    stored = documents(database)
    assert len(stored) == 6
    assert stored[master(first.documents[2])].replaces_id == stored[master(first.documents[0])].id
    assert stored[master(first.documents[0])].status == "superseded"
    assert_no_orphan_blob(database, vault)
    with database.transaction() as session:
        deposits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "document.deposit")
        ).all()
    assert sorted(entry.target_id for entry in deposits) == sorted(
        str(doc.id) for doc in stored.values()
    )


# -- relationships, variants ------------------------------------------------------------------


def test_rplc_supersedes_and_signatures_are_skipped(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    ((_h, nir),) = holders(1)
    old = FakeDocument(title="CR v1")
    new = FakeDocument(title="CR v2")
    signature = FakeDocument(title="Signature", kind="pdf", loinc="E1762", type_scheme="ASTM")
    subset = FakeSubset(
        "SUBSET01",
        nir,
        [old, new, signature],
        associations=[
            ("RPLC", new.entry_id, old.entry_id),
            ("signs", signature.entry_id, new.entry_id),
        ],
    )
    path = FakeMedium([subset]).write_folder(tmp_path / "m")

    summary = run(database, vault, settings, path)

    rows = rows_by_entry(summary)
    assert rows[signature.entry_id].outcome == "skipped"
    assert rows[signature.entry_id].reason == "signature, not a clinical document"
    stored = documents(database)
    assert stored[master(old)].status == "superseded"  # DOC-6: kept, never lost
    assert stored[master(new)].status == "current"
    assert stored[master(new)].replaces_id == stored[master(old)].id
    assert stored[master(new)].version == 2
    again = run(database, vault, settings, path)
    assert again.already_imported == 2
    assert documents(database)[master(old)].status == "superseded"


def test_producer_variants_are_read(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    """Note §1.3, §6.1, §6.2: URI relative to IHE_XDM/, split URIs, lower-case names, a wrapping
    folder, undeclared prefixes (repaired and flagged), ADELI authors, subset names."""
    ((_h, nir),) = holders(1)
    relative_to_xdm = FakeDocument(title="DRIM", uri="SS000001/DOC0001.XML")
    split = FakeDocument(title="Long URI", split_uri=True)
    adeli = FakeDocument(
        title="ADELI", author=f"0751234567^DOC^Jean^^^^^^&{RPPS_OID}&ISO^D^^^IDNPS"
    )
    subset = FakeSubset("SS000001", nir, [relative_to_xdm, split, adeli])
    subset.metadata_name = "metadata.xml"
    repaired = FakeSubset("SUBSET_TR", nir, [FakeDocument(title="Réparé")])
    fake = FakeMedium([subset, repaired], wrap="Contenu du ZIP")
    fake.fill()
    # Drop the declarations and the XML declaration, as the DRIM-M sample does (note §6.2 item 7).
    text = repaired.metadata_xml().decode()
    for declaration in (f' xmlns:lcm="{LCM}"', f' xmlns:rim="{RIM}"'):
        text = text.replace(declaration, "")
    repaired.metadata = text.split("\n", 1)[1].encode()
    path = fake.write_zip(tmp_path / "variants.zip")

    summary = run(database, vault, settings, path)

    rows = rows_by_entry(summary)
    assert summary.imported == 4
    assert "ADELI" in rows[adeli.entry_id].reason
    assert documents(database)[master(adeli)].author_rpps is None
    assert any(r.outcome == "note" and "repaired" in r.reason for r in summary.rows)


# -- report and CLI ---------------------------------------------------------------------------


def test_report_never_contains_nirs_names_or_titles(
    database: Database, vault: Vault, settings: Settings, holders: Any, tmp_path: Path
) -> None:
    people = holders(2)
    fake = medium_for([nir for _id, nir in people], documents=2)
    fake.subsets[0].documents[0].declared_hash = "f" * 40
    unknown = make_nir(1, 1955, 3, "33", 12, 34)
    fake.subsets.append(FakeSubset("SUBSET09", unknown, [FakeDocument(title="Inconnu")]))
    path = fake.write_zip(tmp_path / "m.zip")
    summary = run(database, vault, settings, path)
    report = tmp_path / "report.csv"
    migration.write_report(report, summary.rows)

    text = report.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "medium,subset,entry,outcome,reason"
    for forbidden in [nir for _id, nir in people] + [unknown, "FICTIF", "Camille", "EXEMPLE"]:
        assert forbidden not in text
    for _subset, doc in fake.documents():
        assert doc.title not in text


def test_cli_imports_and_prints_a_summary(
    run_cli: Any, holders: Any, tmp_path: Path, database: Database
) -> None:
    people = holders(2)
    path = medium_for([nir for _id, nir in people], documents=2).write_zip(tmp_path / "m.zip")

    status, out, _err = run_cli("import-dmp", str(path))

    assert status == 0, out
    assert "4 imported, 0 already imported, 0 skipped, 0 rejected" in out
    report = Path(str(path) + ".report.csv")
    with report.open(encoding="utf-8") as handle:
        outcomes = [row["outcome"] for row in csv.DictReader(handle)]
    assert outcomes.count("imported") == 4

    status, out, _err = run_cli("import-dmp", str(path), "--report", str(tmp_path / "r2.csv"))
    assert status == 0
    assert "0 imported, 4 already imported" in out
    assert (tmp_path / "r2.csv").exists()


def test_cli_exit_1_for_a_path_that_is_not_an_xdm_medium(
    run_cli: Any, holders: Any, tmp_path: Path
) -> None:
    ((_h, nir),) = holders(1)
    good = medium_for([nir], documents=1).write_folder(tmp_path / "good")
    not_xdm = tmp_path / "photos"
    not_xdm.mkdir()
    (not_xdm / "a.txt").write_text("hello")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"not a zip")

    status, out, err = run_cli(
        "import-dmp", str(good), str(not_xdm), str(not_zip), str(tmp_path / "absent")
    )

    assert status == 1
    assert "1 imported" in out  # the readable medium was still imported
    assert "no IHE_XDM folder" in err
    assert "not a readable ZIP file" in err
    assert Path(str(good) + ".report.csv").exists()

    status, _out, err = run_cli(
        "import-dmp", str(good), "--report", str(tmp_path / "no" / "such" / "dir.csv")
    )
    assert status == 1
    assert "Cannot write the report" in err


def test_report_cells_cannot_become_spreadsheet_formulas(tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    migration.write_report(
        report, [migration.ReportRow("=cmd|' /C calc'!A0", "+S", "@x", "rejected", "why")]
    )
    with report.open(encoding="utf-8") as handle:
        (row,) = csv.DictReader(handle)
    assert row["medium"].startswith("'=") and row["subset"] == "'+S" and row["entry"] == "'@x"
