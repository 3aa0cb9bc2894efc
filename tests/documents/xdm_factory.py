"""Realistic IHE XDM media (DMP exports) for the migration tests and the bench.

A medium holds N holders × M documents in one or more submission sets (one METADATA.XML each):
CDA R2 level-1 documents wrapping a PDF made with fpdf2, and plain PDFs, each with its true SHA-1
and size in the metadata. Every field of `FakeDocument`, `FakeSubset` and `FakeMedium` can be bent
to inject a fault (wrong hash or size, missing file, unsafe URI, unknown LOINC, test INS, malformed
XML, unsafe ZIP members, lying ZIP headers…). Layout and metadata follow
shared/design/xdm-import.md (§1.2 tree, §2 ebRIM, §7 example). All people are invented.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import itertools
import secrets
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from fpdf import FPDF

from carnet.accounts.rules import make_rpps
from carnet.documents.xdm.codes import (
    AUTHOR_SCHEME,
    CLASS_SCHEME,
    CONFIDENTIALITY_SCHEME,
    FORMAT_SCHEME,
    HL7_CONFIDENTIALITY_OID,
    INS_NIR_OID,
    INVISIBLE_TO_PATIENT,
    INVISIBLE_TO_REPRESENTATIVES,
    LOINC_OID,
    MASKED_TO_PROFESSIONALS,
    PATIENT_ID_SCHEME,
    RIM,
    RPPS_OID,
    STABLE_ENTRY,
    SUBMISSION_PATIENT_ID_SCHEME,
    TRE_A07_OID,
    TYPE_SCHEME,
    UNIQUE_ID_SCHEME,
)
from carnet.documents.xdm.values import parse_dtm

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SOURCE_ID_SCHEME = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SUBMISSION_UNIQUE_ID_SCHEME = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"

CDA_PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
IHE_FORMAT_SYSTEM = "1.3.6.1.4.1.19376.1.2.3"
N = ("N", HL7_CONFIDENTIALITY_OID)
MASKED = (MASKED_TO_PROFESSIONALS, TRE_A07_OID)
INVISIBLE_PATIENT = (INVISIBLE_TO_PATIENT, TRE_A07_OID)
INVISIBLE_REPRESENTATIVES = (INVISIBLE_TO_REPRESENTATIVES, TRE_A07_OID)

# (LOINC, class code, title) of common DMP documents (types known to Carnet's TRE_A04 table).
KINDS = [
    ("11502-2", "10", "CR d'examens biologiques"),
    ("18748-4", "31", "CR d'imagerie médicale"),
    ("11488-4", "10", "CR de consultation – Hématologie"),
    ("34112-3", "10", "CR hospitalier (séjour)"),
    ("60591-5", "11", "Synthèse médicale"),
    ("57833-6", "21", "Prescription de produits de santé"),
]

_run = secrets.randbelow(10**9)
_counter = itertools.count(1)


def new_unique_id() -> str:
    """A document uniqueId (OID), unique across test runs."""
    return f"1.2.250.1.999.42.2.{_run}.{next(_counter)}"


def new_entry_id() -> str:
    return f"urn:uuid:{secrets.token_hex(4)}-{secrets.token_hex(2)}-4{secrets.token_hex(2)[1:]}-a{secrets.token_hex(2)[1:]}-{secrets.token_hex(6)}"


def dtm(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def author_xcn(rpps: str, family: str = "EXEMPLE", given: str = "Claire") -> str:
    """authorPerson of a professional: `8` + RPPS, RPPS authority, IDNPS (note §4.2)."""
    return f"8{rpps}^{family}^{given}^^^^^^&{RPPS_OID}&ISO^D^^^IDNPS"


def patient_cx(number: str, authority: str = INS_NIR_OID) -> str:
    return f"{number}^^^&{authority}&ISO^NH"


@functools.lru_cache(maxsize=64)
def make_pdf(text: str) -> bytes:
    """A small, valid one-page PDF (cached: the bench builds many documents)."""
    pdf = FPDF()
    pdf.set_creation_date(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def make_cda(doc: FakeDocument, nir: str, authority: str, pdf: bytes) -> bytes:
    """A CDA R2 level-1 document wrapping `pdf` in nonXMLBody (note §6.4 item 20)."""
    encoded = base64.encodebytes(pdf).decode("ascii")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.2.20"/>
  <id root={quoteattr(doc.unique_id)}/>
  <code code="{doc.loinc}" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"/>
  <title>{escape(doc.title)}</title>
  <effectiveTime value="{doc.creation}+0000"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <recordTarget>
    <patientRole>
      <id root="{authority}" extension="{nir}"/>
      <patient>
        <name><family qualifier="BR">FICTIF</family><given>Camille</given></name>
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="19800101"/>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="{doc.creation}+0000"/>
    <assignedAuthor>
      <id root="{RPPS_OID}" extension="8{doc.rpps}"/>
      <assignedPerson><name><family>EXEMPLE</family><given>Claire</given></name></assignedPerson>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.213.4.1" extension="CNAM"/>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <component>
    <nonXMLBody>
      <text mediaType="application/pdf" representation="B64">
{encoded}      </text>
    </nonXMLBody>
  </component>
</ClinicalDocument>
""".encode()


