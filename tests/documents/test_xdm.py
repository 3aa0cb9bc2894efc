"""Reading XDM media without a database: layout, METADATA.XML, values and safety caps
(note shared/design/xdm-import.md; rules ID-1, ID-2, DOC-1, DOC-2)."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from pathlib import Path

import pytest

from carnet.accounts.rules import make_nir, make_rpps
from carnet.documents.xdm.codes import (
    INS_C_OID,
    INS_DEMO_OID,
    INS_NIR_OID,
    INS_TEST_OID,
    LOINC_OID,
    RIM,
    RPPS_OID,
    TRE_A07_OID,
)
from carnet.documents.xdm.medium import (
    FileProblem,
    Limits,
    MediumError,
    open_medium,
    path_problem,
    resolve,
)
from carnet.documents.xdm.metadata import (
    Coded,
    MetadataProblem,
    Submission,
    join_uri,
    parse_metadata,
    without_dtd,
)
from carnet.documents.xdm.planning import Plan, Verdict, plan
from carnet.documents.xdm.values import (
    AuthorId,
    PatientId,
    author_rpps,
    master_identifier,
    parse_cx,
    parse_dtm,
)
from tests.documents.xdm_factory import (
    LCM,
    MASKED,
    FakeDocument,
    FakeMedium,
    FakeSubset,
    author_xcn,
    medium_for,
    patient_cx,
)

NIR = make_nir(2, 1985, 4, "69", 123, 45)


def submission(subset: FakeSubset) -> Submission:
    FakeMedium([subset]).fill()
    return parse_metadata(subset.metadata_xml())


def one_plan(doc: FakeDocument, **kwargs: object) -> Plan | Verdict:
    sub = submission(FakeSubset("SUBSET01", NIR, [doc], **kwargs))  # type: ignore[arg-type]
    return plan(sub.entries[0], sub)


# -- values ------------------------------------------------------------------------------------


def test_dtm_precision_and_zone() -> None:
    assert parse_dtm("20250314091500") == dt.datetime(2025, 3, 14, 9, 15, tzinfo=dt.UTC)
    assert parse_dtm("2025") == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert parse_dtm("202503") == dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    assert parse_dtm("20250314091500+0100") == dt.datetime(2025, 3, 14, 8, 15, tzinfo=dt.UTC)
    assert parse_dtm(None) is None and parse_dtm(" ") is None
    for bad in ("2025-03-14", "20251314", "202503141", "yesterday"):
        with pytest.raises(ValueError):
            parse_dtm(bad)


def test_id1_patient_cx_and_authorities() -> None:
    cx = parse_cx(patient_cx(NIR))
    assert cx == PatientId(NIR, INS_NIR_OID, "NH")
    assert parse_cx("123^^^&1.2.3&ISO").type_code == ""


def test_id2_author_rpps_from_the_national_ps_id() -> None:
    rpps = make_rpps(4_242_424)
    assert author_rpps(author_xcn(rpps)) == AuthorId(rpps, None)
    adeli = author_rpps(f"0751234567^X^Y^^^^^^&{RPPS_OID}&ISO^D^^^IDNPS")
    assert adeli.rpps is None and "ADELI" in (adeli.note or "")
    device = author_rpps(f"899711256811^DRIMBox^ANS^^^^^^&{RPPS_OID}&ISO^U^^^EI")
    assert device.rpps is None and "device" in (device.note or "")
    broken = rpps[:-1] + str((int(rpps[-1]) + 1) % 10)
    assert "Luhn" in (author_rpps(author_xcn(broken)).note or "")
    other = author_rpps(f"8{rpps}^X^Y^^^^^^&1.2.3.4&ISO^D")
    assert other.rpps is None


def test_master_identifier_forms() -> None:
    assert master_identifier("1.2.250.1.213.1.1.1.55.2024.1.1") == (
        "urn:oid:1.2.250.1.213.1.1.1.55.2024.1.1"
    )
    assert master_identifier("urn:oid:1.2.3") == "urn:oid:1.2.3"
    uuid_value = "A1B2C3D4-0000-4000-8000-000000000001"
    assert master_identifier(uuid_value) == f"urn:uuid:{uuid_value.lower()}"
    assert master_identifier("1.2.250.1.999^DOC-42") == "1.2.250.1.999^DOC-42"
    for bad in ("hello", "1.2.3^", "01.2.3", "1." + "2" * 70, "1.2^a b"):
        with pytest.raises(ValueError):
            master_identifier(bad)


def test_split_uris_are_rejoined_in_order() -> None:
    assert join_uri(["DOC0001.XML"]) == ("DOC0001.XML", None)
    assert join_uri(["2|B/C.XML", "1|DIR/A"]) == ("DIR/AB/C.XML", None)
    assert join_uri([]) == (None, None)
    assert join_uri(["A", "B"])[1] is not None
    assert join_uri(["1|A", "3|B"])[1] is not None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../x", "parent segment"),
        ("a/../../x", "parent segment"),
        ("a\\..\\x", "parent segment"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share", "absolute path"),
        ("C:/x", "drive letter"),
        ("c:x", "drive letter"),
        ("file:///etc/passwd", "not a relative path"),
        ("", "empty"),
        ("a\x00b", "NUL"),
    ],
)
def test_unsafe_paths(name: str, problem: str) -> None:
    assert problem in (path_problem(name) or "")


def test_safe_paths() -> None:
    for name in ("DOC0001.XML", "SUBSET01/DOC0001.XML", "./DOC.PDF", "a..b.pdf"):
        assert path_problem(name) is None


# -- METADATA.XML ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["rim", "ns2", "default"])
def test_entries_are_bound_by_namespace_uri_whatever_the_prefix(style: str) -> None:
    doc = FakeDocument(title="CR d'examens biologiques – Hématologie")
    sub = submission(FakeSubset("SUBSET01", NIR, [doc], style=style))
    (entry,) = sub.entries
    assert entry.entry_id == doc.entry_id
    assert entry.unique_id == doc.unique_id
    assert entry.title == doc.title
    assert entry.type_code == Coded("11502-2", LOINC_OID)
    assert entry.class_code == Coded("10", "1.2.250.1.213.1.1.4.1")
    assert entry.hash == doc.sha1 and entry.size == str(len(doc.content))
    assert entry.uri == doc.file_name
    assert sub.patient_id == patient_cx(NIR)
    assert entry.patient_id == patient_cx(NIR)
    assert len(entry.authors) == 1


def test_a_wrong_namespace_is_not_ebrim() -> None:
    subset = FakeSubset("SUBSET01", NIR, [FakeDocument(title="x")])
    FakeMedium([subset]).fill()
    text = subset.metadata_xml().decode().replace(RIM, "urn:example:not-rim")
    with pytest.raises(MetadataProblem, match="no ebRIM RegistryObjectList"):
        parse_metadata(text.encode())


def test_dtd_and_entities_are_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">&lol2;</lcm:SubmitObjectsRequest>"""
    with pytest.raises(MetadataProblem, match="DTD"):
        parse_metadata(bomb)
    external = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""
    with pytest.raises(MetadataProblem, match="DTD"):
        parse_metadata(external)


