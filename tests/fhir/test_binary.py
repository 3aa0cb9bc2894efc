"""ITI-68 Retrieve Document: the original bytes with their type, ETag, Range, or a FHIR Binary.

The decision and the audit entry come first (`documents.service.read_content`, ACC-8); the content's
SHA-256 is checked before anything is sent (DOC-1).
"""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from tests.fhir.support import deposit_one, fhir_json, outcome, pdf, people


def test_original_bytes_etag_and_conditional_get(client: TestClient, database: Database) -> None:
    who = people(database)
    content = pdf("résultats")
    made = deposit_one(client, who, content=content)
    response = client.get(f"/fhir/Binary/{made['id']}", headers=who.pro)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["accept-ranges"] == "bytes"
    etag = response.headers["etag"]
    assert etag.startswith('"') and len(etag) == 66  # the SHA-256 in quotes
    unchanged = client.get(f"/fhir/Binary/{made['id']}", headers={**who.pro, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    weak = client.get(
        f"/fhir/Binary/{made['id']}", headers={**who.pro, "If-None-Match": f"W/{etag}"}
    )
    assert weak.status_code == 304
    changed = client.get(f"/fhir/Binary/{made['id']}", headers={**who.pro, "If-None-Match": '"x"'})
    assert changed.status_code == 200
    with database.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == made["id"])
        ).all()
    assert actions.count("document.download") == 4


def test_byte_ranges(client: TestClient, database: Database) -> None:
    who = people(database)
    content = pdf("range")
    size = len(content)
    doc_id = deposit_one(client, who, content=content)["id"]

    def get(range_header: str) -> tuple[int, bytes, str | None]:
        response = client.get(f"/fhir/Binary/{doc_id}", headers={**who.pro, "Range": range_header})
        return response.status_code, response.content, response.headers.get("content-range")

    assert get("bytes=0-9") == (206, content[:10], f"bytes 0-9/{size}")
    assert get("bytes=10-") == (206, content[10:], f"bytes 10-{size - 1}/{size}")
    assert get("bytes=-5") == (206, content[-5:], f"bytes {size - 5}-{size - 1}/{size}")
    assert get(f"bytes=5-{size + 100}") == (206, content[5:], f"bytes 5-{size - 1}/{size}")
    assert get("items=0-1")[0] == 200  # another unit: the header is ignored (RFC 9110)
    for invalid in (f"bytes={size}-", "bytes=9-3", "bytes=0-1,4-5", "bytes=abc", "bytes=-0"):
        response = client.get(f"/fhir/Binary/{doc_id}", headers={**who.pro, "Range": invalid})
        assert response.headers["content-range"] == f"bytes */{size}", invalid
        issues = outcome(response, 416)
        assert issues[0]["expression"] == ["Range"]


def test_fhir_json_form_when_asked(client: TestClient, database: Database) -> None:
    who = people(database)
    content = pdf("json")
    made = deposit_one(client, who, content=content)
    binary = fhir_json(
        client.get(
            f"/fhir/Binary/{made['id']}", headers={**who.pro, "Accept": "application/fhir+json"}
        )
    )
    assert binary["resourceType"] == "Binary"
    assert binary["id"] == made["id"]
    assert binary["contentType"] == "application/pdf"
    assert base64.b64decode(binary["data"]) == content
    assert binary["securityContext"] == {"reference": f"DocumentReference/{made['id']}"}


def test_unknown_or_unreadable_binary(client: TestClient, database: Database) -> None:
    who = people(database)
    outcome(client.get("/fhir/Binary/00000000-0000-0000-0000-000000000000", headers=who.pro), 404)
    outcome(client.get("/fhir/Binary/nope", headers=who.pro), 404)
    outcome(client.get("/fhir/Binary/nope"), 401)


def test_attachment_urls_are_absolute_and_fetchable(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """Strict R4 parsers refuse a relative `attachment.url`: every DocumentReference Carnet renders
    (create, read, search, $everything) names the bytes by an absolute URL on its FHIR base, which
    the same caller can fetch (ITI-68)."""
    who = people(database)
    content = pdf("absolu")
    made = deposit_one(client, who, content=content)
    doc_id = made["id"]
    read = fhir_json(client.get(f"/fhir/DocumentReference/{doc_id}", headers=who.pro))
    found = fhir_json(
        client.get(f"/fhir/DocumentReference?patient=Patient/{who.holder_id}", headers=who.pro)
    )
    everything = fhir_json(client.get(f"/fhir/Patient/{who.holder_id}/$everything", headers=who.pro))
    rendered = [
        made,
        read,
        *(e["resource"] for e in found["entry"]),
        *(
            e["resource"]
            for e in everything["entry"]
            if e["resource"]["resourceType"] == "DocumentReference"
        ),
    ]
    assert len(rendered) == 4
    expected = f"{settings.base_url.rstrip('/')}/fhir/Binary/{doc_id}"
    for resource in rendered:
        assert resource["content"][0]["attachment"]["url"] == expected
    fetched = client.get(expected, headers=who.pro)
    assert fetched.status_code == 200
    assert fetched.content == content
