"""FHIR R4 Appointment (SRV-2): read and search by patient and date, valid against the official
R4 schema, listed in the CapabilityStatement; refused reads are 404 and audited (ACC-8)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEntry
from carnet.db import Database
from tests.agenda.support import API, body, local
from tests.fhir.support import fhir_json, locations, outcome
from tests.profile.support import cast


def test_srv2_appointments_as_fhir_valid_r4_searchable_by_date(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    url = f"{API}/me/agenda/appointments"
    near = client.post(url, json=body(3), headers=who.holder).json()
    far = client.post(url, json=body(40, notes=""), headers=who.holder).json()
    bundle = fhir_json(
        client.get(
            "/fhir/Appointment", params={"patient": f"Patient/{who.holder_id}"}, headers=who.holder
        )
    )
    assert bundle["total"] == 2
    resource = bundle["entry"][0]["resource"]
    assert resource["id"] == near["id"] and resource["status"] == "booked"
    assert resource["participant"][0]["actor"]["reference"] == f"Patient/{who.holder_id}"
    assert {p["actor"].get("type") for p in resource["participant"][1:]} == {
        "Practitioner",
        "Location",
    }
    assert resource["minutesDuration"] == 30
    until = local(10).split("T")[0]
    narrowed = fhir_json(
        client.get(
            "/fhir/Appointment",
            params=[
                ("patient.identifier", f"urn:oid:1.2.250.1.213.1.4.8|{who.nir}"),
                ("date", f"lt{until}"),
            ],
            headers=who.holder,
        )
    )
    assert [e["resource"]["id"] for e in narrowed["entry"]] == [near["id"]]
    later = fhir_json(
        client.get(
            "/fhir/Appointment",
            params=[("patient", str(who.holder_id)), ("date", f"ge{until}")],
            headers=who.holder,
        )
    )
    assert [e["resource"]["id"] for e in later["entry"]] == [far["id"]]
    read = fhir_json(client.get(f"/fhir/Appointment/{far['id']}", headers=who.holder))
    assert read["id"] == far["id"] and "comment" not in read


def test_srv2_bad_searches_and_refused_reads_answer_operation_outcomes(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    mine = client.post(f"{API}/me/agenda/appointments", json=body(), headers=who.holder).json()
    bad = client.get(
        "/fhir/Appointment",
        params=[("patient", str(who.holder_id)), ("date", "ge2026-02-30"), ("actor", "x")],
        headers=who.holder,
    )
    assert sorted(locations(outcome(bad, 400))) == ["actor", "date"]
    assert locations(outcome(client.get("/fhir/Appointment", headers=who.holder), 400)) == [
        "patient"
    ]
    # A professional of the care team did not enter it: not found, and audited as refused.
    outcome(client.get(f"/fhir/Appointment/{mine['id']}", headers=who.care_team), 404)
    outcome(client.get("/fhir/Appointment/not-an-id", headers=who.holder), 404)
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "agenda.read-denied")
        ).all()
    assert denied == ["private-to-holder-side"]


def test_srv2_appointment_is_in_the_capability_statement(client: TestClient) -> None:
    statement = fhir_json(client.get("/fhir/metadata"))
    item = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment")
    assert {i["code"] for i in item["interaction"]} == {"read", "search-type", "create"}
    assert {p["name"] for p in item["searchParam"]} == {"patient", "patient.identifier", "date"}
