"""Reading an HL7 CDA R2 document to show it (issue 16 item 5): pure, no I/O.

Most documents French software deposits are CDA R2 (`sniff.XML`). A level-1 document wraps one
file (`nonXMLBody/text`, base64): `read` gives its bytes when they are a PDF, a JPEG, a PNG or plain
text of at most `MAX_EMBEDDED_BYTES`, otherwise the reason it cannot be shown. A structured one
(`structuredBody`, levels 2 and 3 alike) gives its sections' narrative as a tree of Carnet's own
elements (`Node`): a small HTML vocabulary (`TAGS`), colspan/rowspan as numbers, three style
classes (`STYLES`) and images Carnet decoded itself (`Image`). Nothing else of the document goes
through: no attribute, stylesheet, script, link, reference or foreign element; `linkHtml` keeps its
text only. The portal renders the tree with an autoescaping template (`_cda.html`), the summary
PDF its text (`outline`).

The XML is parsed with defusedxml, DTDs and entities forbidden (no billion laughs, no external
entity is ever resolved); comments and processing instructions (`xml-stylesheet`) are dropped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from carnet.documents import sniff

NS = "urn:hl7-org:v3"
_V3 = "{" + NS + "}"

# What a level-1 document may wrap to be shown; anything else is offered for download only.
LEVEL1_TYPES = frozenset({sniff.PDF, sniff.JPEG, sniff.PNG, sniff.TEXT})
# What an image of the narrative (renderMultiMedia) may be to be shown inline.
INLINE_IMAGE_TYPES = frozenset({sniff.JPEG, sniff.PNG})
# Carnet decisions: the wrapped file of a level-1 document, an image of the narrative and all of
# a document's images together; a narrative of more elements, or nested deeper, is cut with a note.
MAX_EMBEDDED_BYTES = 20 * 1024 * 1024
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGES_BYTES = 10 * 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 24
MAX_HEADER_CHARS = 300

# Carnet's element vocabulary: what `Node.tag` may be, nothing else ever reaches a page.
TAGS = frozenset({
    "p", "span", "br", "sub", "sup", "table", "caption", "thead", "tbody", "tfoot", "tr", "th",
    "td", "ul", "ol", "li",
})  # fmt: skip
# CDA styleCode values kept, as Carnet's CSS classes.
STYLES = {"bold": "cda-bold", "italics": "cda-italics", "underline": "cda-underline"}
# Narrative elements and the tag they become (`list` and `caption` are decided by context).
_INLINE = {"paragraph": "p", "content": "span", "sub": "sub", "sup": "sup"}
_TABLE = {"thead": "thead", "tbody": "tbody", "tfoot": "tfoot", "tr": "tr", "th": "th", "td": "td"}
# Which children a structural element keeps (text between them is layout whitespace).
_CHILDREN = {
    "table": frozenset({"caption", "thead", "tbody", "tfoot", "tr"}),
    "thead": frozenset({"tr"}),
    "tbody": frozenset({"tr"}),
    "tfoot": frozenset({"tr"}),
    "tr": frozenset({"th", "td"}),
}
_SPAN = re.compile(r"[0-9]{1,3}")
_SPACES = re.compile(r"\s+")
_TS = re.compile(r"([0-9]{4})([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?(?:\.[0-9]+)?"
                 r"(?:([+-])([0-9]{2})([0-9]{2}))?")  # fmt: skip

NoteKind = Literal["pdf", "media", "truncated"]
Problem = Literal["unsupported-type", "too-large", "unreadable"]


@dataclass(frozen=True)
class Image:
    """An image of the narrative, decoded and checked by Carnet; `src` is a data: URL it writes."""

    media_type: str
    data: bytes
    kind: Literal["image"] = "image"

    @property
    def src(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Note:
    """Where something of the document was left out: an embedded PDF or other media, or the rest
    of a narrative too large or too deep."""

    reason: NoteKind
    kind: Literal["note"] = "note"


@dataclass(frozen=True)
class Node:
    """One element Carnet writes: a tag of `TAGS`, classes of `STYLES`, spans as numbers."""

    tag: str
    children: tuple[Item, ...] = ()
    classes: tuple[str, ...] = ()
    colspan: int | None = None
    rowspan: int | None = None
    kind: Literal["node"] = "node"

    def __post_init__(self) -> None:
        if self.tag not in TAGS or not set(self.classes) <= {*STYLES.values(), "cda-caption"}:
            raise ValueError("not an element Carnet writes")


Item = Node | Image | Note | str


@dataclass(frozen=True)
class Section:
    title: str
    body: tuple[Item, ...]
    sections: tuple[Section, ...] = ()


@dataclass(frozen=True)
class Header:
    """The facts of the CDA header shown above the content."""

    title: str = ""
    effective: dt.date | dt.datetime | None = None
    authors: tuple[str, ...] = ()
    custodian: str = ""


@dataclass(frozen=True)
class Embedded:
    """A level-1 document's file: its bytes and type, or why it cannot be shown."""

    media_type: str | None
    data: bytes = b""
    problem: Problem | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace") if self.media_type == sniff.TEXT else ""