def test_malformed_xml_is_a_problem_not_a_crash() -> None:
    for data in (b"", b"<a><b></a>", b"\xff\xfe\x00garbage", b"<?xml version='1.0'?>"):
        with pytest.raises(MetadataProblem):
            parse_metadata(data)


def test_undeclared_prefixes_are_repaired_and_flagged() -> None:
    subset = FakeSubset("SUBSET01", NIR, [FakeDocument(title="x")])
    FakeMedium([subset]).fill()
    text = subset.metadata_xml().decode()
    text = text.replace(f' xmlns:lcm="{LCM}"', "").replace(f' xmlns:rim="{RIM}"', "")
    sub = parse_metadata(text.encode())
    assert len(sub.entries) == 1
    assert any("repaired" in note for note in sub.notes)


def test_windows_1252_without_declaration_is_read() -> None:
    subset = FakeSubset("SUBSET01", NIR, [FakeDocument(title="Hématologie")])
    FakeMedium([subset]).fill()
    text = subset.metadata_xml().decode().split("\n", 1)[1]
    sub = parse_metadata(text.encode("cp1252"))
    assert sub.entries[0].title == "Hématologie"
    assert any("Windows-1252" in note for note in sub.notes)


def test_nesting_is_trusted_over_reference_attributes() -> None:
    """Note §6.2 item 8: the factory's author classification points to the SubmissionSet."""
    doc = FakeDocument(title="x")
    sub = submission(FakeSubset("SUBSET01", NIR, [doc]))
    assert sub.entries[0].authors[0].person == author_xcn(doc.rpps)


