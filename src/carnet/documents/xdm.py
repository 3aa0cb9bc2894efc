"""Reading IHE XDM media (ITI-32): the tree, METADATA.XML (ebRIM 3.0) and the document files.

No database here: this module opens a medium (a ZIP file or a folder) without trusting it, lists its
submission sets, parses each METADATA.XML into `Entry` objects and turns one entry into a `Plan`
(what Carnet would store) or a refusal with a reason. `documents.migration` does the rest.

What is read and why is documented in docs/formats/xdm.md; the reference note is
shared/design/xdm-import.md (section numbers below are the note's). Rules: ID-1 (INS systems and
key), ID-2 (RPPS), ID-3 (checked at deposit), DOC-1 (LOINC types, size, SHA-1), DOC-2 (flags).

Safety, because a medium is untrusted input:
- METADATA.XML is parsed with defusedxml, DTDs and entities forbidden (no billion laughs, no XXE);
- member names and URIs with `..`, absolute paths, drive letters or NUL are refused; files are
  looked up in an index of the medium built beforehand, never through the file system with a name
  taken from the metadata, so nothing outside the medium can ever be read;
- ZIP members: only stored/deflated, capped in number, in size (declared and actually read, since
  headers can lie), in compression ratio and in total bytes read; symbolic links are refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import stat
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element, ParseError  # types only: parsing goes through defusedxml

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from carnet.accounts import rules as account_rules
from carnet.documents import reference

# -- identifiers of the XDS metadata model (note §2, §3) -------------------------------------

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"

AUTHOR_SCHEME = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
CLASS_SCHEME = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
CONFIDENTIALITY_SCHEME = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
FORMAT_SCHEME = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
TYPE_SCHEME = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
PATIENT_ID_SCHEME = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SUBMISSION_PATIENT_ID_SCHEME = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"

STABLE_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
ON_DEMAND_ENTRY = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
LIMITED_METADATA = "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"

LOINC_OID = "2.16.840.1.113883.6.1"
HL7_CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
TRE_A07_OID = "1.2.250.1.213.1.1.4.13"
RPPS_OID = "1.2.250.1.71.4.2.1"  # rule ID-2

# Assigning authorities of a patientId (note §4.1; rule ID-1 for .8 and .9).
INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_TEST_OID = "1.2.250.1.213.1.4.10"
INS_DEMO_OID = "1.2.250.1.213.1.4.11"
INS_C_OID = "1.2.250.1.213.1.4.2"

# DOC-2 flags from TRE_A07 visibility codes (note §4.3).
MASKED_TO_PROFESSIONALS = "MASQUE_PS"
INVISIBLE_TO_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_TO_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"
A07_FLAGS = frozenset({MASKED_TO_PROFESSIONALS, INVISIBLE_TO_PATIENT, INVISIBLE_TO_REPRESENTATIVES})
V3_LEVELS = frozenset({"N", "R", "V"})

# Signatures are not clinical documents (note §6.3 item 19).
SIGNATURE_TYPE_CODES = frozenset({"E1762"})
SIGNATURE_FORMAT_MARKERS = ("urn:ihe:iti:dsg:", "xmldsig")

METADATA_NAME = "metadata.xml"
XDM_FOLDER = "ihe_xdm"

_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_HEX40_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_DTM_RE = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-]\d{4})?$"
)
_SPLIT_URI_RE = re.compile(r"^(\d+)\|(.*)$", re.DOTALL)
_CODE_SAFE_RE = re.compile(r"[^A-Za-z0-9._:/-]")


class MediumError(Exception):
    """The path is not a readable XDM medium (exit status 1 in the CLI)."""


class FileProblem(Exception):
    """One file of a medium cannot be used; the message is a reason fit for the report."""


@dataclass(frozen=True)
class Limits:
    """Caps against zip bombs and oversized media. `for_settings` derives them from DOC-1's
    upload limit; tests pass small ones."""

    max_members: int = 20_000
    max_member_bytes: int = 50 * 1024 * 1024
    max_metadata_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 8 * 1024 * 1024 * 1024
    max_ratio: int = 100
    ratio_floor_bytes: int = 1024 * 1024  # small members compress well legitimately

    @classmethod
    def for_settings(cls, max_upload_bytes: int) -> Limits:
        return cls(max_member_bytes=10 * max_upload_bytes)


def safe_code(value: str, limit: int = 40) -> str:
    """A code or identifier fit for the report: printable, no separators, bounded."""
    return _CODE_SAFE_RE.sub("?", value)[:limit]


# -- paths ------------------------------------------------------------------------------------


def path_problem(name: str) -> str | None:
    """Why `name` (a ZIP member name or a URI) must not be used as a path, or None."""
    if not name or "\x00" in name:
        return "empty name or NUL character"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/"):
        return "absolute path"
    if re.match(r"^[A-Za-z]:", normalized):
        return "drive letter"
    if any(part == ".." for part in normalized.split("/")):
        return "parent segment '..'"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", normalized):
        return "not a relative path"
    return None


def _clean(name: str) -> str:
    """Normalised relative POSIX form of a safe name: `\\` → `/`, no `.` or empty segments."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