@dataclass(frozen=True)
class Cda:
    header: Header
    level: Literal[1, 3]
    sections: tuple[Section, ...] = ()
    embedded: Embedded | None = None


def is_cda_type(mime_type: str | None) -> bool:
    """Whether a stored type may be a CDA (XML); `read` says whether it is one."""
    return sniff.normalize_declared(mime_type) == sniff.XML


def read(content: bytes) -> Cda | None:
    """The CDA R2 document in `content`, or None when it is not one (or not readable XML)."""
    try:
        root = SafeET.fromstring(content, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)  # fmt: skip
    except (DefusedXmlException, ParseError, ValueError, UnicodeError, RecursionError):
        return None
    if root.tag != _V3 + "ClinicalDocument":
        return None
    header = _header(root)
    body = root.find(f"{_V3}component/{_V3}nonXMLBody")
    if body is not None:
        return Cda(header, 1, embedded=_embedded(body.find(_V3 + "text")))
    structured = root.find(f"{_V3}component/{_V3}structuredBody")
    if structured is None:
        return None
    walk = _Walk(root)
    sections = tuple(walk.section(s, 0) for s in structured.findall(f"{_V3}component/{_V3}section"))
    return Cda(header, 3, sections=sections)


# -- header --------------------------------------------------------------------------------------


def _text(el: Element | None) -> str:
    if el is None:
        return ""
    return _SPACES.sub(" ", "".join(el.itertext())).strip()[:MAX_HEADER_CHARS]


def _name(el: Element | None) -> str:
    """A person's name (prefix, given names, family, suffix) or an organisation's."""
    if el is None:
        return ""
    parts = [_text(el.find(_V3 + tag)) for tag in ("prefix",)]
    parts += [_text(g) for g in el.findall(_V3 + "given")]
    parts += [_text(el.find(_V3 + tag)) for tag in ("family", "suffix")]
    joined = " ".join(p for p in parts if p)
    return joined or _text(el)


def _header(root: Element) -> Header:
    authors = []
    for assigned in root.findall(f"{_V3}author/{_V3}assignedAuthor")[:5]:
        who = _name(assigned.find(f"{_V3}assignedPerson/{_V3}name")) or _text(
            assigned.find(f"{_V3}assignedAuthoringDevice/{_V3}softwareName")
        )
        where = _name(assigned.find(f"{_V3}representedOrganization/{_V3}name"))
        shown = f"{who} ({where})" if who and where else who or where
        if shown and shown not in authors:
            authors.append(shown)
    custodian = root.find(
        f"{_V3}custodian/{_V3}assignedCustodian/{_V3}representedCustodianOrganization/{_V3}name"
    )
    effective = root.find(_V3 + "effectiveTime")
    return Header(
        title=_text(root.find(_V3 + "title")),
        effective=timestamp(effective.get("value", "") if effective is not None else ""),
        authors=tuple(authors),
        custodian=_name(custodian),
    )


def timestamp(value: str) -> dt.date | dt.datetime | None:
    """An HL7 TS (YYYYMMDD[HHMM[SS]][±ZZZZ]): a date, or a time (aware when it has an offset)."""
    found = _TS.fullmatch(value.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = found.groups()
    try:
        if hour is None:
            return dt.date(int(year), int(month or 1), int(day or 1))
        zone = None
        if sign:
            offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
            zone = dt.timezone(-offset if sign == "-" else offset)
        return dt.datetime(int(year), int(month), int(day), int(hour), int(minute or 0),
                           int(second or 0), tzinfo=zone)  # fmt: skip
    except (ValueError, TypeError):
        return None


# -- level 1 -------------------------------------------------------------------------------------


def _embedded(text: Element | None) -> Embedded:
    """CDA: mediaType defaults to text/plain and representation to TXT; a reference or a
    compression is not followed (Carnet reads nothing from elsewhere)."""
    if text is None:
        return Embedded(None, problem="unreadable")
    media = sniff.normalize_declared(text.get("mediaType") or sniff.TEXT)
    if (
        media not in LEVEL1_TYPES
        or text.get("compression")
        or text.find(_V3 + "reference") is not None
    ):
        return Embedded(media, problem="unsupported-type")
    data = _payload(text, MAX_EMBEDDED_BYTES)
    if isinstance(data, str):
        return Embedded(media, problem=data)
    if media == sniff.TEXT:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return Embedded(media, problem="unreadable")
    elif sniff.sniff(data[: sniff.HEAD_BYTES]) != media or (
        media in INLINE_IMAGE_TYPES and sniff.image_problem(data, media)
    ):
        return Embedded(media, problem="unreadable")
    return Embedded(media, data)


def _payload(el: Element, limit: int) -> bytes | Problem:
    """The bytes of an ED value (B64 or TXT), or why there are none."""
    raw = el.text or ""
    if (el.get("representation") or "TXT").upper() != "B64":
        data = raw.encode("utf-8")
        return data if len(data) <= limit else "too-large"
    packed = "".join(raw.split())
    if len(packed) // 4 * 3 > limit + 3:
        return "too-large"
    try:
        data = base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError):
        return "unreadable"
    if not data:
        return "unreadable"
    return data if len(data) <= limit else "too-large"


