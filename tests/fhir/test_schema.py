"""Every kind of resource Carnet emits validates against the official R4 JSON schema.

The schema is the repository's own copy, `tests/data/fhir/r4/fhir.schema.json` (CC0, source in
`tests/data/fhir/README.md`), loaded once per test process; each resource is validated through its
own definition with a Draft-6 validator. Rules: DOC-1 (type, category, size, SHA-1 hash), DOC-2…DOC-4
(security labels), DOC-6 (status, relatesTo), ID-1 (INS-NIR), ID-2 (RPPS).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.db import Database
from carnet.fhir import resources
from tests.fhir.support import (
    CATEGORY,
    DISCHARGE_LETTER,
    SCHEMA_PATH,
    VISIBILITY,
    document_reference,
    fhir_json,
    outcome,
    pdf,
    people,
    provide_bundle,
    schema_errors,
    sha1_b64,
)

EMITTED = {
    "DocumentReference",
    "Binary",
    "Patient",
    "List",
    "Bundle/searchset",
    "Bundle/transaction-response",
    "OperationOutcome",
    "CapabilityStatement",
}


def test_the_schema_is_carried_by_the_repository() -> None:
    """A clone anywhere passes `make test`: the schema lives inside the repository (issue 12, item 9)."""
    repository = Path(__file__).resolve().parents[2]
    assert SCHEMA_PATH.is_file()
    assert SCHEMA_PATH.resolve().is_relative_to(repository)


def test_the_validator_really_checks() -> None:
    """A broken resource fails, so passing means something."""
    broken = {"resourceType": "DocumentReference", "status": "bogus", "content": "x"}
    assert schema_errors(broken)
    assert schema_errors({"resourceType": "Patient", "gender": "m"})  # required binding


def _full_document(nir: str, rpps: str, content: bytes, **extra: Any) -> dict[str, Any]:
    """A DocumentReference with every optional part Carnet keeps."""
    resource = document_reference(
        nir,
        rpps,
        content=content,
        type_code=DISCHARGE_LETTER,
        title="Lettre de liaison",
        masterIdentifier={"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.42"},
        category=[{"coding": [{"system": CATEGORY, "code": "CPT_REND"}]}],
        securityLabel=[
            {"coding": [{"system": VISIBILITY, "code": "MASQUE_PS"}]},
            {"coding": [{"system": VISIBILITY, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]},
            {"coding": [{"system": VISIBILITY, "code": "INVISIBLE_PATIENT"}]},
        ],
        context={"period": {"start": "2026-11-20T08:30:00+01:00", "end": "2026-11-23T17:00:00Z"}},
        **extra,
    )
    attachment = resource["content"][0]["attachment"]
    attachment.update(
        {
            "language": "fr-FR",
            "creation": "2026-11-23T17:05:00+01:00",
            "size": len(content),
            "hash": sha1_b64(content),
        }
    )
    resource["content"][0]["format"] = {
        "system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
        "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient",
    }
    return resource


def test_every_kind_of_resource_emitted_validates(client: TestClient, database: Database) -> None:
    """DOC-1…DOC-6, ID-1, ID-2: one of each kind, with every optional part, through the API."""
    who = people(database)
    seen: set[str] = set()

    def check(response: Any, status: int = 200) -> dict[str, Any]:
        body = fhir_json(response, status)  # content type + schema
        kind = body["resourceType"]
        seen.add(f"{kind}/{body['type']}" if kind == "Bundle" else kind)
        return body

    first = pdf("version 1")
    old = check(
        client.post(
            "/fhir/DocumentReference",
            json=_full_document(who.nir, who.rpps, first),
            headers=who.pro,
        ),
        201,
    )
    second = pdf("version 2")
    new = _full_document(
        who.nir,
        who.rpps,
        second,
        relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}],
    )
    new["masterIdentifier"]["value"] = "urn:oid:1.2.250.1.999.1.43"
    created = check(client.post("/fhir/DocumentReference", json=new, headers=who.pro), 201)

    read = check(client.get(f"/fhir/DocumentReference/{created['id']}", headers=who.pro))
    for element in (
        "masterIdentifier",
        "identifier",
        "status",
        "docStatus",
        "type",
        "category",
        "subject",
        "date",
        "author",
        "relatesTo",
        "description",
        "securityLabel",
        "content",
        "context",
    ):
        assert element in read, element
    attachment = read["content"][0]["attachment"]
    assert set(attachment) == {
        "contentType",
        "language",
        "url",
        "size",
        "hash",
        "title",
        "creation",
    }
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(second).digest()).decode()  # noqa: S324
    assert read["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    labels = {c["code"] for label in read["securityLabel"] for c in label["coding"]}
    assert labels == {"N", "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"}
    assert read["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{old['id']}"
    superseded = check(client.get(f"/fhir/DocumentReference/{old['id']}", headers=who.pro))
    assert superseded["status"] == "superseded"

    check(
        client.get(
            f"/fhir/Binary/{created['id']}",
            headers={**who.pro, "Accept": "application/fhir+json"},
        )
    )
    check(client.get(f"/fhir/Patient/{who.holder_id}", headers=who.pro))
    check(
        client.get(
            f"/fhir/DocumentReference?patient.identifier={INS_NIR_SYSTEM}|{who.nir}&_count=1",
            headers=who.pro,
        )
    )
    answer = check(
        client.post("/fhir", json=provide_bundle(who.nir, who.rpps, [pdf("a")]), headers=who.pro)
    )
    submission = answer["entry"][0]["resource"]
    assert schema_errors(submission) == []
    seen.add(submission["resourceType"])
    staged = check(
        client.post(
            "/fhir/Binary",
            content=pdf("staged"),
            headers={
                **who.pro,
                "Content-Type": "application/pdf",
                "X-Security-Context": f"Patient/{who.holder_id}",
            },
        ),
        201,
    )
    assert "data" not in staged
    outcome(client.post("/fhir", json={"resourceType": "Bundle"}, headers=who.pro), 400)
    seen.add("OperationOutcome")
    check(client.get("/fhir/metadata"))
    assert seen == EMITTED


@pytest.mark.parametrize(
    "resource",
    [
        resources.capability_statement("http://localhost:8000"),
        resources.transaction_response([resources.created_entry("Binary/x")]),
        resources.searchset([], 0, [("self", "http://localhost/fhir/Patient?identifier=x")]),
    ],
    ids=["capability", "transaction-response", "empty-searchset"],
)
def test_builders_alone_validate(resource: dict[str, Any]) -> None:
    assert schema_errors(resource) == []