# -- media ------------------------------------------------------------------------------------


@dataclass
class Refusal:
    """A member of the medium that was refused while indexing (never its name: names may say
    who the patient is)."""

    ref: str
    reason: str


class Medium:
    """An XDM medium: an index of its regular files (case-insensitive) and a capped reader."""

    def __init__(self, label: str, limits: Limits) -> None:
        self.label = label
        self.limits = limits
        self.refused: list[Refusal] = []
        self._index: dict[str, str | None] = {}  # casefolded path -> real path (None: ambiguous)
        self._refused_names: dict[str, str] = {}  # casefolded path -> why the member was refused
        self.bytes_read = 0
        self._xdm_root: str | None = None
        self._files: list[str] | None = None
        self._by_folder: dict[str, list[str]] | None = None

    # Subclasses fill the index through `_add` and `_refuse`, and implement `_size` and `_chunks`.
    def _add(self, real: str) -> None:
        self._files = self._by_folder = None
        key = _clean(real).casefold()
        if key in self._index:
            self._index[key] = None  # two members with the same name: use neither
        else:
            self._index[key] = _clean(real)

    def _refuse(self, ref: str, real: str | None, reason: str) -> None:
        self.refused.append(Refusal(ref, reason))
        if real is not None and path_problem(real) is None:
            self._refused_names[_clean(real).casefold()] = reason

    def files(self) -> list[str]:
        if self._files is None:
            self._files = sorted(v for v in self._index.values() if v is not None)
        return self._files

    def files_under(self, folder: str) -> list[str]:
        """The files inside `folder` (case-insensitive), at any depth."""
        if self._by_folder is None:
            self._by_folder = {}
            for path in self.files():
                parts = path.casefold().split("/")
                for depth in range(1, len(parts)):
                    self._by_folder.setdefault("/".join(parts[:depth]), []).append(path)
        return self._by_folder.get(_clean(folder).casefold(), [])

    def lookup(self, path: str) -> str | None:
        """The real path of `path` (case-insensitive); FileProblem if the name is ambiguous."""
        key = _clean(path).casefold()
        if key in self._refused_names:
            raise FileProblem(f"the file was refused: {self._refused_names[key]}")
        if key not in self._index:
            return None
        real = self._index[key]
        if real is None:
            raise FileProblem("several members of the medium share this file name")
        return real

    def read(self, real: str, cap: int) -> bytes:
        """The bytes of `real`, at most `cap` and within what remains of the total cap; bytes
        are counted as they come, whatever the headers say."""
        remaining_total = self.limits.max_total_bytes - self.bytes_read
        total_problem = "the medium exceeds the total size cap; stopped reading"
        if remaining_total <= 0:
            raise FileProblem(total_problem)
        declared = self._size(real)
        if declared > cap:
            raise FileProblem("the file is larger than the size cap")
        if declared > remaining_total:
            raise FileProblem(total_problem)
        limit = min(cap, remaining_total)
        chunks: list[bytes] = []
        size = 0
        for chunk in self._chunks(real):
            size += len(chunk)
            self.bytes_read += len(chunk)
            if size > limit:
                raise FileProblem(
                    "the file exceeds the size cap while reading" if limit == cap else total_problem
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _size(self, real: str) -> int:
        raise NotImplementedError

    def _chunks(self, real: str) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        return None

    # -- layout (note §1.2) ---------------------------------------------------------------------

    def xdm_root(self) -> str:
        """The IHE_XDM folder: at the medium's root, or inside a single wrapping folder."""
        if self._xdm_root is None:
            self._xdm_root = self._find_xdm_root()
        return self._xdm_root

    def _find_xdm_root(self) -> str:
        for depth in (0, 1):
            found = {
                "/".join(parts[: depth + 1])
                for parts in (path.split("/") for path in self.files())
                if len(parts) > depth + 1 and parts[depth].casefold() == XDM_FOLDER
            }
            if len(found) == 1:
                return found.pop()
            if found:
                raise MediumError("not an XDM medium (several IHE_XDM folders)")
        raise MediumError("not an XDM medium (no IHE_XDM folder)")

    def subsets(self) -> list[tuple[str, str]]:
        """(subset folder name, METADATA.XML real path) for every folder directly under IHE_XDM/
        that holds a METADATA.XML, in name order (note §1.2, §6.1 item 1)."""
        xdm = self.xdm_root()
        depth = xdm.count("/") + 1
        found: dict[str, str] = {}
        for path in self.files():
            parts = path.split("/")
            if (
                len(parts) == depth + 2
                and "/".join(parts[:depth]).casefold() == xdm.casefold()
                and parts[-1].casefold() == METADATA_NAME
            ):
                found.setdefault(parts[depth], path)
        if not found:
            raise MediumError("not an XDM medium (no submission set with a METADATA.XML)")
        return sorted(found.items(), key=lambda item: item[0].casefold())


class ZipMedium(Medium):
    def __init__(self, path: Path, limits: Limits) -> None:
        super().__init__(str(path), limits)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise MediumError(f"not a readable ZIP file ({type(exc).__name__})") from None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        try:
            infos = self._zip.infolist()
            if len(infos) > limits.max_members:
                raise MediumError(f"too many members in the ZIP (cap {limits.max_members})")
            declared_total = 0
            for number, info in enumerate(infos, start=1):
                problem = self._member_problem(info)
                if problem:
                    self._refuse(f"member:{number}", info.filename, problem)
                    continue
                if info.is_dir():
                    continue
                declared_total += info.file_size
                if declared_total > limits.max_total_bytes:
                    raise MediumError("the ZIP declares more bytes than the total size cap")
                real = _clean(info.filename)
                self._add(real)
                self._infos[real] = info
        except MediumError:
            self._zip.close()
            raise

    def _member_problem(self, info: zipfile.ZipInfo) -> str | None:
        problem = path_problem(info.filename)
        if problem:
            return f"unsafe member name ({problem})"
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            return "symbolic link member"
        if info.is_dir():
            return None
        if info.flag_bits & 0x1:
            return "encrypted member"
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return "unsupported compression method (only stored and deflated are read)"
        if info.file_size > max(self.limits.max_member_bytes, self.limits.max_metadata_bytes):
            return "member larger than the size cap"
        if (
            info.file_size > self.limits.ratio_floor_bytes
            and info.file_size > self.limits.max_ratio * max(info.compress_size, 1)
        ):
            return f"compression ratio above {self.limits.max_ratio}:1 (zip bomb?)"
        return None

    def _size(self, real: str) -> int:
        return self._infos[real].file_size

    def _chunks(self, real: str) -> Iterator[bytes]:
        try:
            with self._zip.open(self._infos[real]) as handle:
                while chunk := handle.read(64 * 1024):
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, ValueError):
            raise FileProblem(
                "corrupt ZIP member (bad data, or a size header that does not match)"
            ) from None

    def close(self) -> None:
        self._zip.close()