# -- structured body -----------------------------------------------------------------------------


def _local(el: Element) -> str | None:
    """The element's name in the HL7 v3 namespace; None for any other (never rendered)."""
    tag = el.tag
    if not isinstance(tag, str) or not tag.startswith(_V3):
        return None
    return tag[len(_V3) :]


def _classes(el: Element) -> tuple[str, ...]:
    codes = (el.get("styleCode") or "").lower().split()
    return tuple(dict.fromkeys(STYLES[c] for c in codes if c in STYLES))


def _span(value: str | None) -> int | None:
    if value is None or not _SPAN.fullmatch(value.strip()):
        return None
    number = int(value)
    return number if number > 1 else None


def _clean(text: str | None) -> str:
    return _SPACES.sub(" ", text) if text else ""


@dataclass
class _Walk:
    """One pass over a narrative, counting what it made (MAX_NODES) and the images' bytes."""

    root: Element
    count: int = 0
    image_bytes: int = 0
    cut: bool = False
    _media: dict[str, Element] | None = field(default=None, repr=False)

    def section(self, el: Element, depth: int) -> Section:
        title = _text(el.find(_V3 + "title"))
        if not title:
            code = el.find(_V3 + "code")
            title = (code.get("displayName") or "")[:MAX_HEADER_CHARS] if code is not None else ""
        text = el.find(_V3 + "text")
        body = tuple(self.items(text, depth + 1)) if text is not None else ()
        subs: tuple[Section, ...] = ()
        if depth < MAX_DEPTH:
            subs = tuple(
                self.section(s, depth + 1) for s in el.findall(f"{_V3}component/{_V3}section")
            )
        return Section(title=title, body=body, sections=subs)

    def _budget(self) -> bool:
        """Whether one more item fits; the first that does not leaves a note."""
        self.count += 1
        return self.count <= MAX_NODES

    def items(self, el: Element, depth: int) -> Iterator[Item]:
        """The converted content of `el`: its text and children, unknown elements unwrapped."""
        if el.text and self._budget():
            yield _clean(el.text)
        for child in el:
            yield from self.element(child, depth)
            if child.tail and self._budget():
                yield _clean(child.tail)
        if self.count > MAX_NODES and not self.cut:
            self.cut = True
            yield Note("truncated")

    def element(self, el: Element, depth: int, within: str = "") -> Iterator[Item]:
        """`el` as Carnet's elements; a table part or list item only `within` its table or list
        (elsewhere, its text only)."""
        name = _local(el)
        if name is None or self.count > MAX_NODES:
            return
        if depth > MAX_DEPTH:
            if not self.cut:
                self.cut = True
                yield Note("truncated")
            return
        if not self._budget():
            return
        if name == "br":
            yield Node("br")
        elif name == "table":
            yield Node("table", self._structure(el, "table", depth), _classes(el))
        elif name in _TABLE and name in _CHILDREN.get(within, ()):
            children = (
                tuple(self.items(el, depth + 1)) if name in ("th", "td")
                else self._structure(el, name, depth)
            )  # fmt: skip
            yield Node(_TABLE[name], children, _classes(el),
                       colspan=_span(el.get("colspan")), rowspan=_span(el.get("rowspan")))  # fmt: skip
        elif name == "item" and within == "list":
            yield Node("li", tuple(self.items(el, depth + 1)), _classes(el))
        elif name == "list":
            yield from self._list(el, depth)
        elif name == "caption":
            yield Node("span", tuple(self.items(el, depth + 1)), ("cda-caption",))
        elif name in _INLINE:
            yield Node(_INLINE[name], tuple(self.items(el, depth + 1)), _classes(el))
        elif name == "renderMultiMedia":
            yield from self._media_items(el, depth)
        elif name in ("footnoteRef", "col", "colgroup"):
            return
        else:  # linkHtml, footnote, anything unknown or out of place: text only, no attribute
            yield from self.items(el, depth + 1)

    def _structure(self, el: Element, name: str, depth: int) -> tuple[Item, ...]:
        kept = _CHILDREN[name]
        out: list[Item] = []
        for child in el:
            local = _local(child)
            if local == "caption" and name == "table":
                if self._budget():
                    out.append(Node("caption", tuple(self.items(child, depth + 2))))
            elif local in kept:
                out.extend(self.element(child, depth + 1, name))
        return tuple(out)

    def _list(self, el: Element, depth: int) -> Iterator[Item]:
        """A CDA list, its caption (if any) written before it: HTML lists have none."""
        caption = el.find(_V3 + "caption")
        if caption is not None:
            yield Node("p", tuple(self.items(caption, depth + 1)), ("cda-caption",))
        entries: list[Item] = []
        for child in el.findall(_V3 + "item"):
            entries.extend(self.element(child, depth + 1, "list"))
        tag = "ol" if (el.get("listType") or "").lower() == "ordered" else "ul"
        yield Node(tag, tuple(entries), _classes(el))

    def _media_items(self, el: Element, depth: int) -> Iterator[Item]:
        for ref in (el.get("referencedObject") or "").split()[:10]:
            media = self.media().get(ref)
            value = media.find(_V3 + "value") if media is not None else None
            yield self._image(value)
        caption = el.find(_V3 + "caption")
        if caption is not None:
            yield Node("span", tuple(self.items(caption, depth + 1)), ("cda-caption",))

    def _image(self, value: Element | None) -> Item:
        media_type = sniff.normalize_declared(value.get("mediaType")) if value is not None else None
        if value is None or media_type not in INLINE_IMAGE_TYPES:
            return Note("pdf" if media_type == sniff.PDF else "media")
        if value.find(_V3 + "reference") is not None or value.get("compression"):
            return Note("media")
        data = _payload(value, MAX_IMAGE_BYTES)
        if (
            isinstance(data, str)
            or self.image_bytes + len(data) > MAX_IMAGES_BYTES
            or sniff.sniff(data[: sniff.HEAD_BYTES]) != media_type
            or sniff.image_problem(data, media_type)
        ):
            return Note("media")
        self.image_bytes += len(data)
        return Image(media_type, data)

    def media(self) -> dict[str, Element]:
        """observationMedia (and regionOfInterest) by ID, for renderMultiMedia."""
        if self._media is None:
            self._media = {}
            for kind in ("observationMedia", "regionOfInterest"):
                for found in self.root.iter(_V3 + kind):
                    key = found.get("ID")
                    if key:
                        self._media.setdefault(key, found)
        return self._media


