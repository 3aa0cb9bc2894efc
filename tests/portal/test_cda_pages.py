"""Structured (CDA) documents in the portal (issue 16 item 5): holders and professionals read the
narrative in the page, a level-1 document's PDF in the page's frame, both read like the download
(decision point, audit entry), the original still downloadable."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access.models import CareRelationship
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.documents.test_cda import BIO, LEVEL1, fixture
from tests.portal.support import deposit, log_in, make_account
from tests.portal.test_pro_pages import make_pro, pro_log_in, send


def _downloads(database: Database, doc_id: object) -> int:
    with database.transaction() as session:
        return len(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "document.download", AuditEntry.target_id == str(doc_id)
                )
            ).all()
        )


def test_the_holder_reads_a_lab_report_in_the_page(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    doc_id = deposit(database, vault, settings, holder, "Bilan thyroïdien", content=fixture(BIO))
    log_in(client, database)
    page = client.get(f"/documents/{doc_id}")
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert '<h3 class="cda-title">BIOCHIMIE</h3>' in shown
    assert "<td>1.950 mUI/l</td>" in shown
    assert "Laboratoire des charmes" in shown  # the custodian, from the CDA header
    assert "Conservé par" in shown  # French labels
    assert f'href="/documents/{doc_id}/content?download=1"' in shown  # the original, as it is
    assert _downloads(database, doc_id) == 1  # reading the content is audited like a download
    # A structured document wraps no file to frame.
    assert client.get(f"/documents/{doc_id}/embedded").status_code == 404
    client.cookies.set("carnet_lang", "en")
    assert "Kept by" in client.get(f"/documents/{doc_id}").text


def test_a_level1_document_shows_its_pdf_in_the_frame(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    doc_id = deposit(database, vault, settings, holder, "Compte rendu", content=fixture(LEVEL1))
    log_in(client, database)
    page = client.get(f"/documents/{doc_id}")
    assert f'<iframe class="viewer" src="/documents/{doc_id}/embedded"' in page.text
    embedded = client.get(f"/documents/{doc_id}/embedded")
    assert embedded.status_code == 200
    assert embedded.content.startswith(b"%PDF-")
    assert embedded.headers["content-type"] == "application/pdf"
    assert embedded.headers["content-disposition"].startswith("inline")
    assert embedded.headers["x-content-type-options"] == "nosniff"
    assert embedded.headers["x-frame-options"] == "SAMEORIGIN"
    assert "default-src 'none'" in embedded.headers["content-security-policy"]
    download = client.get(f"/documents/{doc_id}/content?download=1")
    assert download.content == fixture(LEVEL1)
    assert download.headers["content-disposition"].startswith("attachment")
    assert _downloads(database, doc_id) == 3  # page, frame, download: each read is recorded


def test_xml_that_is_not_a_cda_is_offered_for_download_only(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    content = b'<?xml version="1.0"?><note><script>alert(1)</script></note>'
    doc_id = deposit(database, vault, settings, holder, "Note", content=content)
    log_in(client, database)
    page = client.get(f"/documents/{doc_id}")
    assert page.status_code == 200
    assert "ne peut pas être affiché" in html.unescape(page.text)
    assert "alert(1)" not in page.text
    assert client.get(f"/documents/{doc_id}/embedded").status_code == 404


def test_another_spaces_cda_is_not_found(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    make_account(database)
    other = make_account(database, "paul")
    doc_id = deposit(database, vault, settings, other, "Compte rendu", content=fixture(LEVEL1))
    log_in(client, database)
    for path in ("", "/embedded", "/content"):
        assert client.get(f"/documents/{doc_id}{path}").status_code == 404
    assert _downloads(database, doc_id) == 0


def test_the_professional_reads_the_narrative_and_the_level1_pdf(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    report = deposit(database, vault, settings, holder, "Bilan thyroïdien", content=fixture(BIO))
    scan = deposit(database, vault, settings, holder, "Compte rendu", content=fixture(LEVEL1))
    pro = make_pro(database)
    with database.transaction() as session:  # ACC-1: the holder authorised this physician
        session.add(
            CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
        )
    # Nothing of the patient's before the patient is found.
    pro_log_in(client, database, pro)
    assert client.get(f"/pro/documents/{report}", follow_redirects=False).status_code == 303
    send(client, "/pro/find", {"nir": holder.nir})
    patient = client.get("/pro/patient").text
    assert f'href="/pro/documents/{report}"' in patient
    page = html.unescape(client.get(f"/pro/documents/{report}").text)
    assert '<h3 class="cda-title">BIOCHIMIE</h3>' in page
    assert "Thyroxine libre (FT4)" in page and "<td>7.67 pg/ml</td>" in page
    framed = client.get(f"/pro/documents/{scan}")
    assert f'<iframe class="viewer" src="/pro/documents/{scan}/embedded"' in framed.text
    embedded = client.get(f"/pro/documents/{scan}/embedded")
    assert embedded.status_code == 200 and embedded.content.startswith(b"%PDF-")
    assert "default-src 'none'" in embedded.headers["content-security-policy"]
    assert client.get(f"/pro/documents/{report}/embedded").status_code == 404
    assert _downloads(database, report) == 2  # the page, and the frame's read that found no file
