"""METADATA.XML (ebRIM 3.0) parsed into a `Submission` of `Entry` objects (note §2, §3, §6.2):
the patient's INS (ID-1), the author's RPPS (ID-2), each document's type and flags (DOC-1, DOC-2).

DTDs and entities are forbidden (defusedxml); two known producer faults are repaired and noted:
undeclared namespace prefixes and Windows-1252 text without a declaration. Bytes in which no DTD
can hide (plain UTF-8, no NUL, no `<!DOCTYPE`) are parsed by the standard C parser first: the
pure-Python parser defusedxml wraps cost a third of a large import's reading (issue 14).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from carnet.documents.xdm.codes import (
    AUTHOR_SCHEME,
    CLASS_SCHEME,
    CONFIDENTIALITY_SCHEME,
    FORMAT_SCHEME,
    LIMITED_METADATA,
    PATIENT_ID_SCHEME,
    RIM,
    SUBMISSION_PATIENT_ID_SCHEME,
    TYPE_SCHEME,
    UNIQUE_ID_SCHEME,
)

_SPLIT_URI_RE = re.compile(r"^(\d+)\|(.*)$", re.DOTALL)


@dataclass
class Coded:
    code: str
    scheme: str  # the codingScheme slot: an OID, "URN", "ASTM"…


@dataclass
class Author:
    person: str | None = None  # XCN
    institution: str | None = None  # XON


@dataclass
class Entry:
    """One DocumentEntry (ebRIM ExtrinsicObject), as written on the medium (note §3)."""

    entry_id: str
    mime_type: str | None = None
    object_type: str | None = None
    status: str | None = None
    unique_id: str | None = None
    patient_id: str | None = None
    uri: str | None = None
    uri_problem: str | None = None
    hash: str | None = None
    size: str | None = None
    creation_time: str | None = None
    service_start: str | None = None
    service_stop: str | None = None
    language: str | None = None
    title: str | None = None
    type_code: Coded | None = None
    class_code: Coded | None = None
    format_code: Coded | None = None
    confidentiality: list[Coded] = field(default_factory=list)
    authors: list[Author] = field(default_factory=list)
    limited_metadata: bool = False


@dataclass
class Association:
    kind: str  # the last segment of associationType: HasMember, RPLC, XFRM_RPLC, signs…
    source: str
    target: str


@dataclass
class Submission:
    """One parsed METADATA.XML (one submission set)."""

    entries: list[Entry] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    patient_id: str | None = None  # the SubmissionSet's patientId
    notes: list[str] = field(default_factory=list)  # repairs applied while parsing

    @functools.cached_property
    def signature_ids(self) -> set[str]:
        return {a.source for a in self.associations if a.kind.casefold() == "signs"}

    @functools.cached_property
    def older_versions(self) -> set[str]:
        """Entries whose uniqueId also has a non-deprecated entry here: older metadata versions
        of the same document (a masking change makes a new version, note §4.3)."""
        current = {
            e.unique_id for e in self.entries if e.unique_id and status_of(e.status) != "Deprecated"
        }
        return {
            e.entry_id
            for e in self.entries
            if e.unique_id in current and status_of(e.status) == "Deprecated"
        }


def status_of(value: str | None) -> str:
    return (value or "").rsplit(":", 1)[-1]


class MetadataProblem(Exception):
    """METADATA.XML cannot be read; the message is a reason fit for the report."""


@functools.lru_cache(maxsize=1024)  # a few dozen tags, read a few hundred times per entry
def _local(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "\x00", ""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


class _Reader:
    """Walks the ebRIM tree binding elements by namespace URI (note §2.1, §6.2 item 6); after a
    repair of undeclared prefixes (§6.2 item 7), by local name only."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def is_(self, element: Element, name: str) -> bool:
        namespace, local = _local(element.tag)
        return local == name and (namespace == RIM or not self.strict)

    def children(self, element: Element, name: str) -> list[Element]:
        return [child for child in element if self.is_(child, name)]

    def slots(self, element: Element) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for slot in self.children(element, "Slot"):
            name = slot.get("name")
            if not name:
                continue
            values = found.setdefault(name, [])
            for value_list in self.children(slot, "ValueList"):
                for value in self.children(value_list, "Value"):
                    values.append((value.text or "").strip())
        return found

    def text(self, element: Element, name: str) -> str | None:
        for holder in self.children(element, name):
            for localized in self.children(holder, "LocalizedString"):
                value = (localized.get("value") or "").strip()
                if value:
                    return value
        return None


