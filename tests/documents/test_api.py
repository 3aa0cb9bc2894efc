"""Holder API for documents (rules DOC-1, DOC-3, DOC-5, DOC-6, REP-2, REP-4): uploads, listing,
download, changes, folders and preferences, for one's own space and for managed spaces."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet import clock
from carnet.accounts.models import Holder
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.models import Document
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.documents.samples import (
    API,
    CORRUPT_PDF,
    EXE,
    RTF,
    TEXT,
    blob_files,
    blob_path,
    deposit,
    family,
    headers_for,
    jpeg_bytes,
    png_bytes,
    tiff_bytes,
    zip_bytes,
)
from tests.factories import make_holder

Files = dict[str, tuple[str, bytes, str]]


@pytest.fixture
def owner(database: Database) -> Holder:
    with database.transaction() as session:
        return make_holder(session, email="owner@example.org")


@pytest.fixture
def auth(database: Database, owner: Holder) -> dict[str, str]:
    return headers_for(database, owner.id)


def upload(
    client: TestClient,
    headers: dict[str, str],
    content: bytes,
    name: str = "compte-rendu.pdf",
    content_type: str = "application/pdf",
    **fields: str,
) -> httpx.Response:
    files: Files = {"file": (name, content, content_type)}
    response: httpx.Response = client.post(
        f"{API}/me/documents", headers=headers, files=files, data=fields
    )
    return response


def document_count(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Every error is JSON: {"error": {code, message, request_id}}."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] and error["request_id"] == response.headers["X-Request-ID"]
    if code is not None:
        assert error["code"] == code
    return error


# -- DOC-1: uploads ----------------------------------------------------------------------------

ACCEPTED = [
    ("bilan.pdf", pdf_bytes("bilan"), "application/pdf", "application/pdf", "inline"),
    ("photo.jpg", jpeg_bytes(), "image/jpeg", "image/jpeg", "inline"),
    ("scan.png", png_bytes(), "image/png", "image/png", "inline"),
    ("radio.tiff", tiff_bytes(), "image/tiff", "image/tiff", "attachment"),
    ("ordonnance.rtf", RTF, "application/rtf", "application/rtf", "attachment"),
    ("notes.txt", TEXT, "text/plain", "text/plain", "attachment"),
    ("sans-type.png", png_bytes(), "application/octet-stream", "image/png", "inline"),
]


@pytest.mark.parametrize(("name", "content", "declared", "sniffed", "disposition"), ACCEPTED)
def test_doc1_each_accepted_type_uploads_and_downloads_byte_for_byte(
    client: TestClient,
    auth: dict[str, str],
    owner: Holder,
    name: str,
    content: bytes,
    declared: str,
    sniffed: str,
    disposition: str,
) -> None:
    response = upload(client, auth, content, name, declared)
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["mime_type"] == sniffed
    assert doc["size"] == len(content)
    assert doc["title"] == name.rsplit(".", 1)[0]  # default title: the name without extension
    assert (doc["category"], doc["category_label"]) == ("AUTR_DOC", "Autres documents")
    assert (doc["author"], doc["author_kind"], doc["source"]) == ("me", "me", "holder")
    assert doc["type_code"] is None and doc["file_name"] == name

    got = client.get(f"{API}/me/documents/{doc['id']}/content", headers=auth)
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["content-type"].split(";")[0] == sniffed
    assert got.headers["content-disposition"].startswith(f"{disposition}; filename=")
    assert got.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'


def test_doc1_upload_fields_title_category_date_folder(
    client: TestClient, auth: dict[str, str]
) -> None:
    folder = client.post(f"{API}/me/folders", headers=auth, json={"name": "Analyses"}).json()
    response = upload(
        client,
        auth,
        pdf_bytes(),
        title="Prise de sang de mars",
        category="BIOLOGIE",
        date="2025-03-14",
        folder_id=folder["id"],
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["title"] == "Prise de sang de mars"
    assert (doc["category"], doc["category_label"]) == ("BIOLOGIE", "Résultats de biologie")
    assert doc["care_date"] == "2025-03-14"
    assert doc["folder_id"] == folder["id"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"date": (clock.today() + dt.timedelta(days=2)).isoformat()}, "date"),
        ({"date": "14/03/2025"}, "date"),
        ({"category": "NOPE"}, "category"),
        ({"folder_id": "not-an-id"}, "folder_id"),
        ({"title": "x" * 301}, "title"),
    ],
)
def test_doc1_invalid_fields_are_refused(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    fields: dict[str, str],
    field: str,
) -> None:
    error = assert_error(upload(client, auth, pdf_bytes(), **fields), 400)
    assert error["field"] == field
    assert document_count(database) == 0 and blob_files(settings) == []


def test_doc1_future_care_date_message(client: TestClient, auth: dict[str, str]) -> None:
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    error = assert_error(upload(client, auth, pdf_bytes(), date=tomorrow), 400)
    assert "future" in error["message"]


def test_doc1_declared_type_must_match_the_sniffed_one(
    client: TestClient, auth: dict[str, str], database: Database, settings: Settings
) -> None:
    # A PNG named .pdf and declared application/pdf.
    error = assert_error(upload(client, auth, png_bytes(), "report.pdf", "application/pdf"), 400)
    assert error["code"] == "unsupported-type"
    assert "image/png" in error["message"] and "application/pdf" in error["message"]
    # Declared honestly, but the name still says PDF.
    error = assert_error(upload(client, auth, png_bytes(), "report.pdf", "image/png"), 400)
    assert "image/png" in error["message"] and "name" in error["message"]
    # A PDF declared as an image.
    assert_error(
        upload(client, auth, pdf_bytes(), "scan.png", "image/png"), 400, "unsupported-type"
    )
    assert document_count(database) == 0 and blob_files(settings) == []


@pytest.mark.parametrize(
    ("name", "content", "declared"),
    [
        ("setup.exe", EXE, "application/x-msdownload"),
        ("setup.pdf", EXE, "application/pdf"),
        ("resultats.zip", zip_bytes(), "application/zip"),
        ("resultats.zip", zip_bytes(), "application/octet-stream"),
    ],
)
def test_doc1_executables_and_archives_are_refused(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    name: str,
    content: bytes,
    declared: str,
) -> None:
    error = assert_error(upload(client, auth, content, name, declared), 400, "unsupported-type")
    assert error["message"].startswith("Refused:")
    assert document_count(database) == 0 and blob_files(settings) == []


def test_doc1_a_pdf_that_does_not_parse_is_refused_clearly(
    client: TestClient, auth: dict[str, str], database: Database, settings: Settings
) -> None:
    error = assert_error(upload(client, auth, CORRUPT_PDF), 400, "unreadable-pdf")
    assert "not a readable PDF" in error["message"]
    assert document_count(database) == 0 and blob_files(settings) == []


def test_doc1_too_big_is_413_and_nothing_is_stored(
    client: TestClient, auth: dict[str, str], database: Database, settings: Settings
) -> None:
    limit = settings.max_upload_bytes
    assert limit == 5 * 1024 * 1024  # DOC-1 default
    big = pdf_bytes() + b"\n%" + b"x" * (limit + 1)
    error = assert_error(upload(client, auth, big), 413, "too-large")
    assert "5 MB" in error["message"]
    assert document_count(database) == 0
    assert blob_files(settings) == []  # neither a blob nor a .part file


def test_doc1_upload_of_exactly_the_limit_is_accepted(
    client: TestClient, auth: dict[str, str], settings: Settings
) -> None:
    content = TEXT * (settings.max_upload_bytes // len(TEXT))
    content += b"a" * (settings.max_upload_bytes - len(content))
    assert len(content) == settings.max_upload_bytes
    response = upload(client, auth, content, "long.txt", "text/plain")
    assert response.status_code == 201, response.text


def test_upload_needs_multipart_and_a_file(client: TestClient, auth: dict[str, str]) -> None:
    assert_error(
        client.post(f"{API}/me/documents", headers=auth, json={"title": "x"}),
        415,
        "unsupported-media-type",
    )
    response = client.post(f"{API}/me/documents", headers=auth, files={"title": (None, "x")})
    assert assert_error(response, 400)["field"] == "file"
    assert_error(upload(client, auth, b"", "vide.txt", "text/plain"), 400)


def test_upload_is_refused_before_the_body_when_not_allowed(
    client: TestClient, database: Database, owner: Holder
) -> None:
    with database.transaction() as session:
        stranger = make_holder(session)
    headers = headers_for(database, stranger.id, space=owner.id)
    assert_error(upload(client, headers, pdf_bytes()), 404)
    assert_error(upload(client, {}, pdf_bytes()), 401)


# -- listing -----------------------------------------------------------------------------------


def test_list_shows_uploads_and_professional_deposits_with_their_ids(
    client: TestClient,
    auth: dict[str, str],
    owner: Holder,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    mine = upload(client, auth, png_bytes(), "vaccins.png", "image/png", category="CAR_VAC")
    assert mine.status_code == 201
    theirs = deposit(database, vault, settings, owner.id, title="Bilan lipidique")
    listing = client.get(f"{API}/me/documents", headers=auth)
    assert listing.status_code == 200
    body = listing.json()
    assert body["total"] == 2 and body["awaiting_announcement"] == 0
    by_id = {item["id"]: item for item in body["items"]}
    assert set(by_id) == {mine.json()["id"], str(theirs.id)}  # the FHIR DocumentReference ids
    pro = by_id[str(theirs.id)]
    assert pro["title"] == "Bilan lipidique"
    assert (pro["type_code"], pro["category"]) == ("11502-2", "BIOLOGIE")
    assert pro["type_label"] == "CR d'examens biologiques"
    assert pro["author_kind"] == "professional" and pro["author"].endswith("(Médecin)")
    assert pro["author_profession"] == "Médecin" and pro["source"] == "professional"
    assert pro["mime_type"] == "application/pdf" and pro["deletable"] is True

    only = client.get(f"{API}/me/documents?category=BIOLOGIE", headers=auth).json()
    assert [item["id"] for item in only["items"]] == [str(theirs.id)]
    both = client.get(f"{API}/me/documents?category=BIOLOGIE,CAR_VAC", headers=auth).json()
    assert both["total"] == 2
    first = client.get(f"{API}/me/documents?per_page=1&page=1&sort=date", headers=auth).json()
    second = client.get(f"{API}/me/documents?per_page=1&page=2&sort=date", headers=auth).json()
    assert first["total"] == second["total"] == 2
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [
        mine.json()["id"],
        str(theirs.id),
    ]
    assert_error(client.get(f"{API}/me/documents?category=NOPE", headers=auth), 400)
    assert_error(client.get(f"{API}/me/documents?sort=title", headers=auth), 400)
    assert_error(client.get(f"{API}/me/documents?per_page=1000", headers=auth), 400)
    assert_error(client.get(f"{API}/me/documents?status=entered-in-error", headers=auth), 400)


def test_metadata_of_one_document_and_other_spaces_are_404(
    client: TestClient,
    auth: dict[str, str],
    owner: Holder,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    doc = upload(client, auth, pdf_bytes()).json()
    got = client.get(f"{API}/me/documents/{doc['id']}", headers=auth)
    assert got.status_code == 200 and got.json() == doc
    with database.transaction() as session:
        stranger = make_holder(session)
    theirs = headers_for(database, stranger.id)
    for path in (f"/me/documents/{doc['id']}", f"/me/documents/{doc['id']}/content"):
        assert_error(client.get(API + path, headers=theirs), 404, "not-found")
    assert_error(client.get(f"{API}/me/documents/{uuid.uuid4()}", headers=auth), 404)
    assert_error(client.get(f"{API}/me/documents/not-a-uuid", headers=auth), 400)
    assert_error(
        client.get(f"{API}/me/documents", headers=headers_for(database, stranger.id, owner.id)),
        404,
    )
    assert client.get(f"{API}/me/documents", headers=theirs).json()["total"] == 0


def test_download_etag_and_safe_file_name(
    client: TestClient, auth: dict[str, str], database: Database
) -> None:
    name = 'Compte rendu "été"; x=1.pdf'
    doc = upload(client, auth, pdf_bytes(), name).json()
    got = client.get(f"{API}/me/documents/{doc['id']}/content", headers=auth)
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('inline; filename="Compte_rendu_ete_x_1.pdf"; filename*=UTF-8')
    assert "%C3%A9t%C3%A9" in disposition and "\n" not in disposition
    attachment = client.get(
        f"{API}/me/documents/{doc['id']}/content?disposition=attachment", headers=auth
    )
    assert attachment.headers["content-disposition"].startswith("attachment;")
    etag = got.headers["etag"]
    again = client.get(
        f"{API}/me/documents/{doc['id']}/content", headers={**auth, "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    # ACC-8: one audit entry per download, with the request's id.
    with database.transaction() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "document.download", AuditEntry.target_id == doc["id"])
            .order_by(AuditEntry.at)
        ).all()
    assert len(entries) == 3  # two downloads and the 304
    assert got.headers["X-Request-ID"] in {e.request_id for e in entries}


# -- DOC-3, DOC-6: changes -----------------------------------------------------------------------


def test_doc6_patch_renames_moves_pins_and_doc3_masks(
    client: TestClient, auth: dict[str, str]
) -> None:
    doc = upload(client, auth, pdf_bytes()).json()
    other = upload(client, auth, pdf_bytes(), "autre.pdf").json()
    folder = client.post(f"{API}/me/folders", headers=auth, json={"name": "Cardio"}).json()
    url = f"{API}/me/documents/{doc['id']}"
    changed = client.patch(
        url,
        headers=auth,
        json={"title": "ECG 2025", "folder_id": folder["id"], "pinned": True, "masked": True},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["title"], body["folder_id"], body["pinned"], body["masked"]) == (
        "ECG 2025",
        folder["id"],
        True,
        True,
    )
    # DOC-3: a masked document stays visible to its holder, in the list and for download.
    listing = client.get(f"{API}/me/documents", headers=auth).json()
    assert listing["items"][0]["id"] == doc["id"]  # pinned first
    assert client.get(f"{url}/content", headers=auth).status_code == 200
    in_folder = client.get(f"{API}/me/documents?folder={folder['id']}", headers=auth).json()
    assert [item["id"] for item in in_folder["items"]] == [doc["id"]]
    assert (
        client.get(f"{API}/me/documents?pinned=false", headers=auth).json()["items"][0]["id"]
        == other["id"]
    )

    # Leaving a field out keeps it; null takes the document out of its folder; unmasking.
    cleared = client.patch(url, headers=auth, json={"folder_id": None, "masked": False}).json()
    assert (cleared["folder_id"], cleared["masked"], cleared["pinned"]) == (None, False, True)
    assert cleared["title"] == "ECG 2025"
    assert_error(client.patch(url, headers=auth, json={"colour": "red"}), 400)
    assert_error(client.patch(url, headers=auth, json={"title": ""}), 400)
    assert_error(client.patch(url, headers=auth, json={"folder_id": str(uuid.uuid4())}), 404)


def test_doc6_delete_removes_row_and_blob_unless_not_deletable(
    client: TestClient,
    auth: dict[str, str],
    owner: Holder,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    doc = upload(client, auth, pdf_bytes()).json()
    with database.transaction() as session:
        row = session.get(Document, uuid.UUID(doc["id"]))
        assert row is not None
        blob = blob_path(settings, row.blob_id)
    assert blob.exists()
    response = client.delete(f"{API}/me/documents/{doc['id']}", headers=auth)
    assert response.status_code == 204
    assert not blob.exists()
    assert_error(client.get(f"{API}/me/documents/{doc['id']}", headers=auth), 404)
    locked = deposit(database, vault, settings, owner.id, not_deletable=True)
    listed = client.get(f"{API}/me/documents", headers=auth).json()["items"]
    assert listed[0]["deletable"] is False
    assert_error(
        client.delete(f"{API}/me/documents/{locked.id}", headers=auth), 409, "not-deletable"
    )
    assert document_count(database) == 1


def test_doc6_folders_create_list_rename_delete(
    client: TestClient, auth: dict[str, str], database: Database, owner: Holder
) -> None:
    zeta = client.post(f"{API}/me/folders", headers=auth, json={"name": "Zeta"})
    assert zeta.status_code == 201
    alpha = client.post(f"{API}/me/folders", headers=auth, json={"name": "alpha"}).json()
    assert [f["name"] for f in client.get(f"{API}/me/folders", headers=auth).json()] == [
        "alpha",
        "Zeta",
    ]
    renamed = client.patch(
        f"{API}/me/folders/{alpha['id']}", headers=auth, json={"name": "Ophtalmo"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ophtalmo"
    doc = upload(client, auth, pdf_bytes(), folder_id=alpha["id"]).json()
    assert client.delete(f"{API}/me/folders/{alpha['id']}", headers=auth).status_code == 204
    # The documents stay, in no folder.
    assert client.get(f"{API}/me/documents/{doc['id']}", headers=auth).json()["folder_id"] is None
    assert [f["name"] for f in client.get(f"{API}/me/folders", headers=auth).json()] == ["Zeta"]
    assert_error(client.post(f"{API}/me/folders", headers=auth, json={"name": ""}), 400)
    assert_error(client.delete(f"{API}/me/folders/{alpha['id']}", headers=auth), 404)
    with database.transaction() as session:
        stranger = make_holder(session)
    theirs = headers_for(database, stranger.id)
    zeta_id = zeta.json()["id"]
    assert_error(
        client.patch(f"{API}/me/folders/{zeta_id}", headers=theirs, json={"name": "x"}), 404
    )
    assert_error(client.delete(f"{API}/me/folders/{zeta_id}", headers=theirs), 404)
    assert client.get(f"{API}/me/folders", headers=theirs).json() == []


# -- DOC-5: preferences ------------------------------------------------------------------------


def test_doc5_default_masking_applies_to_new_documents(
    client: TestClient,
    auth: dict[str, str],
    owner: Holder,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    url = f"{API}/me/document-preferences"
    assert client.get(url, headers=auth).json() == {
        "mask_new_documents": False,
        "notify_new_documents": True,
    }
    before = deposit(database, vault, settings, owner.id)
    assert not before.masked
    put = client.put(url, headers=auth, json={"mask_new_documents": True})
    assert put.json() == {"mask_new_documents": True, "notify_new_documents": True}
    after = deposit(database, vault, settings, owner.id)
    assert after.masked  # DOC-5: the holder's default for future documents
    uploaded = upload(client, auth, pdf_bytes()).json()
    assert uploaded["masked"] is True
    listed = {
        i["id"]: i["masked"]
        for i in client.get(f"{API}/me/documents", headers=auth).json()["items"]
    }
    assert listed == {str(before.id): False, str(after.id): True, uploaded["id"]: True}
    # DOC-3: the holder still reads a masked document.
    assert client.get(f"{API}/me/documents/{after.id}/content", headers=auth).status_code == 200
    assert_error(client.put(url, headers=auth, json={"mask_new_documents": "maybe"}), 400)
    assert_error(client.put(url, headers=auth, json={"other": True}), 400)


# -- managed spaces: representatives (REP-2) and caregivers (REP-4) ----------------------------


def test_rep1_a_representative_manages_a_minors_documents(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    fam = family(database)
    rep = headers_for(database, fam.parent.id, space=fam.child.id)
    doc = upload(client, rep, pdf_bytes(), title="Carnet de santé p. 12")
    assert doc.status_code == 201
    body = doc.json()
    assert body["author"] == "me"  # from where the representative stands
    child = headers_for(database, fam.child.id)
    seen = client.get(f"{API}/me/documents/{body['id']}", headers=child).json()
    assert seen["author"] == "Alice TEST" and seen["author_kind"] == "holder"
    parent = headers_for(database, fam.parent.id)
    assert client.get(f"{API}/me/documents", headers=parent).json()["total"] == 0
    # A document is reached only through its own space, even for someone who manages both.
    assert_error(client.get(f"{API}/me/documents/{body['id']}", headers=parent), 404)
    own = upload(client, parent, pdf_bytes()).json()
    assert_error(client.get(f"{API}/me/documents/{own['id']}/content", headers=rep), 404)
    assert_error(client.delete(f"{API}/me/documents/{own['id']}", headers=rep), 404)


def test_rep2_representatives_never_see_documents_invisible_to_them(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    fam = family(database)
    shown = deposit(database, vault, settings, fam.child.id, title="Vaccins")
    secret = deposit(
        database,
        vault,
        settings,
        fam.child.id,
        title="Contraception",
        invisible_to_representatives=True,
    )
    # Awaiting an announcement and secret from the parents: not even counted for them.
    deposit(
        database,
        vault,
        settings,
        fam.child.id,
        title="Depistage",
        invisible_to_representatives=True,
        invisible_to_patient=True,
    )
    rep = headers_for(database, fam.parent.id, space=fam.child.id)
    listing = client.get(f"{API}/me/documents", headers=rep).json()
    assert listing["total"] == 1 and [i["id"] for i in listing["items"]] == [str(shown.id)]
    assert listing["awaiting_announcement"] == 0
    assert "Contraception" not in str(listing)
    for method, path in (
        ("GET", f"/me/documents/{secret.id}"),
        ("GET", f"/me/documents/{secret.id}/content"),
        ("PATCH", f"/me/documents/{secret.id}"),
        ("DELETE", f"/me/documents/{secret.id}"),
    ):
        response = client.request(
            method, API + path, headers=rep, json={} if method == "PATCH" else None
        )
        assert_error(response, 404, "not-found")
    # The minor sees both, and the one awaiting its announcement is counted (DOC-4).
    own = client.get(f"{API}/me/documents", headers=headers_for(database, fam.child.id)).json()
    assert own["total"] == 2 and own["awaiting_announcement"] == 1


def test_rep4_caregivers_help_but_do_not_change_access_settings(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    fam = family(database)
    helper = headers_for(database, fam.caregiver.id, space=fam.helped.id)
    doc = upload(client, helper, pdf_bytes())
    assert doc.status_code == 201
    url = f"{API}/me/documents/{doc.json()['id']}"
    assert client.patch(url, headers=helper, json={"title": "Ordonnance"}).status_code == 200
    assert client.get(f"{API}/me/documents", headers=helper).json()["total"] == 1
    folder = client.post(f"{API}/me/folders", headers=helper, json={"name": "Pharmacie"})
    assert folder.status_code == 201
    # Masking decides what professionals read: an access setting (REP-4).
    assert_error(
        client.patch(url, headers=helper, json={"masked": True}), 403, "caregiver-forbidden"
    )
    prefs = f"{API}/me/document-preferences"
    assert_error(
        client.put(prefs, headers=helper, json={"mask_new_documents": True}),
        403,
        "caregiver-forbidden",
    )
    ok = client.put(prefs, headers=helper, json={"notify_new_documents": False})
    assert ok.status_code == 200 and ok.json()["notify_new_documents"] is False
    # Without the header the caregiver is in their own space.
    own = headers_for(database, fam.caregiver.id)
    assert client.get(f"{API}/me/documents", headers=own).json()["total"] == 0


def test_professionals_cannot_use_the_holder_api(
    client: TestClient, database: Database, owner: Holder
) -> None:
    from carnet.auth.principal import Principal, PrincipalKind
    from carnet.auth.service import issue_token
    from tests.factories import make_professional

    with database.transaction() as session:
        pro = make_professional(session)
        token, _ = issue_token(
            session, Principal(PrincipalKind.PROFESSIONAL, pro.id), ttl=dt.timedelta(hours=1)
        )
    headers = {"Authorization": f"Bearer {token}", "X-Carnet-Space": str(owner.id)}
    assert_error(client.get(f"{API}/me/documents", headers=headers), 403)
    assert_error(upload(client, headers, pdf_bytes()), 403)


def test_closed_space_takes_no_upload(client: TestClient, database: Database) -> None:
    """LC-5: nobody uploads into a closed space: not its holder (a leftover token opens no door,
    `access.rules.sign_in_lasts`) nor the caregiver helping them (the decision point)."""
    fam = family(database)
    own = headers_for(database, fam.helped.id)
    helper = headers_for(database, fam.caregiver.id, space=fam.helped.id)
    with database.transaction() as session:
        row = session.get(Holder, fam.helped.id)
        assert row is not None
        row.state = "closed"
    assert_error(upload(client, own, pdf_bytes()), 401)
    assert_error(upload(client, helper, pdf_bytes()), 409, "space-not-open")
    assert client.get(f"{API}/me/documents", headers=helper).json()["total"] == 0


def test_malformed_multipart_bodies_are_400(client: TestClient, auth: dict[str, str]) -> None:
    url = f"{API}/me/documents"
    headers = {**auth, "Content-Type": "multipart/form-data; boundary=xyz"}
    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello'
    truncated = client.post(url, headers=headers, content=part)
    assert "incomplete" in assert_error(truncated, 400, "malformed-upload")["message"]
    twice = part + b"\r\n" + part + b"\r\n--xyz--\r\n"
    assert assert_error(client.post(url, headers=headers, content=twice), 400)["field"] == "file"
    assert_error(
        client.post(url, headers={**auth, "Content-Type": "multipart/form-data"}, content=part),
        415,
    )
    garbage = client.post(url, headers=headers, content=b"--xyz\r\n\x00\x01\r\n\r\n--nope")
    assert_error(garbage, 400)
