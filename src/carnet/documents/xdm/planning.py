"""From one DocumentEntry to what Carnet stores: a `Plan`, or a `Verdict` saying why the entry is
skipped or rejected (mapping of docs/formats/xdm.md; rules ID-1, ID-2, DOC-1, DOC-2). Pure.

`plan` runs the checks in a fixed order, each a named step that either refuses the entry or gives
its part of the plan (and adds its notes); the first refusal wins.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from carnet.accounts import rules as account_rules
from carnet.documents import reference
from carnet.documents.xdm.codes import (
    A07_FLAGS,
    HL7_CONFIDENTIALITY_OID,
    INS_C_OID,
    INS_DEMO_OID,
    INS_NIA_OID,
    INS_NIR_OID,
    INS_TEST_OID,
    INVISIBLE_TO_PATIENT,
    INVISIBLE_TO_REPRESENTATIVES,
    LOINC_OID,
    MASKED_TO_PROFESSIONALS,
    ON_DEMAND_ENTRY,
    SIGNATURE_FORMAT_MARKERS,
    SIGNATURE_TYPE_CODES,
    TRE_A07_OID,
    V3_LEVELS,
    safe_code,
)
from carnet.documents.xdm.medium import path_problem
from carnet.documents.xdm.metadata import Entry, Submission, status_of
from carnet.documents.xdm.values import author_rpps, master_identifier, parse_cx, parse_dtm

_HEX40_RE = re.compile(r"^[0-9a-fA-F]{40}$")


@dataclass
class Plan:
    """What Carnet would store for one entry (mapping of docs/formats/xdm.md)."""

    master_identifier: str
    nir: str
    type_code: str
    class_code: str | None
    title: str
    mime_type: str | None
    format_code: str | None
    language: str | None
    created_at: dt.datetime | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    care_date: dt.date | None
    author_rpps: str | None
    masked: bool
    invisible_to_patient: bool
    invisible_to_representatives: bool
    expected_sha1: str | None
    expected_size: int | None
    uri: str
    superseded: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """An entry that is not imported: outcome `skipped` or `rejected`, and why."""

    outcome: str
    reason: str


SKIPPED = "skipped"
REJECTED = "rejected"


def is_signature(entry: Entry, submission: Submission) -> bool:
    if entry.entry_id in submission.signature_ids:
        return True
    if entry.type_code is not None and entry.type_code.code in SIGNATURE_TYPE_CODES:
        return True
    fmt = entry.format_code.code.lower() if entry.format_code else ""
    return any(marker in fmt for marker in SIGNATURE_FORMAT_MARKERS)


def identity(
    entry: Entry, submission: Submission, *, accept_test_identities: bool
) -> str | Verdict:
    """The NIR/NIA to look up (rule ID-1), or why the entry is refused (note §4.1, §6.3 item 18).
    Test and demo identities are refused unless the operator accepts them."""
    if not entry.patient_id:
        return Verdict(REJECTED, "no patientId")
    patient = parse_cx(entry.patient_id)
    if submission.patient_id and parse_cx(submission.patient_id) != patient:
        return Verdict(REJECTED, "patientId differs from its submission set's patientId")
    if patient.authority in (INS_TEST_OID, INS_DEMO_OID):
        if not accept_test_identities:
            kind = "test" if patient.authority == INS_TEST_OID else "demo"
            return Verdict(
                REJECTED,
                f"{kind} INS identity (authority {patient.authority}); "
                "use --accept-test-identities outside production",
            )
    elif patient.authority == INS_C_OID:
        return Verdict(REJECTED, "legacy INS-C identifier: reconcile the patient by hand")
    elif patient.authority not in (INS_NIR_OID, INS_NIA_OID):
        return Verdict(
            REJECTED, f"patientId is not an INS (authority {safe_code(patient.authority)})"
        )
    problem = account_rules.nir_problem(patient.number)
    if problem:
        return Verdict(REJECTED, f"invalid INS in patientId: {problem}")  # rule ID-1
    return account_rules.normalize_nir(patient.number)


def plan(
    entry: Entry, submission: Submission, *, accept_test_identities: bool = False
) -> Plan | Verdict:
    """Map one DocumentEntry, or say why it is skipped or rejected. Pure."""
    refused = _not_importable(entry, submission)
    if refused is not None:
        return refused
    try:
        master = master_identifier(entry.unique_id or "")
    except ValueError as exc:
        return Verdict(REJECTED, str(exc))
    who = identity(entry, submission, accept_test_identities=accept_test_identities)
    if isinstance(who, Verdict):
        return who
    notes: list[str] = []
    if entry.limited_metadata:
        notes.append("limited metadata")
    known = _known_type(entry)
    if isinstance(known, Verdict):
        return known
    refused = _confidentiality(entry, notes)
    if refused is not None:
        return refused
    content = _content(entry, notes)
    if isinstance(content, Verdict):
        return content
    expected_sha1, expected_size, uri = content
    dates = _dates(entry, notes)
    if isinstance(dates, Verdict):
        return dates
    created_at, start, stop = dates
    care = start or created_at
    rpps = _author(entry, notes)
    title = (entry.title or "").strip() or known.label_fr
    fmt = _format_code(entry, notes)
    language = entry.language if entry.language and len(entry.language) <= 16 else None
    codes = {c.code for c in entry.confidentiality}
    return Plan(
        master_identifier=master,
        nir=who,
        type_code=known.loinc,
        class_code=entry.class_code.code if entry.class_code else None,
        title=title[:300],
        mime_type=entry.mime_type,
        format_code=fmt,
        language=language,
        created_at=created_at,
        period_start=start,
        period_end=stop,
        care_date=care.date() if care else None,
        author_rpps=rpps,
        masked=MASKED_TO_PROFESSIONALS in codes,
        invisible_to_patient=INVISIBLE_TO_PATIENT in codes,
        invisible_to_representatives=INVISIBLE_TO_REPRESENTATIVES in codes,
        expected_sha1=expected_sha1,
        expected_size=expected_size,
        uri=uri,
        superseded=status_of(entry.status) == "Deprecated",
        notes=notes,
    )


def _not_importable(entry: Entry, submission: Submission) -> Verdict | None:
    """Signatures, deleted entries and older versions are skipped; on-demand entries and entries
    without a uniqueId have nothing to import."""
    if is_signature(entry, submission):
        return Verdict(SKIPPED, "signature, not a clinical document")
    if status_of(entry.status) == "Deleted":
        return Verdict(SKIPPED, "deleted in the source record")
    if entry.entry_id in submission.older_versions:
        return Verdict(SKIPPED, "older metadata version of a document on this medium")
    if entry.object_type == ON_DEMAND_ENTRY:
        return Verdict(REJECTED, "on-demand entry: no stored content")
    if not entry.unique_id:
        return Verdict(REJECTED, "no uniqueId")
    return None


def _known_type(entry: Entry) -> reference.DocumentType | Verdict:
    """DOC-1: a LOINC type Carnet knows."""
    if entry.type_code is None or not entry.type_code.code:
        return Verdict(REJECTED, "no typeCode")
    if entry.type_code.scheme not in (LOINC_OID, ""):
        return Verdict(
            REJECTED,
            f"typeCode {safe_code(entry.type_code.code)} is not LOINC "
            f"(scheme {safe_code(entry.type_code.scheme)})",
        )
    known = reference.document_types().get(entry.type_code.code)
    if known is None:
        return Verdict(
            REJECTED, f"unknown LOINC type {safe_code(entry.type_code.code)} (DOC-1, TRE_A04)"
        )
    return known


def _confidentiality(entry: Entry, notes: list[str]) -> Verdict | None:
    """DOC-2: confidentiality codes; an unknown one is access-control data we cannot honour."""
    for coded in entry.confidentiality:
        if coded.code in V3_LEVELS and coded.scheme in (HL7_CONFIDENTIALITY_OID, ""):
            if coded.code != "N":
                notes.append(f"confidentiality {coded.code} (no Carnet equivalent beyond flags)")
            continue
        if coded.code in A07_FLAGS and coded.scheme in (TRE_A07_OID, ""):
            continue
        return Verdict(
            REJECTED,
            f"confidentiality code {safe_code(coded.code)} has no Carnet equivalent (DOC-2)",
        )
    return None


def _content(entry: Entry, notes: list[str]) -> tuple[str | None, int | None, str] | Verdict:
    """DOC-1: the expected hash (SHA-1, hex, either case) and size, and a safe URI to the file."""
    expected_sha1: str | None = None
    if entry.hash:
        if not _HEX40_RE.match(entry.hash):
            return Verdict(REJECTED, "hash is not 40 hexadecimal digits (SHA-1)")
        expected_sha1 = entry.hash.lower()
    else:
        notes.append("no hash in the metadata; recomputed")
    expected_size: int | None = None
    if entry.size:
        if not entry.size.isdigit():
            return Verdict(REJECTED, "size is not a decimal integer")
        expected_size = int(entry.size)
    else:
        notes.append("no size in the metadata; measured")
    if entry.uri_problem:
        return Verdict(REJECTED, entry.uri_problem)
    if not entry.uri:
        return Verdict(REJECTED, "no URI: the entry does not point to a file")
    unsafe = path_problem(entry.uri)
    if unsafe:
        return Verdict(REJECTED, f"unsafe URI ({unsafe})")
    return expected_sha1, expected_size, entry.uri


_Dates = tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]


def _dates(entry: Entry, notes: list[str]) -> _Dates | Verdict:
    """Creation, service start and stop: DTM in UTC (note §3.2, §6.3 item 13)."""
    try:
        created_at = parse_dtm(entry.creation_time)
        start = parse_dtm(entry.service_start)
        stop = parse_dtm(entry.service_stop)
    except ValueError:
        return Verdict(REJECTED, "a date (creationTime, serviceStartTime/StopTime) is not a DTM")
    if start and stop and stop < start:
        notes.append("serviceStopTime before serviceStartTime; stop ignored")
        stop = None
    return created_at, start, stop


def _author(entry: Entry, notes: list[str]) -> str | None:
    """The first author with a valid RPPS (ID-2); why the others have none goes to the notes."""
    for author in entry.authors:
        if author.person:
            found = author_rpps(author.person)
            if found.rpps:
                return found.rpps
            if found.note and found.note not in notes:
                notes.append(found.note)
    if not entry.authors:
        notes.append("no author")
    return None


def _format_code(entry: Entry, notes: list[str]) -> str | None:
    fmt = entry.format_code.code if entry.format_code and entry.format_code.code else None
    if fmt and len(fmt) > 80:
        notes.append("formatCode longer than 80 characters; not kept")
        return None
    return fmt
