"""FHIR JSON → Carnet: DocumentReference, Binary and ITI-65 transaction Bundles.

Nothing here touches the database. Every check collects its problem with a FHIRPath-like location
(`Bundle.entry[2].resource.type`) instead of stopping at the first, so that an invalid request is
answered with one OperationOutcome listing them all. What needs the database (who the patient is,
staged Binaries, duplicates, replacements) is resolved afterwards by `fhir.service`.

Rules: ID-1 (INS-NIR subject), ID-2 (RPPS author), DOC-1 (LOINC type, category, sniffed type, size
and SHA-1 hash), DOC-2…DOC-4 (security labels), DOC-6 (status, relatesTo replaces).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM, nir_problem, normalize_nir
from carnet.accounts.rules import rpps_problem as _rpps_problem
from carnet.documents import reference, sniff
from carnet.documents import rules as doc_rules
from carnet.documents.changes import SecurityChange
from carnet.documents.deposits import NewDocument
from carnet.errors import CarnetError
from carnet.fhir import resources

Json = dict[str, Any]

ISSUE_TOO_LONG = "too-long"


# -- problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    expression: str
    message: str
    kind: str = "invalid"  # FHIR issue type: invalid, required, value, structure, too-long…


@dataclass
class Problems:
    """Every problem found in one request, in the order found."""

    items: list[Problem] = field(default_factory=list)

    def add(self, expression: str, message: str, kind: str = "invalid") -> None:
        self.items.append(Problem(expression, message, kind))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, status: int | None = None) -> None:
        if self.items:
            raise InvalidResource(self.items, status=status)


class InvalidResource(CarnetError):
    """400 (or `status`) answered as an OperationOutcome with one issue per problem.

    When every problem is an oversized content, the answer is 413 (DOC-1 size limit).
    """

    code = "invalid-resource"
    status_code = 400

    def __init__(self, problems: list[Problem], *, status: int | None = None) -> None:
        first = problems[0].message if problems else "The resource is not valid."
        message = first if len(problems) == 1 else f"{len(problems)} problems: {first}"
        super().__init__(message, field=problems[0].expression if problems else None)
        if status is not None:
            self.status_code = status
        elif problems and all(p.kind == ISSUE_TOO_LONG for p in problems):
            self.status_code = 413
            self.code = "too-large"
        self.problems = list(problems)
        # Read by `carnet.http` to render one OperationOutcome issue per problem.
        self.issues = [
            {"field": p.expression, "message": p.message, "issue_type": p.kind} for p in problems
        ]


# -- JSON shape helpers --------------------------------------------------------------------------


def _obj(value: Any, path: str, problems: Problems, *, required: bool = False) -> Json | None:
    if value is None:
        if required:
            problems.add(path, "This element is required.", "required")
        return None
    if not isinstance(value, dict):
        problems.add(path, "Expected a JSON object.", "structure")
        return None
    return value


def _list(value: Any, path: str, problems: Problems, *, required: bool = False) -> list[Any]:
    if value is None:
        if required:
            problems.add(path, "This element is required.", "required")
        return []
    if not isinstance(value, list):
        problems.add(path, "Expected a JSON array.", "structure")
        return []
    if required and not value:
        problems.add(path, "At least one item is required.", "required")
    return value


def _str(value: Any, path: str, problems: Problems, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            problems.add(path, "This element is required.", "required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "Expected a non-empty string.", "structure")
        return None
    return value


def _text(value: Any) -> str | None:
    """`value` when it is a string (codes, systems, references compared or looked up)."""
    return value if isinstance(value, str) else None


def _objects(value: Any, path: str, problems: Problems) -> Iterator[tuple[int, str, Json]]:
    for index, item in enumerate(_list(value, path, problems)):
        found = _obj(item, f"{path}[{index}]", problems)
        if found is not None:
            yield index, f"{path}[{index}]", found


# -- dates -------------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<z>Z|[+-]\d{2}:\d{2}))?)?)?$"
)


def date_range(value: str, timezone: str) -> tuple[dt.datetime, dt.datetime, str]:
    """The instants [start, end) covered by a FHIR date/dateTime at its precision, and that
    precision (`year`, `month`, `day`, `time`). Days are counted in `timezone`. ValueError when
    `value` is not a FHIR date or dateTime."""
    match = _DATE_TIME.match(value)
    if match is None:
        raise ValueError(value)
    tz = ZoneInfo(timezone)
    year = int(match["y"])
    if match["H"] is not None:
        if match["S"] is None and match["z"] is None:
            raise ValueError(value)
        seconds = int(match["S"] or 0)
        micros = int(((match["f"] or ".0")[1:] + "000000")[:6])
        zone = dt.UTC if match["z"] == "Z" else _offset(match["z"])
        start = dt.datetime(
            year,
            int(match["m"]),
            int(match["d"]),
            int(match["H"]),
            int(match["M"]),
            seconds,
            micros,
            tzinfo=zone,
        )
        step = dt.timedelta(seconds=1) if match["f"] is None else dt.timedelta(microseconds=1)
        return start.astimezone(dt.UTC), (start + step).astimezone(dt.UTC), "time"
    if match["d"] is not None:
        day = dt.date(year, int(match["m"]), int(match["d"]))
        return _midnight(day, tz), _midnight(day + dt.timedelta(days=1), tz), "day"
    if match["m"] is not None:
        month = int(match["m"])
        first = dt.date(year, month, 1)
        following = dt.date(year + (month == 12), month % 12 + 1, 1)
        return _midnight(first, tz), _midnight(following, tz), "month"
    return _midnight(dt.date(year, 1, 1), tz), _midnight(dt.date(year + 1, 1, 1), tz), "year"


def _offset(text: str) -> dt.timezone:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tz).astimezone(dt.UTC)


def _date_time(
    value: Any, path: str, problems: Problems, timezone: str
) -> tuple[dt.datetime, str] | None:
    text = _str(value, path, problems)
    if text is None:
        return None
    try:
        start, _end, precision = date_range(text, timezone)
    except ValueError:
        problems.add(path, f"{text!r} is not a FHIR dateTime.", "value")
        return None
    return start, precision


# -- references --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectRef:
    """Who a resource is about: a Patient id or an INS-NIR (rule ID-1), and where it was said."""

    expression: str
    holder_id: uuid.UUID | None = None
    nir: str | None = None


def _uuid_of(text: str, prefix: str) -> uuid.UUID | None:
    """The id in `Prefix/<uuid>`, or in an absolute URL ending so; None otherwise."""
    tail = text.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] == prefix:
        try:
            return uuid.UUID(tail[-1])
        except ValueError:
            return None
    return None


def identifier_value(
    value: Any, path: str, problems: Problems, system: str, what: str
) -> str | None:
    """The value of an Identifier of `system` (required), or None with a problem."""
    ident = _obj(value, path, problems, required=True)
    if ident is None:
        return None
    found_system = _str(ident.get("system"), f"{path}.system", problems, required=True)
    found_value = _str(ident.get("value"), f"{path}.value", problems, required=True)
    if found_system is not None and found_system != system:
        problems.add(f"{path}.system", f"{what} must use the system {system}.", "value")
        return None
    return found_value


def nir_value(value: str, path: str, problems: Problems) -> str | None:
    problem = nir_problem(value)
    if problem:
        problems.add(path, f"Invalid INS-NIR: {problem} (rule ID-1).", "value")
        return None
    return normalize_nir(value)


def contained_resources(
    resource: Json, path: str, problems: Problems
) -> dict[str, tuple[str, Json]]:
    """The contained resources of `resource` by id, with their locations."""
    found: dict[str, tuple[str, Json]] = {}
    for _i, where, item in _objects(resource.get("contained"), f"{path}.contained", problems):
        if isinstance(item.get("id"), str):
            found[item["id"]] = (where, item)
    return found


def subject_reference(
    value: Any,
    path: str,
    problems: Problems,
    contained: dict[str, tuple[str, Json]] | None = None,
) -> SubjectRef | None:
    """`{reference: "Patient/<id>"}`, `{identifier: {system: INS-NIR, value: NIR}}`, or (PDSm) a
    reference `#id` to a contained Patient carrying the INS-NIR identifier (ID-1)."""
    ref = _obj(value, path, problems, required=True)
    if ref is None:
        return None
    literal = ref.get("reference")
    if isinstance(literal, str) and literal.startswith("#"):
        if contained is None or literal[1:] not in contained:
            problems.add(f"{path}.reference", "No contained resource has this id.", "value")
            return None
        target_path, target = contained[literal[1:]]
        if target.get("resourceType") != "Patient":
            problems.add(f"{path}.reference", "The subject must be a Patient.", "value")
            return None
        for _i, where, ident in _objects(
            target.get("identifier"), f"{target_path}.identifier", problems
        ):
            if ident.get("system") == INS_NIR_SYSTEM:
                raw = _str(ident.get("value"), f"{where}.value", problems, required=True)
                nir = nir_value(raw, f"{where}.value", problems) if raw else None
                return SubjectRef(path, nir=nir) if nir else None
        problems.add(
            f"{target_path}.identifier",
            f"The contained Patient needs an INS-NIR identifier ({INS_NIR_SYSTEM}).",
            "required",
        )
        return None
    if literal is not None:
        text = _str(literal, f"{path}.reference", problems)
        if text is None:
            return None
        holder_id = _uuid_of(text, "Patient")
        if holder_id is None:
            problems.add(f"{path}.reference", "Expected a reference to Patient/<id>.", "value")
            return None
        return SubjectRef(path, holder_id=holder_id)
    if ref.get("identifier") is None:
        problems.add(
            path,
            f"The patient is required: Patient/<id> or an identifier {INS_NIR_SYSTEM}|<NIR>.",
            "required",
        )
        return None
    raw = identifier_value(
        ref["identifier"], f"{path}.identifier", problems, INS_NIR_SYSTEM, "The patient (INS-NIR)"
    )
    if raw is None:
        return None
    nir = nir_value(raw, f"{path}.identifier.value", problems)
    return SubjectRef(path, nir=nir) if nir else None


def _practitioner_identifiers(
    ref: Json,
    where: str,
    contained: dict[str, tuple[str, Json]],
    problems: Problems,
    *,
    through_role: bool = True,
) -> list[tuple[str, Json]]:
    """The identifiers of the Practitioner `ref` designates: logically, contained, or (PDSm)
    through a contained PractitionerRole's `practitioner`."""
    literal = ref.get("reference")
    if isinstance(literal, str) and literal.startswith("#"):
        if literal[1:] not in contained:
            problems.add(f"{where}.reference", "No contained resource has this id.", "value")
            return []
        target_path, target = contained[literal[1:]]
        kind = target.get("resourceType")
        if kind == "PractitionerRole" and through_role:
            practitioner = _obj(target.get("practitioner"), f"{target_path}.practitioner", problems)
            if practitioner is None:
                return []
            return _practitioner_identifiers(
                practitioner, f"{target_path}.practitioner", contained, problems, through_role=False
            )
        if kind != "Practitioner":
            return []
        return [
            (ident_path, ident)
            for _j, ident_path, ident in _objects(
                target.get("identifier"), f"{target_path}.identifier", problems
            )
        ]
    if isinstance(ref.get("identifier"), dict) and ref.get("type") in (None, "Practitioner"):
        return [(f"{where}.identifier", ref["identifier"])]
    return []


