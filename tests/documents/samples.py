"""Tiny valid files of every type a holder may upload (DOC-1), and a few that must be refused,
plus the people and documents the holder-API tests share."""

from __future__ import annotations

import datetime as dt
import io
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import deposits
from carnet.documents.models import Document
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional

API = "/api/v1"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bytes() -> bytes:
    """A 1×1 grey PNG written by hand: signature, IHDR, one zlib-compressed scanline, IEND."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    scanline = b"\x00\x80"  # filter type 0, one pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanline))
        + _chunk(b"IEND", b"")
    )


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    return _image("JPEG")


def tiff_bytes() -> bytes:
    return _image("TIFF")


RTF = b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}} Ordonnance du Dr Martin\\par}"
TEXT = b"Tension 12/8, poids 71 kg, tout va bien.\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200)
CORRUPT_PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF garbage"


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("resultats.pdf", pdf_bytes())
    return buffer.getvalue()


# -- people ------------------------------------------------------------------------------------


def headers_for(
    database: Database, holder_id: uuid.UUID, space: uuid.UUID | None = None
) -> dict[str, str]:
    """A holder's bearer token (long-lived: tests move the clock), acting on `space` if given."""
    with database.transaction() as session:
        token, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder_id), ttl=dt.timedelta(days=400)
        )
    headers = {"Authorization": f"Bearer {token}"}
    if space is not None:
        headers["X-Carnet-Space"] = str(space)
    return headers


def professional(session: Session) -> Principal:
    return Principal(PrincipalKind.PROFESSIONAL, make_professional(session).id)


@dataclass
class Family:
    parent: Holder
    child: Holder
    caregiver: Holder
    helped: Holder  # an adult the caregiver helps (REP-4)


def family(database: Database) -> Family:
    """A minor managed by `parent` (REP-1) and an adult helped by `caregiver` (REP-4)."""
    with database.transaction() as session:
        parent = make_holder(session, email="parent@example.org", first_names="Alice")
        child = make_holder(
            session,
            email="child@example.org",
            birth_date=clock.today() - dt.timedelta(days=365 * 15),
            first_names="Chloé",
        )
        caregiver = make_holder(session, email="aidant@example.org", first_names="Bruno")
        helped = make_holder(session, email="aide@example.org", first_names="Denise")
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
        session.add(
            Caregiving(
                holder_id=helped.id,
                caregiver_id=caregiver.id,
                status="accepted",
                expires_at=clock.now() + dt.timedelta(days=30),
            )
        )
    return Family(parent, child, caregiver, helped)


def deposit(
    database: Database,
    vault: Vault,
    settings: Settings,
    holder_id: uuid.UUID,
    *,
    author: Principal | None = None,
    title: str = "CR biologie",
    type_code: str = "11502-2",
    **flags: object,
) -> Document:
    """A professional's deposit (committed), as the FHIR side would make it."""
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        new = deposits.NewDocument(
            content=pdf_bytes(title),
            title=title,
            declared_type="application/pdf",
            type_code=type_code,
            **flags,  # type: ignore[arg-type]
        )
        return deposits.deposit(
            session, vault, settings, author or professional(session), holder, new
        )


def blob_files(settings: Settings) -> list[Path]:
    root = settings.effective_blob_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def blob_path(settings: Settings, blob_id: str) -> Path:
    return settings.effective_blob_dir / blob_id[:2] / blob_id[2:4] / blob_id