class FolderMedium(Medium):
    def __init__(self, path: Path, limits: Limits) -> None:
        super().__init__(str(path), limits)
        self._root = path
        count = 0
        for folder, dirs, names in os.walk(path, followlinks=False):
            rel_folder = os.path.relpath(folder, path)
            for name in sorted(dirs):
                if os.path.islink(os.path.join(folder, name)):
                    count += 1
                    rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                    self._refuse(f"file:{count}", rel, "symbolic link")
            for name in sorted(names):
                count += 1
                if count > limits.max_members:
                    raise MediumError(f"too many files in the folder (cap {limits.max_members})")
                full = os.path.join(folder, name)
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                try:
                    info = os.lstat(full)
                except OSError:
                    self._refuse(f"file:{count}", rel, "unreadable file")
                    continue
                if stat.S_ISLNK(info.st_mode):
                    self._refuse(f"file:{count}", rel, "symbolic link")
                    continue
                if not stat.S_ISREG(info.st_mode):
                    self._refuse(f"file:{count}", rel, "not a regular file")
                    continue
                self._add(rel.replace(os.sep, "/"))

    def _path(self, real: str) -> Path:
        return self._root.joinpath(*real.split("/"))

    def _size(self, real: str) -> int:
        try:
            return os.lstat(self._path(real)).st_size
        except OSError:
            raise FileProblem("the file cannot be opened") from None

    def _chunks(self, real: str) -> Iterator[bytes]:
        try:
            fd = os.open(self._path(real), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            raise FileProblem("the file cannot be opened") from None
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(64 * 1024):
                yield chunk


def open_medium(path: Path, limits: Limits) -> Medium:
    """A ZIP file or a folder holding IHE_XDM/; MediumError when it is neither (or unreadable)."""
    try:
        if path.is_dir():
            medium: Medium = FolderMedium(path, limits)
        elif path.is_file():
            medium = ZipMedium(path, limits)
        else:
            raise MediumError("no such file or folder")
    except PermissionError:
        raise MediumError("permission denied") from None
    except OSError as exc:
        raise MediumError(f"unreadable ({type(exc).__name__})") from None
    try:
        medium.subsets()
    except MediumError:
        medium.close()
        raise
    return medium


# -- METADATA.XML ------------------------------------------------------------------------------


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
            e.unique_id for e in self.entries if e.unique_id and _status(e.status) != "Deprecated"
        }
        return {
            e.entry_id
            for e in self.entries
            if e.unique_id in current and _status(e.status) == "Deprecated"
        }


