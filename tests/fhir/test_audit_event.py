"""GET /fhir/AuditEvent: the holder's access history in the IHE BALP shape (rule ACC-8, ACC-5)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carnet.db import Database
from tests.fhir.support import deposit_one, fhir_json, outcome, people


def test_acc8_holder_reads_an_emergency_access_as_balp_audit_events(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    document = deposit_one(client, who)
    granted = client.post(
        "/api/v1/pro/emergency-access",
        headers=who.other,
        json={"nir": who.nir, "reason": "patient inconscient aux urgences"},
    )
    assert granted.status_code == 201, granted.text
    found = client.get(
        "/fhir/DocumentReference", headers=who.other, params={"patient": str(who.holder_id)}
    )
    assert fhir_json(found)["total"] == 1  # the emergency reader sees it now (ACC-5)
    bundle = fhir_json(
        client.get(
            "/fhir/AuditEvent", headers=who.holder, params={"patient": f"Patient/{who.holder_id}"}
        )
    )
    events = [entry["resource"] for entry in bundle["entry"]]
    # No read by id for AuditEvent: no fullUrl pointing at one.
    assert all("fullUrl" not in entry for entry in bundle["entry"])
    assert bundle["total"] == len(events) >= 3
    override = [e for e in events if e["type"]["code"] == "110113"]
    assert len(override) == 1
    assert override[0]["subtype"][0]["code"] == "110127"
    assert override[0]["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert override[0]["agent"][0]["who"]["identifier"]["value"] == who.other_rpps
    assert "inconscient" not in str(bundle)  # the sealed reason never leaves
    reads = [
        e
        for e in events
        if e["agent"][0].get("purposeOfUse", [{}])[0].get("coding", [{}])[0].get("code") == "ETREAT"
        and e["type"]["code"] == "rest"
    ]
    assert reads, "the emergency search itself is listed with ETREAT"
    deposit = [e for e in events if e["action"] == "C"]
    assert deposit and any(
        ent["what"]["reference"] == f"DocumentReference/{document['id']}"
        for ent in deposit[0]["entity"]
    )


def test_acc8_professionals_cannot_read_the_history_and_bad_parameters_are_listed(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    refused = client.get(
        "/fhir/AuditEvent", headers=who.pro, params={"patient": str(who.holder_id)}
    )
    assert outcome(refused, 403)
    issues = outcome(
        client.get("/fhir/AuditEvent", headers=who.holder, params={"date": "xx2026", "agent": "x"}),
        400,
    )
    assert {i.get("expression", [""])[0] for i in issues} >= {"agent", "date"}