# -- plain text (the summary PDF) ----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of a narrative as text: a section title (with its depth) or a paragraph."""

    text: str
    title: bool = False
    depth: int = 0


def outline(doc: Cda, limit: int = 6000) -> list[Line]:
    """The narrative's text, section titles apart: table rows as cells joined by " | ", list
    items as "- …"; at most `limit` characters, then "…"."""
    lines: list[Line] = []
    used = 0

    def add(line: Line) -> bool:
        nonlocal used
        if used >= limit:
            return False
        if used + len(line.text) > limit:
            line = Line(line.text[: limit - used] + "…", line.title, line.depth)
        used += len(line.text)
        lines.append(line)
        return True

    def walk(section: Section, depth: int) -> None:
        if section.title:
            add(Line(section.title, True, depth))
        for text in _block_lines(section.body):
            add(Line(text, False, depth))
        for sub in section.sections:
            walk(sub, depth + 1)

    for section in doc.sections:
        walk(section, 0)
    return lines


_BLOCKS = frozenset({"p", "table", "ul", "ol", "tr", "li", "caption", "thead", "tbody", "tfoot"})


def _flat(items: tuple[Item, ...]) -> str:
    parts: list[str] = []
    for item in items:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, Node):
            parts.append(" " if item.tag == "br" else _flat(item.children))
    return _SPACES.sub(" ", "".join(parts)).strip()


def _block_lines(items: tuple[Item, ...]) -> Iterator[str]:
    """Blocks as lines: running text and inline elements gathered, blocks one line (or more)."""
    run: list[Item] = []
    for item in (*items, None):
        if item is None or (isinstance(item, Node) and item.tag in _BLOCKS):
            text = _flat(tuple(run))
            if text:
                yield text
            run = []
            if item is not None:
                yield from _block(item)
        else:
            run.append(item)


def _block(node: Node) -> Iterator[str]:
    if node.tag == "tr":
        cells = [_flat(c.children) for c in node.children if isinstance(c, Node)]
        if any(cells):
            yield " | ".join(cells)
    elif node.tag == "li":
        text = _flat(node.children)
        if text:
            yield f"- {text}"
    elif node.tag in ("table", "thead", "tbody", "tfoot", "ul", "ol"):
        for child in node.children:
            if isinstance(child, Node):
                yield from _block(child)
    else:
        yield from _block_lines(node.children)