# -- plan (mapping) ----------------------------------------------------------------------------


def test_doc2_plan_maps_flags_dates_and_hash() -> None:
    doc = FakeDocument(title="CR", confidentiality=[MASKED], hash_upper=True)
    planned = one_plan(doc)
    assert isinstance(planned, Plan)
    assert planned.masked and not planned.invisible_to_patient
    assert planned.expected_sha1 == doc.sha1  # lower-cased
    assert planned.created_at == dt.datetime(2025, 3, 14, 9, 15, tzinfo=dt.UTC)
    assert planned.care_date == dt.date(2025, 3, 13)
    assert planned.master_identifier == f"urn:oid:{doc.unique_id}"
    assert planned.nir == NIR
    assert planned.class_code == "10"


def test_plan_fallbacks() -> None:
    doc = FakeDocument(title="", service_start=None, service_stop=None)
    planned = one_plan(doc)
    assert isinstance(planned, Plan)
    assert planned.title == "CR d'examens biologiques"  # the type's label
    assert planned.care_date == dt.date(2025, 3, 14)  # creation date
    missing = one_plan(FakeDocument(title="x", declared_hash="", declared_size=""))
    assert isinstance(missing, Plan)
    assert missing.expected_sha1 is None and missing.expected_size is None
    assert any("recomputed" in note for note in missing.notes)


@pytest.mark.parametrize(
    ("doc", "outcome", "reason"),
    [
        (FakeDocument(title="x", loinc="12345-6"), "rejected", "unknown LOINC type 12345-6"),
        (FakeDocument(title="x", declared_hash="abc"), "rejected", "40 hexadecimal"),
        (FakeDocument(title="x", declared_size="12kB"), "rejected", "decimal integer"),
        (FakeDocument(title="x", uri="../../x"), "rejected", "unsafe URI"),
        (FakeDocument(title="x", unique_id="not an id"), "rejected", "uniqueId"),
        (
            FakeDocument(title="x", status="urn:asip:ci-sis:2010:StatusType:Deleted"),
            "skipped",
            "deleted",
        ),
        (
            FakeDocument(title="x", loinc="E1762", type_scheme="ASTM"),
            "skipped",
            "signature, not a clinical document",
        ),
        (
            FakeDocument(title="x", confidentiality=[("MASQUE_PT", TRE_A07_OID)]),
            "rejected",
            "MASQUE_PT has no Carnet equivalent",
        ),
    ],
)
def test_plan_verdicts(doc: FakeDocument, outcome: str, reason: str) -> None:
    verdict = one_plan(doc)
    assert isinstance(verdict, Verdict)
    assert verdict.outcome == outcome
    assert reason in verdict.reason


@pytest.mark.parametrize(
    ("authority", "reason"),
    [
        (INS_TEST_OID, "test INS"),
        (INS_DEMO_OID, "demo INS"),
        (INS_C_OID, "INS-C"),
        ("1.2.3.4", "not an INS"),
    ],
)
def test_id1_non_production_identities_are_refused(authority: str, reason: str) -> None:
    verdict = one_plan(FakeDocument(title="x"), authority=authority)
    assert isinstance(verdict, Verdict) and reason in verdict.reason


def test_id1_test_identity_accepted_with_the_flag_and_nir_key_checked() -> None:
    sub = submission(FakeSubset("SUBSET01", NIR, [FakeDocument(title="x")], authority=INS_TEST_OID))
    assert isinstance(plan(sub.entries[0], sub, accept_test_identities=True), Plan)
    wrong_key = NIR[:13] + f"{(int(NIR[13:]) + 1) % 97:02d}"
    sub = submission(FakeSubset("SUBSET01", wrong_key, [FakeDocument(title="x")]))
    verdict = plan(sub.entries[0], sub)
    assert isinstance(verdict, Verdict) and "key" in verdict.reason


