"""What a holder's upload must be before anything is stored (rule DOC-1): an image that decodes,
not magic bytes alone; at most `upload_rate_per_minute` uploads a minute per person, shared by
every app server (429 + Retry-After); at most `space_quota_bytes` of holder uploads per space,
while professionals' deposits are never refused for it (ACC-2, Carnet decision)."""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carnet import clock
from carnet.accounts.models import Holder
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import sniff
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.documents.samples import (
    blob_files,
    deposit,
    headers_for,
    jpeg_bytes,
    png_bytes,
    tiff_bytes,
)
from tests.documents.test_api import assert_error, document_count, upload
from tests.factories import make_holder

PNG_THEN_HTML = b"\x89PNG\r\n\x1a\n<html><body><script>alert(document.cookie)</script></body></html>"
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bomb(side: int = 20_000) -> bytes:
    """A valid greyscale PNG of side × side pixels (400 megapixels) in a few hundred kilobytes."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side + 1) * 64, 9)  # only the first rows: enough to open
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")
    )


@pytest.fixture
def owner(database: Database) -> Holder:
    with database.transaction() as session:
        return make_holder(session, email="owner@example.org")


@pytest.fixture
def auth(database: Database, owner: Holder) -> dict[str, str]:
    return headers_for(database, owner.id)


def _tune(app: FastAPI, settings: Settings, **values: int) -> Settings:
    tuned = settings.model_copy(update=values)
    app.state.settings = tuned
    return tuned


@pytest.mark.parametrize(
    ("content", "name", "kind"),
    [
        (PNG_THEN_HTML, "photo.png", "image/png"),
        (b"\xff\xd8\xff\xe0" + b"<html>not a photo</html>" * 20, "photo.jpg", "image/jpeg"),
        (b"II*\x00" + b"<svg onload=alert(1)>" * 20, "scan.tif", "image/tiff"),
        (png_bytes()[:45], "truncated.png", "image/png"),
    ],
    ids=["png-then-html", "jpeg-then-html", "tiff-then-svg", "truncated-png"],
)
def test_doc1_an_image_that_does_not_decode_is_refused_and_nothing_is_stored(
    client: TestClient,
    database: Database,
    settings: Settings,
    auth: dict[str, str],
    content: bytes,
    name: str,
    kind: str,
) -> None:
    """DOC-1: the magic bytes alone prove nothing (a PNG header followed by HTML); the image is
    decoded with Pillow and refused (400 unreadable-image) when it does not decode."""
    refused = upload(client, auth, content, name, kind)
    assert assert_error(refused, 400, "unreadable-image")["field"] == "content"
    assert document_count(database) == 0
    assert blob_files(settings) == []


def test_doc1_real_images_still_upload(client: TestClient, auth: dict[str, str]) -> None:
    """DOC-1: JPEG, PNG and TIFF that decode are accepted as before."""
    for content, name, kind in (
        (jpeg_bytes(), "photo.jpg", "image/jpeg"),
        (png_bytes(), "scan.png", "image/png"),
        (tiff_bytes(), "radio.tif", "image/tiff"),
    ):
        assert upload(client, auth, content, name, kind).status_code == 201, name


def test_doc1_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    """DOC-1: a few hundred kilobytes announcing 400 megapixels are refused, not decoded."""
    bomb = png_bomb()
    assert len(bomb) < 5 * 1024 * 1024
    assert sniff.image_problem(bomb, sniff.PNG) == "the image is too large to be read"
    assert sniff.image_problem(png_bytes(), sniff.PNG) is None


def test_doc1_srv1_a_message_attachment_image_must_decode_too(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """DOC-1, SRV-1: a file from the device attached to a message is checked as uploads are:
    an image that does not decode is refused (400 unreadable-image), one that does is kept."""
    from tests.messaging.support import start, world

    w = world(database, vault, settings)
    draft = start(client, w, draft=True).json()
    base = f"/api/v1/pro/conversations/{draft['id']}/messages/{draft['messages'][0]['id']}"
    refused = client.post(
        f"{base}/attachments",
        headers=w.gp,
        files={"file": ("photo.png", PNG_THEN_HTML, "image/png")},
    )
    assert assert_error(refused, 400, "unreadable-image")["field"] == "file"
    kept = client.post(
        f"{base}/attachments", headers=w.gp, files={"file": ("photo.png", png_bytes(), "image/png")}
    )
    assert kept.status_code == 201, kept.text


def test_doc1_uploads_are_rate_limited_per_person_with_retry_after(
    app: FastAPI,
    client: TestClient,
    database: Database,
    settings: Settings,
    auth: dict[str, str],
) -> None:
    """DOC-1: at most `upload_rate_per_minute` uploads a minute per person; the next one is 429
    with Retry-After and a clear message, before its body is stored (no row, no blob)."""
    _tune(app, settings, upload_rate_per_minute=3)
    with clock.frozen_at(START):
        for number in range(3):
            assert upload(client, auth, pdf_bytes(f"CR {number}")).status_code == 201
        blobs = len(blob_files(settings))
        refused = upload(client, auth, pdf_bytes("CR 4"))
        error = assert_error(refused, 429, "too-many-uploads")
        assert refused.headers["Retry-After"] == "60"
        assert "3 documents a minute" in error["message"]
        assert document_count(database) == 3
        assert len(blob_files(settings)) == blobs
    with clock.frozen_at(START + dt.timedelta(seconds=45)):
        assert upload(client, auth, pdf_bytes("CR 4")).headers["Retry-After"] == "15"
    with clock.frozen_at(START + dt.timedelta(minutes=1)):
        assert upload(client, auth, pdf_bytes("CR 4")).status_code == 201


def test_doc1_the_rate_is_per_person_not_per_space(
    app: FastAPI, client: TestClient, database: Database, settings: Settings, owner: Holder
) -> None:
    """DOC-1: one person's uploads do not use another's rate."""
    _tune(app, settings, upload_rate_per_minute=1)
    with database.transaction() as session:
        other = make_holder(session)
    with clock.frozen_at(START):
        assert upload(client, headers_for(database, owner.id), pdf_bytes("A")).status_code == 201
        assert upload(client, headers_for(database, other.id), pdf_bytes("B")).status_code == 201
        assert upload(client, headers_for(database, owner.id), pdf_bytes("C")).status_code == 429


def test_doc1_acc2_the_space_quota_refuses_holder_uploads_but_never_a_professionals_deposit(
    app: FastAPI,
    client: TestClient,
    database: Database,
    vault: Vault,
    settings: Settings,
    owner: Holder,
    auth: dict[str, str],
) -> None:
    """DOC-1 quota (Carnet decision): the holder side's uploads count against
    `space_quota_bytes`; past it the upload is refused (409 space-full, clear message) with
    nothing stored, while a professional's deposit is always accepted (ACC-2: a hospital report
    is never lost because the space is full of photos)."""
    first = pdf_bytes("Ordonnance")
    tuned = _tune(app, settings, space_quota_bytes=len(first) + 100)
    assert upload(client, auth, first).status_code == 201
    blobs = len(blob_files(settings))
    refused = upload(client, auth, pdf_bytes("Radio du genou"))
    error = assert_error(refused, 409, "space-full")
    assert "Delete documents" in error["message"]
    assert document_count(database) == 1
    assert len(blob_files(settings)) == blobs
    deposit(database, vault, tuned, owner.id, title="Compte rendu d'hospitalisation")
    assert document_count(database) == 2
    listed = client.get("/api/v1/me/documents", headers=auth)
    assert listed.json()["total"] == 2


def test_doc1_the_portal_says_why_in_the_persons_language(
    app: FastAPI, client: TestClient, database: Database, settings: Settings
) -> None:
    """DOC-1: in the portal, an image that does not decode and an upload past the rate are
    explained in French (the catalogue holds both messages), with Retry-After for the rate."""
    from tests.portal.support import log_in, make_account
    from tests.portal.test_journeys import _upload as portal_upload

    make_account(database)
    log_in(client, database)  # the portal speaks French by default
    refused = portal_upload(client, PNG_THEN_HTML, "photo.png", "image/png")
    assert refused.status_code == 400
    assert "Cette image est illisible" in refused.text
    _tune(app, settings, upload_rate_per_minute=1)
    with clock.frozen_at(START):
        assert portal_upload(client, png_bytes(), "scan.png", "image/png").status_code == 303
        limited = portal_upload(client, png_bytes(), "scan2.png", "image/png")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    assert "Trop de documents ajoutés" in limited.text
