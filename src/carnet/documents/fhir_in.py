"""FHIR JSON → Carnet documents: DocumentReference and Binary.

Nothing here touches the database; problems are collected with their FHIRPath-like location (see
`carnet.fhir.parse`). What needs the database (who the patient is, staged Binaries, duplicates,
replacements) is resolved afterwards by `documents.fhir_service`. The ITI-65 Bundle around the
documents is read by `documents.fhir_in_bundle`; security labels and the metadata update (`PUT`)
by `documents.fhir_in_labels`.

Rules: ID-1 (INS-NIR subject), ID-2 (RPPS author), DOC-1 (LOINC type, category, sniffed type, size
and SHA-1 hash), DOC-2…DOC-4 (security labels), DOC-6 (status, relatesTo replaces).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEMS
from carnet.accounts.rules import rpps_problem as _rpps_problem
from carnet.documents import reference, sniff
from carnet.documents import rules as doc_rules
from carnet.documents.deposits import NewDocument
from carnet.documents.fhir_in_labels import security_flags
from carnet.fhir.parse import (
    ISSUE_TOO_LONG,
    Json,
    Problems,
    SubjectRef,
    contained_resources,
    date_time,
    json_array,
    json_object,
    json_objects,
    json_string,
    nir_value,
    subject_reference,
    text_value,
    uuid_of,
)
from carnet.fhir.resources import URI_SYSTEM


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
    """Read an MHD DocumentReference for a deposit; problems are collected, never raised.

    The steps run in the order of the resource's elements, so the problems come in that order."""
    master = _master_identifier(resource, path, problems)
    type_code = _type_code(resource.get("type"), f"{path}.type", problems)
    category = _category(resource.get("category"), f"{path}.category", problems, type_code)
    contained = contained_resources(resource, path, problems)
    subject = subject_reference(resource.get("subject"), f"{path}.subject", problems, contained)
    authors = _author_rpps(resource, path, problems, contained)
    flags = security_flags(resource.get("securityLabel"), f"{path}.securityLabel", problems)
    replaces_id, replaces_path = _replaces(resource.get("relatesTo"), f"{path}.relatesTo", problems)
    found = _attachment(resource, path, problems, timezone)
    content_path = found.path
    content = _content(found, problems, limit, binaries)
    if content.data is not None:
        _check_data(content.data, content.path, found, problems)

    title = _title(resource, found.attachment, content_path, path, problems, type_code)
    period_start, period_end, care_date = _period(resource.get("context"), path, problems, timezone)
    context_codes = _context_codes(
        resource.get("context"), f"{path}.context", problems, resource.get("subject")
    )
    new = NewDocument(
        content=content.data or b"",
        title=title or "",
        declared_type=found.declared,
        type_code=type_code,
        category=category,
        care_date=care_date,
        period_start=period_start,
        period_end=period_end,
        created_at=found.created,
        master_identifier=master,
        master_identifier_system=_master_system(resource, path, problems),
        expected_sha1=found.expected_sha1,
        expected_size=found.expected_size,
        masked=True if flags.masked else None,  # absent: the holder's default (DOC-5)
        invisible_to_patient=flags.invisible_to_patient,
        invisible_to_representatives=flags.invisible_to_representatives,
        format_code=found.format_code,
        language=found.language,
        context_codes=context_codes,
        replaces_id=replaces_id,
        source="professional",
    )
    return ParsedDocument(
        expression=path,
        new=new,
        subject=subject,
        authors=authors,
        content_path=content_path,
        staged_id=content.staged_id,
        binary_url=content.binary_url,
        replaces_path=replaces_path,
    )


def _master_identifier(resource: Json, path: str, problems: Problems) -> str | None:
    """resourceType, status (current, DOC-6), docStatus, then the masterIdentifier's value."""
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
    found_master = json_object(
        resource.get("masterIdentifier"), f"{path}.masterIdentifier", problems
    )
    if found_master is not None:
        master = json_string(
            found_master.get("value"), f"{path}.masterIdentifier.value", problems, required=True
        )
        if master is not None and len(master) > 128:
            problems.add(f"{path}.masterIdentifier.value", "At most 128 characters.", "value")
            master = None
    return master


def _master_system(resource: Json, path: str, problems: Problems) -> str | None:
    """The masterIdentifier's system, kept when it is not the URI system (returned as sent)."""
    found = resource.get("masterIdentifier")
    if not isinstance(found, dict) or found.get("system") is None:
        return None
    system = json_string(found["system"], f"{path}.masterIdentifier.system", problems)
    if system is not None and len(system) > 255:
        problems.add(f"{path}.masterIdentifier.system", "At most 255 characters.", "value")
        return None
    return None if system == URI_SYSTEM else system