# -- media -------------------------------------------------------------------------------------


def test_subsets_are_discovered_case_insensitively(tmp_path: Path) -> None:
    fake = medium_for([NIR], documents=2, subsets_per_holder=2)
    fake.subsets[0].name, fake.subsets[1].name = "SS000001", "subset_tr"
    fake.subsets[1].metadata_name = "Metadata.Xml"
    folder = fake.write_folder(tmp_path / "m")
    (folder / "IHE_XDM").rename(folder / "ihe_xdm")
    (folder / "ihe_xdm" / "EMPTY").mkdir()
    medium = open_medium(folder, Limits())
    assert [name for name, _path in medium.subsets()] == ["SS000001", "subset_tr"]


def test_not_a_medium(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediumError, match="no IHE_XDM"):
        open_medium(tmp_path / "empty", Limits())
    (tmp_path / "only" / "IHE_XDM" / "SUBSET01").mkdir(parents=True)
    (tmp_path / "only" / "IHE_XDM" / "SUBSET01" / "DOC0001.PDF").write_bytes(b"%PDF-1.4")
    with pytest.raises(MediumError, match="no submission set"):
        open_medium(tmp_path / "only", Limits())
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MediumError, match="not a readable ZIP"):
        open_medium(tmp_path / "bad.zip", Limits())
    with pytest.raises(MediumError, match="no such"):
        open_medium(tmp_path / "absent", Limits())


def test_zip_caps_members_total_and_compression(tmp_path: Path) -> None:
    fake = medium_for([NIR], documents=2)
    path = fake.write_zip(tmp_path / "m.zip")
    with pytest.raises(MediumError, match="too many members"):
        open_medium(path, Limits(max_members=3))
    with pytest.raises(MediumError, match="total size cap"):
        open_medium(path, Limits(max_total_bytes=1000))
    bomb = tmp_path / "bomb.zip"
    fake.write_zip(bomb)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IHE_XDM/SUBSET01/ZEROS.BIN", bytes(4 * 1024 * 1024))
        archive.writestr("IHE_XDM/SUBSET01/BZ.BIN", b"x", compress_type=zipfile.ZIP_BZIP2)
    medium = open_medium(bomb, Limits())
    reasons = [r.reason for r in medium.refused]
    assert any("compression ratio" in r for r in reasons)
    assert any("unsupported compression" in r for r in reasons)
    with pytest.raises(FileProblem, match="refused"):
        medium.lookup("IHE_XDM/SUBSET01/ZEROS.BIN")


def test_reading_counts_bytes_against_the_caps(tmp_path: Path) -> None:
    fake = medium_for([NIR], documents=1)
    for medium in (
        open_medium(fake.write_zip(tmp_path / "m.zip"), Limits()),
        open_medium(fake.write_folder(tmp_path / "m"), Limits()),
    ):
        real = medium.lookup(f"IHE_XDM/SUBSET01/{fake.subsets[0].documents[0].file_name}")
        assert real is not None
        with pytest.raises(FileProblem, match="size cap"):
            medium.read(real, 100)
        assert medium.read(real, 10**7) == fake.subsets[0].documents[0].content
        medium.close()
    capped = open_medium(tmp_path / "m", Limits(max_total_bytes=5000))
    metadata = capped.subsets()[0][1]
    with pytest.raises(FileProblem, match="total size cap"):
        capped.read(metadata, 10**7)


def test_folder_symlinks_are_refused_and_never_followed(tmp_path: Path) -> None:
    fake = medium_for([NIR], documents=1)
    folder = fake.write_folder(tmp_path / "m")
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    link = folder / "IHE_XDM" / "SUBSET01" / "LINK.PDF"
    os.symlink(secret, link)
    os.symlink(tmp_path, folder / "IHE_XDM" / "SUBSET01" / "UP")
    medium = open_medium(folder, Limits())
    assert sum("symbolic link" in r.reason for r in medium.refused) == 2
    with pytest.raises(FileProblem, match="refused"):
        resolve(medium, "IHE_XDM/SUBSET01", "LINK.PDF")
    assert all("secret" not in f for f in medium.files())