def _first(slots: dict[str, list[str]], name: str) -> str | None:
    values = [v for v in slots.get(name, []) if v]
    return values[0] if values else None


def join_uri(values: list[str]) -> tuple[str | None, str | None]:
    """The URI slot's value: one value, or `n|part` values re-joined in order (note §1.3)."""
    values = [v for v in values if v]
    if not values:
        return None, None
    if len(values) == 1 and not _SPLIT_URI_RE.match(values[0]):
        return values[0], None
    parts: dict[int, str] = {}
    for value in values:
        match = _SPLIT_URI_RE.match(value)
        if match is None:
            return None, "several URI values without the n| order prefix"
        number = int(match.group(1))
        if number in parts:
            return None, "URI parts with the same order number"
        parts[number] = match.group(2)
    if sorted(parts) != list(range(1, len(parts) + 1)):
        return None, "URI parts are not numbered 1..n"
    return "".join(parts[n] for n in sorted(parts)), None


def _undeclared_prefixes(text: str) -> set[str]:
    used = set(re.findall(r"</?([A-Za-z_][\w.-]*):[A-Za-z_]", text))
    used |= set(re.findall(r"\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*=", text))
    declared = set(re.findall(r"xmlns:([A-Za-z_][\w.-]*)\s*=", text))
    return used - declared - {"xml", "xmlns"}


def _inject_prefixes(text: str, prefixes: set[str]) -> str | None:
    root = re.search(r"<(?![?!])[^\s/>]+", text)
    if root is None:
        return None
    declarations = "".join(
        f' xmlns:{p}="urn:carnet:undeclared-prefix:{p}"' for p in sorted(prefixes)
    )
    return text[: root.end()] + declarations + text[root.end() :]


_DECLARATION_RE = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\?>")
_ENCODING_RE = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]*)["']""")
_PLAIN_ENCODINGS = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})


def without_dtd(data: bytes) -> bool:
    """Whether expat reads `data` as UTF-8 (or ASCII) and no DTD, hence no entity, can be in it:
    no NUL byte (UTF-16 and UTF-32 text is full of them, so expat cannot switch to them), no
    declared encoding but UTF-8 or ASCII (a declared one could spell `<!DOCTYPE` otherwise), and
    no `<!DOCTYPE` nor `<!ENTITY` in the bytes (XML keywords are case-sensitive)."""
    if b"\x00" in data or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return False
    head = data[:256]
    declaration = _DECLARATION_RE.match(head)
    if declaration is None:
        return b"<?xml" not in head  # a declaration out of place: defusedxml judges
    encoding = _ENCODING_RE.search(declaration.group(0))
    return encoding is None or encoding.group(1).lower() in _PLAIN_ENCODINGS


def _parse_xml(data: bytes) -> tuple[Element, list[str]]:
    """Parse with DTDs and entities forbidden; retry once for two known producer faults."""
    notes: list[str] = []
    if without_dtd(data):
        try:
            return ElementTree.fromstring(data), notes  # noqa: S314 - no DTD, checked above
        except ParseError:
            pass  # the slow path below says why, or repairs it
    try:
        return SafeET.fromstring(data, forbid_dtd=True), notes
    except DefusedXmlException:
        raise MetadataProblem("METADATA.XML declares a DTD or entities (refused)") from None
    except ValueError:  # expat: "multi-byte encodings are not supported" (UTF-7…)
        raise MetadataProblem("METADATA.XML declares an unsupported encoding") from None
    except ParseError as exc:
        first_error = exc
    # Note §6.2 item 10: no declaration and not UTF-8 → Windows-1252.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if data.lstrip().startswith(b"<?xml") and b"encoding" in data[:100]:
            raise MetadataProblem("malformed XML in METADATA.XML") from None
        text = data.decode("cp1252", errors="replace")
        notes.append("METADATA.XML was not UTF-8; read as Windows-1252")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    # Note §6.2 item 7: prefixes used without a declaration.
    undeclared = _undeclared_prefixes(text)
    if undeclared:
        repaired = _inject_prefixes(text, undeclared)
        if repaired is not None:
            text = repaired
            notes.append("METADATA.XML used undeclared namespace prefixes; repaired")
    if not notes:
        raise MetadataProblem(f"malformed XML in METADATA.XML ({_position(first_error)})")
    try:
        return SafeET.fromstring(text, forbid_dtd=True), notes
    except DefusedXmlException:
        raise MetadataProblem("METADATA.XML declares a DTD or entities (refused)") from None
    except ParseError as exc:
        raise MetadataProblem(f"malformed XML in METADATA.XML ({_position(exc)})") from None