def _author_rpps(
    resource: Json, path: str, problems: Problems, contained: dict[str, tuple[str, Json]]
) -> list[tuple[str, str]]:
    """The RPPS numbers (rule ID-2) of the Practitioner authors, with their locations.

    An author is a logical reference `{type: Practitioner, identifier: {system: RPPS, value}}`, or
    a reference `#id` to a contained Practitioner (or PractitionerRole, as PDSm sends it) carrying
    that identifier. Other authors (devices, organisations) are accepted and ignored."""
    found: list[tuple[str, str]] = []
    for _i, where, author in _objects(resource.get("author"), f"{path}.author", problems):
        for ident_path, ident in _practitioner_identifiers(author, where, contained, problems):
            if ident.get("system") != RPPS_SYSTEM:
                continue
            value = _str(ident.get("value"), f"{ident_path}.value", problems, required=True)
            if value is None:
                continue
            problem = _rpps_problem(value)
            if problem:
                problems.add(
                    f"{ident_path}.value", f"Invalid RPPS: {problem} (rule ID-2).", "value"
                )
                continue
            found.append((value.strip(), f"{ident_path}.value"))
    return found


# -- security labels (DOC-2) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Flags:
    masked: bool = False
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False


_VISIBILITY_CODES = {
    resources.MASKED: "masked",
    resources.INVISIBLE_PATIENT: "invisible_to_patient",
    resources.INVISIBLE_REPRESENTATIVES: "invisible_to_representatives",
}
_CONFIDENTIALITY_CODES = frozenset({"U", "L", "M", "N", "R", "V"})


