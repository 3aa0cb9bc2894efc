"""What the FHIR tests share: people with tokens, PDFs, MHD resources and the R4 schema check.

Every FHIR JSON body a test receives goes through `fhir_json()`, which checks the content type and
validates the resource against the official R4 JSON schema (`tests/data/fhir/r4/fhir.schema.json`,
the repository's own copy, CC0), so each test also checks what Carnet emits.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from fpdf import FPDF

from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.db import Database
from carnet.documents.models import Document
from carnet.vault.blobstore import LocalBlobStore
from tests.factories import make_holder, make_professional

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "fhir" / "r4" / "fhir.schema.json"
FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
CATEGORY = "https://carnet.example/fhir/CodeSystem/document-category"
VISIBILITY = "urn:oid:1.2.250.1.213.1.1.4.13"
LAB_REPORT = "11502-2"  # CR d'examens biologiques, category BIOLOGIE
DISCHARGE_LETTER = "11490-0"  # category CPT_REND


@functools.cache
def _schema() -> dict[str, Any]:
    """The 3.5 MB official schema, read once per test process."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema.pop("oneOf")
    schema.pop("discriminator")
    return schema


@functools.cache
def validator(resource_type: str) -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator({**_schema(), "$ref": f"#/definitions/{resource_type}"})


def schema_errors(resource: dict[str, Any]) -> list[str]:
    errors = validator(resource["resourceType"]).iter_errors(resource)
    return sorted(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def fhir_json(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The FHIR body of `response`, after checking status, content type and the R4 schema."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = response.json()
    assert schema_errors(body) == [], body
    return body


def outcome(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The issues of an OperationOutcome answer (checked against the schema)."""
    body = fhir_json(response, status)
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def locations(issues: list[dict[str, Any]]) -> list[str]:
    return [where for issue in issues for where in issue.get("expression", [])]


def pdf(text: str = "Compte rendu") -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text=text)
    return bytes(document.output())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha1_b64(data: bytes) -> str:
    return b64(hashlib.sha1(data).digest())  # noqa: S324 - what R4 Attachment.hash is


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class People:
    holder_id: uuid.UUID
    nir: str
    holder_token: str
    pro_id: uuid.UUID
    rpps: str
    pro_token: str
    other_pro_id: uuid.UUID
    other_rpps: str
    other_token: str

    @property
    def pro(self) -> dict[str, str]:
        return bearer(self.pro_token)

    @property
    def other(self) -> dict[str, str]:
        return bearer(self.other_token)

    @property
    def holder(self) -> dict[str, str]:
        return bearer(self.holder_token)


def people(database: Database, **holder: Any) -> People:
    """A holder with an open space and a qualified INS, the professional who deposits, another."""
    ttl = dt.timedelta(hours=1)
    with database.transaction() as session:
        person = make_holder(session, **holder)
        pro = make_professional(session)
        other = make_professional(session)
        holder_token, _ = issue_token(session, Principal(PrincipalKind.HOLDER, person.id), ttl=ttl)
        pro_token, _ = issue_token(session, Principal(PrincipalKind.PROFESSIONAL, pro.id), ttl=ttl)
        other_token, _ = issue_token(
            session, Principal(PrincipalKind.PROFESSIONAL, other.id), ttl=ttl
        )
        return People(
            person.id,
            person.nir,
            holder_token,
            pro.id,
            pro.rpps,
            pro_token,
            other.id,
            other.rpps,
            other_token,
        )


def subject(nir: str) -> dict[str, Any]:
    return {"identifier": {"system": INS_NIR_SYSTEM, "value": nir}}


def author(rpps: str) -> list[dict[str, Any]]:
    return [{"type": "Practitioner", "identifier": {"system": RPPS_SYSTEM, "value": rpps}}]


def document_reference(
    nir: str,
    rpps: str,
    *,
    content: bytes | None = None,
    url: str | None = None,
    type_code: str = LAB_REPORT,
    title: str = "Bilan sanguin",
    content_type: str = "application/pdf",
    **extra: Any,
) -> dict[str, Any]:
    """An MHD DocumentReference as a professional's software sends it."""
    attachment: dict[str, Any] = {"contentType": content_type, "title": title}
    if content is not None:
        attachment["data"] = b64(content)
    if url is not None:
        attachment["url"] = url
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": type_code}]},
        "subject": subject(nir),
        "author": author(rpps),
        "description": title,
        "content": [{"attachment": attachment}],
    }
    resource.update(extra)
    return resource


def provide_bundle(
    nir: str, rpps: str, contents: list[bytes], **document_extra: Any
) -> dict[str, Any]:
    """An ITI-65 transaction: List, then the DocumentReferences, then their Binaries."""
    refs = [f"urn:uuid:{uuid.uuid4()}" for _ in contents]
    bins = [f"urn:uuid:{uuid.uuid4()}" for _ in contents]
    list_url = f"urn:uuid:{uuid.uuid4()}"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": list_url,
            "resource": {
                "resourceType": "List",
                "status": "current",
                "mode": "working",
                "code": {
                    "coding": [
                        {
                            "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                            "code": "submissionset",
                        }
                    ]
                },
                "subject": subject(nir),
                "identifier": [
                    {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.3.{uuid.uuid4().int}"}
                ],
                "entry": [{"item": {"reference": ref}} for ref in refs],
            },
            "request": {"method": "POST", "url": "List"},
        }
    ]
    for index, (ref, bin_url, data) in enumerate(zip(refs, bins, contents, strict=True)):
        doc = document_reference(
            nir, rpps, url=bin_url, title=f"Document {index + 1}", **document_extra
        )
        doc["content"][0]["attachment"]["size"] = len(data)
        doc["content"][0]["attachment"]["hash"] = sha1_b64(data)
        entries.append(
            {
                "fullUrl": ref,
                "resource": doc,
                "request": {"method": "POST", "url": "DocumentReference"},
            }
        )
    for bin_url, data in zip(bins, contents, strict=True):
        entries.append(
            {
                "fullUrl": bin_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": b64(data),
                },
                "request": {"method": "POST", "url": "Binary"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def count_documents(database: Database, holder_id: uuid.UUID | None = None) -> int:
    from sqlalchemy import func, select

    with database.transaction() as session:
        statement = select(func.count()).select_from(Document)
        if holder_id is not None:
            statement = statement.where(Document.holder_id == holder_id)
        return int(session.scalar(statement) or 0)


def blob_count(blob_dir: Path) -> int:
    return len(list(LocalBlobStore(blob_dir).ids()))


def deposit_one(client: Any, who: People, **kwargs: Any) -> dict[str, Any]:
    """POST /fhir/DocumentReference with inline content (or `url`); the created resource."""
    content = kwargs.pop("content", None)
    if content is None and "url" not in kwargs:
        content = pdf(str(uuid.uuid4()))
    body = document_reference(who.nir, who.rpps, content=content, **kwargs)
    response = client.post("/fhir/DocumentReference", json=body, headers=who.pro)
    return fhir_json(response, 201)
