"""The agenda through the holder and professional API (SRV-2; ACC-1, ACC-8, REP-4, LC-8)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from carnet.agenda.models import Appointment, Reminder
from carnet.audit.models import AuditEntry
from carnet.db import Database
from tests.agenda.support import API, MARKER, body, local
from tests.profile.support import cast

URL = f"{API}/me/agenda/appointments"


def test_srv2_holder_adds_reads_changes_and_deletes_an_appointment(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    created = client.post(URL, json=body(), headers=who.holder)
    assert created.status_code == 201, created.text
    appointment = created.json()
    assert appointment["title"] == f"Cardiologue {MARKER}"
    assert appointment["timezone"] == "Europe/Paris"
    assert appointment["author_kind"] == "holder"
    start = dt.datetime.fromisoformat(appointment["start"])
    assert start.utcoffset() == dt.timedelta(0)  # stored and given in UTC
    assert start.astimezone(dt.timezone(dt.timedelta(hours=1))).hour in (10, 11)  # 10:00 Paris
    [reminder] = appointment["reminders"]
    assert reminder["offset_minutes"] == 1440 and reminder["status"] == "pending"
    assert dt.datetime.fromisoformat(reminder["due_at"]) == start - dt.timedelta(days=1)

    agenda = client.get(f"{API}/me/agenda", headers=who.holder).json()
    assert [a["id"] for a in agenda["appointments"]] == [appointment["id"]]
    assert agenda["prevention_enabled"] is True and agenda["calendar_version"]

    changed = client.put(
        f"{URL}/{appointment['id']}", json=body(5, reminders=[60, 1440]), headers=who.holder
    )
    assert changed.status_code == 200, changed.text
    assert [r["offset_minutes"] for r in changed.json()["reminders"]] == [1440, 60]
    assert client.delete(f"{URL}/{appointment['id']}", headers=who.holder).status_code == 204
    assert client.get(f"{URL}/{appointment['id']}", headers=who.holder).status_code == 404
    with database.transaction() as session:
        assert session.scalars(select(Reminder)).all() == []
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.holder_id == who.holder_id)
        ).all()
    assert {"agenda.create", "agenda.read", "agenda.update", "agenda.delete"} <= set(actions)


def test_srv2_content_is_sealed_under_the_holder_key(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    assert client.post(URL, json=body(), headers=who.holder).status_code == 201
    with database.transaction() as session:
        raw = session.execute(text("SELECT sealed, timezone, author_kind FROM appointments")).all()
        audit = session.execute(text("SELECT action, reason FROM audit_entries")).all()
    assert raw and all(MARKER.encode() not in bytes(row[0]) for row in raw)
    assert MARKER not in repr(audit)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"start": "2026-02-30T10:00"}, "start", "not a possible date"),
        ({"start": "2031-03-30T02:30", "end": "2031-03-30T04:00"}, "start", "does not exist"),
        ({"start": local(3, 11), "end": local(3, 10)}, "end", "must end after it starts"),
        ({"start": local(-1, 10), "end": local(-1, 11)}, "start", "has passed"),
        ({"start": "2026-03-02"}, "start", "Give the time too"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"reminders": [-5]}, "reminders", "between 0 and"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_srv2_bad_dates_and_fields_are_refused_clearly_and_nothing_is_written(
    client: TestClient, database: Database, change: dict[str, object], field: str, words: str
) -> None:
    who = cast(database)
    response = client.post(URL, json=body(**change), headers=who.holder)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert words in error["message"] and field in error["message"]
    assert MARKER not in response.text
    with database.transaction() as session:
        assert session.scalars(select(Appointment)).all() == []


def test_srv2_a_time_with_an_offset_or_another_zone_is_kept_exact(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    start = local(10, 9).split("T")[0] + "T09:00:00+00:00"
    done = client.post(URL, json=body(start=start, end=None), headers=who.holder).json()
    assert dt.datetime.fromisoformat(done["start"]) == dt.datetime.fromisoformat(start)
    assert dt.datetime.fromisoformat(done["end"]) - dt.datetime.fromisoformat(
        done["start"]
    ) == dt.timedelta(minutes=30)
    reunion = client.post(
        URL, json=body(timezone="Indian/Reunion", end=None), headers=who.holder
    ).json()
    assert reunion["timezone"] == "Indian/Reunion"
    assert dt.datetime.fromisoformat(reunion["start"]).hour == 6  # 10:00 at UTC+4


def test_srv2_acc1_a_care_team_professional_adds_an_appointment_others_are_refused(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    url = f"{API}/pro/patients/{who.holder_id}/appointments"
    added = client.post(url, json=body(professional=""), headers=who.care_team)
    assert added.status_code == 201, added.text
    assert added.json()["author_kind"] == "professional"
    assert added.json()["professional"].startswith("Dr Test")  # defaults to their name
    for outsider in (who.outsider, who.blocked):
        refused = client.post(url, json=body(), headers=outsider)
        assert refused.status_code == 403
        assert MARKER not in refused.text
    assert client.post(url, json=body(), headers=who.holder).status_code == 403  # kind
    listed = client.get(f"{API}/me/agenda", headers=who.holder).json()["appointments"]
    assert [a["author_kind"] for a in listed] == ["professional"]
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "agenda.create-denied")
        ).all()
    assert {d.reason for d in denied} == {"not-in-care-team", "blocked"}


def test_srv2_the_holder_switches_the_prevention_calendar_off_and_on(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    url = f"{API}/me/agenda/settings"
    assert client.get(url, headers=who.holder).json()["prevention"] is True
    full = client.get(f"{API}/me/agenda/prevention", headers=who.holder).json()
    assert full and {"id", "status", "sources", "label"} <= set(full[0])
    off = client.put(url, json={"prevention": False}, headers=who.holder)
    assert off.status_code == 200 and off.json()["prevention"] is False
    agenda = client.get(f"{API}/me/agenda", headers=who.holder).json()
    assert agenda["prevention_enabled"] is False and agenda["prevention"] is None
    assert client.get(f"{API}/me/agenda/prevention", headers=who.holder).json() is None
    client.put(url, json={"prevention": True}, headers=who.holder)
    assert client.get(f"{API}/me/agenda", headers=who.holder).json()["prevention"] is not None


def test_srv2_a_recorded_vaccination_marks_the_forecast_item_done(
    client: TestClient, database: Database
) -> None:
    who = cast(database)  # born 1980-01-01: MMR for anyone born since 1980 [V4], [V21]
    before = client.get(f"{API}/me/agenda/prevention", headers=who.holder).json()
    mmr = {i["id"]: i for i in before if i["series"] == "mmr"}
    assert mmr["mmr-1"]["status"] == "overdue" and mmr["mmr-1"]["sources"]
    recorded = client.post(
        f"{API}/me/profile/vaccination",
        json={"vaccine": "Priorix (ROR)", "date": "1981-02-01"},
        headers=who.holder,
    )
    assert recorded.status_code == 201
    after = client.get(f"{API}/me/agenda/prevention", headers=who.holder).json()
    mmr = {i["id"]: i for i in after if i["series"] == "mmr"}
    assert (mmr["mmr-1"]["status"], mmr["mmr-1"]["done_on"]) == ("done", "1981-02-01")
    assert mmr["mmr-2"]["status"] == "overdue"
    english = client.get(
        f"{API}/me/agenda/prevention", headers={**who.holder, "Accept-Language": "en"}
    ).json()
    assert any(i["label"].startswith("Measles") for i in english)


def test_srv2_professionals_do_not_read_the_prevention_calendar_or_others_appointments(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    client.post(URL, json=body(), headers=who.holder)
    own = client.post(
        f"{API}/pro/patients/{who.holder_id}/appointments", json=body(4), headers=who.care_team
    ).json()
    search = client.get(
        "/fhir/Appointment", params={"patient": str(who.holder_id)}, headers=who.care_team
    ).json()
    assert [e["resource"]["id"] for e in search["entry"]] == [own["id"]]
    assert (
        client.get(
            "/fhir/Appointment", params={"patient": str(who.holder_id)}, headers=who.outsider
        )
    ).status_code == 403