def security_flags(value: Any, path: str, problems: Problems) -> Flags:
    """TRE_A07 codes → DOC-2 flags; v3 Confidentiality codes are accepted; other systems ignored."""
    seen: set[str] = set()
    for _i, label_path, label in _objects(value, path, problems):
        for _j, coding_path, item in _objects(
            label.get("coding"), f"{label_path}.coding", problems
        ):
            system, code = _text(item.get("system")), _text(item.get("code"))
            if system in resources.VISIBILITY_SYSTEMS:
                if code not in _VISIBILITY_CODES:
                    known = ", ".join(_VISIBILITY_CODES)
                    problems.add(
                        f"{coding_path}.code",
                        f"Unsupported visibility code {code!r} (TRE_A07: {known}).",
                        "code-invalid",
                    )
                    continue
                seen.add(_VISIBILITY_CODES[code])
            elif system == resources.CONFIDENTIALITY_SYSTEM and code not in _CONFIDENTIALITY_CODES:
                problems.add(
                    f"{coding_path}.code", f"Unknown confidentiality code {code!r}.", "code-invalid"
                )
    return Flags(
        masked="masked" in seen,
        invisible_to_patient="invisible_to_patient" in seen,
        invisible_to_representatives="invisible_to_representatives" in seen,
    )


# -- content -----------------------------------------------------------------------------------


