"""The French national profile of IHE MHD (ANS PDSm 3.1.1), as French software sends it: the
published replacement Bundle (new DocumentReference `relatesTo: replaces`, the MHD PATCH setting the
old one superseded, the submission set) is accepted, and the old version is kept (DOC-6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.db import Database
from tests.fhir.support import (
    People,
    b64,
    deposit_one,
    document_reference,
    fhir_json,
    locations,
    outcome,
    pdf,
    people,
    sha1_b64,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "pdsm"
REPLACE = "bundle-exemple-comprehensiveprovidedocument-replace.json"


def _published(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def _for(who: People, old_id: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """The example with Carnet's ids for the resources it says are on the server, and a real PDF
    for its placeholder bytes (README.md of the examples)."""
    text = json.dumps(example or _published(REPLACE))
    text = text.replace("Patient/fr-patient-123", f"Patient/{who.holder_id}")
    text = text.replace("DocumentReference/doc-old", f"DocumentReference/{old_id}")
    bundle: dict[str, Any] = json.loads(text)
    content = pdf("CR Consultation - Version remplaçante")
    bundle["entry"][0]["resource"]["data"] = b64(content)
    attachment = bundle["entry"][1]["resource"]["content"][0]["attachment"]
    attachment["size"], attachment["hash"] = len(content), sha1_b64(content)
    return bundle


@pytest.fixture
def who(database: Database) -> People:
    return people(database)


def test_doc6_the_published_replacement_is_accepted_and_supersedes_the_old_version(
    client: TestClient, who: People
) -> None:
    old = deposit_one(client, who)
    answer = fhir_json(client.post("/fhir", json=_for(who, old["id"]), headers=who.pro))
    assert answer["type"] == "transaction-response"
    statuses = [entry["response"]["status"] for entry in answer["entry"]]
    assert statuses == ["201 Created", "201 Created", "200 OK", "201 Created"]
    assert answer["entry"][2]["response"]["location"] == f"DocumentReference/{old['id']}"
    new_id = answer["entry"][1]["response"]["location"].split("/")[1]

    former = fhir_json(client.get(f"/fhir/DocumentReference/{old['id']}", headers=who.pro))
    assert former["status"] == "superseded"  # kept, never lost (DOC-6)
    new = fhir_json(client.get(f"/fhir/DocumentReference/{new_id}", headers=who.pro))
    assert new["status"] == "current"
    assert new["relatesTo"] == [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}
    ]
    context = new["context"]
    assert context["facilityType"]["coding"][0]["code"] == "SA01"
    assert context["practiceSetting"]["coding"][0]["code"] == "ETABLISSEMENT"
    assert context["sourcePatientInfo"]["reference"] == f"Patient/{who.holder_id}"
    assert new["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert new["content"][0]["attachment"]["creation"].startswith("2025-06-01T09:00:00")


def test_doc6_a_patch_on_a_document_the_bundle_does_not_replace_is_refused_whole(
    client: TestClient, who: People, database: Database
) -> None:
    old = deposit_one(client, who)
    other = deposit_one(client, who)
    bundle = _for(who, old["id"])
    bundle["entry"][2]["request"]["url"] = f"DocumentReference/{other['id']}"
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert locations(issues) == ["Bundle.entry[2].request.url"]
    for doc in (old, other):
        kept = fhir_json(client.get(f"/fhir/DocumentReference/{doc['id']}", headers=who.pro))
        assert kept["status"] == "current"  # nothing half-applied


@pytest.mark.parametrize(
    ("part", "element", "value"),
    [
        (0, "valueString", "DocumentReference.description"),
        (1, "valueCode", "delete"),
        (2, "valueCode", "entered-in-error"),
    ],
)
def test_doc6_only_the_patch_to_superseded_is_accepted_in_a_bundle(
    client: TestClient, who: People, part: int, element: str, value: str
) -> None:
    old = deposit_one(client, who)
    bundle = _for(who, old["id"])
    bundle["entry"][2]["resource"]["parameter"][0]["part"][part][element] = value
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert locations(issues) == ["Bundle.entry[2].resource.parameter[0].part"]
    assert issues[0]["code"] == "not-supported"


def test_a_patch_must_be_sent_as_patch(client: TestClient, who: People) -> None:
    old = deposit_one(client, who)
    bundle = _for(who, old["id"])
    bundle["entry"][2]["request"]["method"] = "PUT"
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert locations(issues) == ["Bundle.entry[2].request.method"]


def test_source_patient_info_must_be_the_subject(client: TestClient, who: People) -> None:
    old = deposit_one(client, who)
    bundle = _for(who, old["id"])
    context = bundle["entry"][1]["resource"]["context"]
    context["sourcePatientInfo"] = {"reference": "Patient/00000000-0000-4000-8000-000000000000"}
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert locations(issues) == ["Bundle.entry[1].resource.context.sourcePatientInfo.reference"]


def test_unknown_context_elements_are_refused_not_dropped(client: TestClient, who: People) -> None:
    old = deposit_one(client, who)
    bundle = _for(who, old["id"])
    context = bundle["entry"][1]["resource"]["context"]
    context["basedOn"] = [{"reference": "ServiceRequest/1"}]
    context["period"]["id"] = "p1"
    issues = outcome(client.post("/fhir", json=bundle, headers=who.pro), 400)
    assert sorted(locations(issues)) == [
        "Bundle.entry[1].resource.context.basedOn",
        "Bundle.entry[1].resource.context.period.id",
    ]
    assert {issue["code"] for issue in issues} == {"not-supported"}


def test_encounter_references_are_kept_and_returned(client: TestClient, who: People) -> None:
    encounter = [{"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.2.1", "value": "VENUE-42"}}]
    made = deposit_one(client, who, context={"encounter": encounter})
    assert made["context"]["encounter"] == encounter
    again = fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.pro))
    assert again["context"]["encounter"] == encounter


def test_a_care_period_given_as_dates_comes_back_as_dates(client: TestClient, who: People) -> None:
    made = deposit_one(
        client, who, context={"period": {"start": "2026-11-30", "end": "2026-12-02"}}
    )
    assert made["context"]["period"] == {"start": "2026-11-30", "end": "2026-12-02"}
    timed = deposit_one(client, who, context={"period": {"start": "2026-11-30T08:15:00+01:00"}})
    assert timed["context"]["period"]["start"].startswith("2026-11-30T07:15:00")
    # the dates still search as dates
    found = fhir_json(
        client.get(
            "/fhir/DocumentReference",
            params={"patient": str(who.holder_id), "period": "2026-11-30"},
            headers=who.pro,
        )
    )
    ids = {entry["resource"]["id"] for entry in found.get("entry", [])}
    assert made["id"] in ids


def test_id2_the_directory_uri_names_an_rpps_too(client: TestClient, who: People) -> None:
    """ID-2: a contained Practitioner identified in the national directory's URI system is an
    RPPS author like the OID one, so it must be the depositing professional."""
    body = document_reference_with_author(who, "https://rpps.esante.gouv.fr", who.other_rpps)
    issues = outcome(client.post("/fhir/DocumentReference", json=body, headers=who.pro), 403)
    assert locations(issues) == ["DocumentReference.contained[0].identifier[0].value"]
    body = document_reference_with_author(who, "https://rpps.esante.gouv.fr", who.rpps)
    fhir_json(client.post("/fhir/DocumentReference", json=body, headers=who.pro), 201)


def document_reference_with_author(who: People, system: str, rpps: str) -> dict[str, Any]:
    body = document_reference(who.nir, who.rpps, content=pdf(rpps + system))
    body["contained"] = [
        {
            "resourceType": "Practitioner",
            "id": "p",
            "identifier": [{"system": system, "value": rpps}],
        }
    ]
    body["author"] = [{"reference": "#p"}]
    return body
