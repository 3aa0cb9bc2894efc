"""The FHIR views of hospital stays (Encounter), blood group and lifestyle (Observation) and
disabilities (Condition): ACC-7 keeps the last three private to the holder side (professionals read
hospital stays, write none of them: 403), ACC-9 apps see only the sections served to them; ids
route to their entry's section, updates may not change it; searches by code and category keep
measurements, blood group and lifestyle apart; bad input names the element and writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEntry
from carnet.db import Database
from carnet.profile.models import ProfileEntry, ProfileEntryVersion
from tests.apps.support import add_app, app_token
from tests.fhir.support import fhir_json, locations, outcome
from tests.profile.support import API, cast
from tests.profile.test_round_trip import CASES, PAST, _filled

BODIES = {case.section: case for case in CASES}


def _fill(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """One entry of each section through the holder API; their ids by section."""
    made = {}
    for case in CASES:
        response = client.post(f"{API}/me/profile/{case.section}", json=case.api, headers=headers)
        assert response.status_code == 201, response.text
        made[case.section] = response.json()["id"]
    return made


def _count(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        return (
            int(session.scalar(select(func.count()).select_from(ProfileEntry)) or 0),
            int(session.scalar(select(func.count()).select_from(ProfileEntryVersion)) or 0),
        )


def _codes(bundle: dict[str, Any]) -> list[str]:
    return sorted(
        c["code"] for e in bundle.get("entry", []) for c in e["resource"]["code"].get("coding", [])
    )


def test_acc7_professionals_read_stays_only_and_write_none_of_these(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    ids = _fill(client, who.holder)
    patient = {"patient": f"Patient/{who.holder_id}"}
    # Hospital stays are health history (ACC-7): read, never written, by the care team.
    stays = fhir_json(client.get("/fhir/Encounter", params=patient, headers=who.care_team))
    assert [e["resource"]["id"] for e in stays["entry"]] == [ids["hospital_stay"]]
    fhir_json(client.get(f"/fhir/Encounter/{ids['hospital_stay']}", headers=who.care_team))
    # Conditions: the illnesses, never the disabilities.
    conditions = fhir_json(client.get("/fhir/Condition", params=patient, headers=who.care_team))
    assert [e["resource"]["id"] for e in conditions["entry"]] == [ids["illness"]]
    outcome(client.get(f"/fhir/Condition/{ids['disability']}", headers=who.care_team), 404)
    # Observations are all private (measurements, blood group, lifestyle): 403, reads 404.
    issues = outcome(client.get("/fhir/Observation", params=patient, headers=who.care_team), 403)
    assert "private" in issues[0]["details"]["text"]
    for observation in (ids["blood_group"], f"{ids['lifestyle']}-tobacco"):
        outcome(client.get(f"/fhir/Observation/{observation}", headers=who.care_team), 404)
    # Writes: 403 OperationOutcome, audited, nothing written.
    before = _count(database)
    for section in ("hospital_stay", "blood_group", "lifestyle", "disability"):
        case = BODIES[section]
        body = _filled(case.fhir, str(who.holder_id))
        issues = outcome(client.post(f"/fhir/{case.resource_type}", json=body,
                                     headers=who.care_team), 403)  # fmt: skip
        assert issues[0]["code"] == "forbidden" and "private" in issues[0]["details"]["text"]
    assert _count(database) == before
    with database.transaction() as session:
        denied = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.holder_id == who.holder_id,
            AuditEntry.action == "profile.write-denied"))  # fmt: skip
    assert denied == 4
    # An outsider reaches nothing.
    outcome(client.get("/fhir/Encounter", params=patient, headers=who.outsider), 403)


def test_apps_see_only_the_sections_served_to_them(client: TestClient, database: Database) -> None:
    """ACC-9: an Observation scope is the measurements (the consent page says so), a Condition
    scope the illnesses: blood group, lifestyle and disabilities are not served to apps."""
    who = cast(database)
    ids = _fill(client, who.holder)
    add_app(database, scopes=["patient/Observation.rs", "patient/Condition.rs"])
    token = app_token(database, who.holder_id, ["patient/Observation.rs", "patient/Condition.rs"])
    headers = {"Authorization": f"Bearer {token}"}
    patient = {"patient": f"Patient/{who.holder_id}"}
    observations = fhir_json(client.get("/fhir/Observation", params=patient, headers=headers))
    assert [e["resource"]["id"] for e in observations["entry"]] == [ids["measurement"]]
    conditions = fhir_json(client.get("/fhir/Condition", params=patient, headers=headers))
    assert [e["resource"]["id"] for e in conditions["entry"]] == [ids["illness"]]
    outcome(client.get(f"/fhir/Observation/{ids['blood_group']}", headers=headers), 404)
    outcome(client.get("/fhir/Encounter", params=patient, headers=headers), 403)


def test_searches_keep_sections_apart_and_ids_route_to_their_section(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    ids = _fill(client, who.holder)
    patient = {"patient": f"Patient/{who.holder_id}"}

    def search(kind: str, **params: str) -> dict[str, Any]:
        return fhir_json(client.get(f"/fhir/{kind}", params={**patient, **params},
                                    headers=who.holder))  # fmt: skip

    everything = search("Observation")
    assert everything["total"] == 1 + 1 + 3  # weight, blood group, three lifestyle fields
    assert _codes(search("Observation", code="29463-7")) == ["29463-7"]
    assert _codes(search("Observation", code="http://loinc.org|882-1")) == ["882-1"]
    assert _codes(search("Observation", code="72166-2,11331-6")) == ["72166-2"]
    social = search("Observation", category="social-history")
    assert {e["resource"]["id"] for e in social["entry"]} == {
        f"{ids['lifestyle']}-{aspect}" for aspect in ("diet", "sleep", "tobacco")
    }
    assert _codes(search("Observation", category="laboratory")) == ["882-1"]
    assert _codes(search("Observation", category="vital-signs")) == ["29463-7"]
    assert search("Observation", date=PAST)["total"] == 1 + 3  # the blood group has no date
    assert search("Encounter", date="2019-03")["total"] == 1
    assert search("Encounter", date="ge2020-01-01")["total"] == 0
    assert search("Condition", **{"onset-date": "2015"})["total"] == 1  # the disability
    bad = client.get("/fhir/Observation", params={**patient, "category": "imaging"},
                     headers=who.holder)  # fmt: skip
    assert locations(outcome(bad, 400)) == ["category"]
    # Ids: each type finds only its own sections; a lifestyle entry is read by field.
    for kind, resource_id in (
        ("Observation", ids["illness"]),
        ("Condition", ids["blood_group"]),
        ("Encounter", ids["disability"]),
        ("Observation", ids["lifestyle"]),
        ("Observation", f"{ids['lifestyle']}-alcohol"),  # not filled in
        ("Observation", f"{ids['lifestyle']}-horoscope"),
        ("Observation", f"{ids['blood_group']}-tobacco"),
        ("Encounter", "not-an-id"),
    ):
        outcome(client.get(f"/fhir/{kind}/{resource_id}", headers=who.holder), 404)


def test_updates_keep_their_section_and_lifestyle_fields_merge(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    ids = _fill(client, who.holder)
    patient = str(who.holder_id)
    blood = _filled(BODIES["blood_group"].fhir, patient)
    tobacco = {"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient}"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
               "valueString": "Ex-fumeur"}  # fmt: skip
    illness = {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient}"},
               "code": {"text": "Handicap moteur"}}  # fmt: skip
    before = _count(database)
    for kind, resource_id, body, where in (
        ("Observation", ids["measurement"], blood, "Observation.code"),
        ("Observation", f"{ids['lifestyle']}-diet", tobacco, "Observation.code"),
        ("Condition", ids["disability"], illness, "Condition.category"),
    ):
        response = client.put(f"/fhir/{kind}/{resource_id}", json=body, headers=who.holder)
        assert locations(outcome(response, 400)) == [where]
    assert _count(database) == before
    # A lifestyle field's update changes that field only.
    updated = fhir_json(client.put(f"/fhir/Observation/{ids['lifestyle']}-tobacco", json=tobacco,
                                   headers=who.holder))  # fmt: skip
    assert updated["valueString"] == "Ex-fumeur" and updated["meta"]["versionId"] == "2"
    content = client.get(f"{API}/me/profile/lifestyle", headers=who.holder).json()[0]["content"]
    assert (content["tobacco"], content["diet"], content["date"]) == ("Ex-fumeur", "Végétarien", PAST)


def test_bad_writes_of_the_new_views_name_the_element_and_write_nothing(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    patient = str(who.holder_id)
    stay = _filled(BODIES["hospital_stay"].fhir, patient)
    disability = _filled(BODIES["disability"].fhir, patient)
    blood = _filled(BODIES["blood_group"].fhir, patient)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("Encounter", {**stay, "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                         "code": "AMB"}}, 400, "Encounter.class"),
        ("Encounter", {**stay, "status": "planned"}, 400, "Encounter.status"),
        ("Encounter", {**stay, "period": {"start": "2019-03-05", "end": "2019-03-01"}}, 422,
         "Encounter.period.end"),
        ("Encounter", {**stay, "period": {"start": "2999-01-01"}}, 422, "Encounter.period.start"),
        ("Encounter", {k: v for k, v in stay.items() if k != "location"}, 400,
         "Encounter.serviceProvider.display"),
        ("Condition", {**disability, "stage": [{"summary": {"text": "beaucoup"}}]}, 400,
         "Condition.stage[0].summary.text"),
        ("Condition", {**disability, "stage": [{"summary": {"text": "150 %"}}]}, 422,
         "Condition.stage[0].summary.text"),
        ("Condition", {**disability, "note": [{"text": "Aide le matin"}]}, 400,
         "Condition.note[0].text"),
        ("Observation", {**blood, "valueCodeableConcept": {"text": "C+"}}, 422,
         "Observation.valueCodeableConcept"),
        ("Observation", {**blood, "code": {"text": "Sommeil"}}, 400, "Observation.code.coding"),
        ("Observation", {**blood, "code": {"coding": [{"system": "http://loinc.org",
                                                       "code": "72166-2"}]},
                         "valueString": "x" * 501, "valueCodeableConcept": None}, 422,
         "Observation.valueString"),
    ]  # fmt: skip
    before = _count(database)
    for kind, body, status, where in cases:
        response = client.post(f"/fhir/{kind}", json=body, headers=who.holder)
        assert where in locations(outcome(response, status)), (where, response.text)
    assert _count(database) == before
    # The blood group is one per holder: a second one is a conflict (replace it with PUT).
    fhir_json(client.post("/fhir/Observation", json=blood, headers=who.holder), 201)
    outcome(client.post("/fhir/Observation", json=blood, headers=who.holder), 409)