def _position(exc: ParseError) -> str:
    line, column = getattr(exc, "position", (0, 0))
    return f"line {line}, column {column}"


def parse_metadata(data: bytes) -> Submission:
    """The submission set in METADATA.XML bytes; MetadataProblem when it cannot be read."""
    root, notes = _parse_xml(data)
    reader = _Reader(strict=not any("undeclared" in n for n in notes))
    lists = [el for el in root.iter() if reader.is_(el, "RegistryObjectList")]
    if not lists:
        raise MetadataProblem("no ebRIM RegistryObjectList in METADATA.XML (namespace " + RIM + ")")
    submission = Submission(notes=notes)
    for registry_list in lists:
        for element in registry_list:
            if reader.is_(element, "ExtrinsicObject"):
                submission.entries.append(_entry(reader, element))
            elif reader.is_(element, "Association"):
                kind = (element.get("associationType") or "").rsplit(":", 1)[-1]
                submission.associations.append(
                    Association(
                        kind, element.get("sourceObject") or "", element.get("targetObject") or ""
                    )
                )
            elif reader.is_(element, "RegistryPackage"):
                for identifier in reader.children(element, "ExternalIdentifier"):
                    if identifier.get("identificationScheme") == SUBMISSION_PATIENT_ID_SCHEME:
                        submission.patient_id = (identifier.get("value") or "").strip() or None
    return submission


def _entry(reader: _Reader, element: Element) -> Entry:
    # Note §6.2 item 8: trust nesting, not the classifiedObject/registryObject attributes.
    slots = reader.slots(element)
    entry = Entry(
        entry_id=(element.get("id") or "").strip(),
        mime_type=element.get("mimeType"),
        object_type=element.get("objectType"),
        status=element.get("status"),
        hash=_first(slots, "hash"),
        size=_first(slots, "size"),
        creation_time=_first(slots, "creationTime"),
        service_start=_first(slots, "serviceStartTime"),
        service_stop=_first(slots, "serviceStopTime"),
        language=_first(slots, "languageCode"),
        title=reader.text(element, "Name"),
    )
    entry.uri, entry.uri_problem = join_uri(slots.get("URI", []))
    for classification in reader.children(element, "Classification"):
        scheme = classification.get("classificationScheme")
        node = classification.get("classificationNode")
        if node == LIMITED_METADATA:
            entry.limited_metadata = True
            continue
        if scheme == AUTHOR_SCHEME:
            author_slots = reader.slots(classification)
            entry.authors.append(
                Author(
                    _first(author_slots, "authorPerson"), _first(author_slots, "authorInstitution")
                )
            )
            continue
        code = (classification.get("nodeRepresentation") or "").strip()
        coded = Coded(code, _first(reader.slots(classification), "codingScheme") or "")
        if scheme == TYPE_SCHEME:
            entry.type_code = coded
        elif scheme == CLASS_SCHEME:
            entry.class_code = coded
        elif scheme == FORMAT_SCHEME:
            entry.format_code = coded
        elif scheme == CONFIDENTIALITY_SCHEME:
            entry.confidentiality.append(coded)
    for identifier in reader.children(element, "ExternalIdentifier"):
        scheme = identifier.get("identificationScheme")
        value = (identifier.get("value") or "").strip()
        if scheme == UNIQUE_ID_SCHEME:
            entry.unique_id = value
        elif scheme == PATIENT_ID_SCHEME:
            entry.patient_id = value
    return entry