@dataclass
class FakeDocument:
    """One DocumentEntry and its file. `content` is filled by `FakeMedium.build`."""

    title: str
    loinc: str = "11502-2"
    class_code: str = "10"
    kind: str = "cda"  # cda (level 1 wrapping a PDF) | pdf
    unique_id: str = field(default_factory=new_unique_id)
    entry_id: str = field(default_factory=new_entry_id)
    file_name: str = ""
    creation: str = "20250314091500"
    service_start: str | None = "20250313070000"
    service_stop: str | None = "20250314090000"
    confidentiality: list[tuple[str, str]] = field(default_factory=lambda: [N])
    rpps: str = field(default_factory=lambda: make_rpps(1_234_567))
    language: str = "fr-FR"
    status: str = APPROVED
    content: bytes = b""
    # Faults and variants.
    declared_hash: str | None = None  # instead of the true SHA-1 ("" omits the slot)
    declared_size: str | None = None  # instead of the true size ("" omits the slot)
    uri: str | None = None  # instead of the file name (e.g. "../x", "SUBSET01/DOC.XML")
    split_uri: bool = False  # URI written as several n|part values
    write_file: bool = True
    author: str | None = None  # an authorPerson XCN instead of the default one
    type_scheme: str = LOINC_OID
    hash_upper: bool = False
    patient: str | None = None  # a patientId CX instead of the subset's
    content_override: bytes | None = None  # bytes written to the file instead of the content

    @property
    def mime_type(self) -> str:
        return "text/xml" if self.kind == "cda" else "application/pdf"

    @property
    def format_code(self) -> tuple[str, str]:
        if self.kind == "cda":
            return CDA_PDF_FORMAT, IHE_FORMAT_SYSTEM
        return "urn:ihe:iti:xds:2017:mimeTypeSufficient", IHE_FORMAT_SYSTEM

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.content).hexdigest()  # noqa: S324 - XDS hashes are SHA-1

    @property
    def created_at(self) -> dt.datetime:
        return parse_dtm(self.creation)  # type: ignore[return-value]


@dataclass
class FakeSubset:
    """One submission set: one patient, its documents, optional associations."""

    name: str
    nir: str
    documents: list[FakeDocument]
    authority: str = INS_NIR_OID
    associations: list[tuple[str, str, str]] = field(default_factory=list)  # (type, src, target)
    style: str = "rim"  # prefix style: rim | ns2 (ANS samples) | default (default namespace)
    metadata: bytes | None = None  # raw METADATA.XML instead of the generated one
    metadata_name: str = "METADATA.XML"

    def metadata_xml(self) -> bytes:
        if self.metadata is not None:
            return self.metadata
        return render_metadata(self)


