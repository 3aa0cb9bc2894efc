"""Measurement targets and plausible ranges (issue 7; ACC-7, REP-2, LC-8): every kind of the issue
has a UCUM unit and a range, impossible values are refused with a clear message and nothing is
kept, targets are sealed and shown against the latest value."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from carnet import clock
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from carnet.profile import rules
from tests.documents.samples import family
from tests.profile.support import API, MARKER, bearer, cast

PAST = (clock.today() - dt.timedelta(days=10)).isoformat()
TARGETS = f"{API}/me/measurement-targets"

# Issue 7's list of measurements, each with its UCUM unit.
ISSUE_KINDS = {
    "weight": "kg",
    "height": "cm",
    "waist": "cm",
    "temperature": "Cel",
    "glucose": "g/L",
    "systolic": "mm[Hg]",
    "diastolic": "mm[Hg]",
    "bmi": "kg/m2",
    "pain": "{score}",
    "heart_rate": "/min",
    "head_circumference": "cm",
    "steps": "/d",
    "hba1c": "%",
}


def test_every_measurement_of_the_issue_has_a_ucum_unit_and_a_plausible_range() -> None:
    assert {k: m.unit for k, m in rules.TARGET_KINDS.items()} == ISSUE_KINDS
    for measure in rules.TARGET_KINDS.values():
        assert 0 <= measure.low < measure.high
    assert rules.BMI.name not in rules.MEASURES  # derived, never entered (issue 7)


def _impossible() -> list[tuple[str, float, str]]:
    cases = []
    for kind, measure in rules.MEASURES.items():
        cases.append((kind, measure.low - 1, f"expected between {measure.low:g}"))
        cases.append((kind, measure.high * 1.5 + 1, f"and {measure.high:g} {measure.unit}"))
    cases.append(("steps", 1200.5, "steps is a whole number"))
    cases.append(("pain", 4.5, "pain is a whole number"))
    return cases


def test_each_impossible_measurement_is_refused_and_nothing_is_kept(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    for kind, value, message in _impossible():
        body = {"kind": kind, "value": value, "date": PAST}
        response = client.post(f"{API}/me/profile/measurement", json=body, headers=who.holder)
        assert response.status_code == 400, (kind, value, response.text)
        assert response.json()["error"]["code"] == "invalid-input"
        assert message in response.json()["error"]["message"], (kind, value)
    assert client.get(f"{API}/me/profile/measurement", headers=who.holder).json() == []


def test_the_edges_of_each_range_are_accepted(client: TestClient, database: Database) -> None:
    who = cast(database)
    for kind, measure in rules.MEASURES.items():
        for value in (measure.low, measure.high):
            body = {"kind": kind, "value": value, "date": PAST}
            response = client.post(f"{API}/me/profile/measurement", json=body, headers=who.holder)
            assert response.status_code == 201, (kind, value, response.text)
            assert response.json()["content"]["unit"] == measure.unit


def test_a_target_is_shown_against_the_latest_value(client: TestClient, database: Database) -> None:
    who = cast(database)
    old = (clock.today() - dt.timedelta(days=100)).isoformat()
    for body in (
        {"kind": "hba1c", "value": 8.1, "date": old},
        {"kind": "hba1c", "value": 6.4, "date": PAST},
        {"kind": "steps", "value": 4200, "date": PAST},
        {"kind": "weight", "value": 92, "date": PAST},
        {"kind": "height", "value": 180, "date": PAST},
    ):
        assert client.post(f"{API}/me/profile/measurement", json=body, headers=who.holder)
    puts = {
        "hba1c": {"high": 7},
        "steps": {"low": 8000, "note": MARKER},
        "weight": {"low": 70, "high": 85, "unit": "kg"},
        "bmi": {"low": 18.5, "high": 25},
        "systolic": {"high": 130},
    }
    for kind, body in puts.items():
        response = client.put(f"{TARGETS}/{kind}", json=body, headers=who.holder)
        assert response.status_code == 200, response.text
        assert response.json()["unit"] == ISSUE_KINDS[kind]
    views = {v["kind"]: v for v in client.get(TARGETS, headers=who.holder).json()}
    assert views["hba1c"]["latest_value"] == 6.4 and views["hba1c"]["status"] == "within"
    assert views["steps"]["status"] == "below"
    assert views["steps"]["target"]["note"] == MARKER
    assert views["weight"]["status"] == "above"
    assert views["bmi"]["latest_value"] == 28.4 and views["bmi"]["status"] == "above"
    assert views["systolic"]["latest_value"] is None and views["systolic"]["status"] is None
    # replacing keeps one target per kind; deleting removes it
    client.put(f"{TARGETS}/hba1c", json={"high": 6}, headers=who.holder)
    views = {v["kind"]: v for v in client.get(TARGETS, headers=who.holder).json()}
    assert views["hba1c"]["status"] == "above"
    assert client.delete(f"{TARGETS}/hba1c", headers=who.holder).status_code == 204
    assert client.delete(f"{TARGETS}/hba1c", headers=who.holder).status_code == 404
    views = {v["kind"]: v for v in client.get(TARGETS, headers=who.holder).json()}
    assert views["hba1c"]["target"] is None
    with database.transaction() as session:
        for row in session.execute(text("SELECT * FROM measurement_targets")).all():
            raw = " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
            assert MARKER not in raw and "8000" not in raw  # sealed under the holder's key


IMPOSSIBLE_TARGETS: list[tuple[str, dict[str, Any], str]] = [
    ("weight", {"low": 0.1}, "Implausible target low for weight: 0.1 kg"),
    ("weight", {"high": 900}, "Implausible target high for weight: 900 kg"),
    ("temperature", {"high": 98.6}, "expected between 30 and 45 Cel"),
    ("hba1c", {"high": 55}, "expected between 3 and 20 %"),
    ("steps", {"low": 7500.5}, "steps is a whole number"),
    ("bmi", {"low": 2}, "expected between 5 and 150 kg/m2"),
    ("systolic", {"low": 140, "high": 120}, "lower bound (140) is above its upper bound"),
    ("weight", {}, "needs a lower bound, an upper bound or both"),
    ("weight", {"low": 70, "unit": "lb"}, "The unit of weight is kg (UCUM), not 'lb'."),
]


def test_impossible_targets_are_refused(client: TestClient, database: Database) -> None:
    who = cast(database)
    for kind, body, message in IMPOSSIBLE_TARGETS:
        response = client.put(f"{TARGETS}/{kind}", json=body, headers=who.holder)
        assert response.status_code == 400, (kind, body, response.text)
        assert message in response.json()["error"]["message"], (kind, body)
    assert client.get(TARGETS, headers=who.holder).json() == []


def test_unknown_kind_is_404(client: TestClient, database: Database) -> None:
    who = cast(database)
    response = client.put(f"{TARGETS}/cholesterol", json={"high": 2}, headers=who.holder)
    assert response.status_code == 404
    assert "expected one of" in response.json()["error"]["message"]
    assert (
        client.put(f"{TARGETS}/heart-rate", json={"high": 90}, headers=who.holder).status_code
        == 200
    )


def test_acc7_targets_stay_on_the_holder_side_rep2_representative_sets_them(
    client: TestClient, database: Database
) -> None:
    fam = family(database)
    parent = bearer(database, Principal(PrincipalKind.HOLDER, fam.parent.id), fam.child.id)
    stranger = bearer(database, Principal(PrincipalKind.HOLDER, fam.caregiver.id), fam.child.id)
    assert client.put(f"{TARGETS}/weight", json={"low": 20}, headers=parent).status_code == 200
    assert client.get(TARGETS, headers=stranger).status_code == 404
    child = bearer(database, Principal(PrincipalKind.HOLDER, fam.child.id))
    assert client.get(TARGETS, headers=child).json()[0]["target"]["low"] == 20
    who = cast(database)
    # the holder API refuses professionals (ACC-7: measurements are private)
    assert client.get(TARGETS, headers=who.care_team).status_code == 403
    with database.transaction() as session:
        modes = session.scalars(
            select(AuditEntry.mode).where(
                AuditEntry.holder_id == fam.child.id,
                AuditEntry.target_type == "MeasurementTarget",
                AuditEntry.action == "profile.update",
            )
        ).all()
    assert modes == ["representative"]
