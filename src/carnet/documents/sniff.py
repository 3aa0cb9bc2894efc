"""What a file really is, from its first bytes (rule DOC-1: never trust the name or declared type)."""

from __future__ import annotations

import io

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
RTF = "application/rtf"
TEXT = "text/plain"
XML = "text/xml"  # CDA R2 documents

HOLDER_TYPES = frozenset({PDF, JPEG, PNG, TIFF, RTF, TEXT})  # DOC-1: what holders may upload
PROFESSIONAL_TYPES = frozenset({PDF, XML})  # DOC-1: PDF or CDA R2

# Declared types that mean the same thing as the sniffed one.
ALIASES = {
    "application/xml": XML,
    "application/hl7-cda+xml": XML,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "text/rtf": RTF,
    "application/x-pdf": PDF,
}

HEAD_BYTES = 512


def sniff(head: bytes) -> str | None:
    """The MIME type of content starting with `head`, or None when it is none Carnet accepts."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith(b"{\\rtf"):
        return RTF
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith((b"<?xml", b"<ClinicalDocument", b"<hl7:ClinicalDocument")):
        return XML
    if _looks_like_text(head):
        return TEXT
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        # The head may cut a multi-byte character: ignore an incomplete tail.
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\r\n\t\f" for ch in text)


def normalize_declared(declared: str | None) -> str | None:
    if not declared:
        return None
    base = declared.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def pdf_problem(content: bytes) -> str | None:
    """Why a PDF does not parse (holder uploads are checked), or None."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if len(reader.pages) < 1:
            return "the PDF has no page"
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, IndexError, AttributeError):
        return "the file is not a readable PDF"
    return None