@dataclass
class FakeMedium:
    subsets: list[FakeSubset]
    extra_members: list[tuple[str, bytes]] = field(default_factory=list)  # raw names (ZIP)
    wrap: str | None = None  # a folder wrapping the whole medium ("Contenu du ZIP")

    def documents(self) -> list[tuple[FakeSubset, FakeDocument]]:
        return [(s, d) for s in self.subsets for d in s.documents]

    def fill(self) -> None:
        """Give every document its content and file name (idempotent)."""
        for subset in self.subsets:
            for number, doc in enumerate(subset.documents, start=1):
                if not doc.file_name:
                    doc.file_name = f"DOC{number:04d}." + ("XML" if doc.kind == "cda" else "PDF")
                if not doc.content:
                    pdf = make_pdf(f"{doc.title}\nDocument {doc.unique_id}")
                    doc.content = (
                        make_cda(doc, subset.nir, subset.authority, pdf)
                        if doc.kind == "cda"
                        else pdf
                    )

    def files(self) -> list[tuple[str, bytes]]:
        """(path inside the medium, bytes) of every file, README and INDEX included."""
        self.fill()
        base = f"{self.wrap}/" if self.wrap else ""
        out = [
            (f"{base}README.TXT", b"Export DMP fictif - Carnet tests\r\n"),
            (f"{base}INDEX.HTM", b"<html><body><p>Export DMP</p></body></html>"),
        ]
        for subset in self.subsets:
            folder = f"{base}IHE_XDM/{subset.name}"
            out.append((f"{folder}/{subset.metadata_name}", subset.metadata_xml()))
            for doc in subset.documents:
                if doc.write_file:
                    body = doc.content if doc.content_override is None else doc.content_override
                    out.append((f"{folder}/{doc.file_name}", body))
        return out

    def write_zip(self, path: Path) -> Path:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files():
                archive.writestr(name, data)
            for name, data in self.extra_members:
                archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)
        return path

    def write_folder(self, path: Path) -> Path:
        for name, data in self.files():
            target = path.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return path


