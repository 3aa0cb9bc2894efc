"""FHIR R4 views of the profile: schema-valid, LOINC/UCUM, through the decision point (ACC-7)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carnet.db import Database
from tests.fhir.support import fhir_json, locations, outcome
from tests.profile.support import API, cast
from tests.profile.test_profile_api import PAST, SAMPLES


def _fill(client: TestClient, headers: dict[str, str]) -> None:
    bodies = [
        ("vaccination", SAMPLES["vaccination"]),
        ("vaccination", {"vaccine": "ROR", "code": "03", "date": PAST}),
        ("allergy", SAMPLES["allergy"]),
        ("allergy", {"substance": "Lactose", "type": "intolerance"}),
        ("illness", SAMPLES["illness"]),
        ("illness", {"label": "Varicelle", "status": "past", "note": "enfance"}),
        ("measurement", {"kind": "weight", "value": 81, "date": PAST}),
        ("measurement", {"kind": "height", "value": 180, "date": PAST}),
        ("measurement", {"kind": "systolic", "value": 128, "date": PAST}),
        ("measurement", {"kind": "temperature", "value": 37.2, "date": PAST}),
    ]
    for section, body in bodies:
        assert (
            client.post(f"{API}/me/profile/{section}", json=body, headers=headers).status_code
            == 201
        )


def test_resources_are_schema_valid_for_the_holder(client: TestClient, database: Database) -> None:
    who = cast(database)
    _fill(client, who.holder)
    patient = {"patient": f"Patient/{who.holder_id}"}
    counts = {"Immunization": 2, "AllergyIntolerance": 2, "Condition": 2, "Observation": 5}
    for kind, count in counts.items():
        bundle = fhir_json(client.get(f"/fhir/{kind}", params=patient, headers=who.holder))
        assert bundle["total"] == count, kind
        assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {kind}
    observations = fhir_json(client.get("/fhir/Observation", params=patient, headers=who.holder))
    by_code = {
        e["resource"]["code"]["coding"][0]["code"]: e["resource"]["valueQuantity"]
        for e in observations["entry"]
    }
    assert by_code["29463-7"] == {
        "value": 81,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert by_code["8302-2"]["code"] == "cm"
    assert by_code["8480-6"]["code"] == "mm[Hg]"
    assert by_code["8310-5"]["code"] == "Cel"
    assert by_code["39156-5"] == {
        "value": 25.0,
        "unit": "kg/m2",
        "system": "http://unitsofmeasure.org",
        "code": "kg/m2",
    }
    weight_only = fhir_json(
        client.get(
            "/fhir/Observation",
            params={**patient, "code": "http://loinc.org|29463-7"},
            headers=who.holder,
        )
    )
    assert weight_only["total"] == 1
    by_nir = fhir_json(
        client.get(
            "/fhir/Immunization",
            params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.8|{who.nir}"},
            headers=who.holder,
        )
    )
    assert by_nir["total"] == 2


def test_acc7_through_fhir(client: TestClient, database: Database) -> None:
    who = cast(database)
    _fill(client, who.holder)
    patient = {"patient": f"Patient/{who.holder_id}"}
    for kind in ("Immunization", "AllergyIntolerance", "Condition"):
        bundle = fhir_json(client.get(f"/fhir/{kind}", params=patient, headers=who.care_team))
        assert bundle["total"] == 2
        for headers in (who.outsider, who.blocked):
            outcome(client.get(f"/fhir/{kind}", params=patient, headers=headers), 403)
    outcome(client.get("/fhir/Observation", params=patient, headers=who.care_team), 403)


def test_bad_searches_are_refused(client: TestClient, database: Database) -> None:
    who = cast(database)
    patient = f"Patient/{who.holder_id}"
    response = client.get(
        "/fhir/Observation", params={"patient": patient, "code": "1234-5"}, headers=who.holder
    )
    assert locations(outcome(response, 400)) == ["code"]
    response = client.get(
        "/fhir/Condition", params={"patient": patient, "onset": "x"}, headers=who.holder
    )
    assert locations(outcome(response, 400)) == ["onset"]
    assert locations(outcome(client.get("/fhir/Condition", headers=who.holder), 400)) == ["patient"]