@dataclass
class _Attachment:
    """The one `content[0].attachment`, with what it declares about the bytes."""

    path: str
    attachment: Json
    declared: str | None
    language: str | None
    format_code: str | None
    expected_size: int | None
    expected_sha1: str | None
    created: dt.datetime | None


def _attachment(resource: Json, path: str, problems: Problems, timezone: str) -> _Attachment:
    contents = json_array(resource.get("content"), f"{path}.content", problems, required=True)
    if len(contents) > 1:
        problems.add(
            f"{path}.content", "Exactly one content per DocumentReference.", "not-supported"
        )
    content = json_object(contents[0], f"{path}.content[0]", problems) if contents else None
    content_path = f"{path}.content[0].attachment"
    attachment = (
        json_object(content.get("attachment"), content_path, problems, required=True)
        if content
        else None
    ) or {}
    declared = json_string(attachment.get("contentType"), f"{content_path}.contentType", problems)
    language = json_string(attachment.get("language"), f"{content_path}.language", problems)
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
        found = date_time(attachment["creation"], f"{content_path}.creation", problems, timezone)
        created = found[0] if found else None
    return _Attachment(
        content_path,
        attachment,
        declared,
        language,
        format_code,
        expected_size,
        expected_sha1,
        created,
    )


@dataclass
class _Content:
    """Where the bytes come from: given (inline or a Binary of the Bundle) or staged before."""

    data: bytes | None = None
    path: str = ""  # where the given bytes are
    staged_id: uuid.UUID | None = None
    binary_url: str | None = None


def _content(
    found: _Attachment,
    problems: Problems,
    limit: int,
    binaries: dict[str, BinaryEntry] | None,
) -> _Content:
    """`attachment.data`, or `attachment.url`: a Binary of the Bundle (`urn:`) or posted before."""
    attachment, content_path = found.attachment, found.path
    content = _Content(path=f"{content_path}.data")
    if attachment.get("data") is not None:
        if attachment.get("url") is not None:
            problems.add(content_path, "Give either data or url, not both.", "invalid")
        content.data = decode_base64(attachment["data"], content.path, problems, limit)
    elif attachment.get("url") is not None:
        url = json_string(attachment["url"], f"{content_path}.url", problems)
        if url is not None and url.startswith("urn:"):
            _bundle_binary(url, found, problems, binaries, content)
        elif url is not None:
            content.staged_id = uuid_of(url, "Binary")
            if content.staged_id is None:
                problems.add(
                    f"{content_path}.url",
                    "Expected Binary/<id> or the fullUrl of a Binary of the Bundle.",
                    "value",
                )
    elif attachment:
        problems.add(content_path, "The content is required: data or url.", "required")
    return content


def _bundle_binary(
    url: str,
    found: _Attachment,
    problems: Problems,
    binaries: dict[str, BinaryEntry] | None,
    content: _Content,
) -> None:
    """The Binary entry of the Bundle whose fullUrl is `url`: its bytes, checked against the
    attachment's declared type."""
    content_path, declared = found.path, found.declared
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
        content.binary_url = url
        content.data = entry.data
        content.path = entry.expression
        if (
            declared
            and entry.content_type
            and sniff.normalize_declared(declared) != sniff.normalize_declared(entry.content_type)
        ):
            problems.add(
                f"{content_path}.contentType",
                f"The Binary says {entry.content_type}, the attachment {declared}.",
                "value",
            )


def _check_data(data: bytes, data_path: str, found: _Attachment, problems: Problems) -> None:
    """DOC-1 on the bytes given: sniffed type, then the declared size and SHA-1."""
    content_path, expected_size, expected_sha1 = (
        found.path,
        found.expected_size,
        found.expected_sha1,
    )
    check_content(data, found.declared, data_path, f"{content_path}.contentType", problems)
    if expected_size is not None and expected_size != len(data):
        problems.add(
            f"{content_path}.size",
            f"The content has {len(data)} bytes, not {expected_size}.",
            "value",
        )
    if expected_sha1 is not None and expected_sha1 != hashlib.sha1(data).hexdigest():  # noqa: S324 - R4 defines SHA-1
        problems.add(f"{content_path}.hash", "The content does not match its SHA-1 hash.", "value")


