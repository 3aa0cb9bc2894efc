"""FHIR R4 Appointment (SRV-2): read and search by patient and date, create (holder side, care
team), valid against the official R4 schema, listed in the CapabilityStatement; refused reads are
404 and audited (ACC-8); bad input is located and writes nothing."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.audit.models import AuditEntry
from carnet.db import Database
from tests.agenda.support import API, PARIS, body, local
from tests.fhir.support import fhir_json, locations, outcome, schema_errors
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
    assert {i["code"] for i in item["interaction"]} == {
        "read", "search-type", "create", "update", "delete",
    }  # fmt: skip
    assert {p["name"] for p in item["searchParam"]} == {
        "patient", "patient.identifier", "date", "_id", "_lastUpdated",
    }  # fmt: skip


def _appointment(holder_id: object, **extra: object) -> dict[str, object]:
    """An R4 Appointment in three days at 10:00 Paris time (with its offset)."""
    start = dt.datetime.fromisoformat(local(3)).replace(tzinfo=PARIS)
    resource: dict[str, object] = {
        "resourceType": "Appointment",
        "status": "booked",
        "description": "Dentiste",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=20)).isoformat(),
        "participant": [{"actor": {"reference": f"Patient/{holder_id}"}, "status": "accepted"}],
    }
    resource.update(extra)
    return resource


def test_srv2_created_through_fhir_by_the_holder_and_the_care_team_only(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    mine = fhir_json(
        client.post("/fhir/Appointment", json=_appointment(who.holder_id), headers=who.holder),
        201,
    )
    assert mine["minutesDuration"] == 20 and schema_errors(mine) == []
    by_nir = _appointment(who.holder_id, end=None, minutesDuration=15)
    by_nir["participant"] = [{"actor": {"identifier": {"system": INS_NIR_SYSTEM,
                                                       "value": who.nir}}}]  # fmt: skip
    theirs = fhir_json(client.post("/fhir/Appointment", json=by_nir, headers=who.care_team), 201)
    assert theirs["minutesDuration"] == 15
    assert theirs["participant"][1]["actor"]["type"] == "Practitioner"  # the author's name
    # ACC-1: outside the care team or blocked, no booking; audited, nothing written.
    for headers in (who.outsider, who.blocked):
        outcome(client.post("/fhir/Appointment", json=_appointment(who.holder_id),
                            headers=headers), 403)  # fmt: skip
    listed = client.get(f"{API}/me/agenda/appointments", headers=who.holder).json()
    assert sorted(a["author_kind"] for a in listed) == ["holder", "professional"]
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "agenda.create-denied")
        ).all()
    assert len(denied) == 2


def test_srv2_bad_appointments_are_located_and_nothing_is_written(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    base = _appointment(who.holder_id)
    start = str(base["start"])
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"end": start}, 422, "Appointment.end"),  # ends when it starts
        ({"end": start.replace("T10:", "T09:")}, 422, "Appointment.end"),  # before it starts
        ({"start": "2020-03-02T10:00:00+01:00", "end": None}, 422, "Appointment.start"),  # past
        ({"start": "2031-02-30T10:00:00+01:00", "end": None}, 422, "Appointment.start"),
        ({"start": start[:16]}, 400, "Appointment.start"),  # no offset: not a FHIR instant
        ({"start": None}, 400, "Appointment.start"),
        ({"description": ""}, 400, "Appointment.description"),
        ({"status": "cancelled"}, 400, "Appointment.status"),
        ({"minutesDuration": 0, "end": None}, 400, "Appointment.minutesDuration"),
        ({"participant": []}, 400, "Appointment.participant"),
        ({"participant": [{"actor": {"type": "Location", "display": "Ici"}}]}, 400,
         "Appointment.participant"),
        ({"participant": [{"actor": {"reference": "Patient/not-an-id"}}]}, 400,
         "Appointment.participant[0].actor.reference"),
    ]  # fmt: skip
    for change, status, where in cases:
        body = {**base, **change}
        body = {k: v for k, v in body.items() if v is not None}
        answer = client.post("/fhir/Appointment", json=body, headers=who.holder)
        assert where in locations(outcome(answer, status)), (change, answer.text)
    answer = client.post("/fhir/Appointment", json={"resourceType": "Patient"}, headers=who.holder)
    assert locations(outcome(answer, 400)) == ["Appointment.resourceType"]
    assert client.get(f"{API}/me/agenda/appointments", headers=who.holder).json() == []


def test_srv2_appointment_search_pages_with_the_real_total(
    client: TestClient, database: Database
) -> None:
    """No silent truncation: `_count` pages, `total` counts every readable appointment, and the
    `next` link leads to the rest."""
    who = cast(database)
    for days in (3, 4, 5):
        created = client.post(f"{API}/me/agenda/appointments", json=body(days), headers=who.holder)
        assert created.status_code == 201, created.text
    first = fhir_json(
        client.get(
            "/fhir/Appointment",
            params={"patient": f"Patient/{who.holder_id}", "_count": "2"},
            headers=who.holder,
        )
    )
    assert first["total"] == 3 and len(first["entry"]) == 2
    links = {link["relation"]: link["url"] for link in first["link"]}
    rest = fhir_json(client.get(links["next"], headers=who.holder))  # an absolute link
    assert rest["total"] == 3 and len(rest["entry"]) == 1
    seen = {e["resource"]["id"] for e in first["entry"] + rest["entry"]}
    assert len(seen) == 3
    outcome(
        client.get(
            "/fhir/Appointment",
            params={"patient": f"Patient/{who.holder_id}", "_count": "-1"},
            headers=who.holder,
        ),
        400,
    )


def test_srv2_changed_and_cancelled_through_fhir_by_those_who_may(
    client: TestClient, database: Database
) -> None:
    """SRV-2: the holder side changes any appointment, a professional only the ones they entered;
    FHIR has no reminders, so a change keeps those already set."""
    who = cast(database)
    theirs = fhir_json(
        client.post("/fhir/Appointment", json=_appointment(who.holder_id), headers=who.care_team),
        201,
    )
    url = f"/fhir/Appointment/{theirs['id']}"
    changed = _appointment(who.holder_id, description="Dentiste (contrôle)", id=theirs["id"])
    updated = fhir_json(client.put(url, json=changed, headers=who.holder))
    assert updated["description"] == "Dentiste (contrôle)" and schema_errors(updated) == []
    kept = client.get(f"{API}/me/agenda/appointments/{theirs['id']}", headers=who.holder).json()
    assert [r["offset_minutes"] for r in kept["reminders"]] == [1440]
    # A professional outside the care team finds nothing to change (existence not leaked), and an
    # appointment cannot change its id.
    outcome(client.put(url, json=changed, headers=who.outsider), 404)
    outcome(client.put(url, json=_appointment(who.holder_id, id="other"), headers=who.holder), 400)
    past = _appointment(who.holder_id, start="2020-01-01T10:00:00+01:00", end=None)
    assert "Appointment.start" in locations(
        outcome(client.put(url, json=past, headers=who.holder), 422)
    )
    assert client.delete(url, headers=who.care_team).status_code == 204
    outcome(client.get(url, headers=who.holder), 404)