def test_uri_resolution_order(tmp_path: Path) -> None:
    fake = medium_for([NIR], documents=1)
    fake.wrap = "Contenu du ZIP"
    medium = open_medium(fake.write_zip(tmp_path / "m.zip"), Limits())
    name = fake.subsets[0].documents[0].file_name
    subset_folder = medium.subsets()[0][1].rpartition("/")[0]
    expected = f"Contenu du ZIP/IHE_XDM/SUBSET01/{name}"
    assert resolve(medium, subset_folder, name) == expected  # (a) subset folder
    assert resolve(medium, subset_folder, f"SUBSET01/{name}") == expected  # (b) IHE_XDM/
    assert resolve(medium, subset_folder, f"IHE_XDM/SUBSET01/{name}") == expected  # (c)
    assert resolve(medium, subset_folder, f"ELSEWHERE/{name}") == expected  # (d) last segment
    assert resolve(medium, subset_folder, name.lower()) == expected  # case-insensitive
    assert resolve(medium, subset_folder, "NOPE.PDF") is None


def test_older_metadata_versions_are_skipped() -> None:
    """Note §4.3: a masking change on the DMP makes a new entry with the same uniqueId."""
    current = FakeDocument(title="v2", confidentiality=[MASKED])
    older = FakeDocument(
        title="v1",
        unique_id=current.unique_id,
        status="urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated",
    )
    sub = submission(FakeSubset("SUBSET01", NIR, [older, current]))
    first, second = (plan(entry, sub) for entry in sub.entries)
    assert isinstance(first, Verdict) and "older metadata version" in first.reason
    assert isinstance(second, Plan) and second.masked and not second.superseded
    alone = submission(FakeSubset("SUBSET01", NIR, [older]))
    planned = plan(alone.entries[0], alone)
    assert isinstance(planned, Plan) and planned.superseded


def test_duplicate_member_names_are_used_by_no_entry(tmp_path: Path) -> None:
    fake = medium_for([NIR], documents=1)
    fake.fill()
    name = f"IHE_XDM/SUBSET01/{fake.subsets[0].documents[0].file_name}"
    fake.extra_members.append((name.lower(), b"%PDF-1.4 another file"))
    medium = open_medium(fake.write_zip(tmp_path / "m.zip"), Limits())
    with pytest.raises(FileProblem, match="several members"):
        medium.lookup(name)


def test_dtd_free_bytes_take_the_c_parser_and_read_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subset = FakeSubset("SUBSET01", NIR, [FakeDocument(title="Compte rendu é")])
    FakeMedium([subset]).fill()
    data = subset.metadata_xml()
    assert without_dtd(data)
    fast = parse_metadata(data)
    monkeypatch.setattr("carnet.documents.xdm.metadata.without_dtd", lambda _data: False)
    assert parse_metadata(data) == fast  # defusedxml reads the same submission set


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>',
        b"<r><!ENTITY x 'y'></r>",
        '<?xml version="1.0" encoding="UTF-16"?><r/>'.encode("utf-16"),
        '<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'.encode("utf-16-le"),
        b'<?xml version="1.0" encoding="UTF-7"?><r/>',
        b'<?xml version="1.0" encoding="ISO-8859-1"?><r/>',
        b' <!-- x --> <?xml version="1.0" encoding="UTF-7"?><r/>',
    ],
)
def test_bytes_that_may_hold_a_dtd_go_through_defusedxml(data: bytes) -> None:
    assert not without_dtd(data)


def test_a_dtd_spelled_in_another_encoding_is_still_refused() -> None:
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        data = '<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'.encode(encoding)
        with pytest.raises(MetadataProblem):
            parse_metadata(data)
    utf7 = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE r +AFs-+ADw-!ENTITY x +ACI-y+ACI-+AD4-+AF0-+AD4-+ADw-r+AD4-+ACY-x+ADs-+ADw-/r+AD4-'
    with pytest.raises(MetadataProblem):
        parse_metadata(utf7)
