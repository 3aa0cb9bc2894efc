"""FHIR R4 profile views, continued (issue 7 item 2): MedicationStatement, FamilyMemberHistory and
RelatedPerson; reads by id; searches by code and date; create/update through the decision point
(ACC-7: professionals add vaccinations only), with located errors and nothing half-written (ACC-8:
audited, history records who wrote as whom)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet import clock
from carnet.audit.models import AuditEntry
from carnet.db import Database
from carnet.profile.models import ProfileEntry, ProfileEntryVersion
from tests.fhir.support import fhir_json, locations, outcome, schema_errors
from tests.profile.support import API, cast
from tests.profile.test_profile_api import PAST, SAMPLES

CVX = "http://hl7.org/fhir/sid/cvx"
ATC = "http://www.whocc.no/atc"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def _patient(holder_id: Any) -> dict[str, str]:
    return {"reference": f"Patient/{holder_id}"}


def immunization(holder_id: Any, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": CVX, "code": "115"}], "text": "dTcaP"},
        "patient": _patient(holder_id),
        "occurrenceDateTime": PAST,
        "lotNumber": "LOT42",
        "protocolApplied": [{"doseNumberPositiveInt": 3, "series": "booster"}],
    }
    resource.update(extra)
    return resource


def observation(holder_id: Any, value: float = 81, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": _patient(holder_id),
        "effectiveDateTime": PAST,
        "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"},
    }  # fmt: skip
    resource.update(extra)
    return resource


def _count(database: Database, model: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_new_views_are_schema_valid_searchable_and_readable(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    for section, body in (
        ("treatment", SAMPLES["treatment"]),
        ("treatment", {"label": "Doliprane", "current": False, "since": "2020-01-01"}),
        ("family_history", SAMPLES["family_history"]),
        ("family_history", {"relative": "father", "condition": "Infarctus", "note": "à 60 ans"}),
    ):
        created = client.post(f"{API}/me/profile/{section}", json=body, headers=who.holder)
        assert created.status_code == 201, created.text
    client.post(f"{API}/me/wishes/emergency-contacts", headers=who.holder,
                json={"name": "Bruno Martin", "relation": "frère", "phone": "0612345678"})  # fmt: skip
    client.put(f"{API}/me/wishes/trusted_person", headers=who.holder,
               json={"name": "Claire Dupont", "email": "claire@example.org"})  # fmt: skip
    patient = {"patient": f"Patient/{who.holder_id}"}

    meds = fhir_json(client.get("/fhir/MedicationStatement", params=patient, headers=who.holder))
    assert meds["total"] == 2
    ramipril = next(e["resource"] for e in meds["entry"]
                    if e["resource"]["medicationCodeableConcept"]["text"] == "Ramipril 5 mg")  # fmt: skip
    assert {c["system"]: c["code"] for c in ramipril["medicationCodeableConcept"]["coding"]} == {
        ATC: "C09AA05",
        "https://smt.esante.gouv.fr/terminologie-cip_ucd": "3400935955838",
    }
    by_atc = fhir_json(client.get("/fhir/MedicationStatement",
                                  params={**patient, "code": f"{ATC}|C09AA05"}, headers=who.holder))  # fmt: skip
    assert [e["resource"]["id"] for e in by_atc["entry"]] == [ramipril["id"]]
    since_2021 = fhir_json(client.get("/fhir/MedicationStatement",
                                      params={**patient, "effective": "ge2021-01-01"},
                                      headers=who.holder))  # fmt: skip
    assert since_2021["total"] == 0  # Ramipril has no date, Doliprane is from 2020
    in_2020 = fhir_json(client.get("/fhir/MedicationStatement",
                                   params={**patient, "effective": "2020"}, headers=who.holder))  # fmt: skip
    assert in_2020["total"] == 1

    family = fhir_json(client.get("/fhir/FamilyMemberHistory", params=patient, headers=who.holder))
    assert family["total"] == 2
    mothers = fhir_json(client.get("/fhir/FamilyMemberHistory",
                                   params={**patient, "relationship": f"{ROLE}|MTH"},
                                   headers=who.holder))  # fmt: skip
    assert [e["resource"]["condition"][0]["code"]["text"] for e in mothers["entry"]] == [
        "Diabète de type 2"
    ]
    bad = client.get("/fhir/FamilyMemberHistory", params={**patient, "relationship": "NIECE"},
                     headers=who.holder)  # fmt: skip
    assert locations(outcome(bad, 400)) == ["relationship"]

    # ACC-7: professionals of the care team see treatments, family history and contacts.
    contacts = fhir_json(client.get("/fhir/RelatedPerson", params=patient, headers=who.care_team))
    assert contacts["total"] == 2
    kinds = {e["resource"]["relationship"][0]["coding"][0]["code"] for e in contacts["entry"]}
    assert kinds == {"C", "trusted-person"}
    trusted = fhir_json(client.get("/fhir/RelatedPerson",
                                   params={**patient, "relationship": "trusted-person"},
                                   headers=who.care_team))  # fmt: skip
    assert trusted["entry"][0]["resource"]["telecom"] == [
        {"system": "email", "value": "claire@example.org"}
    ]
    one = trusted["entry"][0]["resource"]["id"]
    assert fhir_json(client.get(f"/fhir/RelatedPerson/{one}", headers=who.care_team))["id"] == one
    for headers in (who.outsider, who.blocked):
        outcome(client.get("/fhir/RelatedPerson", params=patient, headers=headers), 403)
        outcome(client.get(f"/fhir/RelatedPerson/{one}", headers=headers), 404)
        outcome(client.get("/fhir/MedicationStatement", params=patient, headers=headers), 403)
    # Reads by id: the same resource as the search; refused reads are 404, and audited.
    read = fhir_json(
        client.get(f"/fhir/MedicationStatement/{ramipril['id']}", headers=who.care_team)
    )
    assert read == ramipril
    outcome(client.get(f"/fhir/MedicationStatement/{ramipril['id']}", headers=who.outsider), 404)
    outcome(client.get(f"/fhir/Condition/{ramipril['id']}", headers=who.holder), 404)  # wrong type
    with database.transaction() as session:
        denied = session.scalars(select(AuditEntry.action).where(
            AuditEntry.holder_id == who.holder_id, AuditEntry.action.like("%-denied")))  # fmt: skip
        assert {"profile.read-denied", "wishes.read-denied"} <= set(denied)


def test_listed_search_parameters_are_exactly_those_accepted(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    statement = fhir_json(client.get("/fhir/metadata"))
    samples = {"date": "ge2000-01-01", "vaccine-code": "115", "code": "29463-7",
               "onset-date": "le2030", "effective": "2020", "relationship": "MTH",
               "category": "social-history", "_id": "x", "_lastUpdated": "ge2000"}  # fmt: skip
    for item in statement["rest"][0]["resource"]:
        kind = item["type"]
        if kind not in ("Immunization", "Observation", "AllergyIntolerance", "Condition",
                        "MedicationStatement", "FamilyMemberHistory", "RelatedPerson",
                        "Encounter"):  # fmt: skip
            continue
        names = {p["name"] for p in item["searchParam"]} - {"patient", "patient.identifier"}
        for name in names:
            value = "C" if (kind, name) == ("RelatedPerson", "relationship") else samples[name]
            params = {"patient": f"Patient/{who.holder_id}", name: value}
            fhir_json(client.get(f"/fhir/{kind}", params=params, headers=who.holder))
        response = client.get(f"/fhir/{kind}", params={"patient": f"Patient/{who.holder_id}",
                                                        "_tag": "x"}, headers=who.holder)  # fmt: skip
        assert locations(outcome(response, 400)) == ["_tag"], kind


def test_professional_adds_and_corrects_a_vaccination(
    client: TestClient, database: Database
) -> None:
    """ACC-7: professionals may add vaccinations; the history says a professional wrote it."""
    who = cast(database)
    created = client.post("/fhir/Immunization", json=immunization(who.holder_id),
                          headers=who.care_team)  # fmt: skip
    resource = fhir_json(created, 201)
    assert created.headers["location"].endswith(f"/fhir/Immunization/{resource['id']}")
    assert resource["vaccineCode"]["coding"][0]["code"] == "115"
    assert resource["protocolApplied"] == [{"doseNumberPositiveInt": 3, "series": "booster"}]
    assert resource["meta"]["versionId"] == "1"
    changed = immunization(who.holder_id, id=resource["id"], lotNumber="LOT43")
    updated = fhir_json(client.put(f"/fhir/Immunization/{resource['id']}", json=changed,
                                   headers=who.care_team))  # fmt: skip
    assert updated["lotNumber"] == "LOT43" and updated["meta"]["versionId"] == "2"
    # The holder sees it (holder API), with its history: who wrote it, as whom.
    history = client.get(f"{API}/me/profile/vaccination/{resource['id']}/history",
                         headers=who.holder).json()  # fmt: skip
    assert [(v["change"], v["changed_as"]) for v in history] == [
        ("create", "professional"),
        ("update", "professional"),
    ]
    with database.transaction() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.holder_id == who.holder_id, AuditEntry.action.like("profile.%"))))  # fmt: skip
    assert actions.count("profile.create") == 1 and actions.count("profile.update") == 1
    # Outside the care team or blocked: refused, audited, nothing written.
    before = _count(database, ProfileEntry)
    for headers in (who.outsider, who.blocked):
        outcome(client.post("/fhir/Immunization", json=immunization(who.holder_id),
                            headers=headers), 403)  # fmt: skip
    assert _count(database, ProfileEntry) == before


def test_professional_writes_to_a_private_section_are_refused(
    client: TestClient, database: Database
) -> None:
    """ACC-7: measurements stay on the holder side; health history is read-only for professionals."""
    who = cast(database)
    before = (_count(database, ProfileEntry), _count(database, ProfileEntryVersion))
    issues = outcome(client.post("/fhir/Observation", json=observation(who.holder_id),
                                 headers=who.care_team), 403)  # fmt: skip
    assert issues[0]["code"] == "forbidden"
    assert "private" in issues[0]["details"]["text"]
    condition = {"resourceType": "Condition", "code": {"text": "Asthme"},
                 "subject": _patient(who.holder_id)}  # fmt: skip
    outcome(client.post("/fhir/Condition", json=condition, headers=who.care_team), 403)
    assert (_count(database, ProfileEntry), _count(database, ProfileEntryVersion)) == before
    with database.transaction() as session:
        denied = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.holder_id == who.holder_id,
            AuditEntry.action == "profile.write-denied"))  # fmt: skip
    assert denied == 2
    # The holder writes both.
    fhir_json(client.post("/fhir/Observation", json=observation(who.holder_id),
                          headers=who.holder), 201)  # fmt: skip
    made = fhir_json(client.post("/fhir/Condition", json=condition, headers=who.holder), 201)
    assert made["clinicalStatus"]["coding"][0]["code"] == "active"


def test_bad_writes_name_the_field_and_write_nothing(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("Immunization", immunization(who.holder_id, occurrenceDateTime=tomorrow), 422,
         "Immunization.occurrenceDateTime"),
        ("Immunization", immunization(who.holder_id, vaccineCode={
            "coding": [{"system": "http://example.org/vaccins"}], "text": "X"}), 400,
         "Immunization.vaccineCode.coding[0].code"),
        ("Immunization", immunization(who.holder_id, vaccineCode={
            "coding": [{"system": "http://example.org/vaccins", "code": "X"}]}), 400,
         "Immunization.vaccineCode.text"),
        ("Observation", observation(who.holder_id, value=812), 422,
         "Observation.valueQuantity.value"),
        ("Observation", observation(who.holder_id, code={"coding": [
            {"system": "http://loinc.org", "code": "0000-0"}]}), 400, "Observation.code.coding[0].code"),
        ("Observation", observation(who.holder_id, code={"coding": [
            {"system": "http://loinc.org", "code": "39156-5"}]}), 400, "Observation.code.coding[0].code"),
        ("MedicationStatement", {"resourceType": "MedicationStatement", "status": "active",
                                 "subject": _patient(who.holder_id),
                                 "medicationCodeableConcept": {"text": "X", "coding": [
                                     {"system": ATC, "code": "not-atc"}]}}, 422,
         "MedicationStatement.medicationCodeableConcept.coding"),
        ("FamilyMemberHistory", {"resourceType": "FamilyMemberHistory", "status": "completed",
                                 "patient": _patient(who.holder_id),
                                 "relationship": {"coding": [{"system": ROLE, "code": "NIECE"}]},
                                 "condition": [{"code": {"text": "X"}}]}, 400,
         "FamilyMemberHistory.relationship.coding[0].code"),
        ("Immunization", {"resourceType": "Observation"}, 400, "Immunization.resourceType"),
    ]  # fmt: skip
    before = (_count(database, ProfileEntry), _count(database, ProfileEntryVersion))
    for kind, body, status, where in cases:
        response = client.post(f"/fhir/{kind}", json=body, headers=who.holder)
        assert where in locations(outcome(response, status)), (kind, response.text)
    assert (_count(database, ProfileEntry), _count(database, ProfileEntryVersion)) == before
    # An update must stay in its patient's space, and name an existing entry.
    made = fhir_json(client.post("/fhir/Immunization", json=immunization(who.holder_id),
                                 headers=who.holder), 201)  # fmt: skip
    other = cast(database)
    moved = client.put(f"/fhir/Immunization/{made['id']}",
                       json=immunization(other.holder_id), headers=who.holder)  # fmt: skip
    assert outcome(moved, 400)[0]["expression"] == ["Immunization.patient"]
    missing = "00000000-0000-0000-0000-000000000001"
    outcome(client.put(f"/fhir/Immunization/{missing}", json=immunization(who.holder_id),
                       headers=who.holder), 404)  # fmt: skip


SNOMED = "http://snomed.info/sct"


def test_vaccines_coded_in_any_system_are_kept(client: TestClient, database: Database) -> None:
    """Issue 15 item 11: SNOMED CT (mapped to CVX when known), CVX, or any other coding kept as
    given; with no coding Carnet knows, the vaccine must be named in text."""
    who = cast(database)

    def post(concept: dict[str, Any], status: int = 201) -> Any:
        body = immunization(who.holder_id, vaccineCode=concept)
        return client.post("/fhir/Immunization", json=body, headers=who.care_team)

    def read(made: Any) -> dict[str, Any]:
        resource = fhir_json(made, 201)
        assert not schema_errors(resource)
        again = fhir_json(client.get(f"/fhir/Immunization/{resource['id']}", headers=who.care_team))
        assert again["vaccineCode"] == resource["vaccineCode"]
        concept: dict[str, Any] = again["vaccineCode"]
        return concept

    flu = {"system": SNOMED, "code": "836377006", "display": "Influenza vaccine"}
    assert read(post({"coding": [flu]})) == {
        "text": "Influenza vaccine", "coding": [flu, {"system": CVX, "code": "88"}]}
    cvx = read(post({"coding": [{"system": CVX, "code": "115"}], "text": "dTcaP"}))
    assert cvx == {"text": "dTcaP", "coding": [{"system": CVX, "code": "115"}]}
    cis = {"system": "urn:oid:1.2.250.1.213.2.3.1", "code": "60234100"}
    assert read(post({"coding": [cis], "text": "Vaxigrip Tetra"})) == {
        "text": "Vaxigrip Tetra", "coding": [cis]}
    odd = {"system": SNOMED, "code": "123456789", "display": "some vaccine"}
    assert read(post({"coding": [odd], "text": "Some vaccine"}))["coding"] == [odd]
    assert read(post({"text": "BCG"})) == {"text": "BCG"}
    before = _count(database, ProfileEntry)
    for concept in ({"coding": [odd]}, {"coding": [cis]}, {}):
        problems = outcome(post(concept), 400)
        assert "Immunization.vaccineCode.text" in locations(problems), concept
    assert _count(database, ProfileEntry) == before
    # The holder's own API shows the mapped CVX code the prevention calendar counts.
    entries = client.get(f"{API}/me/profile/vaccination", headers=who.holder).json()
    assert "88" in {e["content"].get("code") for e in entries}