def medium_for(
    nirs: list[str],
    *,
    documents: int = 3,
    subsets_per_holder: int = 1,
    authority: str = INS_NIR_OID,
) -> FakeMedium:
    """N holders × `documents` documents each, spread over `subsets_per_holder` submission sets,
    alternating CDA level 1 and plain PDF, with varied types and dates."""
    subsets: list[FakeSubset] = []
    number = itertools.count(1)
    day = dt.datetime(2024, 1, 8, 7, 30, tzinfo=dt.UTC)
    for nir in nirs:
        per_subset = [documents // subsets_per_holder] * subsets_per_holder
        for extra in range(documents % subsets_per_holder):
            per_subset[extra] += 1
        for count in per_subset:
            docs = []
            for _ in range(count):
                n = next(number)
                loinc, class_code, title = KINDS[n % len(KINDS)]
                start = day + dt.timedelta(days=n, hours=n % 5)
                docs.append(
                    FakeDocument(
                        title=f"{title} n°{n}",
                        loinc=loinc,
                        class_code=class_code,
                        kind="cda" if n % 2 else "pdf",
                        creation=dtm(start + dt.timedelta(hours=3)),
                        service_start=dtm(start),
                        service_stop=dtm(start + dt.timedelta(hours=2)),
                        rpps=make_rpps(1_000_000 + n),
                    )
                )
            subsets.append(
                FakeSubset(
                    name=f"SUBSET{len(subsets) + 1:02d}",
                    nir=nir,
                    documents=docs,
                    authority=authority,
                )
            )
    return FakeMedium(subsets)


# -- METADATA.XML ------------------------------------------------------------------------------


def _tags(style: str) -> tuple[str, str]:
    """(root element opening with namespace declarations, rim prefix with colon)."""
    if style == "ns2":  # ANS samples: ns5 = lcm, ns2 = rim
        return (f'<ns5:SubmitObjectsRequest xmlns:ns5="{LCM}" xmlns:ns2="{RIM}">', "ns2:")
    if style == "default":
        return (f'<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}" xmlns="{RIM}">', "")
    return (f'<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}">', "rim:")


def _close(style: str) -> str:
    return "</ns5:SubmitObjectsRequest>" if style == "ns2" else "</lcm:SubmitObjectsRequest>"


def render_metadata(subset: FakeSubset) -> bytes:
    opening, p = _tags(subset.style)

    def slot(name: str, *values: str) -> str:
        inner = "".join(f"<{p}Value>{escape(v)}</{p}Value>" for v in values)
        return f'<{p}Slot name="{name}"><{p}ValueList>{inner}</{p}ValueList></{p}Slot>'

    def name(value: str) -> str:
        return f'<{p}Name><{p}LocalizedString xml:lang="fr-FR" charset="UTF8" value={quoteattr(value)}/></{p}Name>'

    def classification(scheme: str, obj: str, code: str, system: str, display: str = "") -> str:
        return (
            f'<{p}Classification id="{new_entry_id()}" classificationScheme="{scheme}" '
            f'classifiedObject="{obj}" nodeRepresentation={quoteattr(code)}>'
            f"{slot('codingScheme', system)}{name(display or code)}</{p}Classification>"
        )

    def identifier(scheme: str, obj: str, value: str, label: str) -> str:
        return (
            f'<{p}ExternalIdentifier id="{new_entry_id()}" identificationScheme="{scheme}" '
            f'registryObject="{obj}" value={quoteattr(value)}>{name(label)}</{p}ExternalIdentifier>'
        )

    ss_id = new_entry_id()
    patient = patient_cx(subset.nir, subset.authority)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        opening,
        f"<{p}RegistryObjectList>",
        f'<{p}RegistryPackage id="{ss_id}" status="{APPROVED}">',
        slot("submissionTime", "20250314103000"),
        name("Export DMP"),
        f'<{p}Classification id="{new_entry_id()}" '
        f'classificationScheme="urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d" '
        f'classifiedObject="{ss_id}" nodeRepresentation="">'
        f"{slot('authorInstitution', 'CNAM^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1999999990')}"
        f"</{p}Classification>",
        identifier(SUBMISSION_PATIENT_ID_SCHEME, ss_id, patient, "XDSSubmissionSet.patientId"),
        identifier(SOURCE_ID_SCHEME, ss_id, "1.2.250.1.999.42", "XDSSubmissionSet.sourceId"),
        identifier(
            SUBMISSION_UNIQUE_ID_SCHEME,
            ss_id,
            new_unique_id(),
            "XDSSubmissionSet.uniqueId",
        ),
        f"</{p}RegistryPackage>",
        f'<{p}Classification id="{new_entry_id()}" classificationNode="{SUBMISSION_SET_NODE}" '
        f'classifiedObject="{ss_id}"/>',
    ]
    for doc in subset.documents:
        e = doc.entry_id
        uri = doc.uri if doc.uri is not None else doc.file_name
        if doc.split_uri and len(uri) > 3:
            third = max(len(uri) // 3, 1)
            pieces = [uri[:third], uri[third : 2 * third], uri[2 * third :]]
            uri_slot = slot("URI", *(f"{i}|{piece}" for i, piece in enumerate(pieces, start=1)))
        else:
            uri_slot = slot("URI", uri)
        sha1 = doc.sha1.upper() if doc.hash_upper else doc.sha1
        declared_hash = doc.declared_hash if doc.declared_hash is not None else sha1
        declared_size = (
            doc.declared_size if doc.declared_size is not None else str(len(doc.content))
        )
        fmt, fmt_system = doc.format_code
        parts += [
            f'<{p}ExtrinsicObject id="{e}" mimeType="{doc.mime_type}" '
            f'objectType="{STABLE_ENTRY}" status="{doc.status}">',
            slot("creationTime", doc.creation),
            slot("hash", declared_hash) if declared_hash else "",
            slot("size", declared_size) if declared_size else "",
            slot("languageCode", doc.language),
            slot("serviceStartTime", doc.service_start) if doc.service_start else "",
            slot("serviceStopTime", doc.service_stop) if doc.service_stop else "",
            slot("sourcePatientId", "IPP000123^^^&1.2.250.1.999.42.7&ISO^PI"),
            slot("sourcePatientInfo", "PID-5|FICTIF^Camille^^^^^L", "PID-7|19800101", "PID-8|F"),
            slot("legalAuthenticator", author_xcn(doc.rpps)),
            uri_slot,
            name(doc.title),
            f'<{p}Description><{p}LocalizedString value=""/></{p}Description>',
            f'<{p}Classification id="{new_entry_id()}" classificationScheme="{AUTHOR_SCHEME}" '
            f'classifiedObject="{ss_id}" nodeRepresentation="">'
            f"{slot('authorPerson', doc.author or author_xcn(doc.rpps))}"
            f"{slot('authorInstitution', 'Laboratoire Fictif^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1999999990')}"
            f"{slot('authorSpecialty', 'G15_10/SM03^Médecin - Biologie médicale (SM)^1.2.250.1.213.1.1.4.5')}"
            f"</{p}Classification>",
            classification(CLASS_SCHEME, e, doc.class_code, "1.2.250.1.213.1.1.4.1"),
            *(classification(CONFIDENTIALITY_SCHEME, e, c, s) for c, s in doc.confidentiality),
            classification(FORMAT_SCHEME, e, fmt, fmt_system),
            classification(
                "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1", e, "SA25", "1.2.250.1.71.4.2.4"
            ),
            classification(
                "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
                e,
                "AMBULATOIRE",
                "1.2.250.1.213.1.1.4.9",
            ),
            classification(TYPE_SCHEME, e, doc.loinc, doc.type_scheme, doc.title),
            identifier(PATIENT_ID_SCHEME, e, doc.patient or patient, "XDSDocumentEntry.patientId"),
            identifier(UNIQUE_ID_SCHEME, e, doc.unique_id, "XDSDocumentEntry.uniqueId"),
            f"</{p}ExtrinsicObject>",
            f'<{p}Association id="{new_entry_id()}" associationType="{HAS_MEMBER}" '
            f'sourceObject="{ss_id}" targetObject="{e}">'
            f"{slot('SubmissionSetStatus', 'Original')}</{p}Association>",
        ]
    for kind, source, target in subset.associations:
        full = kind if ":" in kind else f"urn:ihe:iti:2007:AssociationType:{kind}"
        parts.append(
            f'<{p}Association id="{new_entry_id()}" associationType="{full}" '
            f'sourceObject="{source}" targetObject="{target}"/>'
        )
    parts += [f"</{p}RegistryObjectList>", _close(subset.style)]
    return "\n".join(part for part in parts if part).encode("utf-8")


# -- ZIP faults --------------------------------------------------------------------------------


def lie_about_size(path: Path, member: str, claimed: int) -> None:
    """Rewrite the uncompressed size of `member` in both ZIP headers (a lying header)."""
    data = bytearray(path.read_bytes())
    encoded = member.encode()
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            name_length = struct.unpack_from(
                "<H", data, at + (26 if signature == b"PK\x03\x04" else 28)
            )[0]
            if bytes(data[at + name_offset : at + name_offset + name_length]) == encoded:
                struct.pack_into("<I", data, at + size_offset, claimed)
            start = at + 4
    path.write_bytes(bytes(data))