def _status(value: str | None) -> str:
    return (value or "").rsplit(":", 1)[-1]


class MetadataProblem(Exception):
    """METADATA.XML cannot be read; the message is a reason fit for the report."""


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


def _parse_xml(data: bytes) -> tuple[Element, list[str]]:
    """Parse with DTDs and entities forbidden; retry once for two known producer faults."""
    notes: list[str] = []
    try:
        return SafeET.fromstring(data, forbid_dtd=True), notes
    except DefusedXmlException:
        raise MetadataProblem("METADATA.XML declares a DTD or entities (refused)") from None
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


# -- values ------------------------------------------------------------------------------------


def parse_dtm(value: str | None) -> dt.datetime | None:
    """An HL7 DTM (`YYYY[MM[DD[hh[mm[ss]]]]]`, UTC by the XDS rule) as an aware datetime; a zone
    suffix, if a producer adds one, is honoured. ValueError when malformed."""
    if value is None or not value.strip():
        return None
    match = _DTM_RE.match(value.strip())
    if match is None:
        raise ValueError("not an HL7 DTM")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = dt.datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0").ljust(6, "0")),
        tzinfo=dt.UTC,
    )
    if zone:
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return moment


@dataclass(frozen=True)
class PatientId:
    number: str
    authority: str
    type_code: str


def parse_cx(value: str) -> PatientId:
    """`id^^^&authorityOID&ISO^NH` (note §4.1)."""
    parts = value.split("^")
    authority = parts[3].split("&") if len(parts) > 3 else []
    oid = authority[1] if len(authority) > 1 else (authority[0] if authority else "")
    return PatientId(parts[0].strip(), oid.strip(), parts[4].strip() if len(parts) > 4 else "")


@dataclass(frozen=True)
class AuthorId:
    rpps: str | None
    note: str | None


def author_rpps(person: str) -> AuthorId:
    """The RPPS number of an authorPerson XCN (note §4.2; rule ID-2).

    XCN.1 is the national PS id: `8` + RPPS (stored without the prefix, as the 11-digit RPPS that
    rule ID-2 defines), `0` + ADELI (not an RPPS: not stored); XCN.9 must be the RPPS authority
    1.2.250.1.71.4.2.1; devices (`EI`) have no RPPS."""
    parts = person.split("^")
    number = parts[0].strip()
    authority = parts[8].split("&") if len(parts) > 8 else []
    oid = authority[1] if len(authority) > 1 else (authority[0] if authority else "")
    id_type = parts[12].strip() if len(parts) > 12 else ""
    if not number:
        return AuthorId(None, "author without a national identifier")
    if oid.strip() != RPPS_OID:
        return AuthorId(None, "author identifier not issued by the RPPS authority")
    if id_type == "EI":
        return AuthorId(None, "author is a device or system, not a professional")
    if len(number) == 12 and number.startswith("8"):
        candidate = number[1:]
    elif len(number) == 11 and number.isdigit():
        candidate = number
    elif number.startswith("0"):
        return AuthorId(None, "author identified by ADELI, not RPPS")
    else:
        return AuthorId(None, "author national identifier is not an RPPS (prefix 8)")
    problem = account_rules.rpps_problem(candidate)
    if problem:
        return AuthorId(None, f"author RPPS invalid ({problem})")
    return AuthorId(candidate, None)