def _type_code(value: Any, path: str, problems: Problems) -> str | None:
    concept = json_object(value, path, problems, required=True)
    if concept is None:
        return None
    for index, where, item in json_objects(concept.get("coding"), f"{path}.coding", problems):
        if item.get("system") != reference.LOINC_SYSTEM:
            continue
        code = json_string(item.get("code"), f"{where}.code", problems, required=True)
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
    for _i, where, concept in json_objects(value, path, problems):
        for _j, coding_path, item in json_objects(
            concept.get("coding"), f"{where}.coding", problems
        ):
            if item.get("system") != reference.CATEGORY_SYSTEM:
                continue  # other classifications (XDS classCode…) are not Carnet's
            code = text_value(item.get("code"))
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
    item = json_object(value, f"{path}.content[0].format", problems)
    if item is None:
        return None
    code = json_string(item.get("code"), f"{path}.content[0].format.code", problems, required=True)
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
        text = json_string(value, where, problems)
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
    context = json_object(value, f"{path}.context", problems)
    period = (
        json_object(context.get("period"), f"{path}.context.period", problems) if context else None
    )
    if period is None:
        return None, None, None
    for key in period:
        if key not in ("start", "end"):
            problems.add(
                f"{path}.context.period.{key}",
                "Carnet does not keep this element.",
                "not-supported",
            )
    start = end = None
    care_date = None
    if period.get("start") is not None:
        found = date_time(period["start"], f"{path}.context.period.start", problems, timezone)
        if found:
            start = found[0]
            care_date = start.astimezone(ZoneInfo(timezone)).date()
    if period.get("end") is not None:
        found = date_time(period["end"], f"{path}.context.period.end", problems, timezone)
        end = found[0] if found else None
    if start and end and end < start:
        problems.add(f"{path}.context.period", "The period ends before it starts.", "value")
    return start, end, care_date


CODING_KEYS = frozenset({"system", "version", "code", "display"})
RELATED_KEYS = frozenset({"reference", "type", "identifier"})
IDENTIFIER_KEYS = frozenset({"system", "value"})
CONTEXT_CODES_LIMIT = 4000


CONTEXT_ELEMENTS = frozenset(
    {"period", "facilityType", "practiceSetting", "event", "related", "encounter",
     "sourcePatientInfo"}
)  # fmt: skip


def _context_codes(value: Any, path: str, problems: Problems, subject: Any = None) -> str | None:
    """`context` facilityType, practiceSetting, event, related and encounter, kept as compact JSON
    to be rendered back as sent. They are codes and references: free text (`text`, a reference's
    `display`) and any other key are refused, so nothing unsealed carries health narrative.

    A period given at date precision (`2026-11-30`) is kept as given, to be returned so; Carnet
    also keeps its instants for searching. `sourcePatientInfo` must designate the document's
    subject (the same reference): it is returned as the subject is, `Patient/<id>`."""
    context = value if isinstance(value, dict) else None
    if context is None:
        return None
    for key in context:
        if key not in CONTEXT_ELEMENTS:
            problems.add(f"{path}.{key}", "Carnet does not keep this element.", "not-supported")
    kept = _period_as_given(context.get("period"))
    kept.update(_codes_and_references(context, path, problems))
    if context.get("sourcePatientInfo") is not None:
        if _same_patient(context["sourcePatientInfo"], subject, path, problems):
            kept["sourcePatientInfo"] = {}  # rendered as the subject's reference
    if not kept:
        return None
    text = json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
    if len(text) > CONTEXT_CODES_LIMIT:
        problems.add(path, f"At most {CONTEXT_CODES_LIMIT} characters of codes.", ISSUE_TOO_LONG)
        return None
    return text


def _period_as_given(period: Any) -> Json:
    """The period's bounds given at date precision, as given (`{"period": {...}}` or empty)."""
    if not isinstance(period, dict):
        return {}
    as_given = {
        key: text
        for key in ("start", "end")
        if isinstance(text := period.get(key), str) and "T" not in text
    }
    return {"period": as_given} if as_given else {}


def _codes_and_references(context: Json, path: str, problems: Problems) -> Json:
    kept: Json = {}
    for name in ("facilityType", "practiceSetting"):
        if context.get(name) is not None:
            concept = _concept(context[name], f"{path}.{name}", problems)
            if concept is not None:
                kept[name] = concept
    if context.get("event") is not None:
        events = [
            concept
            for _i, where, item in json_objects(context["event"], f"{path}.event", problems)
            if (concept := _concept(item, where, problems)) is not None
        ]
        if events:
            kept["event"] = events
    for name in ("related", "encounter"):
        if context.get(name) is not None:
            references = [
                item
                for _i, where, item in json_objects(context[name], f"{path}.{name}", problems)
                if _related(item, where, problems)
            ]
            if references:
                kept[name] = references
    return kept


