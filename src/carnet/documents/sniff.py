"""What a file really is, from its first bytes (rule DOC-1: never trust the name or declared type),
and whether it really is one: PDFs are parsed and images decoded before anything is stored."""

from __future__ import annotations

import io
import warnings

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
RTF = "application/rtf"
TEXT = "text/plain"
XML = "text/xml"  # CDA R2 documents

HOLDER_TYPES = frozenset({PDF, JPEG, PNG, TIFF, RTF, TEXT})  # DOC-1: what holders may upload
PROFESSIONAL_TYPES = frozenset({PDF, XML})  # DOC-1: PDF or CDA R2
OCTET_STREAM = "application/octet-stream"  # a file nothing recognises (migrations, deposits)
SERVED_TYPES = HOLDER_TYPES | PROFESSIONAL_TYPES | {OCTET_STREAM}  # a download's Content-Type

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

IMAGE_TYPES = frozenset({JPEG, PNG, TIFF})
_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", TIFF: "TIFF"}
# DOC-1 (Carnet decision): an image of at most 50 megapixels a page (a phone photo is 12 to 50,
# an A4 page scanned at 600 dpi 35) and 200 pages (a TIFF scan): a few megabytes that would
# decode into gigabytes (a "decompression bomb") are refused before they are decoded.
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_FRAMES = 200


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


def image_problem(content: bytes, mime: str) -> str | None:
    """Why a JPEG, PNG or TIFF does not decode (DOC-1: the magic bytes alone prove nothing, a PNG
    header can front an HTML page), or None. Every page is decoded, in the format the first
    bytes announced, after its size was checked against MAX_IMAGE_PIXELS."""
    from PIL import Image, ImageSequence

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what Pillow says of a bad file is not logged
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[_PILLOW_FORMATS[mime]]) as image:
                for number, frame in enumerate(ImageSequence.Iterator(image)):
                    width, height = frame.size
                    if number >= MAX_IMAGE_FRAMES or width * height > MAX_IMAGE_PIXELS:
                        return "the image is too large to be read"
                    frame.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "the image is too large to be read"
    except Exception:  # any failure of the decoder on untrusted bytes means "refused"
        return "the file is not a readable image"
    return None


def content_problem(content: bytes, mime: str) -> tuple[str, str] | None:
    """(code, why) when content sniffed as `mime` is not what it claims to be: a PDF that does
    not parse, an image that does not decode (DOC-1); None otherwise. One check for every place
    a holder's file enters (uploads, message attachments)."""
    if mime == PDF:
        problem = pdf_problem(content)
        return ("unreadable-pdf", problem) if problem else None
    if mime in IMAGE_TYPES:
        problem = image_problem(content, mime)
        return ("unreadable-image", problem) if problem else None
    return None