def master_identifier(unique_id: str) -> str:
    """Carnet's master identifier of an XDS uniqueId (note §3.5, §5): `urn:oid:<oid>`,
    `urn:uuid:<uuid>`, or `root^extension` kept verbatim. ValueError otherwise."""
    value = unique_id.strip()
    if value.lower().startswith("urn:oid:"):
        value = value[8:]
    if _OID_RE.match(value) and len(value) <= 64:
        return f"urn:oid:{value}"
    bare = value[9:] if value.lower().startswith("urn:uuid:") else value
    if _UUID_RE.match(bare):
        return f"urn:uuid:{bare.lower()}"
    root, caret, extension = value.partition("^")
    if (
        caret
        and _OID_RE.match(root)
        and extension
        and len(value) <= 128
        and all(c.isprintable() and not c.isspace() for c in extension)
    ):
        return value
    raise ValueError("uniqueId is neither an OID, a UUID nor root^extension (at most 128)")


# -- from an entry to what Carnet stores -------------------------------------------------------


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
    if is_signature(entry, submission):
        return Verdict(SKIPPED, "signature, not a clinical document")
    status = _status(entry.status)
    if status == "Deleted":
        return Verdict(SKIPPED, "deleted in the source record")
    if entry.entry_id in submission.older_versions:
        return Verdict(SKIPPED, "older metadata version of a document on this medium")
    if entry.object_type == ON_DEMAND_ENTRY:
        return Verdict(REJECTED, "on-demand entry: no stored content")
    if not entry.unique_id:
        return Verdict(REJECTED, "no uniqueId")
    try:
        master = master_identifier(entry.unique_id)
    except ValueError as exc:
        return Verdict(REJECTED, str(exc))
    who = identity(entry, submission, accept_test_identities=accept_test_identities)
    if isinstance(who, Verdict):
        return who
    notes: list[str] = []
    if entry.limited_metadata:
        notes.append("limited metadata")
    # DOC-1: a LOINC type Carnet knows.
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
    # DOC-2: confidentiality codes; an unknown one is access-control data we cannot honour.
    codes = {c.code for c in entry.confidentiality}
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
    # DOC-1: hash (SHA-1, hex, either case) and size.
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
    # Dates: DTM in UTC (note §3.2, §6.3 item 13).
    try:
        created_at = parse_dtm(entry.creation_time)
        start = parse_dtm(entry.service_start)
        stop = parse_dtm(entry.service_stop)
    except ValueError:
        return Verdict(REJECTED, "a date (creationTime, serviceStartTime/StopTime) is not a DTM")
    if start and stop and stop < start:
        notes.append("serviceStopTime before serviceStartTime; stop ignored")
        stop = None
    care = start or created_at
    rpps: str | None = None
    for author in entry.authors:
        if author.person:
            found = author_rpps(author.person)
            if found.rpps:
                rpps = found.rpps
                break
            if found.note and found.note not in notes:
                notes.append(found.note)
    if rpps is None and not entry.authors:
        notes.append("no author")
    title = (entry.title or "").strip() or known.label_fr
    fmt = entry.format_code.code if entry.format_code and entry.format_code.code else None
    if fmt and len(fmt) > 80:
        notes.append("formatCode longer than 80 characters; not kept")
        fmt = None
    language = entry.language if entry.language and len(entry.language) <= 16 else None
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
        uri=entry.uri,
        superseded=status == "Deprecated",
        notes=notes,
    )


def resolve(medium: Medium, subset_folder: str, uri: str) -> str | None:
    """The real path of an entry's file (note §6.1 item 4): (a) the subset folder, (b) IHE_XDM/,
    (c) the medium root, (d) the same file name inside the subset folder. FileProblem when the
    name is ambiguous."""
    candidates = [uri]
    unquoted = urllib.parse.unquote(uri)
    if unquoted != uri and path_problem(unquoted) is None:
        candidates.append(unquoted)
    xdm = medium.xdm_root()
    root = xdm.rpartition("/")[0]
    for name in candidates:
        clean = _clean(name)
        for base in (subset_folder, xdm, root):
            real = medium.lookup(f"{base}/{clean}" if base else clean)
            if real is not None:
                return real
        last = PurePosixPath(clean).name
        if last and last != clean:
            real = medium.lookup(f"{subset_folder}/{last}")
            if real is not None:
                return real
    return None