def _same_patient(value: Any, subject: Any, path: str, problems: Problems) -> bool:
    """MHD `context.sourcePatientInfo`: the patient as the source knows it. Carnet has one patient
    per document, so it must be the subject's very reference (PDSm sends the same literal)."""
    where = f"{path}.sourcePatientInfo"
    info = json_object(value, where, problems)
    if info is None:
        return False
    if not _only(info, frozenset({"reference", "type"}), where, problems):
        return False
    given = info.get("reference")
    expected = subject.get("reference") if isinstance(subject, dict) else None
    if given is None or given != expected:
        problems.add(
            f"{where}.reference",
            "sourcePatientInfo must designate the document's subject (the same reference).",
            "value",
        )
        return False
    return True


def _only(item: Json, keys: frozenset[str], path: str, problems: Problems) -> bool:
    """Every key is one Carnet keeps and every value a non-empty string."""
    fine = True
    for key, part in item.items():
        if key not in keys:
            problems.add(f"{path}.{key}", "Carnet does not keep this element.", "not-supported")
            fine = False
        elif not isinstance(part, str) or not part.strip():
            problems.add(f"{path}.{key}", "Expected a non-empty string.", "value")
            fine = False
    return fine


def _concept(value: Any, path: str, problems: Problems) -> Json | None:
    """A CodeableConcept of codings only (at least one with a code)."""
    item = json_object(value, path, problems)
    if item is None:
        return None
    fine = True
    for key in item:
        if key != "coding":
            problems.add(f"{path}.{key}", "Carnet keeps codes, not this element.", "not-supported")
            fine = False
    codings = list(json_objects(item.get("coding"), f"{path}.coding", problems))
    for _i, where, found in codings:
        fine = _only(found, CODING_KEYS, where, problems) and fine
    if not any("code" in found for _i, _w, found in codings):
        problems.add(f"{path}.coding", "At least one coding with a code.", "required")
        fine = False
    return {"coding": [found for _i, _w, found in codings]} if fine else None


def _related(item: Json, path: str, problems: Problems) -> bool:
    """A Reference by `reference` or `identifier` (system, value), without `display`."""
    identifier = item.get("identifier")
    fine = _only({k: v for k, v in item.items() if k != "identifier"}, RELATED_KEYS, path, problems)
    if identifier is not None:
        found = json_object(identifier, f"{path}.identifier", problems)
        fine = (
            found is not None
            and _only(found, IDENTIFIER_KEYS, f"{path}.identifier", problems)
            and fine
        )
        if found is not None and "value" not in found:
            problems.add(f"{path}.identifier.value", "This element is required.", "required")
            fine = False
    elif "reference" not in item:
        problems.add(f"{path}.reference", "A reference or an identifier.", "required")
        fine = False
    return fine


def _replaces(value: Any, path: str, problems: Problems) -> tuple[uuid.UUID | None, str | None]:
    """DOC-6: `relatesTo: [{code: replaces, target: {reference: DocumentReference/<id>}}]`."""
    found: tuple[uuid.UUID | None, str | None] = (None, None)
    for _i, where, relation in json_objects(value, path, problems):
        code = relation.get("code")
        if code != "replaces":
            problems.add(
                f"{where}.code",
                f"Only relatesTo code replaces is supported, not {code!r}.",
                "not-supported",
            )
            continue
        target = json_object(relation.get("target"), f"{where}.target", problems, required=True)
        literal = target.get("reference") if target else None
        old = uuid_of(literal, "DocumentReference") if isinstance(literal, str) else None
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
            practitioner = json_object(
                target.get("practitioner"), f"{target_path}.practitioner", problems
            )
            if practitioner is None:
                return []
            return _practitioner_identifiers(
                practitioner, f"{target_path}.practitioner", contained, problems, through_role=False
            )
        if kind != "Practitioner":
            return []
        return [
            (ident_path, ident)
            for _j, ident_path, ident in json_objects(
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
    for _i, where, author in json_objects(resource.get("author"), f"{path}.author", problems):
        for ident_path, ident in _practitioner_identifiers(author, where, contained, problems):
            system = ident.get("system")
            if not isinstance(system, str) or system not in RPPS_SYSTEMS:
                continue
            value = json_string(ident.get("value"), f"{ident_path}.value", problems, required=True)
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


def decode_base64(value: Any, path: str, problems: Problems, limit: int) -> bytes | None:
    """Strict base64 (whitespace allowed, as R4 base64Binary); oversized content is a problem
    found before decoding (DOC-1 size limit)."""
    text = json_string(value, path, problems, required=True)
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
    content_type = json_string(
        resource.get("contentType"), f"{path}.contentType", problems, required=True
    )
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
    holder_id = uuid_of(value.strip(), "Patient")
    if holder_id is None:
        problems.add(where, f"Expected Patient/<id> or {INS_NIR_SYSTEM}|<NIR>.", "value")
        return None
    return SubjectRef(where, holder_id=holder_id)
