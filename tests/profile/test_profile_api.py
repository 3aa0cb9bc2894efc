"""The profile sections through the holder and professional API (issue 7; ACC-7, ACC-8, REP-2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from carnet import clock
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from tests.documents.samples import family
from tests.profile.support import API, MARKER, bearer, cast

TODAY = clock.today()
PAST = (TODAY - dt.timedelta(days=30)).isoformat()
FUTURE = (TODAY + dt.timedelta(days=3)).isoformat()

SAMPLES: dict[str, dict[str, Any]] = {
    "illness": {"label": "Asthme", "status": "current", "since": "2001-05-01"},
    "treatment": {
        "label": "Ramipril 5 mg",
        "atc": "C09AA05",
        "cip": "3400935955838",
        "dosage": "1 cp/j",
    },
    "hospital_stay": {
        "place": "CHU Nantes",
        "from": "2019-03-01",
        "to": "2019-03-05",
        "reason": "Appendicite",
    },
    "allergy": {"substance": "Pénicilline", "reaction": "Urticaire", "severity": "moderate"},
    "family_history": {"relative": "mother", "condition": "Diabète de type 2"},
    "vaccination": {
        "vaccine": "DTP",
        "dose_number": 2,
        "booster": True,
        "date": PAST,
        "lot": "AB123",
        "by": "Dr Martin",
    },
    "blood_group": {"value": "O+"},
    "measurement": {"kind": "weight", "value": 72.5, "date": PAST},
    "lifestyle": {"diet": "omnivore", "tobacco": "non-fumeur", "sleep": "7 h"},
    "disability": {"type": "moteur", "rate": 50, "human_help": True},
}
# One change per section, for the update step of the round trip.
CHANGES: dict[str, dict[str, Any]] = {
    "illness": {"status": "past"},
    "treatment": {"dosage": "2 cp/j"},
    "hospital_stay": {"reason": "Appendicectomie"},
    "allergy": {"severity": "severe"},
    "family_history": {"relative": "father"},
    "vaccination": {"lot": "CD456"},
    "blood_group": {"value": "A-"},
    "measurement": {"value": 73.1},
    "lifestyle": {"alcohol": "occasionnel"},
    "disability": {"rate": 80},
}


@pytest.mark.parametrize("section", sorted(SAMPLES))
def test_each_section_round_trips(client: TestClient, database: Database, section: str) -> None:
    who = cast(database)
    url = f"{API}/me/profile/{section.replace('_', '-')}"
    created = client.post(url, json=SAMPLES[section], headers=who.holder)
    assert created.status_code == 201, created.text
    entry = created.json()
    for key, value in SAMPLES[section].items():
        assert entry["content"][key] == value
    assert entry["version"] == 1
    listed = client.get(url, headers=who.holder).json()
    assert [e["id"] for e in listed] == [entry["id"]]
    changed = {**SAMPLES[section], **CHANGES[section]}
    updated = client.put(f"{url}/{entry['id']}", json=changed, headers=who.holder)
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    whole = client.get(f"{API}/me/profile", headers=who.holder).json()
    assert set(whole["sections"]) == set(SAMPLES)
    assert whole["sections"][section][0]["content"] == updated.json()["content"]
    assert client.delete(f"{url}/{entry['id']}", headers=who.holder).status_code == 204
    assert client.get(url, headers=who.holder).json() == []
    assert client.put(f"{url}/{entry['id']}", json=changed, headers=who.holder).status_code == 404


def test_history_keeps_every_version_and_who_made_it(
    client: TestClient, database: Database
) -> None:
    fam = family(database)
    parent = bearer(database, Principal(PrincipalKind.HOLDER, fam.parent.id), fam.child.id)
    child = bearer(database, Principal(PrincipalKind.HOLDER, fam.child.id))
    url = f"{API}/me/profile/illness"
    entry = client.post(url, json=SAMPLES["illness"], headers=parent).json()
    client.put(f"{url}/{entry['id']}", json={**SAMPLES["illness"], "status": "past"}, headers=child)
    client.delete(f"{url}/{entry['id']}", headers=parent)
    history = client.get(f"{url}/{entry['id']}/history", headers=child)
    assert history.status_code == 200, history.text
    rows = history.json()
    assert [(r["version"], r["change"], r["changed_as"]) for r in rows] == [
        (1, "create", "representative"),
        (2, "update", "self"),
        (3, "delete", "representative"),
    ]
    assert rows[0]["changed_by"] == f"holder/{fam.parent.id}"
    assert rows[1]["changed_by"] == f"holder/{fam.child.id}"
    assert rows[1]["content"]["status"] == "past"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"kind": "weight", "value": 900, "date": PAST},
            "Implausible weight: 900 kg; expected between 0.2 and 400 kg.",
        ),
        (
            {"kind": "height", "value": 1.75, "date": PAST},
            "Implausible height: 1.75 cm; expected between 20 and 260 cm.",
        ),
        (
            {"kind": "temperature", "value": 98.6, "date": PAST},
            "Implausible temperature: 98.6 Cel; expected between 30 and 45 Cel.",
        ),
        (
            {"kind": "weight", "value": 70, "unit": "lb", "date": PAST},
            "The unit of weight is kg (UCUM), not 'lb'.",
        ),
        ({"kind": "cholesterol", "value": 2, "date": PAST}, "Unknown measurement kind"),
        ({"kind": "weight", "value": 70, "date": FUTURE}, "is in the future"),
    ],
)
def test_impossible_measurements_are_refused_with_a_clear_message(
    client: TestClient, database: Database, body: dict[str, Any], message: str
) -> None:
    who = cast(database)
    response = client.post(f"{API}/me/profile/measurement", json=body, headers=who.holder)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert client.get(f"{API}/me/profile/measurement", headers=who.holder).json() == []


@pytest.mark.parametrize(
    ("section", "body"),
    [
        ("illness", {**SAMPLES["illness"], "since": FUTURE}),
        ("vaccination", {**SAMPLES["vaccination"], "date": FUTURE}),
        ("hospital_stay", {**SAMPLES["hospital_stay"], "from": FUTURE, "to": None}),
        ("hospital_stay", {**SAMPLES["hospital_stay"], "to": "2019-02-01"}),
        ("treatment", {**SAMPLES["treatment"], "atc": "not-atc"}),
        ("blood_group", {"value": "Z+"}),
        ("illness", {**SAMPLES["illness"], "unknown": 1}),
    ],
)
def test_bad_content_is_refused(
    client: TestClient, database: Database, section: str, body: dict[str, Any]
) -> None:
    who = cast(database)
    response = client.post(f"{API}/me/profile/{section}", json=body, headers=who.holder)
    assert response.status_code == 400, response.text


def test_unknown_section_and_single_blood_group(client: TestClient, database: Database) -> None:
    who = cast(database)
    assert client.get(f"{API}/me/profile/horoscope", headers=who.holder).status_code == 404
    url = f"{API}/me/profile/blood-group"
    assert client.post(url, json={"value": "O+"}, headers=who.holder).status_code == 201
    assert client.post(url, json={"value": "A+"}, headers=who.holder).status_code == 409


def test_bmi_is_derived_from_the_latest_weight_and_height(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    url = f"{API}/me/profile/measurement"
    old = (TODAY - dt.timedelta(days=400)).isoformat()
    for body in (
        {"kind": "weight", "value": 90, "date": old},
        {"kind": "weight", "value": 80, "date": PAST},
        {"kind": "height", "value": 180, "date": old},
    ):
        assert client.post(url, json=body, headers=who.holder).status_code == 201
    profile = client.get(f"{API}/me/profile", headers=who.holder).json()
    assert profile["bmi"]["value"] == 24.7
    assert profile["bmi"]["unit"] == "kg/m2"


def _fill(client: TestClient, headers: dict[str, str]) -> None:
    for section, body in SAMPLES.items():
        response = client.post(f"{API}/me/profile/{section}", json=body, headers=headers)
        assert response.status_code == 201, response.text


def test_acc7_professionals_see_vaccinations_and_history_only(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    _fill(client, who.holder)
    url = f"{API}/pro/patients/{who.holder_id}/profile"
    seen = client.get(url, headers=who.care_team)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert set(body["sections"]) == {
        "vaccination",
        "illness",
        "treatment",
        "hospital_stay",
        "allergy",
        "family_history",
    }
    assert body["bmi"] is None
    assert "72.5" not in seen.text and "omnivore" not in seen.text
    for headers, code in ((who.outsider, "not-in-care-team"), (who.blocked, "blocked")):
        refused = client.get(url, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == code
        assert "Asthme" not in refused.text
    with database.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.holder_id == who.holder_id)
        ).all()
    assert actions.count("profile.read-denied") == 2
    assert "profile.read" in actions


def test_acc7_professionals_add_vaccinations_only(client: TestClient, database: Database) -> None:
    who = cast(database)
    url = f"{API}/pro/patients/{who.holder_id}/vaccinations"
    added = client.post(url, json=SAMPLES["vaccination"], headers=who.care_team)
    assert added.status_code == 201, added.text
    assert client.post(url, json=SAMPLES["vaccination"], headers=who.outsider).status_code == 403
    assert client.post(url, json=SAMPLES["vaccination"], headers=who.blocked).status_code == 403
    future = {**SAMPLES["vaccination"], "date": FUTURE}
    assert client.post(url, json=future, headers=who.care_team).status_code in (400, 422)
    mine = client.get(f"{API}/me/profile/vaccination", headers=who.holder).json()
    assert len(mine) == 1
    history = client.get(
        f"{API}/me/profile/vaccination/{mine[0]['id']}/history", headers=who.holder
    ).json()
    assert history[0]["changed_as"] == "professional"
    # the holder API is holder-only: a professional cannot use it to write a private section
    response = client.post(
        f"{API}/me/profile/measurement", json=SAMPLES["measurement"], headers=who.care_team
    )
    assert response.status_code == 403


def test_rep2_representatives_and_caregivers_act_via_the_space_header(
    client: TestClient, database: Database
) -> None:
    fam = family(database)
    parent = bearer(database, Principal(PrincipalKind.HOLDER, fam.parent.id), fam.child.id)
    caregiver = bearer(database, Principal(PrincipalKind.HOLDER, fam.caregiver.id), fam.helped.id)
    stranger = bearer(database, Principal(PrincipalKind.HOLDER, fam.parent.id), fam.helped.id)
    url = f"{API}/me/profile/measurement"
    body = {"kind": "head_circumference", "value": 35, "date": PAST}
    assert client.post(url, json=body, headers=parent).status_code == 201
    assert client.post(url, json=body, headers=caregiver).status_code == 201
    assert client.get(url, headers=stranger).status_code == 404
    child = bearer(database, Principal(PrincipalKind.HOLDER, fam.child.id))
    assert len(client.get(url, headers=child).json()) == 1
    with database.transaction() as session:
        modes = session.scalars(
            select(AuditEntry.mode).where(
                AuditEntry.holder_id == fam.child.id, AuditEntry.action == "profile.create"
            )
        ).all()
    assert modes == ["representative"]


def test_content_is_sealed_and_audit_has_no_content(client: TestClient, database: Database) -> None:
    who = cast(database)
    body = {"label": MARKER, "status": "current"}
    entry = client.post(f"{API}/me/profile/illness", json=body, headers=who.holder).json()
    client.put(
        f"{API}/me/profile/illness/{entry['id']}", json={**body, "note": MARKER}, headers=who.holder
    )
    assert MARKER in client.get(f"{API}/me/profile", headers=who.holder).text
    with database.transaction() as session:
        for table in ("profile_entries", "profile_entry_versions", "audit_entries"):
            for row in session.execute(text(f"SELECT * FROM {table}")).all():
                raw = " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                assert MARKER not in raw, table
