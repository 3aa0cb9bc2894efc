"""Deposits through FHIR: ITI-65 Provide Document Bundle, POST DocumentReference, staged Binaries.

Rules: ID-1 (INS-NIR subject), ID-2 (RPPS author), ID-3 (qualified INS), ACC-2 (any professional
deposits), DOC-1 (LOINC type, sniffed type, size limit, size and SHA-1 hash), DOC-6 (replacement,
the old version superseded and never lost). Every problem of an invalid request is listed in the
OperationOutcome with its location; a failed transaction stores nothing, not even a blob.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.accounts.models import Holder
from carnet.accounts.rules import INS_NIR_SYSTEM, make_nir
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.models import StagedBinary
from tests.fhir.support import (
    FHIR_JSON,
    LAB_REPORT,
    b64,
    blob_count,
    count_documents,
    deposit_one,
    document_reference,
    fhir_json,
    locations,
    outcome,
    pdf,
    people,
    provide_bundle,
    sha1_b64,
)


def _codes(issues: list[dict[str, Any]]) -> set[str]:
    return {c["code"] for i in issues for c in i["details"]["coding"]}


# -- ITI-65 --------------------------------------------------------------------------------------


def test_iti65_stores_every_document_and_answers_each_entry(
    client: TestClient, database: Database
) -> None:
    """ITI-65: List + 2 DocumentReferences + 2 Binaries → transaction-response, same order."""
    who = people(database)
    contents = [pdf("bilan 1"), pdf("bilan 2")]
    bundle = provide_bundle(who.nir, who.rpps, contents)
    answer = fhir_json(client.post("/fhir", json=bundle, headers=who.pro))
    assert answer["type"] == "transaction-response"
    entries = answer["entry"]
    assert len(entries) == len(bundle["entry"]) == 5
    assert all(e["response"]["status"] == "201 Created" for e in entries)
    submission = entries[0]["resource"]
    assert submission["resourceType"] == "List"
    documents = [e["response"]["location"] for e in entries[1:3]]
    assert [e["item"]["reference"] for e in submission["entry"]] == documents
    assert submission["identifier"][1] == bundle["entry"][0]["resource"]["identifier"][0]
    for location, binary, content in zip(documents, entries[3:], contents, strict=True):
        assert location.startswith("DocumentReference/")
        doc_id = location.split("/")[1]
        assert binary["response"]["location"] == f"Binary/{doc_id}"
        read = fhir_json(client.get(f"/fhir/{location}", headers=who.pro))
        assert read["subject"]["identifier"] == {"system": INS_NIR_SYSTEM, "value": who.nir}
        assert read["author"][0]["identifier"]["value"] == who.rpps
        assert read["content"][0]["attachment"]["size"] == len(content)
        assert read["content"][0]["attachment"]["hash"] == sha1_b64(content)
        assert client.get(f"/fhir/Binary/{doc_id}", headers=who.pro).content == content
    assert count_documents(database, who.holder_id) == 2


def test_iti65_is_all_or_nothing(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """The second document fails inside the service (a PDF that does not parse, DOC-1) after the
    first was written: nothing is stored, no blob is left, no audit entry remains."""
    who = people(database)
    broken = b"%PDF-1.7\nthis is not a PDF at all\n%%EOF\n"
    bundle = provide_bundle(who.nir, who.rpps, [pdf("fine"), broken])
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert locations(issues) == ["Bundle.entry[2].resource.content[0].attachment"]
    assert "unreadable-pdf" in _codes(issues)
    assert count_documents(database) == 0
    assert blob_count(settings.effective_blob_dir) == 0
    with database.transaction() as session:
        deposits = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "document.deposit")
        )
    assert deposits == 0
    # The same Bundle without the broken document goes through.
    good = provide_bundle(who.nir, who.rpps, [pdf("fine")])
    fhir_json(client.post("/fhir", json=good, headers=who.pro))
    assert count_documents(database) == 1
    assert blob_count(settings.effective_blob_dir) == 1


def test_an_invalid_bundle_lists_every_problem(client: TestClient, database: Database) -> None:
    who = people(database)
    bundle = provide_bundle(who.nir, who.rpps, [pdf("a"), pdf("b")])
    bundle["type"] = "batch"
    entries = bundle["entry"]
    del entries[1]["resource"]["type"]
    entries[2]["resource"]["subject"]["identifier"]["value"] = "123"
    entries[2]["resource"]["status"] = "superseded"
    entries[3]["resource"]["data"] = "not base64!"
    entries.append(
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {"resourceType": "Observation", "status": "final"},
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    entries[4]["request"]["method"] = "PUT"
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    found = locations(issues)
    for expected in (
        "Bundle.type",
        "Bundle.entry[1].resource.type",
        "Bundle.entry[2].resource.subject.identifier.value",
        "Bundle.entry[2].resource.status",
        "Bundle.entry[3].resource.data",
        "Bundle.entry[4].request.method",
        "Bundle.entry[5].resource.resourceType",
    ):
        assert expected in found, (expected, found)
    assert len(issues) >= 7
    assert all(issue["severity"] == "error" for issue in issues)
    assert count_documents(database) == 0


def test_bundle_structure_problems(client: TestClient, database: Database) -> None:
    """One submission set, every Binary used once, every document listed in the List."""
    who = people(database)
    bundle = provide_bundle(who.nir, who.rpps, [pdf("a"), pdf("b")])
    entries = bundle["entry"]
    entries[0]["resource"]["entry"].pop()  # the second document is not listed
    entries[2]["resource"]["content"][0]["attachment"]["url"] = entries[3]["fullUrl"]
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    found = locations(issues)
    assert "Bundle.entry[0].resource.entry" in found  # not listed
    assert "Bundle.entry[2].resource.content[0].attachment.url" in found  # Binary used twice
    assert "Bundle.entry[4]" in found  # unused Binary
    no_list = provide_bundle(who.nir, who.rpps, [pdf("a")])
    del no_list["entry"][0]
    assert "Bundle.entry" in locations(
        outcome(client.post("/fhir", json=no_list, headers=who.pro), 400)
    )


def test_not_json_and_wrong_media_type(client: TestClient, database: Database) -> None:
    who = people(database)
    headers = {**who.pro, "Content-Type": FHIR_JSON}
    assert locations(outcome(client.post("/fhir", content=b"{nope", headers=headers), 400)) == [
        "Bundle"
    ]
    outcome(
        client.post("/fhir", content=b"{}", headers={**who.pro, "Content-Type": "text/xml"}), 415
    )
    outcome(client.post("/fhir", json=[1, 2], headers=who.pro), 400)


# -- who: patient, identity, space, author ------------------------------------------------------


def test_unknown_patient_is_404_with_its_location(client: TestClient, database: Database) -> None:
    """ID-1: an INS-NIR nobody has."""
    who = people(database)
    stranger = make_nir(2, 1999, 12, "13", 55, 999)
    bundle = provide_bundle(stranger, who.rpps, [pdf("a")])
    bundle["entry"][0]["resource"]["subject"]["identifier"]["value"] = stranger
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 404)
    assert issues[0]["code"] == "not-found"
    assert locations(issues) == ["Bundle.entry[1].resource.subject"]
    assert "INS-NIR" in issues[0]["details"]["text"]
    missing = document_reference(who.nir, who.rpps, content=pdf("x"))
    missing["subject"] = {"reference": f"Patient/{uuid.uuid4()}"}
    outcome(client.post("/fhir/DocumentReference", json=missing, headers=who.pro), 404)
    assert count_documents(database) == 0


def test_unqualified_identity_is_refused_with_a_reason(
    client: TestClient, database: Database
) -> None:
    """ID-3: no deposit without a qualified INS (422)."""
    who = people(database, ins_qualified=False)
    issues = outcome(
        client.post("/fhir", json=provide_bundle(who.nir, who.rpps, [pdf("a")]), headers=who.pro),
        422,
    )
    assert "ins-not-qualified" in _codes(issues)
    assert "ID-3" in issues[0]["details"]["text"]
    assert count_documents(database) == 0


def test_a_closed_space_takes_no_document(client: TestClient, database: Database) -> None:
    """LC-5: a closed space is not open (409, with the reason)."""
    who = people(database, state="closed")
    issues = outcome(
        client.post(
            "/fhir/DocumentReference",
            json=document_reference(who.nir, who.rpps, content=pdf("a")),
            headers=who.pro,
        ),
        409,
    )
    assert "space-not-open" in _codes(issues)
    assert "not open" in issues[0]["details"]["text"]


def test_the_author_must_be_the_depositing_professional(
    client: TestClient, database: Database
) -> None:
    """ID-2: the Practitioner author (RPPS) is the professional whose token deposits (403)."""
    who = people(database)
    bundle = provide_bundle(who.nir, who.other_rpps, [pdf("a")])
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 403)
    assert locations(issues) == ["Bundle.entry[1].resource.author[0].identifier.value"]
    assert "author-mismatch" in _codes(issues)
    bad = document_reference(who.nir, "12345678901", content=pdf("a"))
    issues = outcome(client.post("/fhir/DocumentReference", json=bad, headers=who.pro), 400)
    assert "Luhn" in issues[0]["details"]["text"]
    # A contained Practitioner is read the same way.
    contained = document_reference(who.nir, who.rpps, content=pdf("a"))
    contained["contained"] = [
        {
            "resourceType": "Practitioner",
            "id": "pro",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": who.rpps}],
        }
    ]
    contained["author"] = [{"reference": "#pro"}]
    made = fhir_json(client.post("/fhir/DocumentReference", json=contained, headers=who.pro), 201)
    assert made["author"][0]["identifier"]["value"] == who.rpps


def test_only_professionals_deposit(client: TestClient, database: Database) -> None:
    """ACC-2: professionals deposit; holders upload through /api/v1 (403 here); no token → 401."""
    who = people(database)
    body = provide_bundle(who.nir, who.rpps, [pdf("a")])
    outcome(client.post("/fhir", json=body, headers=who.holder), 403)
    response = client.post("/fhir", json=body)
    outcome(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


# -- content: hash, size, type, size limit -------------------------------------------------------


def test_hash_or_size_mismatch_stores_nothing(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """DOC-1: attachment.hash (SHA-1, base64) and size are checked."""
    who = people(database)
    content = pdf("a")
    bundle = provide_bundle(who.nir, who.rpps, [content])
    attachment = bundle["entry"][1]["resource"]["content"][0]["attachment"]
    attachment["hash"] = sha1_b64(b"something else")
    attachment["size"] = len(content) + 1
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert locations(issues) == [
        "Bundle.entry[1].resource.content[0].attachment.size",
        "Bundle.entry[1].resource.content[0].attachment.hash",
    ]
    attachment["hash"] = base64.b64encode(b"short").decode()
    attachment["size"] = len(content)
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert "20 bytes" in issues[0]["details"]["text"]
    assert count_documents(database) == 0
    assert blob_count(settings.effective_blob_dir) == 0


def test_hash_mismatch_on_a_staged_binary(client: TestClient, database: Database) -> None:
    """The service checks what was staged: a wrong hash leaves the staged Binary in place."""
    who = people(database)
    staged = _stage(client, who, pdf("staged"))
    body = document_reference(who.nir, who.rpps, url=f"Binary/{staged}")
    body["content"][0]["attachment"]["hash"] = sha1_b64(b"other")
    issues = outcome(client.post("/fhir/DocumentReference", json=body, headers=who.pro), 400)
    assert locations(issues) == ["DocumentReference.content[0].attachment.hash"]
    assert count_documents(database) == 0
    with database.transaction() as session:
        assert session.get(StagedBinary, uuid.UUID(staged)) is not None


def test_declared_type_must_match_the_content(client: TestClient, database: Database) -> None:
    """DOC-1: sniffed, never trusted; professionals send PDF or CDA."""
    who = people(database)
    lying = document_reference(who.nir, who.rpps, content=pdf("a"), content_type="text/xml")
    issues = outcome(client.post("/fhir/DocumentReference", json=lying, headers=who.pro), 400)
    assert locations(issues) == ["DocumentReference.content[0].attachment.contentType"]
    assert "application/pdf" in issues[0]["details"]["text"]
    text = document_reference(who.nir, who.rpps, content=b"plain words", content_type="text/plain")
    issues = outcome(client.post("/fhir/DocumentReference", json=text, headers=who.pro), 400)
    assert "not accepted" in issues[0]["details"]["text"]
    cda = b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>'
    made = fhir_json(
        client.post(
            "/fhir/DocumentReference",
            json=document_reference(who.nir, who.rpps, content=cda, content_type="text/xml"),
            headers=who.pro,
        ),
        201,
    )
    assert made["content"][0]["attachment"]["contentType"] == "text/xml"


def test_oversized_content_is_refused_clearly(
    app: FastAPI, client: TestClient, database: Database, settings: Settings
) -> None:
    """DOC-1 size limit (settings.max_upload_bytes): 413, inline, in a Bundle, staged or raw."""
    app.state.settings = settings.model_copy(update={"max_upload_bytes": 2048})
    who = people(database)
    big = pdf("x" * 10) + b"%" + b"0" * 4000
    issues = outcome(
        client.post(
            "/fhir/DocumentReference",
            json=document_reference(who.nir, who.rpps, content=big),
            headers=who.pro,
        ),
        413,
    )
    assert locations(issues) == ["DocumentReference.content[0].attachment.data"]
    assert "2048 bytes limit" in issues[0]["details"]["text"]
    issues = outcome(
        client.post("/fhir", json=provide_bundle(who.nir, who.rpps, [big]), headers=who.pro), 413
    )
    assert locations(issues) == ["Bundle.entry[2].resource.data"]
    raw = client.post(
        "/fhir/Binary",
        content=big,
        headers={
            **who.pro,
            "Content-Type": "application/pdf",
            "X-Security-Context": f"Patient/{who.holder_id}",
        },
    )
    assert "larger than" in outcome(raw, 413)[0]["details"]["text"]
    # A JSON body far above what one document may weigh is cut while streaming.
    huge = b'{"resourceType":"DocumentReference","pad":"' + b"A" * (2 * 1024 * 1024) + b'"}'
    outcome(
        client.post(
            "/fhir/DocumentReference", content=huge, headers={**who.pro, "Content-Type": FHIR_JSON}
        ),
        413,
    )
    assert count_documents(database) == 0


# -- POST DocumentReference and staged Binaries ---------------------------------------------------


def test_post_document_reference_with_inline_content(
    client: TestClient, database: Database, settings: Settings
) -> None:
    who = people(database)
    content = pdf("inline")
    response = client.post(
        "/fhir/DocumentReference",
        json=document_reference(who.nir, who.rpps, content=content),
        headers=who.pro,
    )
    made = fhir_json(response, 201)
    assert (
        response.headers["Location"] == f"{settings.base_url}/fhir/DocumentReference/{made['id']}"
    )
    assert made["status"] == "current"
    assert made["masterIdentifier"]["value"] == f"urn:uuid:{made['id']}"
    assert made["identifier"][0]["value"] == f"urn:uuid:{made['id']}"
    assert made["type"]["coding"][0]["code"] == LAB_REPORT
    assert made["category"][0]["coding"][0]["code"] == "BIOLOGIE"
    assert made["subject"]["reference"] == f"Patient/{who.holder_id}"
    assert client.get(f"/fhir/Binary/{made['id']}", headers=who.pro).content == content


def test_a_master_identifier_is_deposited_once(client: TestClient, database: Database) -> None:
    """Idempotence: the same masterIdentifier twice → 409 at masterIdentifier."""
    who = people(database)
    master = {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.7.1"}
    deposit_one(client, who, masterIdentifier=master)
    again = document_reference(who.nir, who.rpps, content=pdf("b"), masterIdentifier=master)
    issues = outcome(client.post("/fhir/DocumentReference", json=again, headers=who.pro), 409)
    assert locations(issues) == ["DocumentReference.masterIdentifier"]


def _stage(client: TestClient, who: Any, content: bytes) -> str:
    body = {
        "resourceType": "Binary",
        "contentType": "application/pdf",
        "securityContext": {"identifier": {"system": INS_NIR_SYSTEM, "value": who.nir}},
        "data": b64(content),
    }
    response = client.post("/fhir/Binary", json=body, headers=who.pro)
    staged = fhir_json(response, 201)
    assert response.headers["Location"].endswith(f"/fhir/Binary/{staged['id']}")
    assert staged["securityContext"]["reference"] == f"Patient/{who.holder_id}"
    return str(staged["id"])


def test_a_document_reference_claims_a_binary_posted_before(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """The staged bytes become the document's; the staged blob and row are gone after commit."""
    who = people(database)
    content = pdf("staged first")
    staged = _stage(client, who, content)
    assert blob_count(settings.effective_blob_dir) == 1
    made = deposit_one(client, who, url=f"Binary/{staged}")
    assert made["content"][0]["attachment"]["size"] == len(content)
    assert client.get(f"/fhir/Binary/{made['id']}", headers=who.pro).content == content
    assert blob_count(settings.effective_blob_dir) == 1  # the document's blob only
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StagedBinary)) == 0
    # Claimed once only.
    again = document_reference(who.nir, who.rpps, url=f"Binary/{staged}")
    issues = outcome(client.post("/fhir/DocumentReference", json=again, headers=who.pro), 404)
    assert locations(issues) == ["DocumentReference.content[0].attachment.url"]