def decode_base64(value: Any, path: str, problems: Problems, limit: int) -> bytes | None:
    """Strict base64 (whitespace allowed, as R4 base64Binary); oversized content is a problem
    found before decoding (DOC-1 size limit)."""
    text = _str(value, path, problems, required=True)
    if text is None:
        return None
    compact = "".join(text.split())
    if len(compact) // 4 * 3 - compact[-2:].count("=") > limit:
        problems.add(path, too_large_message(limit), ISSUE_TOO_LONG)
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        problems.add(path, "The data is not valid base64.", "value")
        return None


def too_large_message(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"The document is larger than the {limit / (1024 * 1024):g} MB limit (rule DOC-1)."
    return f"The document is larger than the {limit} bytes limit (rule DOC-1)."


@dataclass(frozen=True)
class BinaryEntry:
    """A Binary of an ITI-65 Bundle (or posted alone), decoded."""

    expression: str
    content_type: str | None
    data: bytes | None


def binary_resource(resource: Json, path: str, problems: Problems, limit: int) -> BinaryEntry:
    if resource.get("resourceType") != "Binary":
        problems.add(f"{path}.resourceType", "Expected a Binary.", "structure")
    content_type = _str(resource.get("contentType"), f"{path}.contentType", problems, required=True)
    data = decode_base64(resource.get("data"), f"{path}.data", problems, limit)
    if data is not None and content_type is not None:
        check_content(data, content_type, f"{path}.data", f"{path}.contentType", problems)
    return BinaryEntry(path, content_type, data)


def check_content(
    data: bytes, declared: str | None, data_path: str, type_path: str, problems: Problems
) -> None:
    """DOC-1: professionals send PDF or CDA; the sniffed type must agree with the declared one."""
    if not data:
        problems.add(data_path, "The content is empty.", "value")
        return
    problem = doc_rules.type_problem(
        sniff.sniff(data[: sniff.HEAD_BYTES]), declared, sniff.PROFESSIONAL_TYPES
    )
    if problem:
        problems.add(
            type_path if declared else data_path, f"Refused: {problem} (rule DOC-1).", "value"
        )


# -- DocumentReference ---------------------------------------------------------------------------


@dataclass
class ParsedDocument:
    """A DocumentReference read from a request, before the database tells who and what."""

    expression: str
    new: NewDocument
    subject: SubjectRef | None
    authors: list[tuple[str, str]]  # (RPPS, location)
    content_path: str
    # Where the bytes come from: given (inline or a Binary of the Bundle) or staged before.
    staged_id: uuid.UUID | None = None
    binary_url: str | None = None
    replaces_path: str | None = None


def document_reference(
    resource: Json,
    path: str,
    problems: Problems,
    *,
    limit: int,
    timezone: str,
    binaries: dict[str, BinaryEntry] | None = None,
) -> ParsedDocument:
    """Read an MHD DocumentReference for a deposit; problems are collected, never raised."""
    if resource.get("resourceType") != "DocumentReference":
        problems.add(f"{path}.resourceType", "Expected a DocumentReference.", "structure")
    status = resource.get("status")
    if status is None:
        problems.add(f"{path}.status", "This element is required (current).", "required")
    elif status != "current":
        problems.add(f"{path}.status", "A new document has status current.", "value")
    doc_status = resource.get("docStatus")
    if doc_status is not None and doc_status not in ("final", "amended", "preliminary"):
        problems.add(f"{path}.docStatus", f"Unknown docStatus {doc_status!r}.", "value")

    master = None
    found_master = _obj(resource.get("masterIdentifier"), f"{path}.masterIdentifier", problems)
    if found_master is not None:
        master = _str(
            found_master.get("value"), f"{path}.masterIdentifier.value", problems, required=True
        )
        if master is not None and len(master) > 128:
            problems.add(f"{path}.masterIdentifier.value", "At most 128 characters.", "value")
            master = None

    type_code = _type_code(resource.get("type"), f"{path}.type", problems)
    category = _category(resource.get("category"), f"{path}.category", problems, type_code)
    contained = contained_resources(resource, path, problems)
    subject = subject_reference(resource.get("subject"), f"{path}.subject", problems, contained)
    authors = _author_rpps(resource, path, problems, contained)
    flags = security_flags(resource.get("securityLabel"), f"{path}.securityLabel", problems)
    replaces_id, replaces_path = _replaces(resource.get("relatesTo"), f"{path}.relatesTo", problems)

    contents = _list(resource.get("content"), f"{path}.content", problems, required=True)
    if len(contents) > 1:
        problems.add(
            f"{path}.content", "Exactly one content per DocumentReference.", "not-supported"
        )
    content = _obj(contents[0], f"{path}.content[0]", problems) if contents else None
    content_path = f"{path}.content[0].attachment"
    attachment = (
        _obj(content.get("attachment"), content_path, problems, required=True) if content else None
    ) or {}
    declared = _str(attachment.get("contentType"), f"{content_path}.contentType", problems)
    language = _str(attachment.get("language"), f"{content_path}.language", problems)
    if language is not None and len(language) > 16:
        problems.add(f"{content_path}.language", "At most 16 characters.", "value")
        language = None
    format_code = _format_code(content.get("format") if content else None, path, problems)
    expected_size = attachment.get("size")
    if expected_size is not None and (
        not isinstance(expected_size, int) or isinstance(expected_size, bool) or expected_size < 0
    ):
        problems.add(f"{content_path}.size", "Expected a non-negative integer.", "value")
        expected_size = None
    expected_sha1 = _sha1(attachment.get("hash"), f"{content_path}.hash", problems)
    created = None
    if attachment.get("creation") is not None:
        found = _date_time(attachment["creation"], f"{content_path}.creation", problems, timezone)
        created = found[0] if found else None

    data: bytes | None = None
    staged_id: uuid.UUID | None = None
    binary_url: str | None = None
    data_path = f"{content_path}.data"
    if attachment.get("data") is not None:
        if attachment.get("url") is not None:
            problems.add(content_path, "Give either data or url, not both.", "invalid")
        data = decode_base64(attachment["data"], data_path, problems, limit)
    elif attachment.get("url") is not None:
        url = _str(attachment["url"], f"{content_path}.url", problems)
        if url is not None and url.startswith("urn:"):
            entry = (binaries or {}).get(url)
            if entry is None:
                problems.add(
                    f"{content_path}.url",
                    "No Binary of this Bundle has this fullUrl."
                    if binaries is not None
                    else "Only Binary/<id> (posted before) can be referenced outside a Bundle.",
                    "not-found",
                )
            else:
                binary_url = url
                data = entry.data
                data_path = entry.expression
                if (
                    declared
                    and entry.content_type
                    and sniff.normalize_declared(declared)
                    != sniff.normalize_declared(entry.content_type)
                ):
                    problems.add(
                        f"{content_path}.contentType",
                        f"The Binary says {entry.content_type}, the attachment {declared}.",
                        "value",
                    )
        elif url is not None:
            staged_id = _uuid_of(url, "Binary")
            if staged_id is None:
                problems.add(
                    f"{content_path}.url",
                    "Expected Binary/<id> or the fullUrl of a Binary of the Bundle.",
                    "value",
                )
    elif attachment:
        problems.add(content_path, "The content is required: data or url.", "required")
    if data is not None:
        check_content(data, declared, data_path, f"{content_path}.contentType", problems)
        if expected_size is not None and expected_size != len(data):
            problems.add(
                f"{content_path}.size",
                f"The content has {len(data)} bytes, not {expected_size}.",
                "value",
            )
        if expected_sha1 is not None and expected_sha1 != hashlib.sha1(data).hexdigest():  # noqa: S324 - R4 defines SHA-1
            problems.add(
                f"{content_path}.hash", "The content does not match its SHA-1 hash.", "value"
            )

    title = _title(resource, attachment, content_path, path, problems, type_code)
    period_start, period_end, care_date = _period(resource.get("context"), path, problems, timezone)
    new = NewDocument(
        content=data or b"",
        title=title or "",
        declared_type=declared,
        type_code=type_code,
        category=category,
        care_date=care_date,
        period_start=period_start,
        period_end=period_end,
        created_at=created,
        master_identifier=master,
        expected_sha1=expected_sha1,
        expected_size=expected_size,
        masked=True if flags.masked else None,  # absent: the holder's default (DOC-5)
        invisible_to_patient=flags.invisible_to_patient,
        invisible_to_representatives=flags.invisible_to_representatives,
        format_code=format_code,
        language=language,
        replaces_id=replaces_id,
        source="professional",
    )
    return ParsedDocument(
        expression=path,
        new=new,
        subject=subject,
        authors=authors,
        content_path=content_path,
        staged_id=staged_id,
        binary_url=binary_url,
        replaces_path=replaces_path,
    )


def _type_code(value: Any, path: str, problems: Problems) -> str | None:
    concept = _obj(value, path, problems, required=True)
    if concept is None:
        return None
    for index, where, item in _objects(concept.get("coding"), f"{path}.coding", problems):
        if item.get("system") != reference.LOINC_SYSTEM:
            continue
        code = _str(item.get("code"), f"{where}.code", problems, required=True)
        if code is not None and code not in reference.document_types():
            problems.add(
                f"{path}.coding[{index}].code",
                f"Unknown document type {code!r} (LOINC, TRE_A04; rule DOC-1).",
                "code-invalid",
            )
            return None
        return code
    problems.add(
        f"{path}.coding", f"A LOINC coding ({reference.LOINC_SYSTEM}) is required.", "required"
    )
    return None


def _category(value: Any, path: str, problems: Problems, type_code: str | None) -> str | None:
    found: str | None = None
    for _i, where, concept in _objects(value, path, problems):
        for _j, coding_path, item in _objects(concept.get("coding"), f"{where}.coding", problems):
            if item.get("system") != reference.CATEGORY_SYSTEM:
                continue  # other classifications (XDS classCode…) are not Carnet's
            code = _text(item.get("code"))
            if code not in reference.categories():
                problems.add(f"{coding_path}.code", f"Unknown category {code!r}.", "code-invalid")
                continue
            known = reference.document_types().get(type_code or "")
            if known is not None and known.category != code:
                problems.add(
                    f"{coding_path}.code",
                    f"Category {code} does not match type {type_code} ({known.category}).",
                    "value",
                )
                continue
            found = code
    return found


def _format_code(value: Any, path: str, problems: Problems) -> str | None:
    """`content.format`: the code is kept (as the XDM importer keeps the XDS formatCode)."""
    item = _obj(value, f"{path}.content[0].format", problems)
    if item is None:
        return None
    code = _str(item.get("code"), f"{path}.content[0].format.code", problems, required=True)
    if code is not None and len(code) > 80:
        problems.add(f"{path}.content[0].format.code", "At most 80 characters.", "value")
        return None
    return code


def _sha1(value: Any, path: str, problems: Problems) -> str | None:
    """R4 `Attachment.hash`: base64 of the 20 SHA-1 bytes → hex."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(path, "Expected base64 text.", "structure")
        return None
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 20:
        problems.add(
            path, "Expected the base64 of the 20 bytes of a SHA-1 (as R4 defines it).", "value"
        )
        return None
    return raw.hex()


def _title(
    resource: Json,
    attachment: Json,
    content_path: str,
    path: str,
    problems: Problems,
    type_code: str | None,
) -> str | None:
    """The title: description, else attachment.title, else the type's label."""
    for value, where in (
        (resource.get("description"), f"{path}.description"),
        (attachment.get("title"), f"{content_path}.title"),
    ):
        if value is None:
            continue
        text = _str(value, where, problems)
        if text is None:
            return None
        if len(text.strip()) > 300:
            problems.add(where, "At most 300 characters.", "value")
            return None
        return text.strip()
    known = reference.document_types().get(type_code or "")
    return known.label_fr if known else None


def _period(
    value: Any, path: str, problems: Problems, timezone: str
) -> tuple[dt.datetime | None, dt.datetime | None, dt.date | None]:
    context = _obj(value, f"{path}.context", problems)
    period = _obj(context.get("period"), f"{path}.context.period", problems) if context else None
    if period is None:
        return None, None, None
    start = end = None
    care_date = None
    if period.get("start") is not None:
        found = _date_time(period["start"], f"{path}.context.period.start", problems, timezone)
        if found:
            start = found[0]
            care_date = start.astimezone(ZoneInfo(timezone)).date()
    if period.get("end") is not None:
        found = _date_time(period["end"], f"{path}.context.period.end", problems, timezone)
        end = found[0] if found else None
    if start and end and end < start:
        problems.add(f"{path}.context.period", "The period ends before it starts.", "value")
    return start, end, care_date


def _replaces(value: Any, path: str, problems: Problems) -> tuple[uuid.UUID | None, str | None]:
    """DOC-6: `relatesTo: [{code: replaces, target: {reference: DocumentReference/<id>}}]`."""
    found: tuple[uuid.UUID | None, str | None] = (None, None)
    for _i, where, relation in _objects(value, path, problems):
        code = relation.get("code")
        if code != "replaces":
            problems.add(
                f"{where}.code",
                f"Only relatesTo code replaces is supported, not {code!r}.",
                "not-supported",
            )
            continue
        target = _obj(relation.get("target"), f"{where}.target", problems, required=True)
        literal = target.get("reference") if target else None
        old = _uuid_of(literal, "DocumentReference") if isinstance(literal, str) else None
        if old is None:
            problems.add(
                f"{where}.target.reference",
                "Expected a reference to DocumentReference/<id>.",
                "value",
            )
            continue
        if found[0] is not None:
            problems.add(where, "A document replaces at most one other.", "not-supported")
            continue
        found = (old, f"{where}.target.reference")
    return found


# -- ITI-65 transaction Bundle -------------------------------------------------------------------


@dataclass
class ParsedBundle:
    """A valid ITI-65 Bundle: the submission set, the documents and where each entry was."""

    kinds: list[str]  # resourceType of each entry, in order
    full_urls: list[str | None]
    list_index: int
    list_identifiers: list[Json]
    list_subject: SubjectRef | None
    documents: list[tuple[int, ParsedDocument]]  # (entry index, document)
    binary_owner: dict[int, int]  # Binary entry index → DocumentReference entry index


SUPPORTED = ("List", "DocumentReference", "Binary")


def transaction_bundle(body: Any, *, limit: int, timezone: str) -> ParsedBundle:
    """Check an ITI-65 Provide Document Bundle; raise InvalidResource listing every problem."""
    problems = Problems()
    bundle = _obj(body, "Bundle", problems, required=True)
    if bundle is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")
    if bundle.get("resourceType") != "Bundle":
        problems.add("Bundle.resourceType", "Expected a Bundle.", "structure")
    if bundle.get("type") != "transaction":
        problems.add("Bundle.type", "ITI-65 needs a Bundle of type transaction.", "value")
    entries = _list(bundle.get("entry"), "Bundle.entry", problems, required=True)
    kinds: list[str] = []
    full_urls: list[str | None] = []
    resources_at: dict[int, Json] = {}
    seen_urls: dict[str, int] = {}
    for index, raw in enumerate(entries):
        path = f"Bundle.entry[{index}]"
        entry = _obj(raw, path, problems, required=True)
        if entry is None:
            full_urls.append(None)
            kinds.append("")
            continue
        full_url = _str(entry.get("fullUrl"), f"{path}.fullUrl", problems, required=True)
        if full_url is not None:
            if full_url in seen_urls:
                problems.add(
                    f"{path}.fullUrl",
                    f"Same fullUrl as Bundle.entry[{seen_urls[full_url]}].",
                    "duplicate",
                )
            seen_urls.setdefault(full_url, index)
        full_urls.append(full_url)
        resource = _obj(entry.get("resource"), f"{path}.resource", problems, required=True)
        kind = resource.get("resourceType") if resource else None
        kinds.append(kind if isinstance(kind, str) else "")
        if resource is None:
            continue
        if kind not in SUPPORTED:
            problems.add(
                f"{path}.resource.resourceType",
                f"Unsupported resource {kind!r} in an ITI-65 Bundle (List, DocumentReference, "
                "Binary).",
                "not-supported",
            )
            continue
        resources_at[index] = resource
        request = _obj(entry.get("request"), f"{path}.request", problems, required=True)
        if request is not None:
            if request.get("method") != "POST":
                problems.add(f"{path}.request.method", "Expected POST.", "value")
            if request.get("url") != kind:
                problems.add(f"{path}.request.url", f"Expected {kind}.", "value")

    binaries: dict[str, BinaryEntry] = {}
    binary_index: dict[str, int] = {}
    for index, resource in resources_at.items():
        if kinds[index] == "Binary":
            entry_binary = binary_resource(
                resource, f"Bundle.entry[{index}].resource", problems, limit
            )
            url = full_urls[index]
            if url is not None:
                binaries[url] = entry_binary
                binary_index[url] = index

    documents: list[tuple[int, ParsedDocument]] = []
    binary_owner: dict[int, int] = {}
    masters: dict[str, int] = {}
    for index, resource in resources_at.items():
        if kinds[index] != "DocumentReference":
            continue
        path = f"Bundle.entry[{index}].resource"
        parsed = document_reference(
            resource, path, problems, limit=limit, timezone=timezone, binaries=binaries
        )
        documents.append((index, parsed))
        if parsed.binary_url is not None:
            owner_index = binary_index[parsed.binary_url]
            if owner_index in binary_owner:
                problems.add(
                    f"{parsed.content_path}.url",
                    f"Bundle.entry[{owner_index}] is already the content of "
                    f"Bundle.entry[{binary_owner[owner_index]}].",
                    "duplicate",
                )
            binary_owner.setdefault(owner_index, index)
        master = parsed.new.master_identifier
        if master is not None:
            if master in masters:
                problems.add(
                    f"{path}.masterIdentifier.value",
                    f"Same masterIdentifier as Bundle.entry[{masters[master]}].",
                    "duplicate",
                )
            masters.setdefault(master, index)
    if not documents:
        problems.add("Bundle.entry", "At least one DocumentReference is required.", "required")
    for url, index in binary_index.items():
        if index not in binary_owner:
            problems.add(
                f"Bundle.entry[{index}]",
                f"No DocumentReference uses this Binary ({url}).",
                "invalid",
            )

    lists = [index for index in resources_at if kinds[index] == "List"]
    list_index = -1
    list_identifiers: list[Json] = []
    list_subject: SubjectRef | None = None
    if len(lists) != 1:
        problems.add(
            "Bundle.entry",
            f"Exactly one List (the submission set) is required, found {len(lists)}.",
            "required" if not lists else "invalid",
        )
    if lists:
        list_index = lists[0]
        document_urls = {full_urls[i]: i for i, _d in documents}
        list_identifiers, list_subject = _submission_set(
            resources_at[list_index],
            f"Bundle.entry[{list_index}].resource",
            problems,
            document_urls,
        )
    problems.raise_if_any()
    return ParsedBundle(
        kinds=kinds,
        full_urls=full_urls,
        list_index=list_index,
        list_identifiers=list_identifiers,
        list_subject=list_subject,
        documents=documents,
        binary_owner=binary_owner,
    )


def _submission_set(
    resource: Json, path: str, problems: Problems, document_urls: dict[str | None, int]
) -> tuple[list[Json], SubjectRef | None]:
    """The MHD submission set: status current, mode working, one entry per DocumentReference."""
    if resource.get("status") != "current":
        problems.add(f"{path}.status", "A submission set has status current.", "value")
    if resource.get("mode") != "working":
        problems.add(f"{path}.mode", "A submission set has mode working.", "value")
    subject = (
        subject_reference(resource["subject"], f"{path}.subject", problems)
        if resource.get("subject") is not None
        else None
    )
    listed: set[int] = set()
    for _i, where, entry in _objects(resource.get("entry"), f"{path}.entry", problems):
        item = _obj(entry.get("item"), f"{where}.item", problems, required=True)
        literal = _text(item.get("reference")) if item else None
        if literal not in document_urls:
            problems.add(
                f"{where}.item.reference",
                "Expected the fullUrl of a DocumentReference of this Bundle.",
                "value",
            )
            continue
        listed.add(document_urls[literal])
    for url, index in document_urls.items():
        if index not in listed:
            problems.add(
                f"{path}.entry",
                f"The submission set does not list Bundle.entry[{index}] ({url}).",
                "invalid",
            )
    identifiers: list[Json] = []
    for _i, _where, ident in _objects(resource.get("identifier"), f"{path}.identifier", problems):
        system, value = ident.get("system"), ident.get("value")
        if isinstance(value, str) and value and (system is None or isinstance(system, str)):
            identifiers.append({"system": system, "value": value} if system else {"value": value})
    return identifiers, subject


# -- metadata updates (PUT) ----------------------------------------------------------------------

# What a metadata update may change; anything else differing from the stored resource is refused.
UPDATABLE = frozenset({"status", "securityLabel", "meta", "text"})


def security_change(stored: Json, body: Any, doc_id: str) -> SecurityChange:
    """Compare a PUT body with the stored DocumentReference: only `status` (→ entered-in-error)
    and `securityLabel` may differ (DOC-4, DOC-6). Raise 400 for a malformed body, 422 listing
    the other elements that were changed."""
    problems = Problems()
    resource = _obj(body, "DocumentReference", problems, required=True) or {}
    if resource and resource.get("resourceType") != "DocumentReference":
        problems.add("DocumentReference.resourceType", "Expected a DocumentReference.", "structure")
    if resource and resource.get("id") != doc_id:
        problems.add("DocumentReference.id", "The id must be the one in the URL.", "value")
    new_flags = security_flags(
        resource.get("securityLabel"), "DocumentReference.securityLabel", problems
    )
    problems.raise_if_any()

    changed = sorted(
        key
        for key in set(stored) | set(resource)
        if key not in UPDATABLE and stored.get(key) != resource.get(key)
    )
    for key in changed:
        problems.add(
            f"DocumentReference.{key}",
            "Only status and securityLabel can be changed by a metadata update.",
            "business-rule",
        )
    change = SecurityChange()
    status = resource.get("status")
    if status != stored.get("status"):
        if status == "entered-in-error":
            change.status = status
        else:
            problems.add(
                "DocumentReference.status",
                "A document's status can only become entered-in-error (rule DOC-6).",
                "business-rule",
            )
    problems.raise_if_any(status=422)
    old_flags = security_flags(stored.get("securityLabel"), "stored", Problems())
    if new_flags.masked != old_flags.masked:
        change.masked = new_flags.masked
    if new_flags.invisible_to_patient != old_flags.invisible_to_patient:
        change.invisible_to_patient = new_flags.invisible_to_patient
    if new_flags.invisible_to_representatives != old_flags.invisible_to_representatives:
        change.invisible_to_representatives = new_flags.invisible_to_representatives
    return change


# -- JSON bodies ---------------------------------------------------------------------------------


def resource_type_problem(body: Any, expected: str) -> Problems:
    problems = Problems()
    if not isinstance(body, dict):
        problems.add(expected, f"The body must be a JSON object (a FHIR {expected}).", "structure")
    elif body.get("resourceType") != expected:
        problems.add(f"{expected}.resourceType", f"Expected a {expected}.", "structure")
    return problems


def security_context_header(value: str, problems: Problems) -> SubjectRef | None:
    """`X-Security-Context` of a raw Binary post: `Patient/<id>` or `<INS-NIR system>|<NIR>`."""
    where = "X-Security-Context"
    system, bar, code = value.strip().partition("|")
    if bar:
        if system != INS_NIR_SYSTEM:
            problems.add(where, f"Only the INS-NIR system {INS_NIR_SYSTEM} is supported.", "value")
            return None
        nir = nir_value(code, where, problems)
        return SubjectRef(where, nir=nir) if nir else None
    holder_id = _uuid_of(value.strip(), "Patient")
    if holder_id is None:
        problems.add(where, f"Expected Patient/<id> or {INS_NIR_SYSTEM}|<NIR>.", "value")
        return None
    return SubjectRef(where, holder_id=holder_id)