def test_raw_binary_with_security_context_header(client: TestClient, database: Database) -> None:
    who = people(database)
    content = pdf("raw")
    response = client.post(
        "/fhir/Binary",
        content=content,
        headers={
            **who.pro,
            "Content-Type": "application/pdf",
            "X-Security-Context": f"{INS_NIR_SYSTEM}|{who.nir}",
        },
    )
    staged = fhir_json(response, 201)
    made = deposit_one(client, who, url=f"Binary/{staged['id']}")
    assert client.get(f"/fhir/Binary/{made['id']}", headers=who.pro).content == content


def test_staged_binaries_belong_to_their_poster_and_patient(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    staged = _stage(client, who, pdf("mine"))
    theirs = document_reference(who.nir, who.other_rpps, url=f"Binary/{staged}")
    outcome(client.post("/fhir/DocumentReference", json=theirs, headers=who.other), 404)
    # Without the patient, a Binary cannot be staged (its key is the patient's).
    no_context = {"resourceType": "Binary", "contentType": "application/pdf", "data": b64(pdf())}
    issues = outcome(client.post("/fhir/Binary", json=no_context, headers=who.pro), 400)
    assert locations(issues) == ["Binary.securityContext"]
    raw = client.post(
        "/fhir/Binary", content=pdf(), headers={**who.pro, "Content-Type": "application/pdf"}
    )
    assert locations(outcome(raw, 400)) == ["X-Security-Context"]
    with database.transaction() as session:
        holder = session.get(Holder, who.holder_id)
        assert holder is not None
        holder.ins_qualified = False
    outcome(
        client.post(
            "/fhir/Binary",
            content=pdf(),
            headers={
                **who.pro,
                "Content-Type": "application/pdf",
                "X-Security-Context": f"Patient/{who.holder_id}",
            },
        ),
        422,
    )


# -- replacement (DOC-6) ---------------------------------------------------------------------------


def test_replacement_keeps_the_old_version_superseded(
    client: TestClient, database: Database
) -> None:
    """DOC-6: relatesTo replaces → the old one is superseded, still readable, never lost."""
    who = people(database)
    old = deposit_one(client, who, content=pdf("v1"))
    replaces = [{"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}]
    bundle = provide_bundle(who.nir, who.rpps, [pdf("v2")], relatesTo=replaces)
    answer = fhir_json(client.post("/fhir", json=bundle, headers=who.pro))
    new_id = answer["entry"][1]["response"]["location"].split("/")[1]
    new = fhir_json(client.get(f"/fhir/DocumentReference/{new_id}", headers=who.pro))
    assert new["relatesTo"] == replaces
    previous = fhir_json(client.get(f"/fhir/DocumentReference/{old['id']}", headers=who.pro))
    assert previous["status"] == "superseded"
    assert client.get(f"/fhir/Binary/{old['id']}", headers=who.pro).content.startswith(b"%PDF")
    # The current version only can be replaced, and only by its author.
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 409)
    assert locations(issues) == ["Bundle.entry[1].resource.relatesTo[0].target.reference"]
    theirs = document_reference(
        who.nir,
        who.other_rpps,
        content=pdf("v3"),
        relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{new_id}"}}],
    )
    outcome(client.post("/fhir/DocumentReference", json=theirs, headers=who.other), 403)
    unsupported = document_reference(
        who.nir,
        who.rpps,
        content=pdf("v3"),
        relatesTo=[{"code": "appends", "target": {"reference": f"DocumentReference/{new_id}"}}],
    )
    issues = outcome(client.post("/fhir/DocumentReference", json=unsupported, headers=who.pro), 400)
    assert issues[0]["code"] == "not-supported"


def test_pdsm_style_contained_patient_and_practitioner_role(
    client: TestClient, database: Database
) -> None:
    """ID-1, ID-2: the French PDSm profile contains the Patient and a PractitionerRole."""
    who = people(database)
    body = document_reference(who.nir, who.rpps, content=pdf("pdsm"))
    body["contained"] = [
        {
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [
                {"system": "urn:oid:1.2.250.1.213.1.4.9", "value": "not an INS-NIR"},
                {"system": INS_NIR_SYSTEM, "value": who.nir},
            ],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role",
            "practitioner": {"reference": "#practitioner"},
        },
        {
            "resourceType": "Practitioner",
            "id": "practitioner",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": who.other_rpps}],
        },
    ]
    body["subject"] = {"reference": "#patient"}
    body["author"] = [{"reference": "#role"}]
    issues = outcome(client.post("/fhir/DocumentReference", json=body, headers=who.pro), 403)
    assert locations(issues) == ["DocumentReference.contained[2].identifier[0].value"]
    body["contained"][2]["identifier"][0]["value"] = who.rpps
    made = fhir_json(client.post("/fhir/DocumentReference", json=body, headers=who.pro), 201)
    assert made["subject"]["reference"] == f"Patient/{who.holder_id}"
    body["subject"] = {"reference": "#nobody"}
    issues = outcome(client.post("/fhir/DocumentReference", json=body, headers=who.pro), 400)
    assert locations(issues) == ["DocumentReference.subject.reference"]


def test_a_bundle_may_use_a_binary_posted_before(client: TestClient, database: Database) -> None:
    who = people(database)
    content = pdf("staged for a bundle")
    staged = _stage(client, who, content)
    bundle = provide_bundle(who.nir, who.rpps, [content])
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["url"] = f"Binary/{staged}"
    del bundle["entry"][2]  # no Binary in the Bundle itself
    answer = fhir_json(client.post("/fhir", json=bundle, headers=who.pro))
    doc_id = answer["entry"][1]["response"]["location"].split("/")[1]
    assert client.get(f"/fhir/Binary/{doc_id}", headers=who.pro).content == content
